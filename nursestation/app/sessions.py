"""Infusion sessions: check-in, the pump events, and the state derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import PatientInfo, get_patient_row, info
from nursestation.checklist import ChecklistResult, PatientFacts, StartOverride, evaluate_checklist
from nursestation.db.models import (
    DischargeApproval,
    InfusionEvent,
    InfusionSession,
    VitalReading,
)
from nursestation.db.queries import current_rows
from nursestation.dosing import DoseCalculation, DosingLimits, Protocol, calculate_dose
from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_FOUND, DomainError
from nursestation.infusion import InfusionState, Planned


@dataclass(frozen=True)
class SessionSummary:
    """What every screen needs about a session: who, where, the order, and the timer."""

    id: int
    chair: str
    session_type: str
    session_number: int
    patient: PatientInfo
    checked_in_at: datetime
    dose: DoseCalculation
    ketamine_lot: str | None
    state: InfusionState
    events: tuple[infusion.InfusionEvent, ...]
    checklist: dict[str, Any]
    checklist_result: dict[str, Any]
    checklist_overridden: bool
    approved: bool
    ended_at: datetime | None
    end_reason: str | None


def planned_of(row: InfusionSession) -> Planned:
    """The planned infusion as stored at check-in."""
    return Planned(
        total_mg=row.total_mg,
        duration_min=row.duration_min,
        rate_mg_per_h=row.rate_mg_per_h,
        concentration_mg_per_ml=row.concentration_mg_per_ml,
    )


def dose_of(row: InfusionSession) -> DoseCalculation:
    """The dose calculation exactly as stored (never recomputed from a later weight)."""
    return DoseCalculation(
        weight_kg=row.weight_kg_used,
        dose_mg_per_kg=row.dose_mg_per_kg,
        duration_min=row.duration_min,
        concentration_mg_per_ml=row.concentration_mg_per_ml,
        total_mg=row.total_mg,
        volume_ml=row.volume_ml,
        rate_mg_per_h=row.rate_mg_per_h,
        rate_ml_per_h=row.rate_ml_per_h,
    )


def events_of(s: Session, session_id: int) -> list[infusion.InfusionEvent]:
    """The stored pump events in order."""
    rows = s.execute(
        select(InfusionEvent)
        .where(InfusionEvent.session_id == session_id)
        .order_by(InfusionEvent.at, InfusionEvent.id)
    ).scalars()
    return [infusion.InfusionEvent(r.kind, r.at, r.rate_mg_per_h, r.reason) for r in rows]


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


def session_id_for_chair(ctx: AppContext, chair: str) -> int:
    """The open session in a chair, or invalid_state when the chair is empty."""
    with ctx.tx() as s:
        row = open_session_in_chair(s, chair)
        if row is None:
            raise DomainError(INVALID_STATE, f"Chair {chair} has no patient checked in.")
        return row.id


def _is_approved(s: Session, session_id: int) -> bool:
    return (
        s.execute(
            select(DischargeApproval.id).where(DischargeApproval.session_id == session_id)
        ).first()
        is not None
    )


def summary_in(ctx: AppContext, s: Session, row: InfusionSession) -> SessionSummary:
    """Build the summary inside an open transaction."""
    events = events_of(s, row.id)
    approved = _is_approved(s, row.id)
    ready = False
    if not approved and row.ended_at is None and any(e.kind == infusion.STOP for e in events):
        from nursestation.app.discharge import is_ready_in

        ready = is_ready_in(ctx, s, row)
    state = infusion.infusion_state(
        events,
        planned_of(row),
        ctx.now(),
        min_observation_min=min_observation_for(ctx, row),
        ready_for_discharge=ready,
        discharged=row.end_reason == "discharged",
    )
    return SessionSummary(
        id=row.id,
        chair=row.chair,
        session_type=row.session_type,
        session_number=row.session_number,
        patient=info(row.patient),
        checked_in_at=row.checked_in_at,
        dose=dose_of(row),
        ketamine_lot=row.ketamine_lot,
        state=state,
        events=tuple(events),
        checklist=dict(row.checklist or {}),
        checklist_result=dict(row.checklist_result or {}),
        checklist_overridden=row.checklist_override_reason is not None,
        approved=approved,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


def min_observation_for(ctx: AppContext, row: InfusionSession) -> float:
    """Minimum observation for this session: the value in force at check-in (snapshot)."""
    snap = row.settings_snapshot or {}
    if "min_observation_min" in snap:
        return float(snap["min_observation_min"])
    return infusion.min_observation_min(ctx.settings, row.session_type)


def get_summary(ctx: AppContext, actor: Actor, session_id: int) -> SessionSummary:
    """A session with its timer as of now."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        return summary_in(ctx, s, get_session_row(s, session_id))


# ---------------------------------------------------------------- check-in


def preview_dose(ctx: AppContext, weight_kg: float, protocol: Protocol) -> DoseCalculation:
    """The calculation shown to the nurse before check-in (same rules as check-in)."""
    return calculate_dose(weight_kg, protocol, DosingLimits.from_settings(ctx.settings))


def check_in(
    ctx: AppContext,
    actor: Actor,
    *,
    mrn: str,
    chair: str,
    protocol: Protocol,
    checklist: dict[str, Any] | None = None,
    session_type: str | None = None,
    ketamine_lot: str | None = None,
    prescriber: str | None = None,
) -> SessionSummary:
    """Seat a patient in a chair with the ordered protocol; the dose is calculated and stored."""
    ctx.require(actor, "check_in")
    chairs = ctx.settings.get("general.chairs")
    if chair not in chairs:
        raise DomainError(
            BAD_INPUT,
            f"Chair '{chair}' is not one of the clinic's chairs: {', '.join(chairs)}.",
            field="chair",
        )
    session_type = session_type or ctx.settings.get("session.default_session_type")
    min_obs = infusion.min_observation_min(ctx.settings, session_type)
    with ctx.tx() as s:
        patient = get_patient_row(s, mrn)
        if open_session_in_chair(s, chair) is not None:
            raise DomainError(
                INVALID_STATE, f"Chair {chair} is occupied: discharge that patient first."
            )
        busy = s.execute(
            select(InfusionSession.chair).where(
                InfusionSession.patient_id == patient.id, InfusionSession.ended_at.is_(None)
            )
        ).scalar_one_or_none()
        if busy is not None:
            raise DomainError(
                INVALID_STATE, f"{patient.name} is already checked in at chair {busy}."
            )
        dose = calculate_dose(patient.weight_kg, protocol, DosingLimits.from_settings(ctx.settings))
        number = (
            s.execute(
                select(func.count(InfusionSession.id)).where(
                    InfusionSession.patient_id == patient.id,
                    InfusionSession.end_reason.is_not(None),
                    InfusionSession.end_reason != "cancelled",
                )
            ).scalar_one()
            + 1
        )
        row = InfusionSession(
            patient_id=patient.id,
            chair=chair,
            session_type=session_type,
            session_number=number,
            checked_in_at=ctx.now(),
            checked_in_by=actor.user_id,
            dose_mg_per_kg=dose.dose_mg_per_kg,
            duration_min=dose.duration_min,
            concentration_mg_per_ml=dose.concentration_mg_per_ml,
            weight_kg_used=dose.weight_kg,
            total_mg=dose.total_mg,
            volume_ml=dose.volume_ml,
            rate_mg_per_h=dose.rate_mg_per_h,
            rate_ml_per_h=dose.rate_ml_per_h,
            ketamine_lot=ketamine_lot,
            prescriber=prescriber,
            checklist=_jsonable(checklist or {}),
            checklist_result={},
            settings_snapshot={"min_observation_min": min_obs},
        )
        s.add(row)
        s.flush()
        ctx.audit(
            s,
            actor,
            "session.check_in",
            "session",
            row.id,
            after={
                "mrn": patient.mrn,
                "chair": chair,
                "session_type": session_type,
                "dose": dose.lines(),
                "checklist": row.checklist,
            },
        )
        return summary_in(ctx, s, row)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


def update_checklist(
    ctx: AppContext, actor: Actor, session_id: int, answers: dict[str, Any]
) -> SessionSummary:
    """Complete or change pre-infusion checklist answers (before the start)."""
    ctx.require(actor, "check_in")
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if events_of(s, session_id):
            raise DomainError(INVALID_STATE, "The infusion has started: the checklist is closed.")
        before = dict(row.checklist or {})
        row.checklist = {**before, **_jsonable(answers)}
        ctx.audit(s, actor, "session.checklist", "session", row.id, before, row.checklist)
        return summary_in(ctx, s, row)


def override_checklist(
    ctx: AppContext, actor: Actor, session_id: int, reason: str
) -> SessionSummary:
    """A charge nurse lets the infusion start despite hard stops, with a written reason."""
    ctx.require(actor, "override_checklist")
    min_chars = int(ctx.settings.get("session.checklist.override_min_reason_chars"))
    if len(reason.strip()) < min_chars:
        raise DomainError(
            BAD_INPUT,
            f"An override needs a written reason of at least {min_chars} characters.",
            field="reason",
        )
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if events_of(s, session_id):
            raise DomainError(INVALID_STATE, "The infusion has started: nothing left to override.")
        row.checklist_override_reason = reason.strip()
        row.checklist_override_by = actor.user_id
        row.checklist_override_at = ctx.now()
        ctx.audit(
            s,
            actor,
            "session.checklist_override",
            "session",
            row.id,
            after={"reason": reason.strip()},
        )
        return summary_in(ctx, s, row)


# ---------------------------------------------------------------- pump events


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


def _add_event(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    kind: str,
    *,
    use_case: str,
    rate: float | None = None,
    reason: str | None = None,
) -> SessionSummary:
    ctx.require(actor, use_case)
    now = ctx.now()
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended.")
        events = events_of(s, session_id)
        ev = infusion.InfusionEvent(kind, now, rate, (reason or "").strip() or None)
        infusion.validate_event(events, ev)
        if kind == infusion.START:
            _start_gate(ctx, s, row)
        s.add(
            InfusionEvent(
                session_id=row.id,
                kind=kind,
                at=now,
                rate_mg_per_h=rate,
                reason=ev.reason,
                user_id=actor.user_id,
                recorded_at=now,
            )
        )
        s.flush()
        ctx.audit(
            s,
            actor,
            f"infusion.{kind}",
            "session",
            row.id,
            after={"rate_mg_per_h": rate, "reason": ev.reason},
        )
        return summary_in(ctx, s, row)


def evaluate_start_in(ctx: AppContext, s: Session, row: InfusionSession) -> ChecklistResult:
    """The pre-infusion checklist and baseline vitals as they stand now (with any override)."""
    base = baseline_vitals(s, row.id)
    override = None
    if row.checklist_override_reason is not None:
        override = StartOverride(
            user=str(row.checklist_override_by),
            role="charge_nurse",
            reason=row.checklist_override_reason,
            at=row.checklist_override_at,
        )
    return evaluate_checklist(
        row.checklist or {},
        base,
        PatientFacts(row.patient.sex, row.patient.reproductive_potential),
        ctx.settings,
        ctx.now(),
        session_type=row.session_type,
        override=override,
    )


def checklist_json(result: ChecklistResult) -> dict[str, Any]:
    """Stored with the session so the note shows what was checked at the start."""
    return {
        "items": [
            {
                "id": it.id,
                "label": it.label,
                "status": it.status,
                "message": it.message,
                "overridden": it.overridden,
            }
            for it in result.items
        ],
        "can_start": result.can_start,
    }


def preview_checklist(ctx: AppContext, actor: Actor, session_id: int) -> list[dict[str, Any]]:
    """The checklist as it would be evaluated if the nurse pressed Start now."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        return checklist_json(evaluate_start_in(ctx, s, row))["items"]


def _start_gate(ctx: AppContext, s: Session, row: InfusionSession) -> None:
    """Checklist and baseline vitals must pass, or a charge nurse has overridden them."""
    result = evaluate_start_in(ctx, s, row)
    row.checklist_result = checklist_json(result)
    result.raise_if_blocked()


def start_infusion(
    ctx: AppContext, actor: Actor, session_id: int, lot: str | None = None
) -> SessionSummary:
    """Start the pump at the ordered rate (checklist and baseline vitals are checked first)."""
    if lot:
        with ctx.tx() as s:
            row = get_session_row(s, session_id)
            row.ketamine_lot = lot.strip()
    return _add_event(ctx, actor, session_id, infusion.START, use_case="start_infusion")


def pause_infusion(ctx: AppContext, actor: Actor, session_id: int, reason: str) -> SessionSummary:
    """Pause the pump; a reason is required."""
    return _add_event(
        ctx, actor, session_id, infusion.PAUSE, use_case="pause_infusion", reason=reason
    )


def resume_infusion(
    ctx: AppContext, actor: Actor, session_id: int, rate: float | None = None
) -> SessionSummary:
    """Resume at the last set rate (or a new one)."""
    return _add_event(
        ctx, actor, session_id, infusion.RESUME, use_case="resume_infusion", rate=rate
    )


def change_rate(
    ctx: AppContext, actor: Actor, session_id: int, rate_mg_per_h: float, reason: str | None = None
) -> SessionSummary:
    """Record a new pump rate in mg/h."""
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.RATE_CHANGE,
        use_case="change_rate",
        rate=rate_mg_per_h,
        reason=reason,
    )


def stop_infusion(
    ctx: AppContext, actor: Actor, session_id: int, reason: str | None = None
) -> SessionSummary:
    """Stop the pump: observation starts now."""
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.STOP,
        use_case="stop_infusion",
        reason=reason or "completed",
    )


def open_sessions(ctx: AppContext) -> list[SessionSummary]:
    """Every session still in a chair (for the board)."""
    with ctx.tx() as s:
        rows = s.execute(
            select(InfusionSession)
            .where(InfusionSession.ended_at.is_(None))
            .order_by(InfusionSession.chair)
        ).scalars()
        return [summary_in(ctx, s, r) for r in rows]
