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


PG_FUNCTION_NAME = "nursestation_append_only"
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


def expected_triggers(dialect: str, tables: tuple[str, ...]) -> dict[str, str]:
    """The protective triggers a database of `dialect` must hold: trigger name -> its table."""
    suffixes = (
        ("append_only", "no_truncate") if dialect == "postgresql" else ("no_update", "no_delete")
    )
    return {f"trg_{t}_{sfx}": t for t in tables for sfx in suffixes}


def missing_triggers(conn: Connection, tables: tuple[str, ...]) -> dict[str, str]:
    """The protective triggers that are absent or disabled (PostgreSQL's ALTER TABLE … DISABLE
    TRIGGER keeps the trigger but switches it off): trigger name -> "missing" | "disabled"."""
    dialect = conn.dialect.name
    wanted = expected_triggers(dialect, tables)
    if dialect == "postgresql":
        rows = conn.execute(
            text(
                "SELECT t.tgname, t.tgenabled FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())"
            )
        ).all()
        present = {str(r[0]): str(r[1]) for r in rows}
        # tgenabled: O origin (normal), D disabled, R replica only, A always. "R" does not fire
        # in a normal session either.
        out = {}
        for name in wanted:
            state = present.get(name)
            if state is None:
                out[name] = "missing"
            elif state in ("D", "R"):
                out[name] = "disabled"
        return out
    rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
    present_names = {str(r[0]) for r in rows}
    return {name: "missing" for name in wanted if name not in present_names}


def restore_triggers(conn: Connection, tables: tuple[str, ...]) -> dict[str, str]:
    """Re-create (or re-enable) the protective triggers that `missing_triggers` reports; returns
    what was wrong before. On PostgreSQL only the tables' owner may do this: a station connected
    as the application role gets a permission error, which the caller reports."""
    wrong = missing_triggers(conn, tables)
    if wrong:
        owner = expected_triggers(conn.dialect.name, tables)
        create_append_only_triggers(conn, tuple(sorted({owner[name] for name in wrong})))
    return wrong
