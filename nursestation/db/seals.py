"""Seals on the rows that hold clinical or security facts but are not append-only.

A patient's allergies and weight, a session's dose calculation and a user's roles, password hash
and certificate are updated in place by the app (the patient chart, the session's end, role
changes), so triggers cannot refuse every UPDATE. Instead, every committed change of such a row
appends a `fact.seal` audit row carrying a SHA-256 digest of the row's protected columns, inside
the same transaction and therefore inside the hash chain. `check` recomputes each row's digest
and compares it with the newest seal: a value edited with plain SQL outside the app (an allergy
removed, a dose changed, a role granted) no longer matches, and forging the seal would mean
rewriting the chain, which the chain's anchors reveal.

Rows existing when seals were introduced are sealed once (`fact.baseline`); a row without any
seal after that was inserted outside the app.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from nursestation.db.audit import append_audit
from nursestation.db.models import AuditEvent, InfusionSession, Patient, User, UserRole

SEAL_ACTION = "fact.seal"
BASELINE_ACTION = "fact.baseline"
DELETED = "deleted"

# Protected columns per table. Columns added later by other features are not sealed until they
# are named here (a new name changes every digest: reseal in the same change, see `reseal_all`).
SEALED: dict[str, tuple[str, ...]] = {
    "patients": (
        "mrn",
        "name",
        "dob",
        "sex",
        "reproductive_potential",
        "weight_kg",
        "weight_date",
        "weight_measured",
        "allergies",
        "allergy_details",  # the chart's reaction and severity (issue 16, revision 0003_chart)
        "contact",
    ),
    "infusion_sessions": (
        "patient_id",
        "chair",
        "session_type",
        "checked_in_at",
        "checked_in_by",
        "dose_mg_per_kg",
        "duration_min",
        "concentration_mg_per_ml",
        "weight_kg_used",
        "total_mg",
        "volume_ml",
        "rate_mg_per_h",
        "rate_ml_per_h",
        "ketamine_lot",
        "prescriber",
        "order_text",  # 0003_paper: the prescriber's order (resealed once by ensure_baseline)
        "order_date",
        "checklist_override_reason",
        "checklist_override_by",
        "ended_at",
        "end_reason",
    ),
    "users": (
        "username",
        "full_name",
        "credentials",
        "password_hash",
        "disabled",
        "certificate_pem",
        "signing_credential",
    ),
}
_MODELS: dict[str, Any] = {"patients": Patient, "infusion_sessions": InfusionSession, "users": User}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 70 and 70.0 are one weight, whichever way the driver returns it
    return value


def _digest(values: dict[str, Any]) -> str:
    text = json.dumps(
        {k: _plain(v) for k, v in values.items()}, sort_keys=True, separators=(",", ":"),
        default=str, ensure_ascii=False,
    )  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _table(name: str) -> Table:
    table: Table = _MODELS[name].__table__
    return table


def current_digests(s: Session, table: str, ids: Iterable[int] | None = None) -> dict[int, str]:
    """The digest of each row's protected columns as stored now (all rows when `ids` is None)."""
    t = _table(table)
    cols = [t.c[name] for name in SEALED[table] if name in t.c]
    query = select(t.c.id, *cols).order_by(t.c.id)
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = query.where(t.c.id.in_(wanted))
    rows = s.execute(query).all()
    out = {int(r.id): {c.name: getattr(r, c.name) for c in cols} for r in rows}
    if table == "users":
        roles: dict[int, list[str]] = {uid: [] for uid in out}
        role_rows = s.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(list(out)))
        ).all()
        for uid, role in role_rows:
            roles.setdefault(int(uid), []).append(str(role))
        for uid, values in out.items():
            values["roles"] = sorted(roles.get(uid, []))
    return {i: _digest(v) for i, v in out.items()}


def newest_seals(s: Session, table: str | None = None) -> dict[tuple[str, int], str]:
    """(table, row id) -> the digest in its newest seal (or baseline)."""
    query = select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.after).where(
        AuditEvent.action == SEAL_ACTION
    )
    if table is not None:
        query = query.where(AuditEvent.entity_type == table)
    out: dict[tuple[str, int], str] = {}
    for etype, eid, after in s.execute(query.order_by(AuditEvent.id)):
        if etype in SEALED and eid is not None and str(eid).isdigit() and isinstance(after, dict):
            out[(str(etype), int(eid))] = str(after.get("digest"))
    return out


def _newest_seal(s: Session, table: str, row_id: int) -> str | None:
    after = s.execute(
        select(AuditEvent.after)
        .where(
            AuditEvent.entity_type == table,
            AuditEvent.entity_id == str(row_id),
            AuditEvent.action == SEAL_ACTION,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return str(after.get("digest")) if isinstance(after, dict) else None


def _touched(obj: Any) -> tuple[str, int] | None:
    if isinstance(obj, UserRole):
        return ("users", obj.user_id) if obj.user_id is not None else None
    name = getattr(getattr(obj, "__table__", None), "name", None)
    if name in SEALED and getattr(obj, "id", None) is not None:
        return (str(name), int(obj.id))
    return None


def seal_touched(s: Session, touched: set[tuple[str, int]], now: datetime, station: str) -> int:
    """Append a seal for each touched row whose digest differs from its newest seal; returns how
    many were written. Runs inside the caller's transaction (before its commit)."""
    written = 0
    by_table: dict[str, set[int]] = {}
    for table, row_id in touched:
        by_table.setdefault(table, set()).add(row_id)
    for table, ids in sorted(by_table.items()):
        digests = current_digests(s, table, ids)
        for row_id in sorted(ids):
            digest = digests.get(row_id, DELETED)
            if _newest_seal(s, table, row_id) == digest:
                continue
            append_audit(
                s, at=now, station=station, action=SEAL_ACTION, entity_type=table,
                entity_id=row_id, after={"digest": digest},
            )  # fmt: skip
            written += 1
    return written


def install_seal_hooks(
    factory: sessionmaker[Session], now: Callable[[], datetime], station: str
) -> None:
    """Seal, before each commit of a session from `factory`, the protected rows it changed."""
    from sqlalchemy import event

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _context: Any) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            key = _touched(obj)
            if key is not None:
                session.info.setdefault("sealed_touched", set()).add(key)

    @event.listens_for(factory, "before_commit")
    def _seal(session: Session) -> None:
        session.flush()  # what is still pending is collected by _collect first
        touched = session.info.pop("sealed_touched", None)
        if touched:
            seal_touched(session, touched, now(), station)

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("sealed_touched", None)


def ensure_baseline(s: Session, now: datetime, station: str, revision: str | None = None) -> int:
    """Seal every protected row whose newest seal does not match, once per schema revision: the
    first time a database runs with seals (rows written before they existed), and after a
    migration (which may add, move or fill sealed columns). A no-op while the revision stays the
    same. Returns the number of rows sealed.

    The trade-off: an edit made outside the app just before an upgrade is sealed with the
    migration. The baseline row records how many rows were resealed, so a large count after an
    upgrade that should not touch them is visible in the trail."""
    last = s.execute(
        select(AuditEvent.after)
        .where(AuditEvent.action == BASELINE_ACTION)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if isinstance(last, dict) and last.get("revision") == revision:
        return 0
    seals = newest_seals(s)
    count = 0
    for table in SEALED:
        for row_id, digest in current_digests(s, table).items():
            if seals.get((table, row_id)) == digest:
                continue
            append_audit(
                s, at=now, station=station, action=SEAL_ACTION, entity_type=table,
                entity_id=row_id, after={"digest": digest},
            )  # fmt: skip
            count += 1
    append_audit(
        s, at=now, station=station, action=BASELINE_ACTION,
        after={"rows_sealed": count, "revision": revision},
    )  # fmt: skip
    return count


@dataclass(frozen=True)
class SealProblem:
    """One protected row whose stored values do not match its newest seal."""

    table: str
    row_id: int
    problem: str


def check_seals(s: Session) -> tuple[int, list[SealProblem]]:
    """(rows checked, problems): every protected row against its newest seal, and every seal of
    a row that no longer exists."""
    seals = newest_seals(s)
    problems: list[SealProblem] = []
    checked = 0
    for table in SEALED:
        digests = current_digests(s, table)
        for row_id, digest in digests.items():
            checked += 1
            sealed = seals.get((table, row_id))
            if sealed is None:
                problems.append(SealProblem(table, row_id, "has no audited creation"))
            elif sealed != digest:
                problems.append(SealProblem(table, row_id, "was changed outside the app"))
        for (t, row_id), sealed in seals.items():
            if t == table and row_id not in digests and sealed != DELETED:
                problems.append(SealProblem(table, row_id, "was deleted outside the app"))
    return checked, problems
