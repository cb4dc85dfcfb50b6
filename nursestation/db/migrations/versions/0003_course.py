"""outcome measures, scale drafts and safety assessments over the course (issue 16)

Revision ID: 0003_course
Revises: 0003_spravato
Create Date: 2026-12-04

- outcome_scores: a completed PHQ-9, GAD-7, PCL-5 or C-SSRS screener at one timepoint of a
  session, with every answer, the total, the band, the safety screen, who administered it.
  The patient is stored beside the session so the course trend reads one index.
- scale_drafts: a half-filled scale kept when its dialog closed (nothing entered is lost).
- safety_assessments: the charge nurse's assessment and plan after a positive suicide-risk
  screen, and the re-check before discharge (clinical.md §4.4 item 9).
All three are append-only (triggers), like every clinical table.
"""

import sqlalchemy as sa
from alembic import op

import nursestation.db.types
from nursestation.db.append_only import create_append_only_triggers, drop_append_only_triggers

revision = "0003_course"
down_revision = "0003_spravato"
branch_labels = None
depends_on = None

# Frozen copy of the tables this revision makes append-only.
APPEND_ONLY = ("outcome_scores", "scale_drafts", "safety_assessments")
UTC = nursestation.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outcome_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("timepoint", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(length=64), nullable=False),
        sa.Column("safety_positive", sa.Boolean(), nullable=False),
        sa.Column("safety_reason", sa.Text(), nullable=True),
        sa.Column("administered", sa.String(length=16), nullable=False),
        sa.Column("on_station", sa.Boolean(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.id"], name=op.f("fk_outcome_scores_entered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_outcome_scores_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_outcome_scores_session_id_infusion_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["outcome_scores.id"],
            name=op.f("fk_outcome_scores_supersedes_id_outcome_scores"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_scores")),
    )
    op.create_index("ix_outcome_scores_session_id", "outcome_scores", ["session_id"])
    op.create_index("ix_outcome_scores_patient_scale", "outcome_scores", ["patient_id", "scale"])
    op.create_table(
        "scale_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("timepoint", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("saved_at", UTC, nullable=False),
        sa.Column("saved_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["saved_by"], ["users.id"], name=op.f("fk_scale_drafts_saved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_scale_drafts_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scale_drafts")),
    )
    op.create_index("ix_scale_drafts_session_id", "scale_drafts", ["session_id"])
    op.create_table(
        "safety_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("proceed", sa.Boolean(), nullable=False),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user"], ["users.id"], name=op.f("fk_safety_assessments_by_user_users")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_safety_assessments_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_assessments")),
    )
    op.create_index("ix_safety_assessments_session_id", "safety_assessments", ["session_id"])
    create_append_only_triggers(op.get_bind(), APPEND_ONLY)


def downgrade() -> None:
    drop_append_only_triggers(op.get_bind(), APPEND_ONLY)
    op.drop_index("ix_safety_assessments_session_id", table_name="safety_assessments")
    op.drop_table("safety_assessments")
    op.drop_index("ix_scale_drafts_session_id", table_name="scale_drafts")
    op.drop_table("scale_drafts")
    op.drop_index("ix_outcome_scores_patient_scale", table_name="outcome_scores")
    op.drop_index("ix_outcome_scores_session_id", table_name="outcome_scores")
    op.drop_table("outcome_scores")
