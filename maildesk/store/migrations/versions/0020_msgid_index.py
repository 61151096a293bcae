"""message_ids: the index on message_id alone goes; the unique (message_id, ticket_id)
serves every look-up by Message-ID as well (its first column; on SQLite a covering index
for the threading's ticket_id). Issue 20: each of a mail's ~3.5 Message-ID rows went
into both B-trees at a random place, ~70-90 us of SQLite CPU a mail once a desk holds
160,000 of them (the pages each commit writes to the WAL).

Revision ID: 0020_msgid_index
Revises: 0019_bigmail
"""

from __future__ import annotations

from alembic import op

revision = "0020_msgid_index"
down_revision = "0019_bigmail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_message_ids_message_id", table_name="message_ids")


def downgrade() -> None:
    op.create_index("ix_message_ids_message_id", "message_ids", ["message_id"], unique=False)
