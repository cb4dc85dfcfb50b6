"""The migrations produce exactly the models' schema; pragmas and the UTC type behave. On the
engine the switch names (tests/pg_support.py): SQLite, or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_support import station_config
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from nursestation.db.engine import make_engine, make_session_factory
from nursestation.db.migrate import current_revision, head_revision, upgrade_to_head
from nursestation.db.models import APPEND_ONLY_TABLES, Base, Patient


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose database the migrations brought to head, once for the module."""
    data = tmp_path_factory.mktemp("schema") / "data"
    data.mkdir()
    eng = make_engine(station_config(data).db_url)
    upgrade_to_head(eng)
    eng.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return data


@pytest.fixture
def engine(tmp_path: Path, migrated: Path):
    """Each test's own copy of the migrated database (the SQLite file, or on PostgreSQL a
    database made from the migrated one)."""
    from export_support import copy_station

    eng = make_engine(station_config(copy_station(migrated, tmp_path / "data")).db_url)
    yield eng
    eng.dispose()


def test_migrations_match_models_exactly(engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diffs == []
    assert current_revision(engine) == head_revision()


def test_every_model_table_exists_after_migration(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


@pytest.mark.sqlite_only
def test_pragmas_are_set_on_every_connection(engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_foreign_keys_are_enforced(engine) -> None:
    factory = make_session_factory(engine)
    with pytest.raises(IntegrityError), factory.begin() as s:
        s.execute(
            text(
                "INSERT INTO infusion_events (session_id, kind, at, user_id, recorded_at) "
                "VALUES (999, 'start', '2026-01-01', 999, '2026-01-01')"
            )
        )


def test_rollback_on_error_leaves_nothing(engine) -> None:
    factory = make_session_factory(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(RuntimeError), factory.begin() as s:
        s.add(
            Patient(
                mrn="A1",
                name="Doe, J",
                dob=date(1980, 1, 1),
                weight_kg=70,
                weight_date=date(2026, 1, 1),
                allergies=[],
                created_at=now,
            )
        )
        s.flush()
        raise RuntimeError("boom")
    with factory() as s:
        assert s.execute(select(Patient)).all() == []


def test_timestamps_round_trip_as_aware_utc(engine) -> None:
    factory = make_session_factory(engine)
    local = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    with factory.begin() as s:
        s.add(
            Patient(
                mrn="A2",
                name="Doe, J",
                dob=date(1980, 1, 1),
                weight_kg=70,
                weight_date=date(2026, 1, 1),
                allergies=["latex"],
                created_at=local,
            )
        )
    with factory() as s:
        p = s.execute(select(Patient)).scalar_one()
        assert p.created_at == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
        assert p.created_at.tzinfo is not None
        assert p.allergies == ["latex"]


def test_naive_timestamps_are_refused(engine) -> None:
    factory = make_session_factory(engine)
    with pytest.raises(Exception, match="naive"), factory.begin() as s:
        s.add(
            Patient(
                mrn="A3",
                name="Doe, J",
                dob=date(1980, 1, 1),
                weight_kg=70,
                weight_date=date(2026, 1, 1),
                allergies=[],
                created_at=datetime(2026, 1, 1),
            )
        )
        s.flush()


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_append_only_tables_refuse_update_and_delete(engine, table: str) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            trig = set(
                conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                        "AND tgenabled <> 'D'"
                    ),
                    {"t": table},
                ).scalars()
            )
            assert {f"trg_{table}_append_only", f"trg_{table}_no_truncate"} <= trig
            return
        trig = set(
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=?", (table,)
            ).scalars()
        )
    assert f"trg_{table}_no_update" in trig
    assert f"trg_{table}_no_delete" in trig


def test_update_of_append_only_row_fails_in_the_database(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_events (at, station, action, prev_hash, hash) "
            "VALUES ('2026-01-01 00:00:00', 's', 'x', '0', 'h1')"
        )
    # SQLite's RAISE(ABORT) is an IntegrityError, PostgreSQL's RAISE EXCEPTION an InternalError.
    statements = ["UPDATE audit_events SET action='y'", "DELETE FROM audit_events"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT action FROM audit_events").scalars().all() == ["x"]


@pytest.mark.sqlite_only
def test_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer is told "locked" at its BEGIN, never halfway through."""
    import sqlite3

    path = tmp_path / "y.sqlite3"
    a = make_engine(f"sqlite:///{path}")
    upgrade_to_head(a)
    with a.begin() as ca:
        ca.exec_driver_sql("SELECT 1")  # a read-only statement, yet the write lock is held
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    a.dispose()


def test_head_constant_matches_the_migration_scripts() -> None:
    from nursestation.db.migrate import HEAD_REVISION

    assert head_revision() == HEAD_REVISION


def test_app_pki_knows_the_ca_file_name() -> None:
    from nursestation.app.pki import CA_CERT_NAME
    from nursestation.report.pki import CA_CERT_FILE

    assert CA_CERT_NAME == CA_CERT_FILE
