"""timers: due times of tickets (SPEC 13)

Revision ID: 0009_timers
Revises: 0008_search
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_timers"
down_revision = "0008_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("remaining", sa.Float(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "kind", name="uq_timers_ticket_kind"),
    )
    op.create_index(op.f("ix_timers_due_at"), "timers", ["due_at"], unique=False)
    op.create_index(op.f("ix_timers_ticket_id"), "timers", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_timers_ticket_id"), table_name="timers")
    op.drop_index(op.f("ix_timers_due_at"), table_name="timers")
    op.drop_table("timers")
