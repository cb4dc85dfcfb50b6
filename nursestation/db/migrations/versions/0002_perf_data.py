"""indexes for costs that do not grow with history (issue 19)

Revision ID: 0002_perf_data
Revises: 0002_infusion
Create Date: 2026-12-04

vital_readings: (session_id, observed_at), and the same over only the rows that carry each vital
(partial indexes), so "the newest BP / HR / SpO2 / RR / temperature / sedation score" is one
index step however long the session; corrections (supersedes_id) in their own small index.
device_readings: (session_id, param, device_time) for the NIBP repeat check of every batch.
They replace the single-column session_id indexes (their leading column serves those queries).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_perf_data"
down_revision = "0002_infusion"
branch_labels = None
depends_on = None

# Frozen copy of the conditions at this revision (models.VITAL_PRESENT may change later).
PRESENT = {
    "sbp": "sbp IS NOT NULL",
    "hr": "(hr IS NOT NULL OR pulse_rate IS NOT NULL)",
    "spo2": "spo2 IS NOT NULL",
    "rr": "rr IS NOT NULL",
    "temp_c": "temp_c IS NOT NULL",
    "sedation": "sedation_score IS NOT NULL",
}


def upgrade() -> None:
    op.create_index(
        "ix_vital_readings_session_observed", "vital_readings", ["session_id", "observed_at"]
    )
    for name, cond in PRESENT.items():
        op.create_index(
            f"ix_vital_readings_{name}",
            "vital_readings",
            ["session_id", "observed_at"],
            sqlite_where=sa.text(cond),
            postgresql_where=sa.text(cond),
        )
    op.create_index(
        "ix_vital_readings_corrections",
        "vital_readings",
        ["session_id", "supersedes_id"],
        sqlite_where=sa.text("supersedes_id IS NOT NULL"),
        postgresql_where=sa.text("supersedes_id IS NOT NULL"),
    )
    op.drop_index("ix_vital_readings_session_id", table_name="vital_readings")
    op.create_index(
        "ix_device_readings_session_param_time",
        "device_readings",
        ["session_id", "param", "device_time"],
    )
    op.drop_index("ix_device_readings_session_id", table_name="device_readings")


def downgrade() -> None:
    op.create_index("ix_device_readings_session_id", "device_readings", ["session_id"])
    op.drop_index("ix_device_readings_session_param_time", table_name="device_readings")
    op.create_index("ix_vital_readings_session_id", "vital_readings", ["session_id"])
    op.drop_index("ix_vital_readings_corrections", table_name="vital_readings")
    for name in reversed(PRESENT):
        op.drop_index(f"ix_vital_readings_{name}", table_name="vital_readings")
    op.drop_index("ix_vital_readings_session_observed", table_name="vital_readings")
