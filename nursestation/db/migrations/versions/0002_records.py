"""records: alarm source and PRN indication override

Revision ID: 0002_records
Revises: 0001
Create Date: 2026-12-04

- alarm_events.source: the vital parameter or technical code an alarm is about, so a restart
  can give back the same alarm (with its acknowledgement) instead of a new unacknowledged one.
- medication_administrations.indication_override_reason / indication_override_by: a charge
  nurse's written reason for a PRN dose whose indication no current reading met.
Added columns are nullable: existing rows keep their meaning (an alarm from before has no
source recorded; an earlier dose had no override).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_records"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alarm_events", sa.Column("source", sa.String(length=32), nullable=True))
    op.add_column(
        "medication_administrations",
        sa.Column("indication_override_reason", sa.Text(), nullable=True),
    )
    # Added in place (ALTER TABLE ... ADD COLUMN ... REFERENCES): on SQLite a batch copy of the
    # table would drop its append-only triggers, and Alembic cannot add the constraint alone.
    fk = "fk_medication_administrations_indication_override_by_users"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE medication_administrations ADD COLUMN indication_override_by INTEGER "
            f"CONSTRAINT {fk} REFERENCES users (id)"
        )
    else:
        op.add_column(
            "medication_administrations",
            sa.Column("indication_override_by", sa.Integer(), nullable=True),
        )
        op.create_foreign_key(
            fk, "medication_administrations", "users", ["indication_override_by"], ["id"]
        )


def downgrade() -> None:
    op.drop_column("medication_administrations", "indication_override_by")
    op.drop_column("medication_administrations", "indication_override_reason")
    op.drop_column("alarm_events", "source")
