"""Reads begin with a plain BEGIN (no write lock); writes keep BEGIN IMMEDIATE (issue 19)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, select

from nursestation.db.models import User

# SQLite's locking (BEGIN vs BEGIN IMMEDIATE); PostgreSQL's MVCC never makes a read wait.
pytestmark = pytest.mark.sqlite_only


def _begins(ctx, use) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def on_sql(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    try:
        with use() as s:
            s.execute(select(User.id)).all()
    finally:
        event.remove(ctx.engine, "before_cursor_execute", on_sql)
    return seen


def test_read_transactions_begin_deferred_and_writes_immediate(ctx) -> None:
    assert _begins(ctx, ctx.read_tx) == ["BEGIN"]
    assert _begins(ctx, ctx.tx) == ["BEGIN IMMEDIATE"]


def test_a_read_does_not_wait_for_a_writer_holding_the_lock(ctx, people, station) -> None:
    path = ctx.engine.url.database
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET failed_attempts = 1")
        # Under BEGIN IMMEDIATE this would wait the busy timeout, then fail "database is locked".
        with ctx.read_tx() as s:
            names = set(s.execute(select(User.username)).scalars())
        assert "rn.ana" in names
    finally:
        writer.execute("ROLLBACK")
        writer.close()
