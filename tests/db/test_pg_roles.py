"""`nursestation db init` on a real PostgreSQL server (issue 15): the schema owned by the role
that ran it, and an application role the stations connect as, which can chart but cannot
UPDATE, DELETE or TRUNCATE the append-only tables nor drop or disable their triggers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_support import PgServer, libpq_url
from sqlalchemy import make_url
from support import CHECKLIST_OK, PASSWORD

from nursestation.cli import main
from nursestation.config import DatabaseUnavailable, resolve_config
from nursestation.db.models import APPEND_ONLY_TABLES

APP_PASSWORD = "station-pass-2026"


@pytest.fixture
def app_role(pg_server: PgServer, pg_database: str) -> Iterator[str]:
    """A role name for this test, removed (with its grants) afterwards."""
    role = pg_server.prefix.replace("_", "", 1) + "_app"  # never pg_…: reserved by PostgreSQL
    yield role
    with psycopg.connect(libpq_url(pg_server.url(pg_database)), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def _init(
    owner_url: str, role: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, str, str]:
    monkeypatch.setenv("NURSESTATION_APP_PASSWORD", APP_PASSWORD)
    rc = main(["db", "init", "--db", owner_url, "--app-role", role])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _as(url: str, role: str, password: str = APP_PASSWORD) -> str:
    return make_url(url).set(username=role, password=password).render_as_string(hide_password=False)


def test_db_init_then_a_station_charts_as_the_app_role_which_cannot_rewrite_anything(
    pg_url: str, app_role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    rc, out, err = _init(pg_url, app_role, monkeypatch, capsys)
    assert rc == 0, err
    assert f"application role {app_role} (created)" in out
    assert f"stations: --db postgresql+psycopg://{app_role}@127.0.0.1" in out
    assert APP_PASSWORD not in out

    # A station on the application role: the use cases work (reads, inserts, updates).
    from nursestation.app import patients, sessions, users, vitals
    from nursestation.app.context import AppContext
    from nursestation.dosing import Protocol

    station_url = _as(pg_url, app_role)
    ctx = AppContext.open(resolve_config(str(tmp_path / "data"), station_url))
    try:
        users.provision_user(
            ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PASSWORD
        )
        nurse = users.authenticate(ctx, "rn.ana", PASSWORD)
        from datetime import date

        patients.register_patient(
            ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
            sex="female", reproductive_potential=True,
        )  # fmt: skip
        s = sessions.check_in(
            ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0),
            checklist=CHECKLIST_OK,
        )  # fmt: skip
        vitals.record_vitals(ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98})
    finally:
        ctx.close()

    with psycopg.connect(libpq_url(station_url), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM vital_readings").fetchone() == (1,)
        # A plain table stays writable: the refusals below are the grants, not a broken login.
        conn.execute("UPDATE users SET failed_attempts = failed_attempts WHERE username = 'rn.ana'")
        refused: dict[str, list[str]] = {}
        for table in APPEND_ONLY_TABLES:
            for sql in (
                f"UPDATE {table} SET id = id",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
                f"DROP TRIGGER trg_{table}_append_only ON {table}",
                f"ALTER TABLE {table} DISABLE TRIGGER trg_{table}_append_only",
                f"ALTER TABLE {table} DISABLE TRIGGER ALL",
                f"DROP TABLE {table}",
            ):
                try:
                    conn.execute(sql)
                except psycopg.errors.InsufficientPrivilege as exc:
                    refused.setdefault(table, []).append(str(exc).splitlines()[0])
                else:
                    pytest.fail(f"the application role was allowed: {sql}")
        assert sorted(refused) == sorted(APPEND_ONLY_TABLES)
        assert all(len(v) == 7 for v in refused.values())
        for table, messages in refused.items():
            # UPDATE, DELETE, TRUNCATE: the grants; triggers and the table itself: ownership.
            assert all(f"permission denied for table {table}" in m for m in messages[:3])
            assert all(m.startswith("must be owner of") for m in messages[3:]), messages
        # Nor can it replace the trigger function or make tables of its own in the schema.
        for sql in (
            "CREATE OR REPLACE FUNCTION nursestation_append_only() RETURNS trigger "
            "AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TABLE audit_copy (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # The rows are all still there, unchanged: the chain still verifies.
    from nursestation.db.audit import verify_chain
    from nursestation.db.engine import make_engine, make_session_factory

    engine = make_engine(station_url)
    try:
        with make_session_factory(engine)() as s:
            assert verify_chain(s).ok
    finally:
        engine.dispose()


def test_db_init_twice_resets_the_password_and_keeps_the_grants(
    pg_url: str, app_role: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert _init(pg_url, app_role, monkeypatch, capsys)[0] == 0
    monkeypatch.setenv("NURSESTATION_APP_PASSWORD", "a-new-station-pass")
    assert main(["db", "init", "--db", pg_url, "--app-role", app_role]) == 0
    assert "existing: password and grants reset" in capsys.readouterr().out
    with pytest.raises(DatabaseUnavailable, match="wrong user name or password"):
        from nursestation.db.engine import make_engine

        make_engine(_as(pg_url, app_role))
    new = libpq_url(_as(pg_url, app_role, "a-new-station-pass"))
    with psycopg.connect(new) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_events")


def test_a_station_on_the_app_role_cannot_migrate_and_says_what_to_do(
    pg_server: PgServer, pg_url: str, app_role: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: Any,
) -> None:  # fmt: skip
    assert _init(pg_url, app_role, monkeypatch, capsys)[0] == 0
    # As if an older schema were installed: the station may not bring it up to date itself.
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0002_infusion'")
    rc = main(["--data-dir", str(tmp_path / "d"), "--db", _as(pg_url, app_role), "db", "upgrade"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "is at schema revision 0002_infusion" in err
    assert f"user '{app_role}' may not change the schema: run `nursestation db init" in err


@pytest.mark.parametrize(
    ("role", "password", "words"),
    [
        ("Bad-Name", APP_PASSWORD, "--app-role 'Bad-Name': use 1 to 63 lower-case letters"),
        ("nursestation_app", "short", "at least 12 characters (got 5)"),
        ("pg_station", APP_PASSWORD, "names starting with pg_ are reserved"),
    ],
)
def test_db_init_refuses_a_bad_role_name_or_short_password_before_connecting(
    role: str, password: str, words: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("NURSESTATION_APP_PASSWORD", password)
    # Nothing listens on port 9 of loopback: only the option check can answer.
    url = "postgresql+psycopg://owner@127.0.0.1:9/clinic"
    assert main(["db", "init", "--db", url, "--app-role", role]) == 2
    assert words in capsys.readouterr().err


def test_db_init_refuses_the_owner_itself_as_the_app_role(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    owner = make_url(pg_url).username
    assert owner is not None
    rc, _out, err = _init(pg_url, owner, monkeypatch, capsys)
    assert rc == 2
    assert "is the role running db init, which owns the tables" in err


def test_db_init_on_sqlite_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("NURSESTATION_APP_PASSWORD", APP_PASSWORD)
    assert main(["--data-dir", str(tmp_path / "d"), "db", "init"]) == 2
    assert "db init is for PostgreSQL" in capsys.readouterr().err
