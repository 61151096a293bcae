"""ticket_counts (tickets by queue and state, kept by maildesk.store.rollup) and an index of
the timers by stage: the web's queue overview without counting every ticket; articles.has_html (issue 16)

Revision ID: 0014_webroll
Revises: 0013_customers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_webroll"
down_revision = "0013_customers"
branch_labels = None
depends_on = None

SLOTS = 8  # maildesk.store.rollup.SLOTS at the time of writing


def upgrade() -> None:
    op.create_table(
        "ticket_counts",
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "state", "slot"),
    )
    tickets = sa.table("tickets", sa.column("id", sa.Integer()), sa.column("queue"),
                       sa.column("state"))
    modulo = tickets.c.id % sa.literal_column(str(SLOTS))  # one expression, not two params
    counts = sa.table("ticket_counts", sa.column("queue"), sa.column("state"),
                      sa.column("slot"), sa.column("n"))
    op.execute(counts.insert().from_select(
        ["queue", "state", "slot", "n"],
        sa.select(tickets.c.queue, tickets.c.state, modulo, sa.func.count())
        .group_by(tickets.c.queue, tickets.c.state, modulo)))
    op.create_index("ix_timers_stage_kind", "timers", ["stage", "kind", "ticket_id"])
    # Whether an article's mail has an HTML part: learnt by the web at its first view, so
    # the ticket page neither parses every mail on every view nor shows an empty frame.
    op.add_column("articles", sa.Column("has_html", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("has_html")
    op.drop_index("ix_timers_stage_kind", table_name="timers")
    op.drop_table("ticket_counts")
