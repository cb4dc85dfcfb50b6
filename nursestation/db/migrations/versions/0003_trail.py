"""a trail that cannot be quietly rewritten (issue 15)

Revision ID: 0003_trail
Revises: 0003_course
Create Date: 2026-12-04

audit_checkpoints: signed checkpoints of the audit chain's head (append-only, with triggers).
audit_events (entity_type, entity_id): finds an entity's newest seal (db/seals.py) in one step.
"""

import sqlalchemy as sa
from alembic import op

from nursestation.db.append_only import create_append_only_triggers, drop_append_only_triggers
from nursestation.db.types import UTCDateTime

revision = "0003_trail"
down_revision = "0003_course"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_checkpoints",)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("station", sa.String(128), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("audit_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("signer", sa.String(200), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_audit_checkpoints_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_audit_id", "audit_checkpoints", ["audit_id"])
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity_id"])
    create_append_only_triggers(op.get_bind(), APPEND_ONLY)


def downgrade() -> None:
    drop_append_only_triggers(op.get_bind(), APPEND_ONLY)
    op.drop_index("ix_audit_events_entity", table_name="audit_events")
    op.drop_index("ix_audit_checkpoints_audit_id", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
