"""a session ended "not treated" keeps its written reason

Revision ID: 0002_infusion
Revises: 0002_records
Create Date: 2026-12-04

`infusion_sessions.end_detail`: the reason given when a session ends without treatment
(check-in cancelled, start refused at baseline, patient left, other + text). `end_reason` holds
the kind of ending ("not_treated"); the words the nurse chose and wrote go here so the note and
the export can show them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_infusion"
down_revision = "0002_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("infusion_sessions") as batch:
        batch.add_column(sa.Column("end_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("infusion_sessions") as batch:
        batch.drop_column("end_detail")
