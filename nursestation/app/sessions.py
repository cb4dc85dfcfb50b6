"""Infusion sessions: check-in, the pump events, and the state derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app import alarms, outcomes
from nursestation.app.alarms import DOSE_COMPLETE_ALARM
from nursestation.app.concurrency import claim_session
from nursestation.app.context import Actor, AppContext
from nursestation.app.discharge import is_ready_in
from nursestation.app.patients import (
    PatientInfo,
    confirm_visit_weight,
    get_patient_row,
    info,
    store_visit_weight,
)
from nursestation.app.record import clinic_zone
from nursestation.app.session_rows import (
    baseline_vitals,
    events_of,
    get_session_row,
    min_observation_for,
    open_session_in_chair,
)
from nursestation.checklist import ChecklistResult, PatientFacts, StartOverride, evaluate_checklist
from nursestation.db.models import (
    DischargeApproval,
    InfusionEvent,
    InfusionSession,
    Patient,
)
from nursestation.dosing import (
    MG_PER_H,
    CheckedRate,
    DoseCalculation,
    DosingLimits,
    Protocol,
    RateOrder,
    calculate_dose,
    check_rate,
)
from nursestation.errors import BAD_INPUT, INVALID_STATE, DomainError
from nursestation.infusion import InfusionState, Planned
from nursestation.prescriber_order import PrescriberOrder, check_order
from nursestation.spravato import SESSION_TYPE as SPRAVATO


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
    end_detail: str | None = None
    # The row's version when read: a screen passes it back as `expected_version` so a change
    # made meanwhile at another station is refused, not overwritten (app/concurrency.py).
    version: int = 0

    @property
    def not_treated(self) -> bool:
        """Ended before any drug was given (the record stays; the note says NOT TREATED)."""
        return self.end_reason == NOT_TREATED


NOT_TREATED = "not_treated"


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
        ready = is_ready_in(ctx, s, row)
    state = infusion.infusion_state(
        events,
        planned_of(row),
        ctx.now(),
        min_observation_min=min_observation_for(ctx, row),
        ready_for_discharge=ready,
        discharged=row.end_reason == "discharged",
        not_treated=row.end_reason == NOT_TREATED,
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
        end_detail=row.end_detail,
        version=row.version,
    )


def get_summary(ctx: AppContext, actor: Actor, session_id: int) -> SessionSummary:
    """A session with its timer as of now."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
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
    order_text: str | None = None,
    order_date: date | str | None = None,
    weight_kg: float | None = None,
    confirm_weight_change: bool = False,
    carried_over: tuple[str, ...] | list[str] = (),
) -> SessionSummary:
    """Seat a patient in a chair with the ordered protocol; the dose is calculated and stored.
    The prescriber, the order as written and its date are optional (prescriber_order).

    `weight_kg` is today's weight (issue 16): the dose uses it, it joins the weight history, and
    a change over the clinic's limit since the last visit is refused with confirmation_required
    unless `confirm_weight_change`. Without it the weight on the chart is used (as before).
    `carried_over` names the fields the nurse confirmed from the last visit (the audit says so);
    nothing is carried over here: the caller sends every value."""
    ctx.require(actor, "check_in")
    check_chair(ctx, chair)
    order = checked_order(ctx, prescriber, order_text, order_date)
    session_type = session_type or ctx.settings.get("session.default_session_type")
    if session_type == SPRAVATO:
        # Intranasal: no mg/kg dose, no pump rate (app.spravato.check_in takes 56 or 84 mg).
        raise DomainError(
            BAD_INPUT,
            "A Spravato session is checked in with its dose in mg (Spravato check-in), "
            "not with an IV protocol.",
            field="session_type",
        )
    min_obs = infusion.min_observation_min(ctx.settings, session_type)
    with ctx.tx() as s:
        patient, number = seat_checks(ctx, s, mrn, chair)
        weighed = (
            None
            if weight_kg is None
            else confirm_visit_weight(ctx, s, patient, weight_kg, confirmed=confirm_weight_change)
        )
        kg = patient.weight_kg if weighed is None else weighed.weight_kg
        dose = calculate_dose(kg, protocol, DosingLimits.from_settings(ctx.settings))
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
            prescriber=order.prescriber,
            order_text=order.text,
            order_date=order.ordered_on,
            checklist=_jsonable(checklist or {}),
            checklist_result={},
            settings_snapshot={"min_observation_min": min_obs},
        )
        s.add(row)
        s.flush()
        after: dict[str, Any] = {
            "mrn": patient.mrn,
            "chair": chair,
            "session_type": session_type,
            "dose": dose.lines(),
            "checklist": row.checklist,
            **order_audit(order),
        }
        if weighed is not None:
            store_visit_weight(ctx, actor, s, patient, weighed, row.id)
            after["weight"] = {
                "kg": weighed.weight_kg,
                "last_visit_kg": weighed.previous_kg,
                "change_pct": weighed.change_pct,
                "confirmed_over_limit": weighed.needs_confirmation,
            }
        if carried_over:
            after["carried_over_confirmed"] = sorted(set(carried_over))
        ctx.audit(s, actor, "session.check_in", "session", row.id, after=after)
        return summary_in(ctx, s, row)


def checked_order(
    ctx: AppContext, prescriber: Any, order_text: Any, order_date: Any
) -> PrescriberOrder:
    """The check-in's prescriber and order, checked against the clinic's today (bad_input or
    out_of_range naming the field)."""
    today = ctx.now().astimezone(clinic_zone(ctx)).date()
    return check_order(prescriber, order_text, order_date, today)


def order_audit(order: PrescriberOrder) -> dict[str, Any]:
    """The order's part of the check-in's audit row (only what was entered)."""
    out: dict[str, Any] = {}
    if order.prescriber is not None:
        out["prescriber"] = order.prescriber
    if order.text is not None:
        out["order_text"] = order.text
    if order.ordered_on is not None:
        out["order_date"] = order.ordered_on.isoformat()
    return out


def check_chair(ctx: AppContext, chair: str) -> None:
    """bad_input (field chair) unless `chair` is one of the clinic's chairs."""
    chairs = ctx.settings.get("general.chairs")
    if chair not in chairs:
        raise DomainError(
            BAD_INPUT,
            f"Chair '{chair}' is not one of the clinic's chairs: {', '.join(chairs)}.",
            field="chair",
        )


def seat_checks(ctx: AppContext, s: Session, mrn: str, chair: str) -> tuple[Patient, int]:
    """Inside a check-in's transaction: the patient, and their treatment number in the series;
    refused when the chair is taken or the patient is already seated elsewhere."""
    patient = get_patient_row(s, mrn)
    if open_session_in_chair(s, chair) is not None:
        raise DomainError(INVALID_STATE, f"Chair {chair} is occupied: discharge that patient first.")
    busy = s.execute(
        select(InfusionSession.chair).where(
            InfusionSession.patient_id == patient.id, InfusionSession.ended_at.is_(None)
        )
    ).scalar_one_or_none()
    if busy is not None:
        raise DomainError(INVALID_STATE, f"{patient.name} is already checked in at chair {busy}.")
    number = (
        s.execute(
            select(func.count(InfusionSession.id)).where(
                InfusionSession.patient_id == patient.id,
                InfusionSession.end_reason.is_not(None),
                # a session that gave no drug is not a treatment in the series
                InfusionSession.end_reason.not_in(("cancelled", NOT_TREATED)),
            )
        ).scalar_one()
        + 1
    )
    return patient, number


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    """Answers made JSON-friendly for storage (datetimes as ISO 8601)."""
    return _jsonable(d)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


def update_checklist(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    answers: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> SessionSummary:
    """Complete or change pre-infusion checklist answers (before the start). With
    `expected_version`, refused (changed_elsewhere) when the session changed since."""
    ctx.require(actor, "check_in")
    with ctx.tx() as s:
        row = claim_session(ctx, s, session_id, actor, "session.checklist", expected_version)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: the checklist is closed.")
        if events_of(s, session_id):
            raise DomainError(INVALID_STATE, "The infusion has started: the checklist is closed.")
        before = dict(row.checklist or {})
        row.checklist = {**before, **_jsonable(answers)}
        ctx.audit(s, actor, "session.checklist", "session", row.id, before, row.checklist)
        return summary_in(ctx, s, row)


def override_checklist(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
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
        row = claim_session(
            ctx, s, session_id, actor, "session.checklist_override", expected_version
        )
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


def _add_event(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    kind: str,
    *,
    use_case: str,
    rate: float | None = None,
    rate_unit: str = MG_PER_H,
    reason: str | None = None,
    confirm_reason: str | None = None,
    expected_version: int | None = None,
    lot: str | None = None,
) -> SessionSummary:
    ctx.require(actor, use_case)
    now = ctx.now()
    with ctx.tx() as s:
        row = claim_session(ctx, s, session_id, actor, f"infusion.{kind}", expected_version)
        if lot:
            row.ketamine_lot = lot.strip()
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended.")
        if row.session_type == SPRAVATO:
            raise DomainError(
                INVALID_STATE,
                "A Spravato session has no pump: record each nasal device instead.",
            )
        events = events_of(s, session_id)
        infusion.validate_transition(events, kind)  # a wrong state answers before the numbers
        checked: CheckedRate | None = None
        if rate is not None:
            checked = _check_new_rate(ctx, row, rate, rate_unit, confirm_reason)
            rate = checked.rate_mg_per_h
        stored_reason = _join_reasons(
            reason, confirm_reason if checked and checked.above_order else None
        )
        ev = infusion.InfusionEvent(kind, now, rate, stored_reason)
        infusion.validate_event(events, ev)
        if kind in (infusion.PAUSE, infusion.RESUME, infusion.RATE_CHANGE):
            _refuse_after_dose_complete(ctx, row, events, kind)
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
            after={
                "rate_mg_per_h": rate,
                "rate_ml_per_h": checked.rate_ml_per_h if checked else None,
                "rate_entered": f"{_entered(checked, rate_unit)}" if checked else None,
                "above_order_confirmed": bool(checked and checked.above_order),
                "reason": ev.reason,
            },
        )
        summary = summary_in(ctx, s, row)
    if kind == infusion.STOP and summary.state.dose_complete:
        _clear_dose_complete_alarm(ctx, summary.chair)
    return summary


def _entered(checked: CheckedRate, unit: str) -> str:
    # the rate as the nurse typed it, in the unit typed (for the audit trail)
    value = checked.rate_ml_per_h if unit != MG_PER_H else checked.rate_mg_per_h
    return f"{value:g} {unit}"


def _join_reasons(reason: str | None, confirm_reason: str | None) -> str | None:
    parts = [(reason or "").strip()]
    if (confirm_reason or "").strip():
        parts.append(f"above the order, confirmed: {(confirm_reason or '').strip()}")
    text = " · ".join(p for p in parts if p)
    return text or None


def _rate_order(row: InfusionSession) -> RateOrder:
    return RateOrder(
        total_mg=row.total_mg,
        duration_min=row.duration_min,
        rate_mg_per_h=row.rate_mg_per_h,
        concentration_mg_per_ml=row.concentration_mg_per_ml,
        weight_kg=row.weight_kg_used,
    )


def _check_new_rate(
    ctx: AppContext,
    row: InfusionSession,
    rate: float,
    unit: str,
    confirm_reason: str | None,
) -> CheckedRate:
    """Hard range, the clinic's maximum per session, and the order (see dosing.check_rate)."""
    return check_rate(
        rate,
        unit,
        _rate_order(row),
        DosingLimits.from_settings(ctx.settings),
        confirm_reason=confirm_reason,
    )


def _refuse_after_dose_complete(
    ctx: AppContext, row: InfusionSession, events: list[infusion.InfusionEvent], kind: str
) -> None:
    """Once the ordered dose is in, the only pump action left is Stop."""
    state = infusion.infusion_state(
        events, planned_of(row), ctx.now(), min_observation_min=min_observation_for(ctx, row)
    )
    if state.dose_complete:
        raise DomainError(
            INVALID_STATE,
            f"The ordered {state.planned_total_mg:g} mg has been delivered: stop the pump and "
            f"record Stop (no {kind.replace('_', ' ')} after the dose is complete).",
        )


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
    """Checklist and baseline vitals must pass, or a charge nurse has overridden them; a
    positive suicide-risk screen needs its safety assessment (no override lifts that)."""
    outcomes.safety_gate_in(s, row.id)
    result = evaluate_start_in(ctx, s, row)
    row.checklist_result = checklist_json(result)
    result.raise_if_blocked()


def start_infusion(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    lot: str | None = None,
    *,
    expected_version: int | None = None,
) -> SessionSummary:
    """Start the pump at the ordered rate (checklist and baseline vitals are checked first);
    the ketamine lot, when given, is stored with the start."""
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.START,
        use_case="start_infusion",
        expected_version=expected_version,
        lot=lot,
    )


def pause_infusion(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> SessionSummary:
    """Pause the pump; a reason is required."""
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.PAUSE,
        use_case="pause_infusion",
        reason=reason,
        expected_version=expected_version,
    )


def resume_infusion(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    rate: float | None = None,
    *,
    unit: str = MG_PER_H,
    confirm_reason: str | None = None,
    expected_version: int | None = None,
) -> SessionSummary:
    """Resume at the last set rate, or at a new one checked like a rate change."""
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.RESUME,
        use_case="resume_infusion",
        rate=rate,
        rate_unit=unit,
        confirm_reason=confirm_reason,
        expected_version=expected_version,
    )


def change_rate(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    rate: float,
    reason: str | None = None,
    *,
    unit: str = MG_PER_H,
    confirm_reason: str | None = None,
    expected_version: int | None = None,
) -> SessionSummary:
    """Record a new pump rate, typed in mg/h or mL/h (the order's concentration converts).

    Refused: a value outside the hard range (out_of_range, naming the field and the range); a
    rate that over the ordered duration would give more than the clinic's maximum mg/kg per
    session (dose_above_max); a rate faster than the order without `confirm_reason`
    (confirmation_required); any rate change once the ordered dose is complete (invalid_state).
    """
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.RATE_CHANGE,
        use_case="change_rate",
        rate=rate,
        rate_unit=unit,
        reason=reason,
        confirm_reason=confirm_reason,
        expected_version=expected_version,
    )


def stop_infusion(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> SessionSummary:
    """Stop the pump: observation starts now. A reason is required (nothing is assumed)."""
    if not (reason or "").strip():
        choices = ", ".join(label for _k, label in infusion.STOP_REASONS)
        raise DomainError(
            BAD_INPUT, f"Stopping needs a reason: choose one of {choices}.", field="reason"
        )
    return _add_event(
        ctx,
        actor,
        session_id,
        infusion.STOP,
        use_case="stop_infusion",
        reason=reason,
        expected_version=expected_version,
    )


def end_not_treated(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    reason: str,
    text: str | None = None,
    *,
    expected_version: int | None = None,
) -> SessionSummary:
    """End a session in which no drug was given: the chair and the patient are freed, the
    record stays, and the note and export say NOT TREATED with the reason.

    `reason` is a key of `infusion.NOT_TREATED_REASONS`; 'other' needs `text`. Refused once the
    infusion has started (stop it instead) or when the session has already ended.
    """
    ctx.require(actor, "end_not_treated")
    detail = infusion.reason_text(
        infusion.NOT_TREATED_REASONS, reason, text, what="session ended not treated"
    )
    with ctx.tx() as s:
        row = claim_session(ctx, s, session_id, actor, "session.not_treated", expected_version)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, f"This session has already ended ({row.end_reason}).")
        if events_of(s, session_id):
            raise DomainError(
                INVALID_STATE,
                "The infusion has started: a treated session is stopped, observed and discharged.",
            )
        row.ended_at = ctx.now()
        row.end_reason = NOT_TREATED
        row.end_detail = detail
        ctx.audit(
            s,
            actor,
            "session.not_treated",
            "session",
            row.id,
            before={"ended_at": None, "end_reason": None},
            after={"end_reason": NOT_TREATED, "reason": reason, "end_detail": detail},
        )
        # The patient leaves the chair: their alarms end with the session, in this transaction.
        alarms.on_session_ended(ctx, s, actor, row.id)
        return summary_in(ctx, s, row)


def dose_complete_alarm(ctx: AppContext, actor: Actor, session_id: int) -> SessionSummary:
    """The session as of now, with its "dose complete: stop the pump" alarm raised when due
    (the session view calls this every second while it shows a session whose dose is in)."""
    summary = get_summary(ctx, actor, session_id)
    sync_dose_complete_alarm(ctx, summary)
    return summary


def sync_dose_complete_alarm(ctx: AppContext, summary: SessionSummary) -> None:
    """Raise the "dose complete: stop the pump" alarm while the ordered dose is in and the
    pump has not been stopped (idempotent: an existing alarm is only refreshed)."""
    if summary.ended_at is None and summary.state.phase == infusion.DOSE_COMPLETE:
        alarms.raise_technical(
            ctx,
            summary.chair,
            DOSE_COMPLETE_ALARM,
            f"Chair {summary.chair}: ordered dose {summary.state.planned_total_mg:g} mg "
            "delivered — stop the pump and record Stop.",
            "medium",
        )


def _clear_dose_complete_alarm(ctx: AppContext, chair: str) -> None:
    alarms.clear_technical(ctx, chair, DOSE_COMPLETE_ALARM)


def open_sessions(ctx: AppContext) -> list[SessionSummary]:
    """Every session still in a chair (for the board)."""
    with ctx.tx() as s:
        rows = s.execute(
            select(InfusionSession)
            .where(InfusionSession.ended_at.is_(None))
            .order_by(InfusionSession.chair)
        ).scalars()
        return [summary_in(ctx, s, r) for r in rows]
