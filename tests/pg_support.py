"""The PostgreSQL side of the test suite (importable because pytest puts tests/ on the path).

Two environment variables, set by scripts/test.sh (which starts a throw-away cluster with
scripts/pg-dev.sh) or by a developer:

- NURSESTATION_TEST_PG_URL: a superuser URL of a test server on loopback, e.g.
  `postgresql://postgres@127.0.0.1:54329/postgres` (`bash scripts/pg-dev.sh url` prints it).
  Needed by the PostgreSQL-only tests (the `pg_server`, `pg_database` and `pg_url` fixtures of
  tests/conftest.py); without it they skip, except under CI=true, where they fail.
- NURSESTATION_TEST_DB=postgresql: the engine switch. The fixtures that make a station
  (`station`, the standard worlds, the example scenario runs, `station_config`) then give each
  test its own fresh PostgreSQL database instead of a SQLite file: an empty one, or a copy of a
  prepared world made with `CREATE DATABASE … TEMPLATE` (the counterpart of copying the SQLite
  file). The data directory (clinic CA, clinic.json) is still a folder per test.

Every database this module creates is named `<prefix>_<pid>_<n>` with the prefix from
NURSESTATION_TEST_PG_PREFIX (default `nstest`): on a shared server, set it to a name of your own.
Each is dropped when its test (or, for templates, the test session) ends.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

PG_URL_ENV = "NURSESTATION_TEST_PG_URL"
ENGINE_ENV = "NURSESTATION_TEST_DB"
PREFIX_ENV = "NURSESTATION_TEST_PG_PREFIX"


def on_postgresql() -> bool:
    """True when the engine switch asks for PostgreSQL (NURSESTATION_TEST_DB=postgresql)."""
    return os.environ.get(ENGINE_ENV, "sqlite").lower() in ("postgresql", "postgres", "pg")


def in_ci() -> bool:
    """True on the CI machine (CI=true), where a missing server is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def no_server(reason: str) -> None:
    """Skip the test outside CI; fail it under CI=true (a PostgreSQL test must run there)."""
    if in_ci():
        pytest.fail(f"PostgreSQL test server needed under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL test server: {reason} (set {PG_URL_ENV}; scripts/pg-dev.sh)")


class PgServer:
    """A test server reached with a superuser URL: creates and drops databases."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import make_url

        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        prefix = re.sub(r"[^a-z0-9_]", "_", os.environ.get(PREFIX_ENV, "nstest").lower())
        self.prefix = f"{prefix}_{os.getpid()}"
        self._counter = itertools.count(1)
        self._conn: Any = None
        self._server_version: int | None = None
        self.created = 0  # databases created, and the seconds it took (the run's summary)
        self.create_s = 0.0

    def _admin(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            url = self.admin_url.render_as_string(hide_password=False)
            self._conn = psycopg.connect(
                url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            )
        return self._conn

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement on the server's maintenance database (autocommit)."""
        cur = self._admin().execute(sql)
        return cur.fetchall() if cur.description else []

    def check(self) -> str:
        """The server's version string (connects: raises when it cannot)."""
        return str(self.execute("SELECT version()")[0][0])

    def new_name(self, kind: str = "t") -> str:
        """A database name unused in this test run."""
        return f"{self.prefix}_{kind}{next(self._counter)}"

    def url(self, name: str) -> str:
        """The superuser URL of database `name` (what a test's station connects with)."""
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        """Create database `name` (empty, or a copy of `template`); its URL."""
        copy = f" TEMPLATE {template}" if template else ""
        # FILE_COPY copies the template's files instead of writing every page to the WAL
        # (PostgreSQL 15's default): faster for the small worlds copied here. Older servers
        # know only the file copy, and not the option.
        if self._version() >= 150000:
            copy += " STRATEGY FILE_COPY"
        started = time.perf_counter()
        self.execute(f"CREATE DATABASE {name}{copy}")
        self.created += 1
        self.create_s += time.perf_counter() - started
        return self.url(name)

    def _version(self) -> int:
        if self._server_version is None:
            self._server_version = int(self.execute("SHOW server_version_num")[0][0])
        return self._server_version

    def drop(self, name: str) -> None:
        """Drop database `name`, closing what a test left connected to it."""
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        """Close the maintenance connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_SERVER: PgServer | None = None
_SERVER_PROBLEM: str | None = None


def server() -> PgServer | None:
    """The test server of NURSESTATION_TEST_PG_URL, connected once per process; None (with
    `server_problem()` saying why) when the variable is unset or the server does not answer."""
    global _SERVER, _SERVER_PROBLEM
    if _SERVER is not None or _SERVER_PROBLEM is not None:
        return _SERVER
    url = os.environ.get(PG_URL_ENV)
    if not url:
        _SERVER_PROBLEM = f"{PG_URL_ENV} is not set"
        return None
    candidate = PgServer(url)
    try:
        candidate.check()
    except Exception as exc:  # any failure to connect: say which
        _SERVER_PROBLEM = f"{PG_URL_ENV} does not answer: {exc}".splitlines()[0]
        return None
    _SERVER = candidate
    return _SERVER


def server_problem() -> str:
    """Why server() returned None."""
    return _SERVER_PROBLEM or "unknown"


def require_server() -> PgServer:
    """The test server, else skip (outside CI) or fail (CI=true)."""
    srv = server()
    if srv is None:
        no_server(server_problem())
        raise AssertionError("unreachable")
    return srv


# ----------------------------------------------------------------- databases by data directory


class Spares:
    """Copies of templates made ahead, in a background thread with its own connection: a test
    taking a copy of a world then waits for a rename instead of a CREATE DATABASE (about 0.1-0.5 s
    each, most of the PostgreSQL pass's fixed cost per test). A template gets one spare once it
    has been copied twice (worlds used by one test only are not worth a spare)."""

    def __init__(self, srv: PgServer) -> None:
        import queue
        import threading

        self.srv = srv
        self.worker = PgServer(srv.admin_url.render_as_string(hide_password=False))
        self.worker.prefix, self.worker._counter = srv.prefix, srv._counter  # one name space
        self._lock = threading.Lock()
        self._ready: dict[str, list[str]] = {}
        self._pending: dict[str, int] = {}
        self._uses: dict[str, int] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="pg-spares", daemon=True)
        self._thread.start()

    def take(self, template: str) -> str | None:
        """A ready copy of `template` (the caller renames it), or None; asks for the next one."""
        with self._lock:
            self._uses[template] = self._uses.get(template, 0) + 1
            ready = self._ready.get(template)
            spare = ready.pop() if ready else None
            wanted = self._uses[template] >= 2 and not ready and not self._pending.get(template)
            if wanted:
                self._pending[template] = 1
        if wanted:
            self._queue.put(template)
        return spare

    def _run(self) -> None:
        while (template := self._queue.get()) is not None:
            name = self.worker.new_name("s")
            try:
                self.worker.create(name, template)
            except Exception:  # e.g. someone is connected to the template: no spare this time
                name = ""
            with self._lock:
                self._pending[template] = 0
                if name:
                    self._ready.setdefault(template, []).append(name)

    def close(self) -> None:
        """Stop the thread and drop the spares nobody took."""
        self._queue.put(None)
        self._thread.join(timeout=120)
        for names in self._ready.values():
            for name in names:
                self.worker.drop(name)
        self._ready.clear()
        self.worker.close()


class Databases:
    """The databases made for the data directories of one test session under the engine switch:
    a data directory's database is looked up by the directory, so a copy of a data directory
    (a world, an example scenario's run) comes with a copy of its database."""

    def __init__(self, srv: PgServer) -> None:
        self.srv = srv
        self.by_dir: dict[Path, str] = {}
        self.spares = Spares(srv)
        self.waited_s = 0.0  # time tests waited for their databases

    def _make(self, name: str, template: str | None) -> None:
        started = time.perf_counter()
        spare = self.spares.take(template) if template else None
        if spare:
            self.srv.execute(f"ALTER DATABASE {spare} RENAME TO {name}")
        else:
            self.srv.create(name, template)
        self.waited_s += time.perf_counter() - started

    def url_for(self, data_dir: Path, *, template: str | None = None) -> str:
        """The URL of `data_dir`'s database, created (empty or from `template`) on first use."""
        key = Path(data_dir).resolve()
        name = self.by_dir.get(key)
        if name is None:
            name = self.srv.new_name("t")
            self._make(name, template)
            self.by_dir[key] = name
        return self.srv.url(name)

    def reserve(self, data_dir: Path) -> str:
        """The URL `data_dir`'s database will have, without creating it yet (`create` does,
        empty or from a template: the standard worlds decide which when the test starts)."""
        key = Path(data_dir).resolve()
        name = self.by_dir.setdefault(key, self.srv.new_name("t"))
        return self.srv.url(name)

    def create(self, data_dir: Path, *, template: str | None = None) -> str:
        """Create the database reserved for `data_dir` (empty or from `template`); its URL."""
        name = self.by_dir[Path(data_dir).resolve()]
        self._make(name, template)
        return self.srv.url(name)

    def name_of(self, data_dir: Path) -> str | None:
        """The database made for `data_dir`, if any."""
        return self.by_dir.get(Path(data_dir).resolve())

    def copy_dir(self, src: Path, dst: Path) -> str:
        """Copy the data directory `src` to `dst` (which must not exist) with its database;
        the copy's URL."""
        shutil.copytree(src, dst)
        template = self.name_of(src)
        if template is None:
            raise AssertionError(f"no database was made for {src}")
        if self.name_of(dst) is not None:  # reserved by the test's `station`
            return self.create(dst, template=template)
        return self.url_for(dst, template=template)

    def drop_under(self, folder: Path) -> None:
        """Drop the databases of the data directories inside `folder` (a test's tmp_path)."""
        root = Path(folder).resolve()
        for key in [k for k in self.by_dir if k == root or root in k.parents]:
            self.srv.drop(self.by_dir.pop(key))

    def drop_all(self) -> None:
        """Drop every database still listed, and the spares (end of the test session)."""
        self.spares.close()
        for name in self.by_dir.values():
            self.srv.drop(name)
        self.by_dir.clear()


_DATABASES: Databases | None = None
SUMMARY = ""  # what the session's databases cost, for the terminal summary


def databases() -> Databases:
    """The session's Databases (engine switch on): fails the test when there is no server,
    since a suite asked to run on PostgreSQL must not quietly fall back to SQLite."""
    global _DATABASES
    if _DATABASES is None:
        srv = server()
        if srv is None:
            pytest.fail(
                f"{ENGINE_ENV}=postgresql but no test server: {server_problem()}", pytrace=False
            )
        _DATABASES = Databases(srv)
    return _DATABASES


def close_databases() -> None:
    """Drop every database the session made and close the maintenance connection."""
    global _DATABASES, SUMMARY
    if _DATABASES is not None:
        dbs = _DATABASES
        dbs.drop_all()
        made = dbs.srv.created + dbs.spares.worker.created
        SUMMARY = (
            f"PostgreSQL: {made} test databases made ({dbs.spares.worker.created} ahead, in the "
            f"background); tests waited {dbs.waited_s:.1f} s for theirs"
        )
        _DATABASES = None
    if _SERVER is not None:
        _SERVER.close()


def station_config(data_dir: str | Path) -> Any:
    """The StationConfig a test uses for a fresh data directory: SQLite inside it, or with the
    engine switch on, a fresh PostgreSQL database of its own (the same directory gives the same
    database). Use it instead of `resolve_config(str(data_dir), None)` in tests that should run
    on both engines."""
    from nursestation.config import resolve_config

    if not on_postgresql():
        return resolve_config(str(data_dir), None)
    return resolve_config(str(data_dir), databases().url_for(Path(data_dir)))


def raw_connection(config: Any) -> Any:
    """A plain DB-API connection to the station's database, outside the app, in autocommit: as
    someone holding the SQLite file, or the database password, would open it (sqlite3, or
    psycopg as the test server's superuser). Close it after use."""
    if config.sqlite_path is not None:
        import sqlite3

        return sqlite3.connect(config.sqlite_path, isolation_level=None)
    import psycopg

    return psycopg.connect(libpq_url(config.db_url), autocommit=True)


def libpq_url(url: str) -> str:
    """An SQLAlchemy PostgreSQL URL as libpq takes it (no `+psycopg`)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def raw_errors() -> tuple[type[BaseException], ...]:
    """The DB-API error classes a raw connection raises (sqlite3's and psycopg's)."""
    import sqlite3

    import psycopg

    return (sqlite3.DatabaseError, psycopg.DatabaseError)


def cli_db_args(config: Any) -> list[str]:
    """The `--db URL` a `nursestation` subprocess needs to reach the station's database ([] for
    SQLite inside the data directory, which --data-dir already names)."""
    return [] if config.sqlite_path is not None else ["--db", config.db_url]


def missing_station_config(data_dir: str | Path) -> Any:
    """A station whose database does not exist: SQLite in a data directory never made, or a
    PostgreSQL database name never created."""
    from nursestation.config import resolve_config

    if not on_postgresql():
        return resolve_config(str(data_dir), None)
    return resolve_config(str(data_dir), databases().reserve(Path(data_dir)))
