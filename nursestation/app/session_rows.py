"""In-transaction reads of a session's stored rows, shared by the use-case modules.

These sit below `sessions`, `alarms`, `vitals`, `devices` and the rest so that each of them can
read a session without importing another feature module: the app layer stays acyclic (the
import-linter contract in pyproject.toml). Private to the app layer: callers pass their own
open transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app.context import AppContext
from nursestation.db.models import InfusionEvent, InfusionSession, OutcomeScore, VitalReading
from nursestation.db.queries import current_rows
from nursestation.errors import NOT_FOUND, DomainError
from nursestation.record import CourseTotal


def events_of(s: Session, session_id: int) -> list[infusion.InfusionEvent]:
    """The stored pump events in order."""
    rows = s.execute(
        select(InfusionEvent)
        .where(InfusionEvent.session_id == session_id)
        .order_by(InfusionEvent.at, InfusionEvent.id)
    ).scalars()
    return [infusion.InfusionEvent(r.kind, r.at, r.rate_mg_per_h, r.reason) for r in rows]


def min_observation_for(ctx: AppContext, row: InfusionSession) -> float:
    """Minimum observation for this session: the value in force at check-in (snapshot)."""
    snap = row.settings_snapshot or {}
    if "min_observation_min" in snap:
        return float(snap["min_observation_min"])
    return infusion.min_observation_min(ctx.settings, row.session_type)


def get_session_row(s: Session, session_id: int) -> InfusionSession:
    """The session row, or not_found."""
    row = s.get(InfusionSession, session_id)
    if row is None:
        raise DomainError(NOT_FOUND, f"No session {session_id}.")
    return row


def open_session_in_chair(s: Session, chair: str) -> InfusionSession | None:
    """The session currently occupying `chair`, if any."""
    return s.execute(
        select(InfusionSession).where(
            InfusionSession.chair == chair, InfusionSession.ended_at.is_(None)
        )
    ).scalar_one_or_none()


def baseline_vitals(
    s: Session, session_id: int, before: datetime | None = None
) -> VitalReading | None:
    """The baseline: the latest valid, not superseded reading before the infusion started."""
    stmt = current_rows(VitalReading, session_id).where(VitalReading.sbp.is_not(None))
    if before is not None:
        stmt = stmt.where(VitalReading.observed_at <= before)
    return s.execute(
        stmt.order_by(VitalReading.observed_at.desc(), VitalReading.id.desc()).limit(1)
    ).scalar_one_or_none()


def course_totals(
    s: Session, patient_id: int, *, checked_in_until: datetime | None = None
) -> tuple[CourseTotal, ...]:
    """The patient's course (issue 16): per scale and session, the pre-infusion total (the
    latest current one when several were taken), of the sessions checked in up to
    `checked_in_until` (all when None), in time order (1 statement). app.outcomes trends them;
    app.record gives them to the note."""
    q = (
        select(OutcomeScore, InfusionSession.session_number)
        .join(InfusionSession, InfusionSession.id == OutcomeScore.session_id)
        .where(OutcomeScore.patient_id == patient_id, OutcomeScore.timepoint == "pre",
               OutcomeScore.total.is_not(None))
        .order_by(OutcomeScore.at, OutcomeScore.id)
    )  # fmt: skip
    if checked_in_until is not None:
        q = q.where(InfusionSession.checked_in_at <= checked_in_until)
    found = s.execute(q).all()
    replaced = {r.supersedes_id for r, _ in found if r.supersedes_id is not None}
    latest: dict[tuple[str, int], CourseTotal] = {}
    for r, number in found:
        if r.id not in replaced and r.total is not None:
            latest[(r.scale, r.session_id)] = CourseTotal(
                r.scale, r.session_id, number, r.at, r.total
            )
    return tuple(latest.values())
