"""mailboxes: fetch position, lease and status per mailbox; POP3 UIDLs already stored

Revision ID: 0005_mailboxes
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_mailboxes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_state",
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("recheck_below", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("auth_failed", sa.Boolean(), nullable=False),
        sa.Column("fetched", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "mailbox_uidls",
        sa.Column("mailbox", sa.String(length=191), nullable=False),
        sa.Column("uidl", sa.String(length=191), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "uidl"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_uidls")
    op.drop_table("mailbox_state")
