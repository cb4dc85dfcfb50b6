"""Spravato (esketamine) sessions under the SPRAVATO REMS: the use cases (issue 17).

The rules are in the core (nursestation.spravato, resources/clinic/spravato.json). Stored data:
- rems_enrolments: the patient's REMS enrolment (checked at check-in and at the first device);
- infusion_sessions: a Spravato session is a session row of type "spravato" whose total_mg is
  the ordered dose (56 or 84 mg); its mg/kg, volume and rate columns are 0 (no IV, no pump);
- spravato_devices: each 28 mg device with its time and lot;
- assessments of kind "rems_conmeds" (the form's concomitant-medication answers),
  "spravato_bp_decision" (the prescriber's decision on a pre-dose BP above the limit) and
  "rems_form" (the nurse's part of the Patient Monitoring Form): append-only, latest row wins;
- infusion_events: the first device also writes a "start" and a "stop" at its own time. The
  timer, the board phase, discharge and the vital-sign schedule all count the observation from
  the last stop: for Spravato that is the first device, as the REMS counts monitoring from it.
- rems_submissions: the form's submission (the 7-day tracker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app import outcomes
from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import get_patient_row
from nursestation.app.record import clinic_zone
from nursestation.app.session_rows import baseline_vitals, get_session_row
from nursestation.app.sessions import (
    SessionSummary,
    check_chair,
    checked_order,
    checklist_json,
    evaluate_start_in,
    jsonable,
    order_audit,
    seat_checks,
    summary_in,
)
from nursestation.checklist import PreInfusionChecklist
from nursestation.clock import ensure_utc
from nursestation.db.models import (
    Assessment,
    DischargeApproval,
    InfusionEvent,
    InfusionSession,
    RemsEnrolment,
    RemsSubmission,
    SpravatoDevice,
    User,
    VitalReading,
)
from nursestation.db.queries import current_rows
from nursestation.errors import BAD_INPUT, INVALID_STATE, DomainError
from nursestation.record import DISCHARGE_CHECKLIST
from nursestation.spravato import (
    REMS_NOT_ENROLLED,
    SESSION_TYPE,
    BpReading,
    BpTimepoints,
    Device,
    FormFacts,
    MonitoringForm,
    PrescriberDecision,
    Reminder,
    SpravatoConfig,
    bp_timepoints,
    check_conmeds,
    check_decision,
    check_device,
    check_form_answers,
    check_submission,
    days_left,
    devices_for_dose,
    first_device_gate,
    form_due_date,
    monitoring_form,
    next_device_allowed_at,
    predose_above_limit,
    reminders,
    unanswered_conmeds,
)
from nursestation.wording import hm, scale_label

KIND_CONMEDS = "rems_conmeds"
KIND_BP_DECISION = "spravato_bp_decision"
KIND_FORM = "rems_form"
FIRST_DEVICE_REASON = "first Spravato device: monitoring counts from here"


def config(ctx: AppContext) -> SpravatoConfig:
    """The clinic's Spravato settings (typed, cached per settings object)."""
    return ctx.per_settings("spravato", SpravatoConfig.from_settings)


# ---------------------------------------------------------------- enrolment


@dataclass(frozen=True)
class EnrolmentInfo:
    """A patient's REMS enrolment as recorded."""

    mrn: str
    rems_patient_id: str
    enrolled_on: date
    recorded_by: str
    recorded_at: datetime


def _enrolment_in(s: Session, patient_id: int) -> RemsEnrolment | None:
    return s.execute(
        select(RemsEnrolment)
        .where(RemsEnrolment.patient_id == patient_id)
        .order_by(RemsEnrolment.recorded_at.desc(), RemsEnrolment.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _name(s: Session, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return s.execute(select(User.full_name).where(User.id == user_id)).scalar_one_or_none() or ""


def record_enrolment(
    ctx: AppContext, actor: Actor, mrn: str, *, rems_patient_id: str, enrolled_on: Any
) -> EnrolmentInfo:
    """Record (or correct, as a new row) a patient's SPRAVATO REMS enrolment: the REMS patient
    ID and the enrolment date (not in the future)."""
    ctx.require(actor, "record_rems_enrolment")
    rid = (rems_patient_id or "").strip()
    if not rid:
        raise DomainError(
            BAD_INPUT, "The REMS enrolment needs the patient's REMS ID.", field="rems_patient_id"
        )
    try:
        when = (
            enrolled_on if isinstance(enrolled_on, date) else date.fromisoformat(str(enrolled_on))
        )
    except ValueError:
        raise DomainError(
            BAD_INPUT,
            f"Enrolment date {enrolled_on!r} must be a date like 2026-02-20.",
            field="enrolled_on",
        ) from None
    today = ctx.now().astimezone(clinic_zone(ctx)).date()
    if when > today:
        raise DomainError(
            BAD_INPUT,
            f"Enrolment date {when.isoformat()} is after today {today.isoformat()}.",
            field="enrolled_on",
        )
    with ctx.tx() as s:
        patient = get_patient_row(s, mrn)
        before = _enrolment_in(s, patient.id)
        row = RemsEnrolment(
            patient_id=patient.id,
            rems_patient_id=rid,
            enrolled_on=when,
            recorded_by=actor.user_id,
            recorded_at=ctx.now(),
        )
        s.add(row)
        s.flush()
        ctx.audit(
            s,
            actor,
            "rems.enrolment",
            "patient",
            patient.id,
            before=(
                {
                    "rems_patient_id": before.rems_patient_id,
                    "enrolled_on": before.enrolled_on.isoformat(),
                }
                if before
                else None
            ),
            after={"rems_patient_id": rid, "enrolled_on": when.isoformat()},
        )
        return EnrolmentInfo(patient.mrn, rid, when, actor.full_name, row.recorded_at)


def enrolment_of(ctx: AppContext, actor: Actor, mrn: str) -> EnrolmentInfo | None:
    """The patient's REMS enrolment in force, or None."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        patient = get_patient_row(s, mrn)
        e = _enrolment_in(s, patient.id)
        if e is None:
            return None
        return EnrolmentInfo(
            patient.mrn, e.rems_patient_id, e.enrolled_on, _name(s, e.recorded_by), e.recorded_at
        )


# ---------------------------------------------------------------- check-in


def _not_enrolled(name: str) -> DomainError:
    return DomainError(
        REMS_NOT_ENROLLED,
        f"{name} is not enrolled in the SPRAVATO REMS: record the enrolment before the first "
        "treatment.",
        field="rems_enrolment",
    )


def check_in(
    ctx: AppContext,
    actor: Actor,
    *,
    mrn: str,
    chair: str,
    dose_mg: Any,
    checklist: dict[str, Any] | None = None,
    conmeds: Mapping[str, Any] | None = None,
    prescriber: str | None = None,
    order_text: str | None = None,
    order_date: date | str | None = None,
) -> SessionSummary:
    """Seat a patient for a Spravato session of `dose_mg` (56 or 84 mg as 28 mg devices).

    Refused: a patient not enrolled in the REMS (rems_not_enrolled, a hard stop no override
    releases); a dose the clinic does not offer (bad_input, field dose_mg); unknown or
    non-yes/no concomitant-medication answers (bad_input). The checklist has no IV questions."""
    ctx.require(actor, "check_in")
    check_chair(ctx, chair)
    order = checked_order(ctx, prescriber, order_text, order_date)
    cfg = config(ctx)
    n_devices = devices_for_dose(dose_mg, cfg)
    meds = check_conmeds(conmeds or {}, cfg)
    answers = jsonable(checklist or {})
    PreInfusionChecklist.from_answers(answers)  # unknown keys and wrong types refused now
    min_obs = infusion.min_observation_min(ctx.settings, SESSION_TYPE)
    now = ctx.now()
    with ctx.tx() as s:
        patient, number = seat_checks(ctx, s, mrn, chair)
        enrolment = _enrolment_in(s, patient.id)
        if enrolment is None:
            raise _not_enrolled(patient.name)
        row = InfusionSession(
            patient_id=patient.id,
            chair=chair,
            session_type=SESSION_TYPE,
            session_number=number,
            checked_in_at=now,
            checked_in_by=actor.user_id,
            # Intranasal: no mg/kg, no volume, no rate; total_mg is the ordered dose.
            dose_mg_per_kg=0.0,
            duration_min=0.0,
            concentration_mg_per_ml=0.0,
            weight_kg_used=patient.weight_kg,
            total_mg=float(int(dose_mg)),
            volume_ml=0.0,
            rate_mg_per_h=0.0,
            rate_ml_per_h=0.0,
            ketamine_lot=None,
            prescriber=order.prescriber,
            order_text=order.text,
            order_date=order.ordered_on,
            checklist=answers,
            checklist_result={},
            settings_snapshot={"min_observation_min": min_obs, "spravato_devices": n_devices},
        )
        s.add(row)
        s.flush()
        if meds:
            _add_assessment(s, row.id, KIND_CONMEDS, {"answers": meds}, actor, now)
        ctx.audit(
            s,
            actor,
            "session.check_in",
            "session",
            row.id,
            after={
                "mrn": patient.mrn,
                "chair": chair,
                "session_type": SESSION_TYPE,
                "dose_mg": int(dose_mg),
                "devices": n_devices,
                "rems_patient_id": enrolment.rems_patient_id,
                "conmeds": meds,
                "checklist": answers,
                "min_observation_min": min_obs,
                **order_audit(order),
            },
        )
        return summary_in(ctx, s, row)


def _add_assessment(
    s: Session, session_id: int, kind: str, items: dict[str, Any], actor: Actor, now: datetime
) -> Assessment:
    a = Assessment(
        session_id=session_id,
        kind=kind,
        at=now,
        recorded_at=now,
        score=None,
        items=items,
        by_user=actor.user_id,
    )
    s.add(a)
    s.flush()
    return a


def _spravato_row(s: Session, session_id: int) -> InfusionSession:
    row = get_session_row(s, session_id)
    if row.session_type != SESSION_TYPE:
        raise DomainError(INVALID_STATE, f"Session {session_id} is not a Spravato session.")
    return row


def _latest(s: Session, session_id: int, kind: str) -> Assessment | None:
    return s.execute(
        select(Assessment)
        .where(Assessment.session_id == session_id, Assessment.kind == kind)
        .order_by(Assessment.at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def answer_conmeds(
    ctx: AppContext, actor: Actor, session_id: int, answers: Mapping[str, Any]
) -> SpravatoView:
    """Answer (or change, before the first device) the form's concomitant-medication
    questions; earlier answers to other questions are kept."""
    ctx.require(actor, "check_in")
    cfg = config(ctx)
    meds = check_conmeds(answers, cfg)
    with ctx.tx() as s:
        row = _spravato_row(s, session_id)
        if _devices_in(s, row.id):
            raise DomainError(INVALID_STATE, "The first device is given: the answers are closed.")
        prev = _latest(s, row.id, KIND_CONMEDS)
        before = dict((prev.items or {}).get("answers", {})) if prev else {}
        merged = {**before, **meds}
        _add_assessment(s, row.id, KIND_CONMEDS, {"answers": merged}, actor, ctx.now())
        ctx.audit(s, actor, "spravato.conmeds", "session", row.id, before, merged)
        return _view_in(ctx, s, row)


def record_bp_decision(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    *,
    decision: str,
    prescriber: str,
    reason: str,
) -> SpravatoView:
    """Record the prescriber's decision (proceed or delay) on a pre-dose BP above the clinic's
    limit. Refused when there is no such BP, or once the first device is given."""
    ctx.require(actor, "record_assessment")
    check_decision(decision, prescriber or "", reason or "")
    cfg = config(ctx)
    with ctx.tx() as s:
        row = _spravato_row(s, session_id)
        if _devices_in(s, row.id):
            raise DomainError(INVALID_STATE, "The first device is given: nothing left to decide.")
        pre = _predose(s, row.id)
        if pre is None or not predose_above_limit(pre, cfg):
            limit = f"{cfg.predose_sbp_limit:g}/{cfg.predose_dbp_limit:g} mmHg"
            raise DomainError(
                INVALID_STATE,
                f"No pre-dose BP above the limit of {limit}: no prescriber decision is needed.",
                field="decision",
            )
        items = {
            "decision": decision,
            "prescriber": prescriber.strip(),
            "reason": reason.strip(),
            "sbp": pre.sbp,
            "dbp": pre.dbp,
        }
        _add_assessment(s, row.id, KIND_BP_DECISION, items, actor, ctx.now())
        ctx.audit(s, actor, "spravato.bp_decision", "session", row.id, after=items)
        return _view_in(ctx, s, row)


# ---------------------------------------------------------------- devices


def _devices_in(s: Session, session_id: int) -> tuple[Device, ...]:
    rows = s.execute(
        select(SpravatoDevice, User.full_name)
        .join(User, User.id == SpravatoDevice.given_by)
        .where(SpravatoDevice.session_id == session_id)
        .order_by(SpravatoDevice.device_no)
    ).all()
    return tuple(Device(d.device_no, ensure_utc(d.at), d.lot, d.mg, name) for d, name in rows)


def bp_readings_in(s: Session, session_id: int) -> list[BpReading]:
    """Inside an open transaction: the session's current BPs in observed order (the board's
    Spravato reminders keep them up to date from here)."""
    return _bp_readings(s, session_id)


def _bp_readings(s: Session, session_id: int) -> list[BpReading]:
    rows = s.execute(
        current_rows(VitalReading, session_id)
        .where(VitalReading.sbp.is_not(None))
        .order_by(VitalReading.observed_at, VitalReading.id)
    ).scalars()
    return [BpReading(ensure_utc(r.observed_at), float(r.sbp), r.dbp) for r in rows if r.sbp]


def _predose(s: Session, session_id: int, first: datetime | None = None) -> BpReading | None:
    r = baseline_vitals(s, session_id, before=first)
    if r is None or r.sbp is None:
        return None
    return BpReading(ensure_utc(r.observed_at), float(r.sbp), r.dbp)


def _decision_in(s: Session, session_id: int) -> PrescriberDecision | None:
    a = _latest(s, session_id, KIND_BP_DECISION)
    if a is None:
        return None
    i = a.items or {}
    return PrescriberDecision(
        str(i["decision"]),
        str(i["prescriber"]),
        str(i["reason"]),
        ensure_utc(a.at),
        i.get("sbp"),
        i.get("dbp"),
    )


def _conmeds_in(s: Session, session_id: int) -> dict[str, bool]:
    a = _latest(s, session_id, KIND_CONMEDS)
    return dict((a.items or {}).get("answers", {})) if a else {}


def planned_devices(row: InfusionSession, cfg: SpravatoConfig) -> int:
    """Devices ordered at check-in (from the stored dose)."""
    snap = row.settings_snapshot or {}
    if "spravato_devices" in snap:
        return int(snap["spravato_devices"])
    return int(row.total_mg) // cfg.device_mg


def give_device(ctx: AppContext, actor: Actor, session_id: int, *, lot: str) -> SpravatoView:
    """Record one 28 mg device given now, with its lot.

    Before the first device: the REMS enrolment, the pre-dose BP (a BP above the limit needs
    the prescriber's decision to proceed), the concomitant-medication answers and the checklist
    (no IV item) must pass. Later devices: at least `min_between_devices_min` after the previous
    one (interval_too_short names the time allowed), no more than ordered."""
    ctx.require(actor, "give_spravato_device")
    cfg = config(ctx)
    tz = clinic_zone(ctx)
    now = ctx.now()
    with ctx.tx() as s:
        row = _spravato_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended.")
        devices = _devices_in(s, row.id)
        first = not devices
        if first:
            # a positive suicide-risk screen holds the first device as it holds an infusion
            # start, until the safety assessment (app.outcomes, issue 16)
            outcomes.safety_gate_in(s, row.id)
            first_device_gate(
                enrolled=_enrolment_in(s, row.patient_id) is not None,
                patient_name=row.patient.name,
                predose=_predose(s, row.id, now),
                decision=_decision_in(s, row.id),
                conmeds=_conmeds_in(s, row.id),
                cfg=cfg,
                tz=tz,
            )
            result = evaluate_start_in(ctx, s, row)
            row.checklist_result = checklist_json(result)
            result.raise_if_blocked()
        number = check_device(devices, now, lot, planned_devices(row, cfg), cfg, tz)
        s.add(
            SpravatoDevice(
                session_id=row.id,
                device_no=number,
                at=now,
                lot=lot.strip(),
                mg=cfg.device_mg,
                given_by=actor.user_id,
                recorded_at=now,
            )
        )
        if first:
            # The timer's start and stop both sit at the first device: observation (and the
            # REMS monitored time) counts from it; see the module doc.
            for kind in (infusion.START, infusion.STOP):
                s.add(
                    InfusionEvent(
                        session_id=row.id,
                        kind=kind,
                        at=now,
                        rate_mg_per_h=None,
                        reason=FIRST_DEVICE_REASON,
                        user_id=actor.user_id,
                        recorded_at=now,
                    )
                )
        s.flush()
        ctx.audit(
            s,
            actor,
            "spravato.device",
            "session",
            row.id,
            after={
                "device": number,
                "lot": lot.strip(),
                "mg": cfg.device_mg,
                "at": now.isoformat(),
            },
        )
        return _view_in(ctx, s, row)


# ---------------------------------------------------------------- the session's Spravato view


@dataclass(frozen=True)
class SubmissionInfo:
    """The form's submission in force."""

    submitted_on: date
    method: str
    confirmation: str
    by: str
    recorded_at: datetime


@dataclass(frozen=True)
class SpravatoView:
    """What the Spravato panel, the chair card, the note and the form need about a session."""

    session_id: int
    chair: str
    patient_name: str
    mrn: str
    session_date: date
    dose_mg: int
    planned_devices: int
    devices: tuple[Device, ...]
    next_device_at: datetime | None
    enrolment: EnrolmentInfo | None
    conmeds: Mapping[str, bool]
    unanswered_conmeds: tuple[str, ...]
    predose: BpReading | None
    predose_above_limit: bool
    decision: PrescriberDecision | None
    bp: BpTimepoints
    reminders: tuple[Reminder, ...]
    min_observation_min: float
    first_device_at: datetime | None
    observation_complete_at: datetime | None
    monitoring_end: datetime | None
    form: MonitoringForm
    form_answers: Mapping[str, Any]
    submission: SubmissionInfo | None
    due_date: date
    ended: bool

    @property
    def dosing_complete(self) -> bool:
        """Every ordered device is recorded."""
        return len(self.devices) >= self.planned_devices


def _submission_in(s: Session, session_id: int) -> SubmissionInfo | None:
    r = s.execute(
        select(RemsSubmission)
        .where(RemsSubmission.session_id == session_id)
        .order_by(RemsSubmission.recorded_at.desc(), RemsSubmission.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if r is None:
        return None
    return SubmissionInfo(
        r.submitted_on, r.method, r.confirmation, _name(s, r.by_user), ensure_utc(r.recorded_at)
    )


def _suggestions(
    s: Session,
    row: InfusionSession,
    first: datetime | None,
    cfg: SpravatoConfig,
    predose: BpReading | None,
    decision: PrescriberDecision | None,
    obs_done: datetime | None,
    end: datetime | None,
    bp: BpTimepoints,
    tz: Any,
    approved: datetime | None = None,
) -> dict[str, str]:
    """Evidence from the record shown beside the nurse's answers (never filled in for them)."""
    out: dict[str, str] = {}
    limit = f"{cfg.predose_sbp_limit:g}/{cfg.predose_dbp_limit:g}"
    if predose is not None:
        if predose_above_limit(predose, cfg):
            d = (
                f"; prescriber {decision.prescriber} decided to {decision.decision}"
                if decision
                else ""
            )
            out["vitals_acceptable_pre"] = f"pre-dose BP {predose.text(tz)} above {limit}{d}"
        else:
            out["vitals_acceptable_pre"] = f"pre-dose BP {predose.text(tz)} within {limit}"
    if bp.end is not None:
        out["vitals_acceptable_end"] = f"BP at completion {bp.end.text(tz)}"
    if obs_done is not None:
        text = f"monitoring minimum reached {hm(obs_done, tz)}"
        if end is not None:
            text += f"; discharge assessment {hm(end, tz)}"
        if approved is not None:
            text += f"; discharge approved {hm(approved, tz)}"
        out["ready_to_leave_at"] = text
    if first is None:
        return out
    readings = (
        s.execute(
            current_rows(VitalReading, row.id)
            .where(VitalReading.observed_at >= first)
            .order_by(VitalReading.observed_at, VitalReading.id)
        )
        .scalars()
        .all()
    )
    sed = [
        f"{scale_label(r.sedation_scale or '')} {r.sedation_score:g} at {hm(r.observed_at, tz)}"
        for r in readings
        if r.sedation_score is not None
    ]
    dis: list[str] = []
    for a in s.execute(
        select(Assessment)
        .where(
            Assessment.session_id == row.id,
            Assessment.kind.in_(("moaas", "rass", "sedation", "cadss", "dissociation")),
            Assessment.at >= first,
        )
        .order_by(Assessment.at, Assessment.id)
    ).scalars():
        items = a.items or {}
        when = hm(a.at, tz)
        if a.kind in ("moaas", "rass"):
            sed.append(f"{scale_label(a.kind)} {a.score:g} at {when}")
        elif a.kind == "sedation":
            sed.append(f"{scale_label(str(items.get('scale')))} {items.get('score')} at {when}")
        elif a.kind == "cadss":
            dis.append(f"CADSS {a.score:g} at {when}")
        else:
            resolved = items.get("resolved")
            word = "checked" if resolved is None else ("resolved" if resolved else "not resolved")
            dis.append(f"{word} at {when}")
    out["sedation_event"] = "recorded: " + "; ".join(sed) if sed else "no sedation score recorded"
    out["dissociation_event"] = (
        "recorded: " + "; ".join(dis) if dis else "no dissociation check recorded"
    )
    spo2 = [r for r in readings if r.spo2 is not None]
    rr = [r for r in readings if r.rr is not None]
    parts = []
    if spo2:
        low = min(spo2, key=lambda r: float(r.spo2 or 0))
        parts.append(f"lowest SpO2 {low.spo2:g} % at {hm(low.observed_at, tz)}")
    if rr:
        low = min(rr, key=lambda r: float(r.rr or 0))
        parts.append(f"lowest RR {low.rr:g} /min at {hm(low.observed_at, tz)}")
    out["respiratory_depression_event"] = "; ".join(parts) or "no SpO2 or RR recorded"
    return out


def _view_in(ctx: AppContext, s: Session, row: InfusionSession) -> SpravatoView:
    cfg = config(ctx)
    tz = clinic_zone(ctx)
    now = ctx.now()
    devices = _devices_in(s, row.id)
    first = devices[0].at if devices else None
    readings = _bp_readings(s, row.id)
    # Monitoring ends with the nurse's assessment that the patient is clinically stable and
    # ready to leave (clinical.md §4.3): the latest discharge assessment. The signed note is
    # made after it and before the approval, so the note and the form say the same.
    assessed = s.execute(
        select(Assessment.at)
        .where(Assessment.session_id == row.id, Assessment.kind == DISCHARGE_CHECKLIST)
        .order_by(Assessment.at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    approval = s.execute(
        select(DischargeApproval.at).where(DischargeApproval.session_id == row.id)
    ).scalar_one_or_none()
    end = ensure_utc(assessed) if assessed is not None and first is not None else None
    bp = bp_timepoints(readings, first, cfg, until=end)
    snap = row.settings_snapshot or {}
    min_obs = float(
        snap.get("min_observation_min", infusion.min_observation_min(ctx.settings, SESSION_TYPE))
    )
    obs_done = first + timedelta(minutes=min_obs) if first else None
    predose = _predose(s, row.id, first or now)
    decision = _decision_in(s, row.id)
    conmeds = _conmeds_in(s, row.id)
    enrol = _enrolment_in(s, row.patient_id)
    enrolment = (
        EnrolmentInfo(
            row.patient.mrn,
            enrol.rems_patient_id,
            enrol.enrolled_on,
            _name(s, enrol.recorded_by),
            enrol.recorded_at,
        )
        if enrol
        else None
    )
    form_row = _latest(s, row.id, KIND_FORM)
    answers = dict((form_row.items or {}).get("answers", {})) if form_row else {}
    session_date = ensure_utc(row.checked_in_at).astimezone(tz).date()
    hcp_id = s.execute(
        select(SpravatoDevice.given_by)
        .where(SpravatoDevice.session_id == row.id)
        .order_by(SpravatoDevice.device_no)
        .limit(1)
    ).scalar_one_or_none()
    facts = FormFacts(
        patient_name=row.patient.name,
        patient_dob=row.patient.dob,
        rems_patient_id=enrol.rems_patient_id if enrol else None,
        conmeds=conmeds,
        monitoring_hcp=_name(s, hcp_id if hcp_id is not None else row.checked_in_by),
        setting_name=str(ctx.settings.get("general.clinic_name")),
        session_date=session_date,
        dose_mg=int(row.total_mg),
        devices=devices,
        monitoring_end=end,
        bp=bp,
        observation_complete_at=obs_done,
        suggestions=_suggestions(
            s,
            row,
            first,
            cfg,
            predose,
            decision,
            obs_done,
            end,
            bp,
            tz,
            ensure_utc(approval) if approval is not None else None,
        ),
        device_mg=cfg.device_mg,
    )
    rem = () if row.ended_at is not None else reminders(now, first, readings, min_obs, cfg, tz)
    return SpravatoView(
        session_id=row.id,
        chair=row.chair,
        patient_name=row.patient.name,
        mrn=row.patient.mrn,
        session_date=session_date,
        dose_mg=int(row.total_mg),
        planned_devices=planned_devices(row, cfg),
        devices=devices,
        next_device_at=next_device_allowed_at(devices, cfg)
        if len(devices) < planned_devices(row, cfg)
        else None,
        enrolment=enrolment,
        conmeds=conmeds,
        unanswered_conmeds=unanswered_conmeds(conmeds, cfg),
        predose=predose,
        predose_above_limit=predose is not None and predose_above_limit(predose, cfg),
        decision=decision,
        bp=bp,
        reminders=rem,
        min_observation_min=min_obs,
        first_device_at=first,
        observation_complete_at=obs_done,
        monitoring_end=end,
        form=monitoring_form(facts, answers, tz),
        form_answers=answers,
        submission=_submission_in(s, row.id),
        due_date=form_due_date(session_date, cfg),
        ended=row.ended_at is not None,
    )


def view_in(ctx: AppContext, s: Session, session_id: int) -> SpravatoView | None:
    """Inside an open transaction: the Spravato view of a session, None for other types."""
    row = get_session_row(s, session_id)
    if row.session_type != SESSION_TYPE:
        return None
    return _view_in(ctx, s, row)


def get_spravato(ctx: AppContext, actor: Actor, session_id: int) -> SpravatoView:
    """The Spravato view of a session as of now."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return _view_in(ctx, s, _spravato_row(s, session_id))


# ---------------------------------------------------------------- the monitoring form


def complete_form(
    ctx: AppContext, actor: Actor, session_id: int, answers: Mapping[str, Any]
) -> SpravatoView:
    """The nurse completes (or corrects) the form's fields the session cannot know; earlier
    answers are kept (a new row holds them all: the latest row wins)."""
    ctx.require(actor, "complete_rems_form")
    checked = check_form_answers(answers)
    with ctx.tx() as s:
        row = _spravato_row(s, session_id)
        if not _devices_in(s, row.id):
            raise DomainError(INVALID_STATE, "No Spravato device has been given: no form yet.")
        prev = _latest(s, row.id, KIND_FORM)
        before = dict((prev.items or {}).get("answers", {})) if prev else {}
        merged = {**before, **checked}
        _add_assessment(s, row.id, KIND_FORM, {"answers": merged}, actor, ctx.now())
        ctx.audit(s, actor, "rems.form", "session", row.id, before or None, merged)
        return _view_in(ctx, s, row)


def form_pdf(ctx: AppContext, actor: Actor, session_id: int) -> bytes:
    """The Patient Monitoring Form as a printable PDF (report.rems_form)."""
    from nursestation.report.rems_form import FormHeader, render_rems_form_pdf

    view = get_spravato(ctx, actor, session_id)
    header = FormHeader(
        clinic_name=str(ctx.settings.get("general.clinic_name")),
        session_label=f"S-{view.session_id}",
        generated_at=ctx.now(),
        due_date=view.due_date,
        submitted=(
            f"{view.submission.submitted_on.isoformat()} "
            f"({view.submission.method}, confirmation {view.submission.confirmation})"
            if view.submission
            else ""
        ),
    )
    return render_rems_form_pdf(view.form, header, clinic_zone(ctx))


# ---------------------------------------------------------------- the 7-day tracker


@dataclass(frozen=True)
class TrackerRow:
    """One Spravato session's form on the tracker."""

    session_id: int
    mrn: str
    patient_name: str
    session_date: date
    due_date: date
    days_left: int
    overdue: bool
    form_complete: bool
    submission: SubmissionInfo | None


def _today(ctx: AppContext) -> date:
    return ctx.now().astimezone(clinic_zone(ctx)).date()


def tracker(
    ctx: AppContext, actor: Actor, *, include_submitted: bool = True
) -> tuple[TrackerRow, ...]:
    """Every treated Spravato session's form: due date (session date + 7 days), days left,
    overdue; submitted ones last (or left out), the most urgent first."""
    ctx.require(actor, "rems_tracker")
    today = _today(ctx)
    out: list[TrackerRow] = []
    with ctx.read_tx() as s:
        ids = (
            s.execute(
                select(InfusionSession.id)
                .where(
                    InfusionSession.session_type == SESSION_TYPE,
                    InfusionSession.id.in_(select(SpravatoDevice.session_id)),
                )
                .order_by(InfusionSession.checked_in_at)
            )
            .scalars()
            .all()
        )
        for sid in ids:
            v = _view_in(ctx, s, get_session_row(s, sid))
            if v.submission is not None and not include_submitted:
                continue
            left = days_left(v.due_date, today)
            out.append(
                TrackerRow(
                    session_id=v.session_id,
                    mrn=v.mrn,
                    patient_name=v.patient_name,
                    session_date=v.session_date,
                    due_date=v.due_date,
                    days_left=left,
                    overdue=v.submission is None and left < 0,
                    form_complete=v.form.complete,
                    submission=v.submission,
                )
            )
    out.sort(key=lambda r: (r.submission is not None, r.days_left, r.session_id))
    return tuple(out)


def record_submission(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    *,
    submitted_on: Any,
    method: str,
    confirmation: str,
) -> TrackerRow:
    """Record that the session's form was submitted to the REMS (date, how, confirmation
    number); a correction is a new row. Refused while the form is incomplete."""
    ctx.require(actor, "rems_tracker")
    cfg = config(ctx)
    today = _today(ctx)
    with ctx.tx() as s:
        row = _spravato_row(s, session_id)
        v = _view_in(ctx, s, row)
        when = check_submission(submitted_on, method, confirmation, v.session_date, today, cfg)
        if not v.form.complete:
            names = ", ".join(f.label for f in v.form.missing)
            raise DomainError(
                INVALID_STATE, f"The monitoring form is not complete: {names}.", field="form"
            )
        s.add(
            RemsSubmission(
                session_id=row.id,
                submitted_on=when,
                method=method,
                confirmation=confirmation.strip(),
                by_user=actor.user_id,
                recorded_at=ctx.now(),
            )
        )
        s.flush()
        before = v.submission
        ctx.audit(
            s,
            actor,
            "rems.submission",
            "session",
            row.id,
            before=(
                {
                    "submitted_on": before.submitted_on.isoformat(),
                    "method": before.method,
                    "confirmation": before.confirmation,
                }
                if before
                else None
            ),
            after={
                "submitted_on": when.isoformat(),
                "method": method,
                "confirmation": confirmation.strip(),
            },
        )
        v = _view_in(ctx, s, row)
        left = days_left(v.due_date, today)
        return TrackerRow(
            v.session_id,
            v.mrn,
            v.patient_name,
            v.session_date,
            v.due_date,
            left,
            False,
            v.form.complete,
            v.submission,
        )
