"""`nursestation db init` on PostgreSQL: the schema, owned by the role clinic IT runs it as, and
an application role the stations connect as.

The application role may read every table and add rows to the append-only ones, but it may not
UPDATE, DELETE or TRUNCATE them, and since it owns nothing it cannot drop, disable or replace
their triggers either (PostgreSQL allows that to the table's owner only): a station, or anyone
holding a station's password, cannot rewrite the clinical record or the audit trail. The
append-only triggers stay as the second wall, against the owner's own mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from nursestation.db.append_only import PG_FUNCTION_NAME
from nursestation.db.audit import append_audit
from nursestation.db.migrate import upgrade_to_head
from nursestation.db.models import APPEND_ONLY_TABLES

DEFAULT_APP_ROLE = "nursestation_app"
MIN_PASSWORD_LENGTH = 12  # [GK] clinic-policy default for a machine account's password
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Written by the stations; the schema's version is read only (migrations are the owner's job).
READ_ONLY_TABLES = frozenset({"alembic_version"})


class InitError(Exception):
    """`db init` cannot go on: one sentence naming the option and what is allowed."""


@dataclass(frozen=True)
class InitResult:
    """What `db init` did, for its report."""

    owner: str
    app_role: str
    created: bool  # the role was created (else its password and grants were reset)
    append_only: tuple[str, ...]
    read_write: tuple[str, ...]


def check_app_role(name: str, password: str) -> None:
    """Refuse a role name PostgreSQL would need quoting for, or a short password."""
    if not _ROLE_NAME.match(name):
        raise InitError(
            f"--app-role '{name}': use 1 to 63 lower-case letters, digits and underscores, "
            "starting with a letter or underscore."
        )
    if name.startswith("pg_"):
        raise InitError(f"--app-role '{name}': names starting with pg_ are reserved by PostgreSQL.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InitError(
            f"The application role's password must have at least {MIN_PASSWORD_LENGTH} "
            f"characters (got {len(password)})."
        )


def init_database(
    engine: Engine, *, app_role: str, password: str, at: datetime, station: str
) -> InitResult:
    """Bring the schema to the newest revision (owned by the role `engine` connects as), then
    create or reset the application role and its grants, in one transaction with an audit row.
    Running it again (after `db upgrade`, or to change the password) is safe."""
    if engine.dialect.name != "postgresql":
        raise InitError("db init creates roles on PostgreSQL only; SQLite has no roles.")
    check_app_role(app_role, password)
    upgrade_to_head(engine)
    with Session(engine) as session, session.begin():
        conn = session.connection()
        owner = str(conn.execute(text("SELECT current_user")).scalar_one())
        if app_role == owner:
            raise InitError(
                f"--app-role '{app_role}' is the role running db init, which owns the tables: "
                "the stations need a role of their own that owns nothing."
            )
        created = _create_or_reset_role(conn, app_role, password)
        append_only, read_write = _grant(conn, app_role)
        append_audit(
            session,
            at=at,
            station=station,
            action="db.init",
            entity_type="role",
            entity_id=app_role,
            after={"owner": owner, "app_role": app_role, "created": created},
        )
    return InitResult(owner, app_role, created, append_only, read_write)


def _quoted(conn: Connection, sql: str, *literals: str) -> str:
    """`sql` with {} filled by properly quoted string literals: CREATE/ALTER ROLE take no bind
    parameters, and a password may contain anything."""
    from psycopg import sql as pgsql

    raw = conn.connection.driver_connection
    return pgsql.SQL(sql).format(*(pgsql.Literal(v) for v in literals)).as_string(raw)


def _create_or_reset_role(conn: Connection, role: str, password: str) -> bool:
    row = conn.execute(
        text("SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = :r"),
        {"r": role},
    ).first()
    if row is not None and any(row):
        raise InitError(
            f"--app-role '{role}' is a superuser or may create roles or bypass row security: "
            "such a role could rewrite anything. Name a plain role (or a new one)."
        )
    # NOINHERIT and no memberships: the role has exactly the grants below.
    attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
    verb = "ALTER" if row is not None else "CREATE"
    conn.execute(text(_quoted(conn, f'{verb} ROLE "{role}" {attrs} PASSWORD {{}}', password)))
    return row is None


def _tables(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )


def _guarded(conn: Connection) -> set[str]:
    """Tables carrying the append-only trigger (besides those the models list)."""
    return set(
        conn.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE p.proname = :f AND NOT t.tgisinternal"
            ),
            {"f": PG_FUNCTION_NAME},
        ).scalars()
    )


def _grant(conn: Connection, role: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Start from nothing, then grant what a station needs and no more."""
    tables = sorted(_tables(conn))
    append_only = set(APPEND_ONLY_TABLES) | _guarded(conn)
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    r = f'"{role}"'
    statements = [
        f'GRANT CONNECT ON DATABASE "{database}" TO {r}',
        # Nobody but the owner creates objects in the schema (PostgreSQL 15's default; older
        # servers let every role create tables and functions there).
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE ALL ON SCHEMA public FROM {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {r}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
    ]
    guarded, free = [], []
    for table in tables:
        if table in READ_ONLY_TABLES:
            statements.append(f'GRANT SELECT ON "{table}" TO {r}')
        elif table in append_only:
            statements.append(f'GRANT SELECT, INSERT ON "{table}" TO {r}')
            guarded.append(table)
        else:
            statements.append(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO {r}')
            free.append(table)
    for statement in statements:
        conn.execute(text(statement))
    return tuple(guarded), tuple(free)
