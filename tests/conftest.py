"""Shared fixtures. Qt must run offscreen in tests: set before any QApplication exists."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NURSESTATION_STATION", "test-station")
# The test suite is a set-up process: it holds the clinic CA passphrase (app/context.py
# AppContext.open); tests of the station's own asking for it remove it (monkeypatch.delenv).
os.environ.setdefault("NURSESTATION_CA_PASSPHRASE", "Test CA passphrase 1")
# The station's local zone is printed wherever the clinic shows "local" time (the golden note
# text and exports, tests/golden): pin it so every machine renders the same text.
os.environ["TZ"] = "UTC"

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import pg_support
import pytest
from example_runs import ExampleRuns
from support import CHECKLIST_OK, EARLY_STARTED, PASSWORD, T0

from nursestation.clock import FakeClock
from nursestation.config import DB_FILENAME, StationConfig, resolve_config

T = TypeVar("T")

time.tzset()  # apply the TZ set above


_EARLY_FOLDERS: list[Path] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the tests that are mostly waiting (a `start_early(workdir)` attribute on the test
    function: the three-minute shift soak) now, so their real time overlaps the rest of the
    suite; each test takes its run from the stash and judges it. Skipped when tests are only
    listed or planned, and with NURSESTATION_EARLY_START=0 (then the test runs it itself)."""
    opt = session.config.option
    if opt.collectonly or opt.setupplan or opt.setuponly:
        return
    if os.environ.get("NURSESTATION_EARLY_START", "1") == "0":
        return
    import tempfile

    started: dict[str, Any] = {}
    for item in session.items:
        start = getattr(getattr(item, "function", None), "start_early", None)
        if start is not None:
            folder = Path(tempfile.mkdtemp(prefix="nursestation-early-"))
            _EARLY_FOLDERS.append(folder)
            started[item.nodeid] = start(folder)
    session.config.stash[EARLY_STARTED] = started
    if started and hasattr(os, "nice"):
        # The soak judges the app's GUI stalls (250 ms) as a nurse's machine would see them,
        # not the CPU the rest of this suite takes beside it on a 2-core CI machine: the suite
        # yields the CPU to it.
        os.nice(10)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop early-started runs whose test never took them (the session stopped before it:
    -x, interrupted), and remove every early run's working folder and every PostgreSQL test
    database still there."""
    for run in session.config.stash.get(EARLY_STARTED, {}).values():
        run.stop()
    for folder in _EARLY_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)
    pg_support.close_databases()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With the engine switch on PostgreSQL, leave out the tests about SQLite itself (marked
    `sqlite_only`: pragmas, its file locking, its file on disk); they ran in the SQLite pass."""
    if not pg_support.on_postgresql():
        return
    skip = pytest.mark.skip(reason="about SQLite itself (sqlite_only): run in the SQLite pass")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many PostgreSQL test databases were made, and the time it took (the cost of the
    engine switch's fresh database per test)."""
    if pg_support.SUMMARY:
        terminalreporter.write_line(pg_support.SUMMARY)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which engine the station fixtures use (NURSESTATION_TEST_DB, tests/pg_support.py)."""
    if pg_support.on_postgresql():
        return "nursestation database: PostgreSQL (NURSESTATION_TEST_DB=postgresql)"
    return "nursestation database: SQLite"


# ----------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> pg_support.PgServer:
    """The PostgreSQL test server (NURSESTATION_TEST_PG_URL, a superuser URL on loopback):
    skips the test when there is none, except under CI=true, where it fails."""
    return pg_support.require_server()


@pytest.fixture
def pg_database(pg_server: pg_support.PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped after it: its name. Connect as
    the superuser with `pg_server.url(name)` (or take the `pg_url` fixture)."""
    name = pg_server.new_name("own")
    pg_server.create(name)
    yield name
    pg_server.drop(name)


@pytest.fixture
def pg_url(pg_server: pg_support.PgServer, pg_database: str) -> str:
    """The superuser URL (postgresql+psycopg://…) of the test's own fresh database (`pg_database`):
    for tests that only make sense on PostgreSQL (two stations, roles, tamper drills). Whatever
    the engine switch says, this is always PostgreSQL."""
    return pg_server.url(pg_database)


@pytest.fixture(autouse=True)
def _drop_test_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """With the engine switch on: after the test, drop the databases made for data
    directories inside its tmp_path (its station, copied worlds, station_config)."""
    folder = None
    if pg_support.on_postgresql() and "tmp_path" in request.fixturenames:
        folder = request.getfixturevalue("tmp_path")  # the path, known before the test runs
    yield
    if folder is not None:
        pg_support.databases().drop_under(folder)


@pytest.fixture(autouse=True, scope="session")
def _collect_garbage_in_the_main_thread() -> Iterator[None]:
    """Worker threads (export, note preview, capture) must never run the cyclic collector while
    it could free Qt objects of earlier tests: collect only here, in the main thread."""
    import gc

    gc.disable()
    gc.collect()
    gc.freeze()
    yield
    # The heap stays frozen to the end: the interpreter's last collection at exit then has
    # nothing to scan (unfrozen, it walked the ~2 million objects the tests left: 8 s of exit
    # after 353 tests, ~20 s after the whole suite), and no thread still running at exit can
    # free a Qt object of a test.
    gc.collect()
    gc.freeze()
    gc.enable()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with minimal cost in tests (tests/core/test_security.py asserts the production
    parameters); hashes made here still verify, since each hash carries its parameters."""
    from argon2 import PasswordHasher

    from nursestation import security

    security._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._HASHER = security.PRODUCTION_HASHER


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    """Collect in the main thread after each test, then freeze the survivors: the next collection
    only scans what later tests allocate, instead of the whole heap every time."""
    yield
    import gc

    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Copied(Generic[T]):
    """A standard world copied for one test."""

    value: T  # what the build returned
    now: datetime  # the clock's time when the build ended
    alarm_center: bool  # the build left the context's alarm center created


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> ExampleRuns:
    """Each example scenario run once per test session: `example_runs(name)` -> ExampleRun
    (read-only data directory; `example_runs.copy_data(name, dst)` for a private copy) and
    `example_runs.golden(name)` for its golden outputs (tests/example_runs.py)."""
    return ExampleRuns(tmp_path_factory.mktemp("examples"))


class WorldTemplates:
    """Standard worlds built once per test session through the real use cases, then copied.

    A world is a data directory (SQLite database and clinic PKI) made by `build(ctx, clock)` on
    a fresh station with a FakeClock at T0. Each test gets its own copy of the directory (a file
    copy into its tmp_path), the values `build` returned (ids, actors: plain values, never the
    building context) and the time the build left the clock at, so a test starts from exactly
    the rows the build wrote, as if it had run the use cases itself, without paying for the
    migrations, the clinic CA and the signing keys again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, tuple[Path, Any, datetime, bool]] = {}

    def copy(self, key: str, build: Callable[[Any, FakeClock], T], dst: Path) -> Copied[T]:
        """Copy world `key` (built by `build` on first use) to the data directory `dst`, which
        must not exist yet."""
        if key not in self._built:
            from nursestation.app.context import AppContext

            data = self.root / key / "data"
            clock = FakeClock(T0)
            ctx = AppContext.open(pg_support.station_config(data), clock=clock)
            try:
                value = build(ctx, clock)
                # The use cases that store vital signs leave the context's alarm center (the
                # station's alarm state) created; the test's context restores it from the copy,
                # as a station does at start, so its first reading is judged the same way.
                centered = getattr(ctx, "alarm_center", None) is not None
            finally:
                # Closing the last connection checkpoints the WAL into the database file.
                ctx.close()
            self._built[key] = (data, value, clock.now(), centered)
        data, value, now, centered = self._built[key]
        if pg_support.on_postgresql():  # the folder, and the database made from the world's
            pg_support.databases().copy_dir(data, dst)
        else:
            shutil.copytree(data, dst)
        return Copied(value, now, centered)


@pytest.fixture(scope="session")
def worlds(
    tmp_path_factory: pytest.TempPathFactory, _cheap_password_hashing: None
) -> WorldTemplates:
    """The session's world templates (see WorldTemplates)."""
    return WorldTemplates(tmp_path_factory.mktemp("worlds"))


def _people_of(ctx: Any) -> dict[str, Any]:
    from nursestation.app.users import authenticate, provision_user

    out: dict[str, Any] = {}
    for key, username, full, role in (
        ("nurse", "rn.ana", "Ana Ruiz, RN", "nurse"),
        ("charge", "cn.ben", "Ben Ode, RN", "charge_nurse"),
        ("admin", "ad.dana", "Dana Admin", "administrator"),
    ):
        provision_user(ctx, username=username, full_name=full, roles={role}, password=PASSWORD)
        out[key] = authenticate(ctx, username, PASSWORD)
    return out


def _check_in_jane(ctx: Any, nurse: Any) -> int:
    from datetime import date

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol

    patients.register_patient(
        ctx,
        nurse,
        mrn="K-1001",
        name="Doe, Jane",
        dob=date(1985, 4, 2),
        weight_kg=70,
        sex="female",
        reproductive_potential=True,
    )
    s = sessions.check_in(
        ctx,
        nurse,
        mrn="K-1001",
        chair="1",
        protocol=Protocol(0.5, 40, 1.0),
        checklist=CHECKLIST_OK,
    )
    return int(s.id)


def _start_jane(ctx: Any, nurse: Any, sid: int, clock: FakeClock) -> None:
    from nursestation.app import sessions, vitals

    clock.advance(minutes=3)
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.set(T0 + timedelta(minutes=5))
    sessions.start_infusion(ctx, nurse, sid)


def _build_people(ctx: Any, _clock: FakeClock) -> dict[str, Any]:
    return {"people": _people_of(ctx)}


def _build_checked_in(ctx: Any, clock: FakeClock) -> dict[str, Any]:
    people = _people_of(ctx)
    return {"people": people, "checked_in": _check_in_jane(ctx, people["nurse"])}


def _build_infusing(ctx: Any, clock: FakeClock) -> dict[str, Any]:
    built = _build_checked_in(ctx, clock)
    _start_jane(ctx, built["people"]["nurse"], built["checked_in"], clock)
    return {**built, "infusing": True}


# The standard worlds, deepest first: a test gets the deepest one its fixtures ask for.
_STANDARD: tuple[tuple[str, Callable[[Any, FakeClock], dict[str, Any]]], ...] = (
    ("infusing", _build_infusing),
    ("checked_in", _build_checked_in),
    ("people", _build_people),
    ("station", lambda _ctx, _clock: {}),
)


@pytest.fixture
def station(request: pytest.FixtureRequest, tmp_path: Path) -> StationConfig:
    """A fresh data directory with SQLite inside it (empty until something opens it); with the
    engine switch on (tests/pg_support.py), a fresh PostgreSQL database of its own: empty, or,
    when the test takes a standard world, made from that world's database (_standard_world)."""
    data = tmp_path / "data"
    if not pg_support.on_postgresql():
        return resolve_config(str(data), None)
    dbs = pg_support.databases()
    if "_standard_world" in request.fixturenames:
        return resolve_config(str(data), dbs.reserve(data))
    return resolve_config(str(data), dbs.url_for(data))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def _standard_world(
    request: pytest.FixtureRequest, station: StationConfig, clock: FakeClock, worlds: WorldTemplates
) -> dict[str, Any]:
    """Copy the world the test's fixtures ask for into the test's data directory and set the
    clock where building it left it: the test module's own (COPIED_WORLDS), else the deepest
    standard one (`people`, `checked_in`, `infusing`; else a migrated station with its clinic
    CA). A data directory someone already filled (a test's
    own `station`, or a clinic.json written before the context opens) or a database outside it
    is left alone: the fixtures below then build their part themselves, as before."""
    if pg_support.on_postgresql():
        dbs = pg_support.databases()
        reserved = dbs.name_of(station.data_dir)
        own = reserved is not None and station.db_url == dbs.srv.url(reserved)
        if station.data_dir.exists() or not own:
            if own:  # the test fills the station itself: an empty database, as with SQLite
                dbs.create(station.data_dir)
            return {}
    elif station.data_dir.exists() or station.sqlite_path != station.data_dir / DB_FILENAME:
        return {}
    names = set(request.fixturenames)
    # A test module's own worlds: COPIED_WORLDS maps a fixture name to its build; the fixture
    # takes the values from here (and builds itself when this is empty, as above).
    module = request.module
    for fixture, build in getattr(module, "COPIED_WORLDS", {}).items():
        if fixture in names:
            copied = worlds.copy(f"{module.__name__}.{fixture}", build, station.data_dir)
            clock.set(copied.now)
            return {**copied.value, "alarm_center": copied.alarm_center}
    for key, build in _STANDARD:
        if key in names or key == "station":
            copied = worlds.copy(key, build, station.data_dir)
            clock.set(copied.now)
            return {**copied.value, "alarm_center": copied.alarm_center}
    raise AssertionError("unreachable: the last standard world is always taken")


@pytest.fixture
def ctx(station: StationConfig, clock: FakeClock, _standard_world: dict[str, Any]) -> Iterator[Any]:
    from nursestation.app.context import AppContext

    c = AppContext.open(station, clock=clock)
    if pg_support.on_postgresql():  # the switch is on: never a quiet fall-back to SQLite
        assert c.engine.dialect.name == "postgresql", station.db_url
    if _standard_world.get("alarm_center"):
        from nursestation.app.alarms import alarm_center

        alarm_center(c)
    yield c
    c.close()


@pytest.fixture
def people(ctx: Any, _standard_world: dict[str, Any]) -> dict[str, Any]:
    """Three signed-in actors: nurse, charge (charge nurse) and admin, password PASSWORD."""
    if "people" in _standard_world:
        return dict(_standard_world["people"])
    return _people_of(ctx)


@pytest.fixture
def checked_in(ctx: Any, people: dict[str, Any], _standard_world: dict[str, Any]) -> int:
    """Jane Doe (70 kg) checked in to chair 1 on 0.5 mg/kg over 40 min at 1 mg/mL; returns the
    session id. No vitals yet."""
    if "checked_in" in _standard_world:
        return int(_standard_world["checked_in"])
    return _check_in_jane(ctx, people["nurse"])


@pytest.fixture
def infusing(
    ctx: Any,
    people: dict[str, Any],
    checked_in: int,
    clock: FakeClock,
    _standard_world: dict[str, Any],
) -> int:
    """The `checked_in` session with baseline vitals, started 5 minutes after T0."""
    if "infusing" not in _standard_world:
        _start_jane(ctx, people["nurse"], checked_in, clock)
    return checked_in
