"""search: tickets in updated_at order from an index, so that the web list (newest or
oldest changed first, its default) reads a page of a search ticket by ticket and stops
after it instead of sorting every ticket that matches; see maildesk/store/search.py.

Not declared in the models (store.search.SEARCH_OBJECTS leaves it out of schema
comparisons, as the full-text indexes).

Revision ID: 0017_search
Revises: 0016_known
"""

from __future__ import annotations

from alembic import op

revision = "0017_search"
down_revision = "0016_known"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_updated_at", "tickets", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_updated_at", table_name="tickets")
