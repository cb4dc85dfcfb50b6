"""Plain SQL beside the app for the tamper drills and backup tests (importable because pytest
puts tests/ on the path), on SQLite or PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nursestation.app.context import AppContext
from nursestation.config import StationConfig, resolve_config
from nursestation.db.append_only import create_append_only_triggers


class Raw:
    """Plain SQL on the station's database, bypassing the app, as an attacker with the file (or
    the server's owner role) would: a DBAPI connection of either engine, committed per call."""

    def __init__(self, ctx: AppContext) -> None:
        self.engine = ctx.engine
        self.pg = ctx.engine.dialect.name == "postgresql"

    def run(self, *statements: str) -> list[Any]:
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            rows: list[Any] = []
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall()) if cur.description else []
            raw.commit()
            return rows
        finally:
            raw.close()

    def one(self, sql: str) -> Any:
        return self.run(sql)[0][0]

    def unprotect(self, table: str) -> None:
        """Switch the table's append-only triggers off (dropped on SQLite, disabled on PG)."""
        if self.pg:
            self.run(f"ALTER TABLE {table} DISABLE TRIGGER trg_{table}_append_only")
        else:
            self.run(f"DROP TRIGGER trg_{table}_no_update", f"DROP TRIGGER trg_{table}_no_delete")

    def protect(self, table: str) -> None:
        """Put them back as they were (the careful attacker cleans up)."""
        if self.pg:
            self.run(f"ALTER TABLE {table} ENABLE TRIGGER trg_{table}_append_only")
            return
        with self.engine.begin() as conn:
            create_append_only_triggers(conn, (table,))


def restore_target(ctx: AppContext, folder: Path) -> tuple[StationConfig, Any]:
    """A new data directory to restore into and, on PostgreSQL, a new empty database on the same
    server (the test's URL is a superuser's); returns (config, cleanup)."""
    if ctx.engine.dialect.name != "postgresql":
        return resolve_config(str(folder), None), lambda: None
    import psycopg

    url = ctx.engine.url
    name = f"{url.database}_restored"
    admin = url.set(database="postgres", drivername="postgresql").render_as_string(
        hide_password=False
    )

    def sql(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)

    sql(f"DROP DATABASE IF EXISTS {name}")
    sql(f"CREATE DATABASE {name}")
    target = url.set(database=name).render_as_string(hide_password=False)
    return resolve_config(str(folder), target), lambda: sql(
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )
