"""tickets: indexes for the web pages' aggregates (issue 16): the queue overview's counts
by (queue, state) come from the index alone, the dashboard's tickets opened and closed per
day are range scans on created_at and closed_at

Revision ID: 0012_webui
Revises: 0010_outcfg
"""

from __future__ import annotations

from alembic import op

revision = "0012_webui"
down_revision = "0010_outcfg"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_queue_state", "tickets", ["queue", "state"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_closed_at", table_name="tickets")
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    op.drop_index("ix_tickets_queue_state", table_name="tickets")
