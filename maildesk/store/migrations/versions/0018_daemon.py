"""article_segments: where each blob of a segment file lies (store/segments.py). The mail
path appends a batch's mails and attachments to one segment file with one fsync instead
of a file (and up to two new folders) per blob; blobs stored before stay in their files.

Revision ID: 0018_daemon
Revises: 0017_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_daemon"
down_revision = "0017_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_segments",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "segment", "start"),
    )


def downgrade() -> None:
    op.drop_table("article_segments")
