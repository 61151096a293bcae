"""outbox: the index on message_id goes; nothing looks an outbox row up by its Message-ID
(a reply or a bounce finds its ticket through message_ids, the sender and the admin
commands go by id and state). Issue 20: each of a mail's ~2.5 outbox rows went into it
at a random place, ~60 us of SQLite CPU a mail once the table holds 100,000 rows (raw
SQLite, commits of 8 mails, WAL: the pages each commit writes).

Revision ID: 0021_outbox_msgid_index
Revises: 0020_msgid_index
"""

from __future__ import annotations

from alembic import op

revision = "0021_outbox_msgid_index"
down_revision = "0020_msgid_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_message_id", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"], unique=False)
