"""customers: company, password_hash, company_admin, failed_logins, locked_until,
updated_at (issue 17); tickets.customer_id becomes the customers row's id

The customers table had no writer and tickets.customer_id (an OTRS-style string) was never
written, so it is replaced by an integer column, indexed for the company view's join. No
FOREIGN KEY: SQLite can add one only by rebuilding tickets, which every other table
references; maildesk never deletes customer rows.

Revision ID: 0013_customers
Revises: 0011_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_customers"
down_revision = "0011_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("company", sa.String(length=191), nullable=True))
    op.add_column("customers", sa.Column("password_hash", sa.String(length=255), nullable=True))
    op.add_column("customers", sa.Column("company_admin", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.add_column("customers", sa.Column("failed_logins", sa.Integer(), nullable=False,
                                         server_default="0"))
    op.add_column("customers", sa.Column("locked_until", sa.DateTime(), nullable=True))
    # NOT NULL without a lasting default: filled from created_at, then tightened (SQLite
    # rebuilds customers for that, which nothing references)
    op.add_column("customers", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE customers SET updated_at = created_at")
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
    op.create_index("ix_customers_company", "customers", ["company"])

    op.drop_column("tickets", "customer_id")
    op.add_column("tickets", sa.Column("customer_id", sa.Integer(), nullable=True))
    op.create_index("ix_tickets_customer_id", "tickets", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_customer_id", table_name="tickets")
    op.drop_column("tickets", "customer_id")
    op.add_column("tickets", sa.Column("customer_id", sa.String(length=100), nullable=True))
    op.drop_index("ix_customers_company", table_name="customers")
    with op.batch_alter_table("customers") as batch:
        for column in ("updated_at", "locked_until", "failed_logins", "company_admin",
                       "password_hash", "company"):
            batch.drop_column(column)
