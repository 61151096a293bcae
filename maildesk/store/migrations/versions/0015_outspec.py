"""outbox.spec_json: an outbound mail stored as what to send, rendered by the sender

Revision ID: 0015_outspec
Revises: 0014_webroll
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_outspec"
down_revision = "0014_webroll"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("spec_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("spec_json")
