"""the prescriber's order at check-in (issue 18, paper)

Revision ID: 0003_paper
Revises: 0003_trail
Create Date: 2026-12-04

- infusion_sessions.order_text: the order as written by the prescriber (the prescriber's name
  already has its column, `prescriber`).
- infusion_sessions.order_date: the date of that order.
Both nullable: sessions checked in before this revision, and clinics that keep orders elsewhere,
have none. The session row is updated in place like its other check-in columns (the audit row of
the check-in holds what was entered).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_paper"
down_revision = "0003_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite and PostgreSQL both have it): no batch copy of the table, so its
    # triggers and indexes stay as they are.
    op.add_column("infusion_sessions", sa.Column("order_text", sa.Text(), nullable=True))
    op.add_column("infusion_sessions", sa.Column("order_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("infusion_sessions") as batch:
        batch.drop_column("order_date")
        batch.drop_column("order_text")
