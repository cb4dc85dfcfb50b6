"""chart: the patient chart's history, weights per visit and the course plan (issue 16)

Revision ID: 0003_chart
Revises: 0003_sync
Create Date: 2026-12-04

- patients.allergy_details: each allergy's reaction and severity (the entries themselves stay in
  patients.allergies, which the dose checks read); patients.contact: contact details. Both
  nullable: existing patients keep their rows as they are.
- patient_changes: every chart edit, field by field, old and new value, who, when and why.
- patient_weights: the weight measured at each visit, its change from the last visit and who
  confirmed a change over the clinic's limit.
- course_plans: the course plan (phase, sessions planned, next appointment); the latest row is
  in force.
The three tables are append-only (triggers), like the other clinical tables.
"""

import sqlalchemy as sa
from alembic import op

from nursestation.db.append_only import create_append_only_triggers, drop_append_only_triggers
from nursestation.db.types import UTCDateTime

revision = "0003_chart"
down_revision = "0003_sync"
branch_labels = None
depends_on = None

TABLES = ("patient_changes", "patient_weights", "course_plans")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("allergy_details", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("contact", sa.JSON(), nullable=True))
    op.create_table(
        "patient_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old", sa.JSON(), nullable=False),
        sa.Column("new", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        _fk("patient_changes", "patient_id", "patients"),
        _fk("patient_changes", "by_user", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_changes")),
    )
    op.create_index(
        op.f("ix_patient_changes_patient_id"), "patient_changes", ["patient_id"], unique=False
    )
    op.create_table(
        "patient_weights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("measured_on", sa.Date(), nullable=False),
        sa.Column("previous_kg", sa.Float(), nullable=True),
        sa.Column("change_pct", sa.Float(), nullable=True),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        _fk("patient_weights", "patient_id", "patients"),
        _fk("patient_weights", "session_id", "infusion_sessions"),
        _fk("patient_weights", "confirmed_by", "users"),
        _fk("patient_weights", "by_user", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_weights")),
    )
    op.create_index(
        op.f("ix_patient_weights_patient_id"), "patient_weights", ["patient_id"], unique=False
    )
    op.create_table(
        "course_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("sessions_planned", sa.Integer(), nullable=False),
        sa.Column("phase_start", sa.Date(), nullable=False),
        sa.Column("next_appointment", UTCDateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        _fk("course_plans", "patient_id", "patients"),
        _fk("course_plans", "by_user", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_plans")),
    )
    op.create_index(
        op.f("ix_course_plans_patient_id"), "course_plans", ["patient_id"], unique=False
    )
    create_append_only_triggers(op.get_bind(), TABLES)


def downgrade() -> None:
    drop_append_only_triggers(op.get_bind(), TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("contact")
        batch.drop_column("allergy_details")
