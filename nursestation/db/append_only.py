"""Database-level append-only enforcement: UPDATE and DELETE are refused by triggers, so a signed
note or an audit row cannot be changed even with plain SQL outside the app."""

from __future__ import annotations

from sqlalchemy import Connection, text


def _sqlite_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be changed'); END",
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows cannot be deleted'); END",
    ]


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION nursestation_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _pg_ddl(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}",
        f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION nursestation_append_only()",
        f"DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON {table}",
        f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION nursestation_append_only()",
    ]


def create_append_only_triggers(conn: Connection, tables: tuple[str, ...]) -> None:
    """Install the triggers for `tables` on SQLite or PostgreSQL."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text(PG_FUNCTION))
        statements = [s for t in tables for s in _pg_ddl(t)]
    elif dialect == "sqlite":
        statements = [s for t in tables for s in _sqlite_ddl(t)]
    else:
        raise RuntimeError(f"append-only triggers are not written for {dialect}")
    for statement in statements:
        conn.execute(text(statement))


def drop_append_only_triggers(conn: Connection, tables: tuple[str, ...]) -> None:
    """Remove the triggers (used by downgrade only)."""
    for table in tables:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}"))
            conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON {table}"))
        else:
            conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_no_update"))
            conn.execute(text(f"DROP TRIGGER IF EXISTS trg_{table}_no_delete"))
