"""one clinic identity and clinic settings in the database (issue 15)

Revision ID: 0003_identity
Revises: 0003_paper
Create Date: 2026-12-04

`clinic_ca`: the clinic's signing CA certificate (the trust anchor every station reads) and its
private key sealed under a passphrase that is never stored. `clinic_settings_versions`: the
clinic's overrides of the shipped defaults, one append-only row per change (who, when, why), the
newest active. What each station's data directory held before (pki/, clinic.json) is imported
once by the app at start (app/identity.py), not here: the migration does not know the data
directory.
"""

import sqlalchemy as sa
from alembic import op

import nursestation.db.types
from nursestation.db.append_only import create_append_only_triggers, drop_append_only_triggers

revision = "0003_identity"
down_revision = "0003_paper"
branch_labels = None
depends_on = None

APPEND_ONLY = ("clinic_settings_versions",)


def upgrade() -> None:
    op.create_table(
        "clinic_ca",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anchor", sa.String(length=16), nullable=False),
        sa.Column("clinic_name", sa.String(length=200), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", nursestation.db.types.UTCDateTime(), nullable=False),
        sa.Column("station", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_ca")),
        sa.UniqueConstraint("anchor", name=op.f("uq_clinic_ca_anchor")),
    )
    op.create_table(
        "clinic_settings_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", nursestation.db.types.UTCDateTime(), nullable=False),
        sa.Column("station", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_clinic_settings_versions_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_settings_versions")),
    )
    create_append_only_triggers(op.get_bind(), APPEND_ONLY)


def downgrade() -> None:
    drop_append_only_triggers(op.get_bind(), APPEND_ONLY)
    op.drop_table("clinic_settings_versions")
    op.drop_table("clinic_ca")
