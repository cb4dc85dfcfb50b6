"""The audit trail: append-only in the database, tamper-evident by its hash chain, readable by
administrators; sign-in, lock and signature failures are recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from pg_support import raw_connection, raw_errors
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from support import PASSWORD, T0

from nursestation.app import access, audit, users
from nursestation.app.audit import AuditFilter
from nursestation.app.context import AppContext
from nursestation.db.audit import verify_chain
from nursestation.db.models import AuditEvent
from nursestation.errors import BAD_PASSWORD, LOCKED_OUT, NOT_PERMITTED, DomainError

MARKER = "Quentin Tamperproof"


def _rows(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.tx() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
        s.expunge_all()
        return list(rows)


def _raw(station) -> Any:  # type: ignore[no-untyped-def]
    return raw_connection(station)


# ------------------------------------------------------------------ append-only


def test_plain_sql_cannot_edit_or_delete_audit_rows(ctx, people, station) -> None:
    with ctx.tx() as s:
        first = s.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars().first()
    # Through the app's own engine...
    for sql in (
        f"UPDATE audit_events SET action = 'nothing' WHERE id = {first}",
        f"DELETE FROM audit_events WHERE id = {first}",
    ):
        with pytest.raises(DatabaseError, match="append-only"), ctx.engine.begin() as conn:
            conn.execute(text(sql))
    # ...and through a separate connection, as someone with the file (or the database's
    # password) would do.
    raw = _raw(station)
    try:
        for sql in (
            "UPDATE audit_events SET after = '{}'",
            "DELETE FROM audit_events",
        ):
            with pytest.raises(raw_errors(), match="append-only"):
                raw.execute(sql)
    finally:
        raw.close()
    with ctx.tx() as s:
        assert verify_chain(s).ok


def _flip_in_file(path, needle: bytes, replacement: bytes) -> None:  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    assert data.count(needle) == 1, f"expected exactly one {needle!r} in the file"
    path.write_bytes(data.replace(needle, replacement))


@pytest.mark.sqlite_only  # the bytes of the SQLite file
def test_one_byte_changed_in_the_file_is_caught_by_the_chain(ctx, people, station) -> None:
    info = users.create_user(
        ctx,
        people["admin"],
        username="rn.quentin",
        full_name=MARKER,
        roles={"administrator"},
        password=PASSWORD,
    )
    [row] = [r for r in _rows(ctx, "user.create") if r.entity_id == str(info.id)]
    assert row.after["full_name"] == MARKER
    ctx.close()
    # Fold the WAL into the main file, so the bytes we change are the only copy.
    raw = _raw(station)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    db = station.sqlite_path
    # The user row stores the bare name; the audit row stores it inside its JSON "after".
    needle = f'"full_name": "{MARKER}"'.encode()
    _flip_in_file(db, needle, needle.replace(b"Tamperproof", b"Tamperpr0of"))

    reopened = AppContext.open(station, migrate=False)
    try:
        with reopened.tx() as s:
            result = verify_chain(s)
        assert not result.ok
        assert result.first_bad_id == row.id
        assert f"audit row {row.id} was altered" == result.problem
        with reopened.engine.connect() as conn:
            integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        assert integrity == "ok", "the change is invisible to SQLite itself: only the chain tells"
    finally:
        reopened.close()

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "nursestation", "--data-dir", str(station.data_dir), "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAIL audit trail: audit row {row.id} was altered" in proc.stdout
    assert "PASS database" in proc.stdout


def test_check_passes_on_an_untouched_trail(ctx, people, station) -> None:
    from nursestation.app.checks import _audit_trail

    result = _audit_trail(station)[0]
    assert (result.name, result.ok) == ("audit trail", True)
    assert all(r.ok for r in _audit_trail(station))
    assert "hash chain intact" in result.detail


def test_a_deleted_row_breaks_the_chain(ctx, people, station) -> None:
    """Dropping the trigger (only possible with the file in hand, or as the tables' owner on
    PostgreSQL) and deleting a row shows."""
    ctx.close()
    raw = _raw(station)
    if station.sqlite_path is not None:
        raw.execute("DROP TRIGGER trg_audit_events_no_delete")
    else:
        raw.execute("DROP TRIGGER trg_audit_events_append_only ON audit_events")
    victim = raw.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2").fetchone()[0]
    raw.execute(f"DELETE FROM audit_events WHERE id = {int(victim)}")
    raw.close()
    reopened = AppContext.open(station, migrate=False)
    try:
        with reopened.tx() as s:
            result = verify_chain(s)
        assert not result.ok and "does not follow" in (result.problem or "")
    finally:
        reopened.close()


# ------------------------------------------------------------------ passwords and sign-in


def test_wrong_password_at_signing_is_refused_and_audited(ctx, people) -> None:
    nurse = people["nurse"]
    with pytest.raises(DomainError) as e:
        users.reauthenticate(ctx, nurse, "not-my-password")
    assert e.value.code == BAD_PASSWORD
    [row] = _rows(ctx, "signature.failed")
    assert row.username == nurse.username
    assert row.user_id is None  # the failed attempt is not acted "as" the user
    assert row.after["failed_attempts"] == 1
    users.reauthenticate(ctx, nurse, PASSWORD)
    assert [r.username for r in _rows(ctx, "signature.ok")] == [nurse.username]


def test_lockout_delay_is_announced_and_enforced(ctx, people, clock) -> None:
    for i in range(3):
        with pytest.raises(DomainError) as e:
            access.sign_in(ctx, "rn.ana", f"wrong-{i}")
        assert e.value.code == BAD_PASSWORD
    assert "try again in 30 s" in e.value.message
    assert access.wait_seconds(ctx, "rn.ana") == 30
    with pytest.raises(DomainError) as e:
        access.sign_in(ctx, "rn.ana", PASSWORD)  # right password, but too soon
    assert e.value.code == LOCKED_OUT and "try again in" in e.value.message
    clock.advance(seconds=31)
    assert access.sign_in(ctx, "rn.ana", PASSWORD).username == "rn.ana"
    assert len(_rows(ctx, "sign_in.failed")) == 3


def test_disabled_account_is_named_only_to_its_password_holder(ctx, people) -> None:
    users.set_disabled(ctx, people["admin"], "rn.ana", True)
    with pytest.raises(DomainError) as e:
        access.sign_in(ctx, "rn.ana", PASSWORD)
    assert e.value.code == NOT_PERMITTED and "disabled" in e.value.message
    with pytest.raises(DomainError) as e:
        access.sign_in(ctx, "rn.ana", "guessing-123")
    assert e.value.code == BAD_PASSWORD and "disabled" not in e.value.message
    assert len(_rows(ctx, "sign_in.failed")) == 2


def test_lock_unlock_and_switch_are_audited(ctx, people) -> None:
    nurse, charge = people["nurse"], people["charge"]
    access.lock_screen(ctx, nurse, "idle", idle_min=5)
    with pytest.raises(DomainError) as e:
        access.unlock_screen(ctx, nurse, "wrong-password")
    assert e.value.code == BAD_PASSWORD
    assert access.unlock_screen(ctx, nurse, PASSWORD) == nurse
    access.record_switch(ctx, nurse, charge, while_locked=True)
    actions = [
        (r.action, r.username)
        for r in audit.list_audit(ctx, people["admin"], AuditFilter(since=T0)).entries
    ]
    assert list(reversed(actions))[-6:] == [
        ("screen.lock", "rn.ana"),
        ("unlock.failed", "rn.ana"),
        ("unlock.ok", "rn.ana"),
        ("screen.unlock", "rn.ana"),
        ("user.switch", "cn.ben"),
        ("screen.unlock", "cn.ben"),
    ]
    [lock] = _rows(ctx, "screen.lock")
    assert lock.after == {"reason": "idle", "idle_min": 5}


# ------------------------------------------------------------------ the viewer's service


def test_list_audit_filters(ctx, people, clock) -> None:
    admin = people["admin"]
    clock.advance(minutes=10)
    users.set_disabled(ctx, admin, "rn.ana", True)
    clock.advance(minutes=10)
    users.set_disabled(ctx, admin, "rn.ana", False)
    everything = audit.list_audit(ctx, admin)
    assert everything.total == len(everything.entries) > 5
    assert [e.id for e in everything.entries] == sorted(
        (e.id for e in everything.entries), reverse=True
    )
    by_action = audit.list_audit(ctx, admin, AuditFilter(action="user.dis"))
    assert [(e.action, e.before, e.after) for e in by_action.entries] == [
        ("user.disable", {"disabled": False}, {"disabled": True})
    ]
    by_prefix = audit.list_audit(ctx, admin, AuditFilter(action="SIGN_IN"))
    assert {e.action for e in by_prefix.entries} == {"sign_in.ok"}
    by_user = audit.list_audit(ctx, admin, AuditFilter(username="AD.dana", entity_type="user"))
    assert {e.action for e in by_user.entries} == {"user.disable", "user.enable", "sign_in.ok"}
    window = audit.list_audit(
        ctx,
        admin,
        AuditFilter(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=15)),
    )
    assert [e.action for e in window.entries] == ["user.disable"]
    ana_id = str(people["nurse"].user_id)
    by_entity = audit.list_audit(ctx, admin, AuditFilter(entity_type="user", entity_id=ana_id))
    assert {e.action for e in by_entity.entries} >= {"user.disable", "user.enable"}
    cut = audit.list_audit(ctx, admin, AuditFilter(limit=2))
    assert len(cut.entries) == 2 and cut.truncated
    assert audit.audit_usernames(ctx, admin) == ["(setup)", "ad.dana", "cn.ben", "rn.ana"]
    with pytest.raises(DomainError) as e:
        audit.list_audit(ctx, admin, AuditFilter(since=T0, until=T0))
    assert e.value.field == "until"


def test_check_chain_service_reports_and_is_audited(ctx, people) -> None:
    result = audit.check_chain(ctx, people["admin"])
    assert result.ok and result.rows > 0
    [row] = _rows(ctx, "audit.verify")
    assert row.after == {"ok": True, "rows": result.rows, "first_bad_id": None}
    with pytest.raises(DomainError) as e:
        audit.check_chain(ctx, people["charge"])
    assert e.value.code == NOT_PERMITTED
