"""spravato: REMS enrolments, Spravato devices, REMS form submissions (issue 17)

Revision ID: 0003_spravato
Revises: 0002_perf_data
Create Date: 2026-12-04

- rems_enrolments: a patient's SPRAVATO REMS enrolment (ID, date), recorded before the first
  treatment; the first device of a Spravato session is refused without one.
- spravato_devices: each 28 mg nasal device given, with its time and lot.
- rems_submissions: when and how the Patient Monitoring Form was submitted, with the REMS
  confirmation number (the 7-day tracker).
All three are append-only (triggers), like the other clinical tables: a correction is a new row.
New tables only: existing rows and IV sessions are untouched.
"""

import sqlalchemy as sa
from alembic import op

from nursestation.db.append_only import create_append_only_triggers, drop_append_only_triggers
from nursestation.db.types import UTCDateTime

revision = "0003_spravato"
down_revision = "0002_perf_data"
branch_labels = None
depends_on = None

TABLES = ("rems_enrolments", "spravato_devices", "rems_submissions")


def upgrade() -> None:
    op.create_table(
        "rems_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("rems_patient_id", sa.String(length=64), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_rems_enrolments_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_rems_enrolments_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rems_enrolments")),
    )
    op.create_index(
        op.f("ix_rems_enrolments_patient_id"), "rems_enrolments", ["patient_id"], unique=False
    )
    op.create_table(
        "spravato_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("device_no", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("mg", sa.Integer(), nullable=False),
        sa.Column("given_by", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_spravato_devices_session_id_infusion_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["given_by"], ["users.id"], name=op.f("fk_spravato_devices_given_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spravato_devices")),
        sa.UniqueConstraint("session_id", "device_no", name=op.f("uq_spravato_devices_session_id")),
    )
    op.create_index(
        op.f("ix_spravato_devices_session_id"), "spravato_devices", ["session_id"], unique=False
    )
    op.create_table(
        "rems_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("confirmation", sa.String(length=128), nullable=False),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_rems_submissions_session_id_infusion_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["by_user"], ["users.id"], name=op.f("fk_rems_submissions_by_user_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rems_submissions")),
    )
    op.create_index(
        op.f("ix_rems_submissions_session_id"), "rems_submissions", ["session_id"], unique=False
    )
    create_append_only_triggers(op.get_bind(), TABLES)


def downgrade() -> None:
    drop_append_only_triggers(op.get_bind(), TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
