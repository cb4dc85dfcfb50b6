"""Reading the audit trail (administrators): filtered lists and the hash-chain check.

Part 11 §11.10(e) asks that the audit trail be available for review; HIPAA 164.312(b) asks for a
way to examine activity. Rows are never changed here: the trail is append-only in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from nursestation.app.context import Actor, AppContext
from nursestation.db.audit import ChainCheck, verify_chain
from nursestation.db.models import AuditEvent
from nursestation.db.seals import BASELINE_ACTION, SEAL_ACTION
from nursestation.errors import BAD_INPUT, DomainError

SEAL_ACTIONS = (SEAL_ACTION, BASELINE_ACTION)

DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class AuditFilter:
    """What to show. Times are aware datetimes, `until` exclusive; text filters ignore case:
    `action` matches a prefix ("sign_in" finds sign_in.ok and sign_in.failed)."""

    since: datetime | None = None
    until: datetime | None = None
    username: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as shown to a reviewer."""

    id: int
    at: datetime
    username: str | None
    station: str
    action: str
    entity_type: str | None
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


@dataclass(frozen=True)
class AuditPage:
    """The rows that match (newest first), how many matched in all, and whether it was cut."""

    entries: tuple[AuditEntry, ...]
    total: int

    @property
    def truncated(self) -> bool:
        """True when more rows matched than are listed."""
        return self.total > len(self.entries)


def _validate(f: AuditFilter) -> None:
    for name, value in (("since", f.since), ("until", f.until)):
        if value is not None and value.tzinfo is None:
            raise DomainError(BAD_INPUT, f"'{name}' needs a time zone.", field=name)
    if f.since and f.until and f.until <= f.since:
        raise DomainError(
            BAD_INPUT, "The end of the date range is before its start.", field="until"
        )
    if f.limit < 1:
        raise DomainError(BAD_INPUT, "Limit must be at least 1.", field="limit")


def list_audit(ctx: AppContext, actor: Actor, filters: AuditFilter | None = None) -> AuditPage:
    """Audit rows matching `filters`, newest first (needs view_audit)."""
    ctx.require(actor, "view_audit")
    f = filters or AuditFilter()
    _validate(f)
    conds = []
    if f.since is not None:
        conds.append(AuditEvent.at >= f.since)
    if f.until is not None:
        conds.append(AuditEvent.at < f.until)
    if f.username:
        conds.append(func.lower(AuditEvent.username) == f.username.strip().lower())
    if f.action:
        conds.append(func.lower(AuditEvent.action).like(_prefix(f.action), escape="\\"))
    if not (f.action and f.action.strip().lower().startswith("fact")):
        # The seals of protected rows (db/seals.py) are bookkeeping of the trail, one beside each
        # change a reviewer already sees: shown only when asked for ("fact").
        conds.append(AuditEvent.action.not_in(SEAL_ACTIONS))
    if f.entity_type:
        conds.append(func.lower(AuditEvent.entity_type) == f.entity_type.strip().lower())
    if f.entity_id:
        conds.append(AuditEvent.entity_id == f.entity_id.strip())
    with ctx.tx() as s:
        total = s.execute(select(func.count(AuditEvent.id)).where(*conds)).scalar_one()
        rows = s.execute(
            select(AuditEvent).where(*conds).order_by(AuditEvent.id.desc()).limit(f.limit)
        ).scalars()
        entries = tuple(
            AuditEntry(
                ev.id,
                ev.at,
                ev.username,
                ev.station,
                ev.action,
                ev.entity_type,
                ev.entity_id,
                ev.before,
                ev.after,
                ev.hash,
            )
            for ev in rows
        )
    return AuditPage(entries, total)


def _prefix(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def audit_usernames(ctx: AppContext, actor: Actor) -> list[str]:
    """Every user name that appears in the trail (for the viewer's filter)."""
    ctx.require(actor, "view_audit")
    with ctx.tx() as s:
        names = s.execute(
            select(AuditEvent.username).where(AuditEvent.username.is_not(None)).distinct()
        ).scalars()
        return sorted(n for n in names if n is not None)


def check_chain(ctx: AppContext, actor: Actor) -> ChainCheck:
    """Walk the whole hash chain (needs view_audit); the check itself is audited."""
    ctx.require(actor, "view_audit")
    with ctx.tx() as s:
        result = verify_chain(s)
    # Appended after the walk, in its own transaction, so the verdict covers what was there.
    with ctx.tx() as s:
        ctx.audit(
            s,
            actor,
            "audit.verify",
            after={"ok": result.ok, "rows": result.rows, "first_bad_id": result.first_bad_id},
        )
    return result
