"""stations: change notification on PostgreSQL, a chair's monitor binding belongs to a station

Revision ID: 0003_sync
Revises: 0003_identity
Create Date: 2026-12-04

PostgreSQL: an insert into the audit trail (every use case writes one) or into a monitor-stream
table sends NOTIFY nursestation_changes with the table's name, in the inserting transaction (so
it is delivered only if that commits). Statement-level triggers: one notice per statement, and
PostgreSQL folds identical notices of one transaction into one. SQLite needs nothing: stations
look at PRAGMA data_version (db/changes.py).

infusion_sessions.changed_*: who changed the session last, where, when and how (the use case's
audit action), for the "changed at another station" refusal of optimistic version checks
(app/concurrency.py); the existing `version` column is what they compare.

device_bindings.station: the station that opens the chair's monitor port; the others show the
chair's stored readings and never open it. Empty for bindings made before this revision: the
first station that starts capture claims such a binding (app/devices.claim_unowned_bindings).
"""

import sqlalchemy as sa
from alembic import op

import nursestation.db.types

revision = "0003_sync"
down_revision = "0003_identity"
branch_labels = None
depends_on = None

# Frozen copy at this revision (db/changes.py names the channel; a test keeps them equal).
CHANNEL = "nursestation_changes"
NOTIFIED_TABLES = ("audit_events", "vital_readings", "device_readings", "alarm_events")

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION nursestation_notify_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("device_bindings") as batch:
        batch.add_column(sa.Column("station", sa.String(length=128), nullable=True))
    with op.batch_alter_table("infusion_sessions") as batch:
        batch.add_column(
            sa.Column("changed_at", nursestation.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("changed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("changed_station", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("changed_action", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in NOTIFIED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_notify ON {table}")
            op.execute(
                f"CREATE TRIGGER trg_{table}_notify AFTER INSERT ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION nursestation_notify_change()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NOTIFIED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_notify ON {table}")
        op.execute("DROP FUNCTION IF EXISTS nursestation_notify_change()")
    with op.batch_alter_table("infusion_sessions") as batch:
        for column in ("changed_action", "changed_station", "changed_by", "changed_at"):
            batch.drop_column(column)
    with op.batch_alter_table("device_bindings") as batch:
        batch.drop_column("station")
