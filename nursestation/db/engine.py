"""Engine creation: SQLite pragmas for durability, explicit transactions on Python 3.11, and
the same code path for PostgreSQL."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from nursestation.config import DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option of an engine whose transactions only read (see `read_only`).
READ_ONLY = "nursestation_read_only"
# Seconds to wait for a PostgreSQL server before saying it is unreachable (libpq waits forever).
PG_CONNECT_TIMEOUT_S = 10
# sslmode values that refuse an unencrypted connection (libpq's "prefer" and "allow" fall back).
TLS_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
URL_EXAMPLE = "postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; for SQLite turn on foreign keys, WAL, synchronous=FULL and a busy timeout.
    A PostgreSQL URL is checked first (postgresql_url: driver, TLS unless on loopback) and the
    server is connected to once, so a wrong URL or an unreachable server is one clear
    DatabaseUnavailable here, not a traceback at the first query."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(engine)
        return engine
    parsed = postgresql_url(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    engine = create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailable(_connect_problem(parsed, exc)) from None
    return engine


def postgresql_url(url: str) -> URL:
    """The URL as SQLAlchemy takes it, or DatabaseUnavailable(bad_url=True) naming what is wrong:
    not a URL, not PostgreSQL, or a server off this machine without TLS. `postgresql://` means
    psycopg 3 (the driver installed with the app; SQLAlchemy's default would be psycopg2)."""
    shown = _hide_password(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"The database URL '{shown}' is not a URL: expected sqlite:///FILE or {URL_EXAMPLE}.",
            bad_url=True,
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend != "postgresql" or driver not in ("", "psycopg"):
        raise DatabaseUnavailable(
            f"The database URL '{shown}' names '{parsed.drivername}': NurseStation runs on "
            f"SQLite (sqlite:///FILE) or PostgreSQL through psycopg ({URL_EXAMPLE}).",
            bad_url=True,
        )
    parsed = parsed.set(drivername="postgresql+psycopg")
    host = pg_host(parsed)
    sslmode = str(parsed.query.get("sslmode") or "")
    if not is_loopback(host) and sslmode not in TLS_SSLMODES:
        got = f"sslmode={sslmode}" if sslmode else "no sslmode"
        raise DatabaseUnavailable(
            f"The database server '{host}' is not on this machine, so the connection must be "
            f"encrypted, but the URL has {got}: add ?sslmode=verify-full (or require) to it.",
            bad_url=True,
        )
    return parsed


def pg_host(url: URL) -> str:
    """The server's host as libpq will use it ('' for the default local socket)."""
    host = url.host or url.query.get("host") or os.environ.get("PGHOST") or ""
    return str(host[0] if isinstance(host, tuple) else host)


def is_loopback(host: str) -> bool:
    """True when `host` is this machine: a Unix socket directory, localhost, or a loopback
    address. Any other name counts as remote (names are not resolved: a name is only as
    trustworthy as the DNS answering for it)."""
    if host == "" or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, NoSuchModuleError):
        return url.split("@")[-1] if "@" in url else url


def _connect_problem(url: URL, exc: OperationalError) -> str:
    """One sentence for the psycopg error behind `exc`."""
    where = f"'{url.host or 'local socket'}'" + (f" port {url.port}" if url.port else "")
    db = url.database or "(default)"
    detail = str(exc.orig or exc).strip()
    low = detail.lower()
    if "does not support ssl" in low or "ssl was required" in low:
        return (
            f"The database server {where} does not offer TLS, and the URL asks for it "
            f"(sslmode={url.query.get('sslmode')}): turn on ssl in the server's "
            "postgresql.conf (README, clinic IT: PostgreSQL)."
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return f"The database server {where} refused user '{url.username}': wrong user name or password."
    if "does not exist" in low and "database" in low:
        return f"The database server {where} has no database '{db}': create it (nursestation db init)."
    if "no pg_hba.conf entry" in low:
        return f"The database server {where} does not accept this station (pg_hba.conf): {detail.splitlines()[-1]}"
    if "connection refused" in low:
        return (
            f"The database server {where} refuses connections: is PostgreSQL running there "
            "and listening on that address and port?"
        )
    if "resolve host" in low or "name or service not known" in low:
        return f"The database server name {where} is not known on this network."
    if "timeout" in low or "timed out" in low:
        return f"The database server {where} did not answer within {PG_CONNECT_TIMEOUT_S} s."
    first = detail.splitlines()[0] if detail else type(exc).__name__
    return f"The database server {where} cannot be reached: {first}"


def _sqlite_file(engine: Engine) -> str | None:
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _private_file(_dialect: Any, _rec: Any, _cargs: Any, _cparams: Any) -> None:
        # The database holds patient data: create it readable by the OS user only. SQLite
        # gives its -wal and -shm files the database file's permissions, so they follow. The
        # umask covers anything SQLite creates while opening; returning None lets SQLAlchemy
        # connect as usual.
        path = _sqlite_file(engine)
        if path is None or os.path.exists(path):
            return
        old = os.umask(0o077)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        except FileExistsError:  # another connection created it a moment ago
            pass
        finally:
            os.umask(old)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Python 3.11's sqlite3 opens transactions implicitly and would swallow the PRAGMAs;
        # take control of transactions (SQLAlchemy's documented recipe) and emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A read takes no write lock: in WAL mode it reads its snapshot while the writer
            # thread stores monitor data, and never makes a writer wait (nor waits for one).
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front: "database is locked" then shows at BEGIN
        # (where busy_timeout waits) rather than failing halfway through a clinical write.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions begin with a plain, deferred BEGIN: for
    transactions that only read. A write inside one is still possible but may fail with
    "database is locked" instead of waiting, so use it for reads only."""
    return engine.execution_options(**{READ_ONLY: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so plain objects can be returned."""
    return sessionmaker(engine, expire_on_commit=False)


def track_writes(factory: sessionmaker[Session], on_written: Callable[[], None]) -> None:
    """Call `on_written()` after each commit of a session from `factory` that wrote rows (ORM
    flushes, or insert / update / delete statements run through the session)."""

    @event.listens_for(factory, "after_flush")
    def _flushed(session: Session, _context: Any) -> None:
        session.info["wrote"] = True

    @event.listens_for(factory, "do_orm_execute")
    def _executed(state: Any) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            state.session.info["wrote"] = True

    @event.listens_for(factory, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop("wrote", False):
            on_written()

    @event.listens_for(factory, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop("wrote", None)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory.begin() as session:
        yield session
