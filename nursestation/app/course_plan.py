"""The course of treatment on the chart (issue 16): the course plan (induction series,
maintenance, booster; sessions done vs planned; next appointment), every session of the course
with its order, dose, adverse events, medications and signed notes, and the last visit's values
that check-in offers as a starting point (never filled in without the nurse's confirmation)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import get_patient_row
from nursestation.app.record import clinic_zone
from nursestation.app.session_rows import course_totals
from nursestation.db.models import (
    CoursePlan,
    InfusionEvent,
    InfusionSession,
    MedicationAdministration,
    Note,
    Patient,
    User,
)
from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError
from nursestation.formulary import Formulary
from nursestation.text_checks import clean_text
from nursestation.wording import (
    course_phase_label,
    date_hm,
    drug_label,
    num,
    protocol_text,
    scale_label,
)

# A session that gave no drug is not a treatment of the course (as app.sessions numbers them).
NOT_A_TREATMENT = ("cancelled", "not_treated")
ADVERSE_EVENT = "adverse event"  # the stop/pause reason's words (nursestation.infusion)
MAX_PLAN_NOTES = 2000


@dataclass(frozen=True)
class PlanView:
    """The course plan in force and how far the course is."""

    phase: str
    sessions_planned: int
    phase_start: date
    next_appointment: datetime | None
    notes: str | None
    sessions_done: int
    by_name: str
    at: datetime

    def progress(self) -> str:
        """Sessions done vs planned, e.g. "Induction series: 2 of 6 sessions"."""
        return (
            f"{course_phase_label(self.phase)}: {self.sessions_done} of "
            f"{self.sessions_planned} sessions"
        )

    def line(self, tz: tzinfo) -> str:
        """The plan in one line, e.g. "Induction series: 2 of 6 sessions · next appointment
        2026-12-08 10:00" (times in the clinic's display zone `tz`)."""
        text = self.progress()
        if self.next_appointment is not None:
            text += f" · next appointment {date_hm(self.next_appointment, tz)}"
        return text


def _treated(patient_id: int) -> Any:
    return (
        InfusionSession.patient_id == patient_id,
        func.coalesce(InfusionSession.end_reason, "").not_in(NOT_A_TREATMENT),
    )


def plan_in(
    ctx: AppContext,
    s: Session,
    patient_id: int,
    upto: datetime | None = None,
    sessions_upto: datetime | None = None,
) -> PlanView | None:
    """The plan in force (the latest row; as of `upto` when given, for a session's note), with
    the sessions of its phase checked in on or after the phase start (up to `sessions_upto`,
    default `upto`)."""
    q = select(CoursePlan, User.full_name).join(User, User.id == CoursePlan.by_user)
    q = q.where(CoursePlan.patient_id == patient_id)
    if upto is not None:
        q = q.where(CoursePlan.at <= upto)
    found = s.execute(q.order_by(CoursePlan.at.desc(), CoursePlan.id.desc()).limit(1)).first()
    if found is None:
        return None
    plan, name = found
    start = datetime.combine(plan.phase_start, time(0), clinic_zone(ctx))
    count = select(func.count(InfusionSession.id)).where(
        *_treated(patient_id), InfusionSession.checked_in_at >= start
    )
    until = sessions_upto or upto
    if until is not None:
        count = count.where(InfusionSession.checked_in_at <= until)
    done = int(s.execute(count).scalar_one())
    return PlanView(
        plan.phase,
        plan.sessions_planned,
        plan.phase_start,
        plan.next_appointment,
        plan.notes,
        done,
        name,
        plan.at,
    )


def course_plan(ctx: AppContext, actor: Actor, mrn: str) -> PlanView | None:
    """The patient's course plan in force, or None when none was set."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return plan_in(ctx, s, get_patient_row(s, mrn).id)


def plans_for(ctx: AppContext, s: Session, patient_ids: list[int]) -> dict[int, PlanView]:
    """The plans in force of several patients (the board: one call per refresh)."""
    out: dict[int, PlanView] = {}
    for pid in patient_ids:
        plan = plan_in(ctx, s, pid)
        if plan is not None:
            out[pid] = plan
    return out


def set_course_plan(
    ctx: AppContext,
    actor: Actor,
    mrn: str,
    *,
    phase: str,
    sessions_planned: int | None = None,
    phase_start: date | None = None,
    next_appointment: datetime | None = None,
    notes: str | None = None,
) -> PlanView:
    """Set the course plan (a new row; the earlier ones stay): the phase, how many sessions it
    plans (an induction series defaults to the clinic's number), when it started (default: an
    induction series from the first session, otherwise today) and the next appointment."""
    ctx.require(actor, "edit_patient")
    phases = tuple(ctx.settings.get("chart.course.phases"))
    if phase not in phases:
        raise DomainError(
            BAD_INPUT,
            f"Course phase '{phase}' is not one of "
            f"{', '.join(course_phase_label(p) for p in phases)}.",
            field="phase",
        )
    if sessions_planned is None:
        if phase != "induction":
            raise DomainError(
                BAD_INPUT,
                f"Sessions planned is required for {course_phase_label(phase).lower()}.",
                field="sessions_planned",
            )
        sessions_planned = int(ctx.settings.get("chart.course.induction_sessions"))
    most = int(ctx.settings.get("chart.course.max_sessions_planned"))
    if (
        isinstance(sessions_planned, bool)
        or not isinstance(sessions_planned, int)
        or not 1 <= sessions_planned <= most
    ):
        raise DomainError(
            OUT_OF_RANGE,
            f"Sessions planned {sessions_planned}: allowed 1–{most}.",
            field="sessions_planned",
        )
    now = ctx.now()
    if next_appointment is not None and next_appointment <= now:
        raise DomainError(
            OUT_OF_RANGE,
            f"Next appointment {date_hm(next_appointment, clinic_zone(ctx))} is not in the future.",
            field="next_appointment",
        )
    text = clean_text(
        notes, field="notes", label="Plan notes", max_len=MAX_PLAN_NOTES, required=False
    )
    with ctx.tx() as s:
        p = get_patient_row(s, mrn)
        if phase_start is None:
            phase_start = _default_start(ctx, s, p, phase)
        if phase_start > now.astimezone(clinic_zone(ctx)).date():
            raise DomainError(
                OUT_OF_RANGE, f"Phase start {phase_start} is in the future.", field="phase_start"
            )
        row = CoursePlan(
            patient_id=p.id,
            phase=phase,
            sessions_planned=sessions_planned,
            phase_start=phase_start,
            next_appointment=next_appointment,
            notes=text,
            by_user=actor.user_id,
            at=now,
        )
        s.add(row)
        s.flush()
        ctx.audit(
            s,
            actor,
            "patient.course_plan",
            "patient",
            p.id,
            after={
                "phase": phase,
                "sessions_planned": sessions_planned,
                "phase_start": phase_start.isoformat(),
                "next_appointment": next_appointment.isoformat() if next_appointment else None,
                "notes": text,
            },
        )
        view = plan_in(ctx, s, p.id)
        assert view is not None
        return view


def _default_start(ctx: AppContext, s: Session, p: Patient, phase: str) -> date:
    today = ctx.now().astimezone(clinic_zone(ctx)).date()
    if phase != "induction":
        return today
    first = s.execute(
        select(func.min(InfusionSession.checked_in_at)).where(*_treated(p.id))
    ).scalar_one()
    return first.astimezone(clinic_zone(ctx)).date() if first is not None else today


# ---------------------------------------------------------------- the course, session by session


@dataclass(frozen=True)
class CourseSession:
    """One session of the patient's course as the chart lists it."""

    session_id: int
    session_number: int
    checked_in_at: datetime
    session_type: str
    protocol: str
    dose: str
    weight_kg: float
    end_reason: str | None
    adverse_events: tuple[str, ...]
    medications: tuple[str, ...]
    notes: tuple[tuple[int, int], ...]  # (note id, version) of the signed versions
    outcome_scores: tuple[str, ...] = ()  # pre-infusion totals, e.g. "PHQ-9 12" (app.outcomes)

    @property
    def treated(self) -> bool:
        """False for a session that gave no drug (cancelled, not treated)."""
        return self.end_reason not in NOT_A_TREATMENT


def course_sessions(ctx: AppContext, actor: Actor, mrn: str) -> list[CourseSession]:
    """Every session of the patient, oldest first (6 statements whatever the course length)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        p = get_patient_row(s, mrn)
        rows = list(
            s.execute(
                select(InfusionSession)
                .where(InfusionSession.patient_id == p.id)
                .order_by(InfusionSession.checked_in_at, InfusionSession.id)
            ).scalars()
        )
        ids = [r.id for r in rows]
        adverse: dict[int, list[str]] = defaultdict(list)
        for sid, reason in s.execute(
            select(InfusionEvent.session_id, InfusionEvent.reason)
            .where(InfusionEvent.session_id.in_(ids), InfusionEvent.reason.is_not(None))
            .order_by(InfusionEvent.at, InfusionEvent.id)
        ):
            if reason and reason.startswith(ADVERSE_EVENT):
                adverse[sid].append(reason)
        meds: dict[int, list[str]] = defaultdict(list)
        replaced = {
            r
            for (r,) in s.execute(
                select(MedicationAdministration.supersedes_id).where(
                    MedicationAdministration.session_id.in_(ids),
                    MedicationAdministration.supersedes_id.is_not(None),
                )
            )
        }
        for m in s.execute(
            select(MedicationAdministration)
            .where(MedicationAdministration.session_id.in_(ids))
            .order_by(MedicationAdministration.given_at, MedicationAdministration.id)
        ).scalars():
            if m.id not in replaced:
                meds[m.session_id].append(_med_text(ctx, m))
        notes: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for nid, sid, version in s.execute(
            select(Note.id, Note.session_id, Note.version)
            .where(Note.session_id.in_(ids))
            .order_by(Note.version)
        ):
            notes[sid].append((nid, version))
        scores: dict[int, list[str]] = defaultdict(list)
        for t in course_totals(s, p.id):  # the course's outcome totals (engineer "course")
            scores[t.session_id].append(f"{scale_label(t.scale)} {t.total}")
        return [
            CourseSession(
                r.id,
                r.session_number,
                r.checked_in_at,
                r.session_type,
                protocol_text(
                    r.session_type,
                    r.dose_mg_per_kg,
                    r.duration_min,
                    r.concentration_mg_per_ml,
                    total_mg=r.total_mg,
                ),
                f"{num(r.total_mg)} mg",
                r.weight_kg_used,
                r.end_reason,
                tuple(adverse[r.id]),
                tuple(meds[r.id]),
                tuple(notes[r.id]),
                tuple(scores[r.id]),
            )
            for r in rows
        ]


def _formulary(ctx: AppContext) -> Formulary | None:
    try:
        return ctx.per_settings("formulary", Formulary.from_settings)
    except (DomainError, KeyError, ValueError):  # the course is still listed, drugs by key
        return None


def _med_text(ctx: AppContext, m: MedicationAdministration) -> str:
    return f"{drug_label(_formulary(ctx), m.drug)} {num(m.dose)} {m.unit} {m.route}"


# ---------------------------------------------------------------- from the last visit


@dataclass(frozen=True)
class LastVisit:
    """The previous session's values that check-in may offer (each confirmed by the nurse
    before it is used): the order, the escort and the IV details."""

    session_id: int
    checked_in_at: datetime
    session_type: str
    dose_mg_per_kg: float
    duration_min: float
    concentration_mg_per_ml: float
    values: dict[str, Any]  # escort_name, escort_phone, iv_site, iv_gauge (those recorded)


CARRY_FIELDS = ("protocol", "escort_name", "escort_phone", "iv_site", "iv_gauge")


def last_visit(ctx: AppContext, actor: Actor, mrn: str) -> LastVisit | None:
    """The patient's most recent session with its order and answers, or None (first visit)."""
    ctx.require(actor, "check_in")
    with ctx.read_tx() as s:
        p = get_patient_row(s, mrn)
        row = s.execute(
            select(InfusionSession)
            .where(InfusionSession.patient_id == p.id)
            .order_by(InfusionSession.checked_in_at.desc(), InfusionSession.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if row is None:
            return None
        answers = dict(row.checklist or {})
        values = {
            k: answers[k]
            for k in ("escort_name", "escort_phone", "iv_site", "iv_gauge")
            if answers.get(k) not in (None, "")
        }
        return LastVisit(
            row.id,
            row.checked_in_at,
            row.session_type,
            row.dose_mg_per_kg,
            row.duration_min,
            row.concentration_mg_per_ml,
            values,
        )
