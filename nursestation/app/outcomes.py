"""Outcome measures, the suicide-risk safety routing and the course trend (issue 16).

- record_outcome: a completed PHQ-9, GAD-7, PCL-5 or C-SSRS screener (outcome_scores), or a
  CADSS / MOAA/S at a clinic-set timepoint (delegated to app.vitals.record_assessment, which
  discharge reads); every answer is checked against its item's range first.
- save_scale_draft / open_draft: a half-filled scale is kept when its dialog closes.
- Safety routing: a positive C-SSRS (Q4, Q5 or recent behaviour) or PHQ-9 item 9 holds the
  start of the infusion (sessions._start_gate calls `safety_gate_in`) until a charge nurse
  records a safety assessment and plan; a positive screen also needs the re-check before the
  patient leaves (clinical.md §4.4 item 9), which discharge reads through `discharge_answers_in`.
- course_trend: the totals of every session of the patient's course with response and
  remission (nursestation.outcome_scales.course_trend).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import outcome_scales as oc
from nursestation.app.context import Actor, AppContext
from nursestation.app.session_rows import course_totals, events_of, get_session_row
from nursestation.db.models import (
    InfusionSession,
    OutcomeScore,
    Patient,
    SafetyAssessment,
    ScaleDraft,
)
from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_FOUND, NOT_PERMITTED, DomainError
from nursestation.permissions import ROLE_LABELS

SAFETY_HOLD = "safety_hold"  # stable error code: start refused until a safety assessment
PRE_INFUSION = "pre_infusion"
DISCHARGE_RECHECK = "discharge_recheck"
SAFETY_KINDS = (PRE_INFUSION, DISCHARGE_RECHECK)


def outcome_settings(ctx: AppContext) -> oc.OutcomeSettings:
    """The clinic's scales (parsed once per settings object)."""
    return ctx.per_settings("outcome_scales", oc.OutcomeSettings.from_settings)


@dataclass(frozen=True)
class OutcomeView:
    """A stored score as the screens show it."""

    id: int
    session_id: int
    scale: str
    timepoint: str
    answers: tuple[int | None, ...]
    total: int | None
    band: str
    safety_positive: bool
    safety_reason: str
    administered: str
    on_station: bool
    at: datetime
    entered_by: int
    text: str


def _view(r: OutcomeScore) -> OutcomeView:
    scored = oc.Scored(
        r.scale, tuple(r.answers), r.total, r.band, r.safety_positive, r.safety_reason or ""
    )
    return OutcomeView(
        r.id,
        r.session_id,
        r.scale,
        r.timepoint,
        tuple(r.answers),
        r.total,
        r.band,
        r.safety_positive,
        r.safety_reason or "",
        r.administered,
        r.on_station,
        r.at,
        r.entered_by,
        scored.text(),
    )


def _open_row(s: Session, session_id: int) -> InfusionSession:
    row = get_session_row(s, session_id)
    if row.ended_at is not None:
        raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
    return row


def record_outcome(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    scale: str,
    answers: list[Any],
    *,
    timepoint: str = "pre",
    administered: str | None = None,
    on_station: bool = False,
    at: datetime | None = None,
) -> OutcomeView:
    """Store a completed scale with every answer, its total, band and safety screen. CADSS and
    MOAA/S go to the session's assessments (discharge reads them) with their timepoint."""
    ctx.require(actor, "record_assessment")
    o = outcome_settings(ctx)
    d = o.scale(scale)
    oc.check_timepoint(o, scale, timepoint)
    how = administered or d.administered
    if how not in oc.ADMINISTERED:
        raise DomainError(
            BAD_INPUT,
            f"Administered '{how}' is unknown: allowed {', '.join(oc.ADMINISTERED)}.",
            field="administered",
        )
    if on_station and how != oc.SELF_REPORT:
        raise DomainError(
            BAD_INPUT, "Only a self-report scale is entered by the patient.", field="on_station"
        )
    scored = oc.score(o, scale, answers)
    if scale in oc.SESSION_SCALES:
        return _record_session_scale(ctx, actor, session_id, scored, timepoint, how, at)
    now = ctx.now()
    when = at or now
    if when > now:
        raise DomainError(BAD_INPUT, "A score cannot be dated in the future.", field="at")
    with ctx.tx() as s:
        row = _open_row(s, session_id)
        r = OutcomeScore(
            session_id=row.id,
            patient_id=row.patient_id,
            scale=scale,
            timepoint=timepoint,
            answers=list(scored.answers),
            total=scored.total,
            band=scored.band,
            safety_positive=scored.safety_positive,
            safety_reason=scored.safety_reason or None,
            administered=how,
            on_station=on_station,
            at=when,
            recorded_at=now,
            entered_by=actor.user_id,
        )
        s.add(r)
        s.flush()
        ctx.audit(
            s,
            actor,
            "outcome.record",
            "outcome_score",
            r.id,
            after={
                "session_id": row.id,
                "scale": scale,
                "timepoint": timepoint,
                "answers": list(scored.answers),
                "total": scored.total,
                "band": scored.band,
                "safety_positive": scored.safety_positive,
                "administered": how,
                "on_station": on_station,
                "at": when.isoformat(),
            },
        )
        return _view(r)


def correct_outcome(
    ctx: AppContext, actor: Actor, outcome_id: int, answers: list[Any], reason: str
) -> OutcomeView:
    """Correct a recorded score: a new row with the corrected answers supersedes the original
    (kept, with who and when), with a written reason. The safety screen is judged again on the
    corrected answers."""
    ctx.require(actor, "record_assessment")
    if not (reason or "").strip():
        raise DomainError(BAD_INPUT, "A correction needs a reason.", field="reason")
    o = outcome_settings(ctx)
    now = ctx.now()
    with ctx.tx() as s:
        old = s.get(OutcomeScore, outcome_id)
        if old is None:
            raise DomainError(NOT_FOUND, f"No outcome score {outcome_id}.")
        newer = s.execute(
            select(OutcomeScore.id).where(OutcomeScore.supersedes_id == old.id)
        ).first()
        if newer is not None:
            raise DomainError(
                INVALID_STATE, f"Score {old.id} was already corrected by {newer[0]}: correct that."
            )
        _open_row(s, old.session_id)
        scored = oc.score(o, old.scale, answers)
        # a correction must not become a quiet way round the safety hold
        clears = old.safety_positive and not scored.safety_positive
        if clears and not any(r in actor.roles for r in o.safety_assessors):
            raise DomainError(
                NOT_PERMITTED,
                "This correction would clear a positive suicide-risk screen: only "
                f"{' or '.join(ROLE_LABELS.get(r, r) for r in o.safety_assessors)} may make it.",
            )
        r = OutcomeScore(
            session_id=old.session_id, patient_id=old.patient_id, scale=old.scale,
            timepoint=old.timepoint, answers=list(scored.answers), total=scored.total,
            band=scored.band, safety_positive=scored.safety_positive,
            safety_reason=scored.safety_reason or None, administered=old.administered,
            on_station=old.on_station, at=old.at, recorded_at=now, entered_by=actor.user_id,
            supersedes_id=old.id, correction_reason=reason.strip(),
        )  # fmt: skip
        s.add(r)
        s.flush()
        ctx.audit(
            s, actor, "outcome.correct", "outcome_score", r.id,
            before={"id": old.id, "answers": list(old.answers), "total": old.total,
                    "band": old.band},
            after={"answers": list(scored.answers), "total": scored.total, "band": scored.band,
                   "reason": reason.strip()},
        )  # fmt: skip
        return _view(r)


def _record_session_scale(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    scored: oc.Scored,
    timepoint: str,
    how: str,
    at: datetime | None,
) -> OutcomeView:
    from nursestation.app.vitals import record_assessment

    answers = list(scored.answers)
    if scored.scale == oc.MOAAS_KEY:
        a = record_assessment(
            ctx, actor, session_id, "moaas", score=answers[0], at=at, timepoint=timepoint
        )
    else:
        a = record_assessment(
            ctx,
            actor,
            session_id,
            "cadss",
            items=[int(v or 0) for v in answers],
            baseline_total=_pre_cadss(ctx, session_id, timepoint),
            at=at,
            timepoint=timepoint,
        )
    total = int(a.score) if a.score is not None else None
    return OutcomeView(
        a.id,
        session_id,
        scored.scale,
        timepoint,
        scored.answers,
        total,
        scored.band,
        False,
        "",
        how,
        False,
        a.at,
        actor.user_id,
        a.text,
    )


def _pre_cadss(ctx: AppContext, session_id: int, timepoint: str) -> int | None:
    """The session's pre-infusion CADSS total: later CADSS timepoints are judged against it."""
    if timepoint == "pre":
        return None
    from nursestation.db.models import Assessment

    with ctx.read_tx() as s:
        rows = s.execute(
            select(Assessment.score, Assessment.items)
            .where(Assessment.session_id == session_id, Assessment.kind == "cadss")
            .order_by(Assessment.at, Assessment.id)
        ).all()
    pre = [score for score, items in rows if (items or {}).get("timepoint") == "pre"]
    return int(pre[-1]) if pre and pre[-1] is not None else None


# ---------------------------------------------------------------- drafts


@dataclass(frozen=True)
class DraftView:
    """A half-filled scale: the answers so far (None = not yet answered)."""

    session_id: int
    scale: str
    timepoint: str
    answers: tuple[int | None, ...]
    saved_at: datetime

    @property
    def answered(self) -> int:
        """How many items have an answer."""
        return sum(v is not None for v in self.answers)


def save_scale_draft(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    scale: str,
    timepoint: str,
    answers: list[Any],
) -> DraftView:
    """Keep a half-filled scale (each given answer checked against its range)."""
    ctx.require(actor, "record_assessment")
    o = outcome_settings(ctx)
    oc.check_timepoint(o, scale, timepoint)
    given = oc.check_draft(o.scale(scale), answers)
    now = ctx.now()
    with ctx.tx() as s:
        row = _open_row(s, session_id)
        s.add(
            ScaleDraft(
                session_id=row.id,
                scale=scale,
                timepoint=timepoint,
                answers=list(given),
                saved_at=now,
                saved_by=actor.user_id,
            )
        )
        ctx.audit(
            s,
            actor,
            "outcome.draft",
            "session",
            row.id,
            after={"scale": scale, "timepoint": timepoint, "answers": list(given)},
        )
    return DraftView(session_id, scale, timepoint, given, now)


def open_draft(
    ctx: AppContext, actor: Actor, session_id: int, scale: str, timepoint: str
) -> DraftView | None:
    """The newest draft of the scale at this timepoint, unless a completed score was recorded
    after it (then the draft is done with)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        draft = (
            s.execute(
                select(ScaleDraft)
                .where(
                    ScaleDraft.session_id == session_id,
                    ScaleDraft.scale == scale,
                    ScaleDraft.timepoint == timepoint,
                )
                .order_by(ScaleDraft.saved_at.desc(), ScaleDraft.id.desc())
            )
            .scalars()
            .first()
        )
        if draft is None:
            return None
        done = _completed_after(s, session_id, scale, timepoint, draft.saved_at)
        if done:
            return None
        return DraftView(session_id, scale, timepoint, tuple(draft.answers), draft.saved_at)


def _completed_after(
    s: Session, session_id: int, scale: str, timepoint: str, when: datetime
) -> bool:
    if scale in oc.SESSION_SCALES:
        from nursestation.db.models import Assessment

        rows = s.execute(
            select(Assessment.items).where(
                Assessment.session_id == session_id,
                Assessment.kind == scale,
                Assessment.recorded_at >= when,
            )
        ).scalars()
        return any((items or {}).get("timepoint") == timepoint for items in rows)
    return (
        s.execute(
            select(OutcomeScore.id).where(
                OutcomeScore.session_id == session_id,
                OutcomeScore.scale == scale,
                OutcomeScore.timepoint == timepoint,
                OutcomeScore.recorded_at >= when,
            )
        ).first()
        is not None
    )


def session_outcomes(ctx: AppContext, actor: Actor, session_id: int) -> list[OutcomeView]:
    """The session's completed outcome scores in time order."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        rows = s.execute(
            select(OutcomeScore)
            .where(OutcomeScore.session_id == session_id)
            .order_by(OutcomeScore.at, OutcomeScore.id)
        ).scalars()
        return [_view(r) for r in _current(list(rows))]


def _current(rows: list[OutcomeScore]) -> list[OutcomeScore]:
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return [r for r in rows if r.id not in replaced]


# ---------------------------------------------------------------- safety routing


@dataclass(frozen=True)
class SafetyStatus:
    """Where the session stands on the suicide-risk screen."""

    positive: tuple[OutcomeView, ...]  # positive screens recorded this session
    assessment_at: datetime | None  # the pre-infusion safety assessment, if recorded
    recheck_at: datetime | None  # the re-check before discharge, if recorded

    @property
    def flagged(self) -> bool:
        """A positive screen was recorded this session."""
        return bool(self.positive)

    @property
    def start_held(self) -> bool:
        """The infusion may not start: a positive screen after the last safety assessment (a
        new positive screen after an assessment needs a new one)."""
        if not self.positive:
            return False
        last_positive = max(p.at for p in self.positive)
        return self.assessment_at is None or self.assessment_at < last_positive

    @property
    def recheck_due(self) -> bool:
        """A positive screen and no re-check before discharge yet."""
        return self.flagged and self.recheck_at is None

    def flag_text(self) -> str | None:
        """The chair card's flag: None when nothing was positive."""
        if not self.flagged:
            return None
        if self.start_held:
            return "Safety: positive screen, assessment needed before start"
        if self.recheck_due:
            return "Safety: positive screen, re-check before discharge"
        return "Safety: positive screen, assessed and re-checked"


def safety_status_in(s: Session, session_id: int) -> SafetyStatus:
    """The session's safety status inside an open transaction (2 statements)."""
    rows = s.execute(
        select(OutcomeScore)
        .where(OutcomeScore.session_id == session_id)
        .order_by(OutcomeScore.at, OutcomeScore.id)
    ).scalars()
    positive = tuple(_view(r) for r in _current(list(rows)) if r.safety_positive)
    assessed: datetime | None = None
    recheck: datetime | None = None
    for kind, at in s.execute(
        select(SafetyAssessment.kind, SafetyAssessment.at)
        .where(SafetyAssessment.session_id == session_id, SafetyAssessment.proceed.is_(True))
        .order_by(SafetyAssessment.at, SafetyAssessment.id)
    ):
        if kind == PRE_INFUSION:
            assessed = at
        else:
            recheck = at
    return SafetyStatus(positive, assessed, recheck)


def safety_status(ctx: AppContext, actor: Actor, session_id: int) -> SafetyStatus:
    """The session's safety status (read-only use case)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return safety_status_in(s, session_id)


def safety_flags_in(s: Session, session_ids: list[int]) -> dict[int, str]:
    """The chair cards' flags of several open sessions at once (session id -> text)."""
    if not session_ids:
        return {}
    flagged = {
        sid
        for (sid,) in s.execute(
            select(OutcomeScore.session_id).where(
                OutcomeScore.session_id.in_(session_ids), OutcomeScore.safety_positive.is_(True)
            )
        )
    }
    out: dict[int, str] = {}
    for sid in sorted(flagged):
        text = safety_status_in(s, sid).flag_text()
        if text:
            out[sid] = text
    return out


def safety_gate_in(s: Session, session_id: int) -> None:
    """Refuse the start while a positive screen waits for its safety assessment (no checklist
    override lifts it: only the assessment does)."""
    st = safety_status_in(s, session_id)
    if st.start_held:
        reasons = "; ".join(f"{oc.NAMES[p.scale]} {p.safety_reason}" for p in st.positive)
        raise DomainError(
            SAFETY_HOLD,
            f"The infusion cannot start: positive suicide-risk screen ({reasons}). A charge nurse "
            "must record a safety assessment and plan first.",
        )


def record_safety_assessment(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    kind: str,
    assessment: str,
    plan: str,
    *,
    proceed: bool,
) -> SafetyStatus:
    """A charge nurse records the safety assessment and plan after a positive screen
    ("pre_infusion": `proceed` lets the infusion start), or the re-check before the patient
    leaves ("discharge_recheck", clinical.md §4.4 item 9)."""
    # Role check first: a clinical user (and an account still enabled), then one of the clinic's
    # safety assessors (a charge nurse by default; scales.json "safety.assessors").
    ctx.require(actor, "record_assessment")
    o = outcome_settings(ctx)
    role = next((r for r in o.safety_assessors if r in actor.roles), None)
    if role is None:
        raise DomainError(
            NOT_PERMITTED,
            f"{actor.full_name or actor.username} may not record a safety assessment: this "
            f"needs the role {' or '.join(ROLE_LABELS.get(r, r) for r in o.safety_assessors)}.",
        )
    if kind not in SAFETY_KINDS:
        raise DomainError(
            BAD_INPUT,
            f"Safety assessment kind '{kind}' is unknown: allowed {', '.join(SAFETY_KINDS)}.",
            field="kind",
        )
    for name, text in (("assessment", assessment), ("plan", plan)):
        if len((text or "").strip()) < o.safety_min_chars:
            raise DomainError(
                BAD_INPUT,
                f"The safety {name} needs at least {o.safety_min_chars} written characters.",
                field=name,
            )
    if not isinstance(proceed, bool):
        raise DomainError(BAD_INPUT, "Proceed must be yes or no.", field="proceed")
    now = ctx.now()
    with ctx.tx() as s:
        row = _open_row(s, session_id)
        before = safety_status_in(s, row.id)
        if not before.flagged:
            raise DomainError(
                INVALID_STATE,
                "No positive suicide-risk screen is recorded in this session: nothing to assess.",
            )
        if kind == DISCHARGE_RECHECK and not events_of(s, row.id):
            raise DomainError(
                INVALID_STATE, "The re-check before discharge comes after the infusion."
            )
        a = SafetyAssessment(
            session_id=row.id,
            kind=kind,
            assessment=assessment.strip(),
            plan=plan.strip(),
            proceed=proceed,
            by_user=actor.user_id,
            by_role=role,
            at=now,
            recorded_at=now,
        )
        s.add(a)
        s.flush()
        ctx.audit(
            s,
            actor,
            "safety.assessment",
            "safety_assessment",
            a.id,
            after={
                "session_id": row.id,
                "kind": kind,
                "assessment": a.assessment,
                "plan": a.plan,
                "proceed": proceed,
                "role": role,
            },
        )
        return safety_status_in(s, row.id)


def discharge_answers_in(s: Session, session_id: int, answers: dict[str, Any]) -> dict[str, Any]:
    """The discharge answers with the recorded screen in force: a positive screen recorded this
    session makes "suicide_screen_positive" yes (a nurse's answer cannot say no over it), and
    then only a recorded re-check (not a ticked box) counts as "suicide_recheck_done"."""
    st = safety_status_in(s, session_id)
    if not st.flagged:
        return answers
    return {
        **answers,
        "suicide_screen_positive": True,
        "suicide_recheck_done": st.recheck_at is not None,
    }


# ---------------------------------------------------------------- the course


@dataclass(frozen=True)
class CourseTrend:
    """The course of a patient: one trend per trended scale."""

    patient_id: int
    mrn: str
    trends: tuple[oc.ScaleTrend, ...]

    def trend(self, scale: str) -> oc.ScaleTrend | None:
        """The trend of one scale, if the clinic trends it."""
        return next((t for t in self.trends if t.scale == scale), None)


def course_trend(ctx: AppContext, actor: Actor, mrn: str) -> CourseTrend:
    """The patient's outcome totals over the course, with response and remission marked."""
    ctx.require(actor, "view_session")
    o = outcome_settings(ctx)
    with ctx.read_tx() as s:
        p = s.execute(select(Patient).where(Patient.mrn == mrn)).scalar_one_or_none()
        if p is None:
            raise DomainError(NOT_FOUND, f"No patient with MRN {mrn}.", field="mrn")
        totals = course_totals(s, p.id)
    trends = tuple(
        oc.course_trend(o, k, [t for t in totals if t.scale == k])
        for k in o.trend_scales
    )  # fmt: skip
    return CourseTrend(p.id, p.mrn, trends)


def end_patient_entry(ctx: AppContext, actor: Actor, password: str) -> None:
    """The nurse takes the station back from the patient-facing scale screen: her own password
    (audited as an unlock; a wrong one counts towards the lockout like any other)."""
    from nursestation.app.users import authenticate

    ctx.require(actor, "record_assessment")
    authenticate(ctx, actor.username, password, purpose="unlock")
