"""customers.registered: imported (or otherwise registered) customers apart from the rows a
first mail makes, so that `require_known_customer` keeps meaning "a customer we know of"
(SPEC 6: imported or looked up), not "anyone who once wrote to an open queue".

Rows that exist before this revision count as registered: nothing made rows by mail before
0013_customers, so they were put there on purpose.

Revision ID: 0016_known
Revises: 0015_outspec
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_known"
down_revision = "0015_outspec"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("registered", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.execute(sa.text("UPDATE customers SET registered = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("registered")
