"""articles.content_sha256: one article per mail whatever its trace headers (issue 13)

Revision ID: 0006_harden
Revises: 0005_mailboxes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_harden"
down_revision = "0005_mailboxes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_articles_content_sha256"), "articles", ["content_sha256"],
                    unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_content_sha256"), table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("content_sha256")
