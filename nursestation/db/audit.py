"""The audit trail: one row per action, written in the same transaction as the change, each
row chained to the previous one by SHA-256 so that an edit or deletion outside the app shows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from nursestation.db.models import AuditEvent

GENESIS = "0" * 64


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The chain hash of one audit row: SHA-256 over the previous hash and the row's fields."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def _fields(ev: AuditEvent) -> dict[str, Any]:
    return {
        "at": ev.at.isoformat(),
        "user_id": ev.user_id,
        "username": ev.username,
        "station": ev.station,
        "action": ev.action,
        "entity_type": ev.entity_type,
        "entity_id": ev.entity_id,
        "before": ev.before,
        "after": ev.after,
    }


def append_audit(
    session: Session,
    *,
    at: datetime,
    station: str,
    action: str,
    user_id: int | None = None,
    username: str | None = None,
    entity_type: str | None = None,
    entity_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one chained audit row to the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Several stations share one database: serialise chain extension.
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    prev = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = prev or GENESIS
    # Round-trip JSON so the hash covers exactly what the database will return.
    before_j = json.loads(_canonical(before)) if before is not None else None
    after_j = json.loads(_canonical(after)) if after is not None else None
    ev = AuditEvent(
        at=at,
        user_id=user_id,
        username=username,
        station=station,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=before_j,
        after=after_j,
        prev_hash=prev_hash,
        hash="",
    )
    ev.hash = row_hash(prev_hash, _fields(ev))
    session.add(ev)
    session.flush()
    return ev


@dataclass(frozen=True)
class ChainCheck:
    """Result of walking the audit chain."""

    ok: bool
    rows: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session) -> ChainCheck:
    """Recompute every hash in order; report the first row that does not match."""
    prev = GENESIS
    count = 0
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if ev.prev_hash != prev:
            return ChainCheck(
                False, count, ev.id, f"audit row {ev.id} does not follow row before it"
            )
        if row_hash(prev, _fields(ev)) != ev.hash:
            return ChainCheck(False, count, ev.id, f"audit row {ev.id} was altered")
        prev = ev.hash
    return ChainCheck(True, count)
