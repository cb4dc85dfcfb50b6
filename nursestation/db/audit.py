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


def audit_fields(ev: AuditEvent) -> dict[str, Any]:
    """The fields of one row that its chain hash covers."""
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


# The PostgreSQL advisory lock that serialises extending the chain across stations; the alarm
# center takes the same one (app/alarms.alarm_write_lock) so the two never deadlock.
AUDIT_CHAIN_LOCK_KEY = 727001


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
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_KEY})
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
    ev.hash = row_hash(prev_hash, audit_fields(ev))
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
        if row_hash(prev, audit_fields(ev)) != ev.hash:
            return ChainCheck(False, count, ev.id, f"audit row {ev.id} was altered")
        prev = ev.hash
    return ChainCheck(True, count)


@dataclass(frozen=True)
class ChainHead:
    """The newest audit row: its id and chain hash (what an anchor records)."""

    id: int
    hash: str

    def text(self) -> str:
        """The form stored in anchors: "<id>:<hash>"."""
        return f"{self.id}:{self.hash}"

    @staticmethod
    def parse(raw: str | None) -> ChainHead | None:
        """The inverse of `text` (None for anything malformed)."""
        if not raw or ":" not in raw:
            return None
        ident, _, digest = raw.strip().partition(":")
        if not ident.isdigit() or len(digest) != 64:
            return None
        return ChainHead(int(ident), digest)


def chain_head(session: Session) -> ChainHead | None:
    """The newest audit row the caller's transaction sees (None on an empty trail)."""
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if row is None else ChainHead(int(row[0]), str(row[1]))


@dataclass(frozen=True)
class ChainWalk:
    """A full walk of the chain: the ChainCheck plus every row's hash by id (for anchors)."""

    check: ChainCheck
    hashes: dict[int, str]

    @property
    def head(self) -> ChainHead | None:
        """The last row walked (None on an empty trail)."""
        if not self.hashes:
            return None
        last = max(self.hashes)
        return ChainHead(last, self.hashes[last])


def walk_chain(session: Session) -> ChainWalk:
    """Like `verify_chain`, keeping each verified row's hash so that anchors (signed notes,
    checkpoints, backups, the station's witness) can be compared with it. Reads only the
    columns it needs, in batches, so a long trail does not fill memory with ORM objects."""
    prev = GENESIS
    count = 0
    hashes: dict[int, str] = {}
    cols = (
        AuditEvent.id, AuditEvent.at, AuditEvent.user_id, AuditEvent.username,
        AuditEvent.station, AuditEvent.action, AuditEvent.entity_type, AuditEvent.entity_id,
        AuditEvent.before, AuditEvent.after, AuditEvent.prev_hash, AuditEvent.hash,
    )  # fmt: skip
    result = session.execute(select(*cols).order_by(AuditEvent.id)).yield_per(2000)
    for r in result:
        count += 1
        if r.prev_hash != prev:
            return ChainWalk(
                ChainCheck(
                    False, count, r.id, f"audit row {r.id} does not follow the row before it"
                ),
                hashes,
            )
        fields = {
            "at": r.at.isoformat(), "user_id": r.user_id, "username": r.username,
            "station": r.station, "action": r.action, "entity_type": r.entity_type,
            "entity_id": r.entity_id, "before": r.before, "after": r.after,
        }  # fmt: skip
        if row_hash(prev, fields) != r.hash:
            return ChainWalk(
                ChainCheck(False, count, r.id, f"audit row {r.id} was altered"), hashes
            )
        hashes[r.id] = r.hash
        prev = r.hash
    return ChainWalk(ChainCheck(True, count), hashes)
