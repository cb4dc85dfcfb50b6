"""Engine creation: SQLite pragmas for durability, explicit transactions on Python 3.11, and
the same code path for PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option of an engine whose transactions only read (see `read_only`).
READ_ONLY = "nursestation_read_only"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; for SQLite turn on foreign keys, WAL, synchronous=FULL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


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
