"""outbox.settle_failures: a row whose settle keeps failing is marked failed, not resent
every lease (issue 11)

Revision ID: 0010_outcfg
Revises: 0009_timers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_outcfg"
down_revision = "0009_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("settle_failures", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("settle_failures")
