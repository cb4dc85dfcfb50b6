"""Change notification between stations (issue 15): has any process committed something to the
shared database since we last looked, and was it more than the monitor stream?

- PostgreSQL: triggers (revision 0003_sync) send `NOTIFY nursestation_changes, '<table>'` in the
  same transaction as each insert into the audit trail and the monitor-stream tables; the feed
  holds one LISTEN connection and reads what arrived without waiting (`poll`).
- SQLite: `PRAGMA data_version` on a connection of the feed's own moves whenever another
  connection (this process's pool or another process) committed; the newest audit row then tells
  a use case (every use case writes one) from the monitor stream.

Both cost a few microseconds per look when nothing changed (measured: 3-4 µs), so the GUI looks
twice a second and every transaction looks at its start (app/context.py). Own commits are seen
too: a station cannot tell its own SQLite commits from another's, and re-reading once more after
its own write costs less than the bookkeeping to avoid it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

# The NOTIFY channel of revision 0003_sync's triggers (payload: the table written).
CHANNEL = "nursestation_changes"
# Tables whose inserts are the monitor stream (app/context.STREAM_TABLES, repeated here: the db
# layer does not import the app layer; tests/db/test_changes.py keeps the two equal).
STREAM_TABLES = frozenset({"device_readings", "vital_readings", "alarm_events"})


@dataclass(frozen=True)
class Changes:
    """What moved since the last look: `other` when anything beyond the monitor stream was
    committed (a use case, or something the feed cannot tell apart), else only `stream`.
    `audit_ids`: the audit rows committed since the last look, when known (empty with `other`:
    unknown, e.g. after a lost connection), so a station can tell its own commits from the
    others' (app/context.poll_changes)."""

    other: bool
    stream: bool
    audit_ids: tuple[int, ...] = ()


OTHER = Changes(other=True, stream=False)
STREAM = Changes(other=False, stream=True)
# More new audit rows than this in one look: not listed (`other` with no ids: unknown).
MAX_IDS = 1000
_NEWER = "SELECT id FROM audit_events WHERE id > {last} ORDER BY id LIMIT {limit}"


def _audit_since(execute: Any, last: int) -> tuple[tuple[int, ...], int]:
    """(ids of the audit rows after `last`, the newest id): one primary-key range. The ids are
    left out (unknown) when there are more than MAX_IDS."""
    rows = execute(_NEWER.format(last=int(last), limit=MAX_IDS + 1)).fetchall()
    ids = tuple(int(r[0]) for r in rows)
    if len(ids) > MAX_IDS:
        newest = execute("SELECT max(id) FROM audit_events").fetchone()
        return (), int(newest[0] or 0)
    return ids, (ids[-1] if ids else last)


def _newest_audit(execute: Any) -> int:
    row = execute("SELECT max(id) FROM audit_events").fetchone()
    return int(row[0] or 0) if row else 0


class ChangeFeed:
    """Looks for commits by any connection; `poll()` never waits. Thread-safe."""

    def poll(self) -> Changes | None:
        """What was committed since the last poll (None: nothing)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the feed's connection."""


class SQLiteFeed(ChangeFeed):
    """`PRAGMA data_version` on a private connection; the audit rows committed since the last
    look tell a use case from the monitor stream."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._started = False
        self._closed = False
        self._version = -1
        self._audit = -1
        with self._lock:
            try:
                self._look()  # the baseline: what exists now is not a change
            except sqlite3.Error:  # not migrated yet: the next look starts over
                self._close()
        self._started = True

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit: each statement is its own short read; nothing is held between looks.
            # Read-write but never create: a database file that went away is an error here.
            self._conn = sqlite3.connect(
                f"{Path(self._path).resolve().as_uri()}?mode=rw",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=10,
            )
        return self._conn

    def _look(self) -> Changes | None:
        conn = self._connect()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._version:
            return None
        # data_version counts per connection: a new connection (the first, or one re-opened after
        # an error) starts a new baseline; after an error, anything may have been missed.
        first = self._version < 0
        self._version = version
        if first or self._audit < 0:
            self._audit = _newest_audit(conn.execute)
            return OTHER if self._started else None
        ids, newest = _audit_since(conn.execute, self._audit)
        moved, self._audit = newest != self._audit, newest
        if ids:
            return Changes(other=True, stream=False, audit_ids=ids)
        # No new audit row: the monitor stream (moved without ids: too many to list, unknown).
        return OTHER if moved else STREAM

    def poll(self) -> Changes | None:
        """See ChangeFeed.poll; a database error counts as a change (read again, to be safe).
        Nothing after close()."""
        with self._lock:
            if self._closed:
                return None
            try:
                return self._look()
            except sqlite3.Error:
                self._close()
                return OTHER

    def _close(self) -> None:
        self._version = -1
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Close the private connection; later polls find nothing."""
        with self._lock:
            self._closed = True
            self._close()


class PostgresFeed(ChangeFeed):
    """One LISTEN connection; `poll` reads the notifications already received."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False
        self._audit = -1
        with self._lock:
            self._connect()

    def _connect(self) -> Any:
        if self._conn is None:
            import psycopg

            conn = psycopg.connect(self._conninfo, autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
            self._conn = conn
            # What exists now is not a change (after a reconnection, poll says "unknown").
            self._audit = _newest_audit(conn.execute)
        return self._conn

    def poll(self) -> Changes | None:
        """See ChangeFeed.poll. A lost connection is re-opened and counts as a change: what was
        sent while it was down is unknown. Nothing after close()."""
        import psycopg

        with self._lock:
            if self._closed:
                return None
            try:
                reconnected = self._conn is None
                conn = self._connect()
                tables = {n.payload for n in conn.notifies(timeout=0)}
                if reconnected:
                    return OTHER
                if not tables:
                    return None
                if tables <= STREAM_TABLES:
                    return STREAM
                ids, self._audit = _audit_since(conn.execute, self._audit)
            except psycopg.Error:
                self._close()
                return OTHER
        return Changes(other=True, stream=False, audit_ids=ids)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Close the LISTEN connection; later polls find nothing."""
        with self._lock:
            self._closed = True
            self._close()


def open_feed(engine: Engine) -> ChangeFeed | None:
    """The feed for `engine`'s database, or None where no other process can write to it (an
    in-memory SQLite database) or the engine is neither SQLite nor PostgreSQL."""
    url = engine.url
    name = engine.dialect.name
    if name == "sqlite":
        db = url.database
        if not db or db == ":memory:" or db.startswith("file:"):
            return None
        return SQLiteFeed(db)
    if name == "postgresql":
        # libpq's own URL: the same server, user and options without SQLAlchemy's driver name.
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresFeed(conninfo)
    return None


# The triggers revision 0003_sync installs on PostgreSQL (trg_<table>_notify): without them the
# other stations see this station's changes only through the board's own re-reads.
NOTIFIED_TABLES = ("audit_events", "vital_readings", "device_readings", "alarm_events")


def missing_notify_triggers(conn: Any) -> list[str]:
    """The change-notification triggers missing or disabled on a PostgreSQL connection (a
    SQLAlchemy Connection); [] on SQLite, which needs none. For `check` and start-up."""
    if conn.dialect.name != "postgresql":
        return []
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' "
            "AND tgname LIKE 'trg_%_notify'"
        )
    ).scalars()
    present = set(rows)
    return [f"trg_{t}_notify" for t in NOTIFIED_TABLES if f"trg_{t}_notify" not in present]
