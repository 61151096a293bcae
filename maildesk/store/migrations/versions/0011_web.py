"""web_sessions, web_login_links, web_attempts: the web pages' sign-in (SPEC 15)

Revision ID: 0011_web
Revises: 0012_webui
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_web"
down_revision = "0012_webui"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=191), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_web_sessions_hash"),
    )
    op.create_index("ix_web_sessions_address", "web_sessions", ["address"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "web_login_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=191), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_web_login_links_hash"),
    )
    op.create_index("ix_web_login_links_expires_at", "web_login_links", ["expires_at"])
    op.create_table(
        "web_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_attempts_key_at", "web_attempts", ["key", "at"])
    op.create_index("ix_web_attempts_at", "web_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("web_attempts")
    op.drop_table("web_login_links")
    op.drop_table("web_sessions")
