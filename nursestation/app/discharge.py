"""Discharge use cases (clinical.md §4, issue 7): gather what was recorded into the pure
discharge evaluation (nursestation.discharge), and answer whether a session is ready to go home.

Stored data this module reads and writes:
- assessments rows, kind "aldrete" / "padss" / "modified_padss" (one score sheet each, items with
  pre-fill and the nurse's entry), "discharge_checklist" (answers; repeat assessments are merged,
  the latest answer to each question wins), "sedation" (MOAA/S or RASS), "dissociation";
- discharge_overrides (a charge nurse accepts a failing criterion with a written reason);
- discharge_approvals (the charge nurse's sign-off), which also ends the session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app import note_store, outcomes
from nursestation.app.concurrency import claim_session
from nursestation.app.context import Actor, AppContext, other_version_of
from nursestation.app.record import clinic_zone, display_zone_name
from nursestation.app.session_rows import (
    baseline_vitals,
    events_of,
    get_session_row,
    min_observation_for,
)
from nursestation.app.users import reauthenticate
from nursestation.clinic import ClinicSettings
from nursestation.clock import ensure_utc
from nursestation.db.models import (
    Assessment,
    DischargeApproval,
    DischargeOverride,
    InfusionSession,
    MedicationAdministration,
    User,
    VitalReading,
)
from nursestation.db.queries import current_rows, sedation_readings, snapshot_readings
from nursestation.discharge import (
    ANSWER_ALIASES,
    ANSWER_KEYS,
    ANSWER_LABELS,
    ANSWERS,
    SCALES,
    TEXT,
    YES_NO,
    DischargeConfig,
    DischargeEvaluation,
    DischargeInputs,
    ItemEntry,
    Override,
    ScoreSheet,
    SedationAssessment,
    VitalSnapshot,
    canonical_answers,
    evaluate_discharge,
    score_items,
)
from nursestation.errors import BAD_INPUT, INVALID_STATE, OBSERVATION_INCOMPLETE, DomainError
from nursestation.flowsheet import heart_rate
from nursestation.spravato import SpravatoConfig, is_spravato

KIND_CHECKLIST = "discharge_checklist"
KIND_SEDATION = "sedation"
KIND_DISSOCIATION = "dissociation"
DISCHARGE_KINDS = (*SCALES, KIND_CHECKLIST, KIND_SEDATION, KIND_DISSOCIATION)

# The nurse's checklist answers: one name each, defined in the core (nursestation.discharge
# ANSWERS). An answer feeds the DischargeInputs field of the same name; "on_room_air" has none: it
# qualifies the latest SpO2 when the reading itself does not say. Stored rows written before the
# rename carry former keys (ANSWER_ALIASES): every read goes through stored_answers().
BOOL_ANSWERS: tuple[str, ...] = tuple(a.key for a in ANSWERS if a.kind == YES_NO)
TEXT_ANSWERS: tuple[str, ...] = tuple(a.key for a in ANSWERS if a.kind == TEXT)
_INPUT_FIELDS = frozenset(f.name for f in fields(DischargeInputs))


def stored_answers(a: Assessment) -> dict[str, Any]:
    """The answers of a stored "discharge_checklist" row under their one name (rows are never
    rewritten: an answer stored under a former key is renamed here, on every read)."""
    return canonical_answers((a.items or {}).get("answers", {}))


def _not_superseded(s: Session, model: Any, session_id: int) -> list[Any]:
    """Rows of an insert-only table for a session, without those a correction replaced."""
    return list(s.execute(current_rows(model, session_id).order_by(model.id)).scalars())


def snapshot_of(r: VitalReading | None) -> VitalSnapshot | None:
    """One stored reading as the core's VitalSnapshot."""
    if r is None:
        return None
    return VitalSnapshot(
        taken_at=r.observed_at,
        sbp=r.sbp,
        dbp=r.dbp,
        hr=heart_rate(r.hr, r.pulse_rate)[0],
        rr=r.rr,
        spo2=r.spo2,
        temp_c=r.temp_c,
        on_room_air=r.on_room_air,
    )


def latest_snapshot(
    readings: list[VitalReading], since: datetime | None, on_room_air: bool | None
) -> VitalSnapshot | None:
    """The latest value of each vital sign since `since` (the infusion stop), BP as a pair from
    one reading; SpO2's oxygen status from its reading, else the nurse's room-air answer.
    `taken_at` is the oldest reading used, so nothing older passes as recovery evidence.
    With no reading since `since`, the latest reading (which the evaluation then rejects)."""
    ordered = sorted(readings, key=lambda r: (ensure_utc(r.observed_at), r.id))
    if not ordered:
        return None
    recent = [r for r in ordered if since is None or ensure_utc(r.observed_at) >= since]
    if not recent:
        snap = snapshot_of(ordered[-1])
        return _with_room_air(snap, on_room_air) if snap else None
    picked: dict[str, tuple[float, VitalReading]] = {}
    for r in recent:
        if r.sbp is not None:
            picked["sbp"] = (r.sbp, r)
            picked.pop("dbp", None)
            if r.dbp is not None:
                picked["dbp"] = (r.dbp, r)
        hr = heart_rate(r.hr, r.pulse_rate)[0]
        for name, value in (("hr", hr), ("rr", r.rr), ("spo2", r.spo2), ("temp_c", r.temp_c)):
            if value is not None:
                picked[name] = (value, r)
    if not picked:
        return _with_room_air(snapshot_of(recent[-1]), on_room_air)  # type: ignore[arg-type]
    taken = min(ensure_utc(r.observed_at) for _, r in picked.values())
    spo2_row = picked.get("spo2", (None, None))[1]
    snap = VitalSnapshot(
        taken_at=taken,
        **{k: v for k, (v, _) in picked.items()},
        on_room_air=spo2_row.on_room_air if spo2_row is not None else None,
    )
    return _with_room_air(snap, on_room_air)


def _with_room_air(snap: VitalSnapshot, answer: bool | None) -> VitalSnapshot:
    if snap.on_room_air is None and answer is not None:
        return replace(snap, on_room_air=answer)
    return snap


@dataclass(frozen=True)
class Recorded:
    """Everything stored about a session's discharge, loaded in one transaction."""

    row: InfusionSession
    config: DischargeConfig
    readings: tuple[VitalReading, ...]  # those latest_snapshot needs (db.queries.snapshot_readings)
    started_at: datetime | None
    stopped_at: datetime | None
    min_observation_min: int
    baseline_row: VitalReading | None
    baseline: VitalSnapshot | None
    latest: VitalSnapshot | None
    answers: dict[str, Any]
    answered_at: dict[str, datetime]
    score_rows: dict[str, Assessment]
    sheets: tuple[ScoreSheet, ...]
    sedation: tuple[SedationAssessment, ...]
    dissociation_resolved: bool | None
    dissociation_evidence: str
    upright_required_by: tuple[str, ...]
    overrides: tuple[Override, ...]
    assessments: tuple[Assessment, ...]
    override_rows: tuple[DischargeOverride, ...]
    names: dict[int, str]
    tz: tzinfo
    # The sedation scores from assessments alone (`sedation` adds those typed as vital signs):
    # kept so that with_vitals can re-read the vital-sign part without the rest.
    sedation_assessed: tuple[SedationAssessment, ...] = ()

    def escort_name(self) -> str:
        """The escort named at discharge, else the one arranged at check-in."""
        name = self.answers.get("escort_name")
        if name:
            return str(name)
        return str((self.row.checklist or {}).get("escort_name") or "")

    def inputs(self) -> DischargeInputs:
        """The pure evaluation's inputs."""
        a = self.answers
        kwargs: dict[str, Any] = {}
        for key in BOOL_ANSWERS:
            if key in _INPUT_FIELDS and key in a:
                kwargs[key] = a[key]
        for key in TEXT_ANSWERS:
            if key in _INPUT_FIELDS and a.get(key):
                kwargs[key] = str(a[key])
        kwargs["escort_name"] = self.escort_name() or None
        kwargs["escort_present"] = bool(a.get("escort_present", False))
        kwargs["instructions_given"] = bool(a.get("instructions_given", False))
        spravato = is_spravato(self.row.session_type)
        return DischargeInputs(
            config=self.config,
            min_observation_min=self.min_observation_min,
            observation_from=self.stopped_at,
            observation_from_event=SPRAVATO_FROM if spravato else "the infusion stop",
            baseline=self.baseline,
            latest_vitals=self.latest,
            sedation=self.sedation,
            dissociation_resolved=self.dissociation_resolved,
            dissociation_evidence=self.dissociation_evidence,
            upright_required_by=self.upright_required_by,
            scores=self.sheets,
            overrides=self.overrides,
            display_tz=self.tz,
            **kwargs,
        )

    def evaluate(self, now: datetime) -> DischargeEvaluation:
        """Every clinic criterion as of `now`."""
        return evaluate_discharge(self.inputs(), now)


# Named in messages: a Spravato session's observation counts from its first device (the
# session's timer stop sits there, app.spravato).
SPRAVATO_FROM = "the first Spravato device"


def spravato_discharge_config(settings: ClinicSettings) -> DischargeConfig:
    """The discharge checklist of a Spravato session: the clinic's items, required exactly when
    listed in spravato.discharge_criteria (clinical.md §4.3: ≥ 2 h, clinically stable vitals,
    sedation and dissociation resolved, arranged transport, instructions including no driving
    until the next day after a restful sleep; no IV to remove)."""
    base = DischargeConfig.from_settings(settings)
    wanted = set(SpravatoConfig.from_settings(settings).discharge_criteria)
    source = settings.source("spravato.discharge_criteria")
    items = tuple(
        replace(
            it,
            required=it.id in wanted,
            source=f"{it.source or ''} | Spravato: {source}" if source else it.source,
        )
        for it in base.checklist
    )
    return replace(base, checklist=items)


def sheet_from_row(scale: str, config: DischargeConfig, a: Assessment) -> ScoreSheet:
    """Rebuild a stored score sheet (items in the scale's order)."""
    stored = {i["id"]: i for i in (a.items or {}).get("items", [])}
    entries = []
    for item in score_items(scale, config):
        raw = stored.get(item.id, {})
        entries.append(
            ItemEntry(
                item_id=item.id,
                label=item.label,
                prefilled=raw.get("prefilled"),
                prefill_evidence=str(raw.get("prefill_evidence") or ""),
                entered=raw.get("entered"),
                entered_by=raw.get("entered_by"),
            )
        )
    return ScoreSheet(scale, tuple(entries), config.threshold(scale))


def _upright_required_by(ctx: AppContext, meds: list[MedicationAdministration]) -> tuple[str, ...]:
    from nursestation.formulary import Formulary

    formulary = ctx.per_settings("formulary", Formulary.from_settings)
    out: dict[str, None] = {}
    for m in meds:
        try:
            names = formulary.upright_required_by([(m.drug, m.route)])
        except DomainError:
            continue  # a drug no longer in the formulary sets no discharge rule
        for n in names:
            out.setdefault(n, None)
    return tuple(out)


def load_recorded(ctx: AppContext, s: Session, row: InfusionSession) -> Recorded:
    """Load the session's discharge data inside an open transaction."""
    config = ctx.per_settings("discharge_config", DischargeConfig.from_settings)
    if is_spravato(row.session_type):
        config = ctx.per_settings("discharge_config_spravato", spravato_discharge_config)
    events = events_of(s, row.id)
    started = next((e.at for e in events if e.kind == infusion.START), None)
    stops = [e.at for e in events if e.kind == infusion.STOP]
    stopped = ensure_utc(stops[-1]) if stops else None

    assessments = tuple(
        s.execute(
            select(Assessment)
            .where(Assessment.session_id == row.id, Assessment.kind.in_(DISCHARGE_KINDS))
            .order_by(Assessment.at, Assessment.id)
        ).scalars()
    )
    answers: dict[str, Any] = {}
    answered_at: dict[str, datetime] = {}
    score_rows: dict[str, Assessment] = {}
    sedation: list[SedationAssessment] = []
    dissociation: Assessment | None = None
    for a in assessments:
        if a.kind == KIND_CHECKLIST:
            for k, v in stored_answers(a).items():
                answers[k] = v
                answered_at[k] = a.at
        elif a.kind in SCALES:
            score_rows[a.kind] = a
        elif a.kind == KIND_SEDATION:
            items = a.items or {}
            sedation.append(SedationAssessment(str(items["scale"]), int(items["score"]), a.at))
        elif a.kind == KIND_DISSOCIATION and (stopped is None or ensure_utc(a.at) >= stopped):
            dissociation = a

    # a positive suicide-risk screen recorded this session decides the screen answer, and only
    # a recorded re-check counts (clinical.md §4.4 item 9; app.outcomes)
    answers = outcomes.discharge_answers_in(s, row.id, answers)
    overrides_rows = tuple(
        s.execute(
            select(DischargeOverride)
            .where(DischargeOverride.session_id == row.id)
            .order_by(DischargeOverride.at, DischargeOverride.id)
        ).scalars()
    )
    names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    overrides = tuple(
        Override(o.criterion, o.reason, names.get(o.by_user, f"user {o.by_user}"), o.at)
        for o in overrides_rows
    )
    meds = _not_superseded(s, MedicationAdministration, row.id)
    d_items = (dissociation.items or {}) if dissociation is not None else {}
    rest = Recorded(
        row=row,
        config=config,
        readings=(),
        started_at=started,
        stopped_at=stopped,
        min_observation_min=math.ceil(min_observation_for(ctx, row)),
        baseline_row=None,
        baseline=None,
        latest=None,
        answers=answers,
        answered_at=answered_at,
        score_rows=score_rows,
        sheets=tuple(sheet_from_row(k, config, v) for k, v in score_rows.items()),
        sedation=(),
        dissociation_resolved=d_items.get("resolved") if dissociation is not None else None,
        dissociation_evidence=str(d_items.get("text") or ""),
        upright_required_by=_upright_required_by(ctx, meds),
        overrides=overrides,
        assessments=assessments,
        override_rows=overrides_rows,
        names=names,
        tz=clinic_zone(ctx),
        sedation_assessed=tuple(sedation),
    )
    return with_vitals(s, rest)


def with_vitals(s: Session, rec: Recorded) -> Recorded:
    """`rec` with its vital-sign part read again: the baseline, the readings latest_snapshot
    needs (bounded, by index; db.queries.snapshot_readings) and the sedation scores typed as
    vital signs. A monitor second changes only this part (is_ready_in)."""
    row, started, stopped = rec.row, rec.started_at, rec.stopped_at
    base_row = baseline_vitals(s, row.id, before=started) if started else None
    readings = snapshot_readings(s, row.id, stopped)
    sedation = list(rec.sedation_assessed)
    for r in sedation_readings(s, row.id):
        if r.sedation_scale in ("moaas", "rass") and r.sedation_score is not None:
            sedation.append(
                SedationAssessment(r.sedation_scale, int(r.sedation_score), r.observed_at)
            )
    on_air = rec.answers.get("on_room_air")
    latest = latest_snapshot(readings, stopped, on_air if isinstance(on_air, bool) else None)
    return replace(
        rec,
        readings=tuple(readings),
        baseline_row=base_row,
        baseline=snapshot_of(base_row),
        latest=latest,
        sedation=tuple(sedation),
    )


# How long is_ready_in reuses what it loaded while the versions stayed put. Another station's
# entry moves them too (app/context.poll_changes, at the start of every transaction), so this is
# only a safety net: it was the way other processes' writes were seen (10 s) before that.
READY_REUSE_S = 60.0


def is_ready_in(ctx: AppContext, s: Session, row: InfusionSession) -> bool:
    """True when every required discharge criterion holds or is overridden, as of ctx.now()
    (called by sessions.summary_in for a stopped session). The board asks every second for each
    chair in observation, and the monitors write every second: the vital-sign part is read
    again (by index) after any write (ctx.data_version at the start of this transaction), the
    rest only after a write other than the monitor stream's (ctx.other_version) or
    READY_REUSE_S; the evaluation itself runs each time."""
    now = ctx.now()
    # Versions as this transaction began; None (read afresh) when it has written itself.
    wrote = bool(s.info.get("wrote") or s.new or s.dirty or s.deleted)
    version = None if wrote else s.info.get("data_version")
    other = other_version_of(s)
    cache = ctx.ready_cache  # payload: Recorded
    hit = cache.get(row.id)
    if (
        hit is None
        or version is None
        or other is None
        or hit[1] != other
        or hit[2] is not ctx.settings  # a settings change replaces the object
        or abs((now - hit[3]).total_seconds()) > READY_REUSE_S
    ):
        rec = load_recorded(ctx, s, row)
        hit = (
            -1 if version is None else version,
            -1 if other is None else other,
            ctx.settings,
            now,
            rec,
        )
        cache[row.id] = hit
    elif hit[0] != version:
        hit = (version, other, hit[2], hit[3], with_vitals(s, replace(hit[4], row=row)))
        cache[row.id] = hit
    return hit[4].evaluate(now).ready


# ---------------------------------------------------------------- DTOs for the screen and note


@dataclass(frozen=True)
class ItemView:
    """One score item with its published wording, the pre-fill and the nurse's last entry."""

    id: str
    label: str
    wording: tuple[str, str, str]  # for scores 2, 1, 0
    prefilled: int | None
    prefill_evidence: str
    entered: int | None
    origin: str


@dataclass(frozen=True)
class SheetView:
    """A discharge score: items pre-filled from the data recorded now, and the last stored entry."""

    scale: str
    name: str
    threshold: int
    required: bool
    items: tuple[ItemView, ...]
    assessed_at: datetime | None
    assessed_by: str | None
    total: int | None
    pending: tuple[str, ...]


@dataclass(frozen=True)
class OverrideView:
    """A charge nurse's acceptance of a failing criterion."""

    criterion: str
    label: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class CriterionView:
    """One clinic discharge criterion: met or not, why, and the evidence used."""

    id: str
    label: str
    required: bool
    met: bool
    satisfied: bool
    reason: str
    evidence: str
    override: OverrideView | None


@dataclass(frozen=True)
class ApprovalView:
    """The charge nurse's sign-off."""

    by: str
    at: datetime
    meaning: str


@dataclass(frozen=True)
class AssessmentItemView:
    """One scored item of a stored assessment."""

    id: str
    label: str
    score: int | None
    wording: str
    prefilled: int | None
    prefill_evidence: str
    origin: str


@dataclass(frozen=True)
class AssessmentView:
    """One stored discharge-related assessment (repeat assessments are all kept)."""

    id: int
    kind: str
    name: str
    at: datetime
    by: str
    score: float | None
    threshold: int | None
    items: tuple[AssessmentItemView, ...]
    detail: str


@dataclass(frozen=True)
class DischargeStatus:
    """Readiness as of `evaluated_at`: every criterion, what fails, overrides and approval."""

    session_id: int
    evaluated_at: datetime
    ready: bool
    stopped_at: datetime | None
    min_observation_min: int
    observation_complete_at: datetime | None
    criteria: tuple[CriterionView, ...]
    overrides: tuple[OverrideView, ...]
    approval: ApprovalView | None
    ended: bool

    @property
    def failing(self) -> tuple[CriterionView, ...]:
        """Required criteria neither met nor overridden."""
        return tuple(c for c in self.criteria if c.required and not c.satisfied)

    @property
    def failing_ids(self) -> tuple[str, ...]:
        """Ids of the failing criteria, in checklist order."""
        return tuple(c.id for c in self.failing)

    @property
    def observation_remaining_min(self) -> float | None:
        """Minutes until the observation time has elapsed (0 once it has)."""
        if self.observation_complete_at is None:
            return None
        left = (self.observation_complete_at - self.evaluated_at).total_seconds() / 60
        return max(0.0, left)


@dataclass(frozen=True)
class DischargeView:
    """Everything the discharge panel shows: the status, the score sheets to fill, the answers."""

    status: DischargeStatus
    patient_name: str
    sheets: tuple[SheetView, ...]
    answers: dict[str, Any]
    escort_name: str
    upright_required_by: tuple[str, ...]
    history: tuple[AssessmentView, ...]
    instruction_lines: tuple[str, ...]
    # The session's version when read: the form passes it back to record_assessment
    # (app/concurrency.py), so answers saved meanwhile at another station are not overwritten.
    version: int = 0


@dataclass(frozen=True)
class DischargeNoteData:
    """The discharge part of the session note, as plain values."""

    session_id: int
    evaluated_at: datetime
    ready: bool
    score_used: str
    assessments: tuple[AssessmentView, ...]
    criteria: tuple[CriterionView, ...]
    overrides: tuple[OverrideView, ...]
    approval: ApprovalView | None
    escort: str
    instructions_given: bool
    next_appointment: str

    def to_note_info(self) -> Any:
        """The note renderer's DischargeInfo (latest sheet of the clinic's score)."""
        from nursestation.note_content import (
            CriterionRow,
            DischargeInfo,
            DischargeItem,
            OverrideRow,
        )

        sheets = [a for a in self.assessments if a.kind in SCALES]
        wanted = [a for a in sheets if a.kind == self.score_used] or sheets
        sheet = wanted[-1] if wanted else None
        return DischargeInfo(
            scale_name=sheet.name if sheet else "Discharge score",
            assessed_at=sheet.at if sheet else None,
            items=tuple(
                DischargeItem(i.label, float(i.score or 0), 2.0, i.wording) for i in sheet.items
            )
            if sheet
            else (),
            # An overridden criterion stays "not met" in the note; the evidence says who
            # accepted it and why (the Overrides section repeats it).
            criteria=tuple(
                CriterionRow(
                    c.label,
                    c.met,
                    c.evidence
                    if c.met or c.override is None
                    else f"Overridden by {c.override.by}: {c.override.reason}",
                )
                for c in self.criteria
                if c.required or c.met
            ),
            overrides=tuple(
                OverrideRow(f"Discharge: {o.label}", o.reason, o.by, o.at) for o in self.overrides
            ),
            escort=self.escort,
            instructions_given=self.instructions_given,
            next_appointment=self.next_appointment,
            approved_by=self.approval.by if self.approval else None,
            approved_at=self.approval.at if self.approval else None,
        )


APPROVAL_MEANING = "Approved for discharge"
NOTE_NOT_SIGNED = "The nurse must sign the session note before discharge approval."


def _answer_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{ANSWER_LABELS.get(key, key)}: {'yes' if value else 'no'}"
    return f"{ANSWER_LABELS.get(key, key)}: {value}"


def assessment_view(
    a: Assessment, config: DischargeConfig, names: dict[int, str]
) -> AssessmentView:
    """A stored assessment row as plain values."""
    from nursestation.discharge import SCALE_NAMES
    from nursestation.scales import sedation_scale

    items = a.items or {}
    by = names.get(a.by_user, f"user {a.by_user}")
    if a.kind in SCALES:
        sheet = sheet_from_row(a.kind, config, a)
        defs = {i.id: i for i in score_items(a.kind, config)}
        views = tuple(
            AssessmentItemView(
                e.item_id,
                e.label,
                e.entered,
                defs[e.item_id].wording(e.entered) if e.entered is not None else "not scored",
                e.prefilled,
                e.prefill_evidence,
                e.origin,
            )
            for e in sheet.entries
        )
        pending = [v.label for v in views if v.score is None]
        detail = f"{sheet.subtotal}/10" + (
            f" (not scored: {', '.join(pending)})" if pending else ""
        )
        return AssessmentView(
            a.id,
            a.kind,
            SCALE_NAMES[a.kind],
            a.at,
            by,
            a.score,
            items.get("threshold"),
            views,
            detail,
        )
    if a.kind == KIND_SEDATION:
        scale = sedation_scale(str(items["scale"]))
        level = scale.level(int(items["score"]))
        detail = f"{scale.name} {level.score} – {level.text}"
        return AssessmentView(a.id, a.kind, scale.name, a.at, by, a.score, None, (), detail)
    if a.kind == KIND_DISSOCIATION:
        return AssessmentView(
            a.id, a.kind, "Dissociation", a.at, by, a.score, None, (), str(items.get("text") or "")
        )
    detail = "; ".join(_answer_text(k, v) for k, v in stored_answers(a).items())
    return AssessmentView(a.id, a.kind, "Discharge checklist", a.at, by, None, None, (), detail)


def _override_view(o: Override, labels: dict[str, str]) -> OverrideView:
    assert o.at is not None
    return OverrideView(
        o.criterion_id, labels.get(o.criterion_id, o.criterion_id), o.reason, o.by, o.at
    )


def _status(
    rec: Recorded, ev: DischargeEvaluation, approval: DischargeApproval | None
) -> DischargeStatus:
    labels = {c.id: c.label for c in rec.config.checklist}
    criteria = tuple(
        CriterionView(
            id=c.id,
            label=c.label,
            required=c.required,
            met=c.met,
            satisfied=c.satisfied,
            reason=c.reason,
            evidence=c.evidence,
            override=_override_view(c.override, labels) if c.override else None,
        )
        for c in ev.criteria
    )
    approval_view = (
        ApprovalView(
            rec.names.get(approval.by_user, f"user {approval.by_user}"),
            approval.at,
            approval.meaning,
        )
        if approval is not None
        else None
    )
    return DischargeStatus(
        session_id=rec.row.id,
        evaluated_at=ev.evaluated_at,
        ready=ev.ready,
        stopped_at=rec.stopped_at,
        min_observation_min=rec.min_observation_min,
        observation_complete_at=ev.observation_complete_at,
        criteria=criteria,
        overrides=tuple(_override_view(o, labels) for o in rec.overrides if o.at is not None),
        approval=approval_view,
        ended=rec.row.ended_at is not None,
    )


def _approval_row(s: Session, session_id: int) -> DischargeApproval | None:
    return s.execute(
        select(DischargeApproval).where(DischargeApproval.session_id == session_id)
    ).scalar_one_or_none()


def _evaluate_in(
    ctx: AppContext, s: Session, row: InfusionSession
) -> tuple[Recorded, DischargeEvaluation, DischargeApproval | None]:
    """Evaluate as of now, or as of the approval for an approved session (what was signed)."""
    rec = load_recorded(ctx, s, row)
    approval = _approval_row(s, row.id)
    when = approval.at if approval is not None else ctx.now()
    return rec, rec.evaluate(when), approval


def status_in(ctx: AppContext, s: Session, session_id: int) -> DischargeStatus:
    """The discharge status inside an open transaction."""
    rec, ev, approval = _evaluate_in(ctx, s, get_session_row(s, session_id))
    return _status(rec, ev, approval)


def get_status(ctx: AppContext, actor: Actor, session_id: int) -> DischargeStatus:
    """Which discharge criteria hold now, which fail and why."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return status_in(ctx, s, session_id)


def _sheet_view(rec: Recorded, scale: str, fresh: ScoreSheet) -> SheetView:
    from nursestation.discharge import SCALE_NAMES

    stored_row = rec.score_rows.get(scale)
    stored = sheet_from_row(scale, rec.config, stored_row) if stored_row is not None else None
    items = []
    for item, e in zip(score_items(scale, rec.config), fresh.entries, strict=True):
        last = stored.entry(item.id) if stored is not None else None
        items.append(
            ItemView(
                id=item.id,
                label=item.label,
                wording=(item.level_2, item.level_1, item.level_0),
                prefilled=e.prefilled,
                prefill_evidence=e.prefill_evidence,
                entered=last.entered if last else None,
                origin=last.origin if last else "pending",
            )
        )
    return SheetView(
        scale=scale,
        name=SCALE_NAMES[scale],
        threshold=rec.config.threshold(scale),
        required=scale in rec.config.required_scales(),
        items=tuple(items),
        assessed_at=stored_row.at if stored_row is not None else None,
        assessed_by=rec.names.get(stored_row.by_user) if stored_row is not None else None,
        total=stored.total if stored is not None else None,
        pending=stored.pending if stored is not None else tuple(i.id for i in items),
    )


def get_discharge(ctx: AppContext, actor: Actor, session_id: int) -> DischargeView:
    """The discharge screen: score sheets pre-filled from the recorded data, the checklist
    answers so far, the criteria and the assessment history."""
    from nursestation.discharge import prefill_sheet

    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        row = get_session_row(s, session_id)
        rec, ev, approval = _evaluate_in(ctx, s, row)
        required = rec.config.required_scales()
        order = [*required, *(x for x in SCALES if x not in required)]
        sheets = tuple(
            _sheet_view(rec, sc, prefill_sheet(sc, rec.config, rec.baseline, rec.latest))
            for sc in order
        )
        return DischargeView(
            status=_status(rec, ev, approval),
            patient_name=row.patient.name,
            sheets=sheets,
            answers=dict(rec.answers),
            escort_name=rec.escort_name(),
            upright_required_by=rec.upright_required_by,
            history=tuple(assessment_view(a, rec.config, rec.names) for a in rec.assessments),
            instruction_lines=tuple(rec.config.instruction_lines()),
            version=row.version,
        )


# ---------------------------------------------------------------- recording an assessment


def _check_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    # Former names (ANSWER_ALIASES) are accepted for one release, like in scenario files, and
    # stored under the one name; a former name beside its one name is ambiguous.
    for alias, name in ANSWER_ALIASES.items():
        if alias in answers and name in answers:
            raise DomainError(
                BAD_INPUT,
                f"Discharge answers have both '{alias}' and '{name}': '{alias}' is the former "
                f"name of '{name}'; give '{name}' only.",
                field=alias,
            )
    out: dict[str, Any] = {}
    for key, value in canonical_answers(answers).items():
        if key in BOOL_ANSWERS:
            if value is None:
                continue
            if not isinstance(value, bool):
                raise DomainError(
                    BAD_INPUT,
                    f"{ANSWER_LABELS[key]} must be yes or no (true/false), not {value!r}.",
                    field=key,
                )
            out[key] = value
        elif key in TEXT_ANSWERS:
            if value is None:
                continue
            if not isinstance(value, str):
                raise DomainError(
                    BAD_INPUT, f"{ANSWER_LABELS[key]} must be text, not {value!r}.", field=key
                )
            if value.strip():
                out[key] = value.strip()
        else:
            raise DomainError(
                BAD_INPUT,
                f"Unknown discharge answer '{key}': allowed {', '.join(ANSWER_KEYS)}.",
                field=key,
            )
    return out


CONFIRM = "confirm"  # a score value meaning "accept the pre-filled value"


def _fill_sheet(sheet: ScoreSheet, values: Mapping[str, Any], by: str) -> ScoreSheet:
    for item_id, value in values.items():
        entered = sheet.confirm if value == CONFIRM else None
        sheet = entered(item_id, by) if entered else sheet.enter(item_id, value, by)
    return sheet


def record_assessment(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    *,
    scores: Mapping[str, Mapping[str, Any]] | None = None,
    answers: Mapping[str, Any] | None = None,
    sedation: tuple[str, int] | None = None,
    dissociation_resolved: bool | None = None,
    cadss_total: int | None = None,
    cadss_baseline: int | None = None,
    expected_version: int | None = None,
) -> DischargeStatus:
    """Store one discharge assessment: score sheets (`{scale: {item: 0-2 or "confirm"}}`, the
    pre-fill computed now is kept beside each entry), checklist answers, a sedation rating, a
    dissociation check (clinician yes/no or a CADSS total). Everything is checked before
    anything is written; each part is its own assessments row. With `expected_version` (the
    DischargeView's), refused (changed_elsewhere) when the session changed since."""
    from nursestation.discharge import SedationAssessment as _Sed
    from nursestation.discharge import prefill_sheet
    from nursestation.scales import ScaleSettings, cadss_check, clinician_check

    ctx.require(actor, "discharge_assessment")
    scores = dict(scores or {})
    clean = _check_answers(answers or {})
    if not (
        scores or clean or sedation or dissociation_resolved is not None or cadss_total is not None
    ):
        raise DomainError(BAD_INPUT, "Nothing to record: score an item or answer a question.")
    unknown = sorted(set(scores) - set(SCALES))
    if unknown:
        raise DomainError(
            BAD_INPUT,
            f"Unknown discharge score '{unknown[0]}': use {', '.join(SCALES)}.",
            field="scale",
        )
    now = ctx.now()
    sed = _Sed(str(sedation[0]), sedation[1], now) if sedation is not None else None
    with ctx.tx() as s:
        row = claim_session(ctx, s, session_id, actor, "discharge.assessment", expected_version)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        rec = load_recorded(ctx, s, row)
        if (scores or clean) and rec.stopped_at is None:
            raise DomainError(
                INVALID_STATE,
                "The infusion has not been stopped: discharge is assessed during observation.",
            )
        if rec.started_at is None and (sed or dissociation_resolved is not None or cadss_total):
            raise DomainError(INVALID_STATE, "The infusion has not started.")
        on_air = clean.get("on_room_air", rec.answers.get("on_room_air"))
        latest = latest_snapshot(list(rec.readings), rec.stopped_at, on_air)
        sheets = {
            scale: _fill_sheet(
                prefill_sheet(scale, rec.config, rec.baseline, latest), values, actor.username
            )
            for scale, values in scores.items()
        }
        check = None
        if cadss_total is not None:
            base = cadss_baseline
            if base is None:
                base = _pre_dose_cadss(rec)
            check = cadss_check(cadss_total, base, ScaleSettings.from_settings(ctx.settings))
        elif dissociation_resolved is not None:
            check = clinician_check(dissociation_resolved)

        def add(kind: str, score: float | None, items: dict[str, Any]) -> Assessment:
            a = Assessment(
                session_id=row.id,
                kind=kind,
                at=now,
                recorded_at=now,
                score=score,
                items=items,
                by_user=actor.user_id,
            )
            s.add(a)
            s.flush()
            ctx.audit(s, actor, f"discharge.assess.{kind}", "assessment", a.id, after=items)
            return a

        for scale, sheet in sheets.items():
            add(scale, sheet.total, _sheet_json(sheet))
        if clean:
            add(KIND_CHECKLIST, None, {"answers": clean})
        if sed is not None:
            add(KIND_SEDATION, float(sed.value), {"scale": sed.scale, "score": sed.value})
        if check is not None:
            add(
                KIND_DISSOCIATION,
                float(check.cadss_total) if check.cadss_total is not None else None,
                {
                    "method": check.method,
                    "resolved": check.resolved,
                    "text": check.text,
                    "cadss_total": check.cadss_total,
                    "cadss_baseline": check.baseline_total,
                },
            )
        return status_in(ctx, s, row.id)


def _pre_dose_cadss(rec: Recorded) -> int | None:
    """The CADSS total recorded before the infusion started, if any."""
    if rec.started_at is None:
        return None
    pre = [
        a
        for a in rec.assessments
        if a.kind == KIND_DISSOCIATION
        and ensure_utc(a.at) <= ensure_utc(rec.started_at)
        and (a.items or {}).get("cadss_total") is not None
    ]
    return int(pre[-1].items["cadss_total"]) if pre else None


def _sheet_json(sheet: ScoreSheet) -> dict[str, Any]:
    return {
        "scale": sheet.scale,
        "threshold": sheet.threshold,
        "total": sheet.total,
        "items": [
            {
                "id": e.item_id,
                "label": e.label,
                "prefilled": e.prefilled,
                "prefill_evidence": e.prefill_evidence,
                "entered": e.entered,
                "entered_by": e.entered_by,
                "origin": e.origin,
            }
            for e in sheet.entries
        ],
    }


# ---------------------------------------------------------------- override, readiness, approval


def override_criterion(
    ctx: AppContext, actor: Actor, session_id: int, criterion: str, reason: str
) -> DischargeStatus:
    """A charge nurse accepts one failing criterion with a written reason (kept and shown in
    the note). The minimum observation time cannot be overridden."""
    ctx.require(actor, "override_discharge")
    min_chars = int(ctx.settings.get("session.checklist.override_min_reason_chars"))
    reason = (reason or "").strip()
    if len(reason) < min_chars:
        raise DomainError(
            BAD_INPUT,
            f"An override needs a written reason of at least {min_chars} characters.",
            field="reason",
        )
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended.")
        rec = load_recorded(ctx, s, row)
        ids = [c.id for c in rec.config.checklist]
        if criterion not in ids:
            raise DomainError(
                BAD_INPUT,
                f"Unknown discharge criterion '{criterion}': the clinic's are {', '.join(ids)}.",
                field="criterion",
            )
        if rec.stopped_at is None:
            raise DomainError(INVALID_STATE, "The infusion has not been stopped.")
        ev = rec.evaluate(ctx.now())
        c = ev.criterion(criterion)
        if criterion == "observation_time" and not c.met:
            raise DomainError(
                OBSERVATION_INCOMPLETE,
                f"The minimum observation time cannot be overridden. {c.reason}",
                field="criterion",
            )
        if c.met:
            raise DomainError(
                INVALID_STATE,
                f"'{c.label}' is met: there is nothing to override.",
                field="criterion",
            )
        if not c.required:
            raise DomainError(
                INVALID_STATE,
                f"'{c.label}' is optional at this clinic and does not block discharge.",
                field="criterion",
            )
        if c.override is not None:
            raise DomainError(
                INVALID_STATE,
                f"'{c.label}' was already overridden by {c.override.by}.",
                field="criterion",
            )
        o = DischargeOverride(
            session_id=row.id,
            criterion=criterion,
            reason=reason,
            by_user=actor.user_id,
            at=ctx.now(),
        )
        s.add(o)
        s.flush()
        ctx.audit(
            s,
            actor,
            "discharge.override",
            "session",
            row.id,
            before={"criterion": criterion, "met": False, "why": c.reason},
            after={"criterion": criterion, "reason": reason, "override_id": o.id},
        )
        return status_in(ctx, s, row.id)


def require_ready(ctx: AppContext, actor: Actor, session_id: int) -> DischargeStatus:
    """The status when the session is ready for discharge; otherwise observation_incomplete
    (observation time not elapsed) or criteria_not_met naming every failing criterion."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        rec, ev, approval = _evaluate_in(ctx, s, row)
        if approval is None:
            _ready_gate(rec, ev)
        return _status(rec, ev, approval)


def _ready_gate(rec: Recorded, ev: DischargeEvaluation) -> None:
    if rec.stopped_at is None:
        raise DomainError(
            INVALID_STATE, "The infusion has not been stopped: observation has not started."
        )
    ev.raise_if_not_ready()


def _approval_precheck(
    ctx: AppContext, s: Session, row: InfusionSession, actor: Actor
) -> DischargeEvaluation:
    if _approval_row(s, row.id) is not None:
        raise DomainError(INVALID_STATE, "This session is already approved for discharge.")
    if row.ended_at is not None:
        raise DomainError(INVALID_STATE, f"This session has ended ({row.end_reason}).")
    rec = load_recorded(ctx, s, row)
    ev = rec.evaluate(ctx.now())
    _ready_gate(rec, ev)
    # Signed, not by the approver, and nothing recorded after the signed version.
    note_store.require_approvable(ctx, s, row.id, actor)
    return ev


def _evaluation_json(ev: DischargeEvaluation) -> dict[str, Any]:
    return {
        "evaluated_at": ev.evaluated_at.isoformat(),
        "ready": ev.ready,
        "criteria": [
            {
                "id": c.id,
                "label": c.label,
                "required": c.required,
                "met": c.met,
                "reason": c.reason,
                "evidence": c.evidence,
                "override": {
                    "reason": c.override.reason,
                    "by": c.override.by,
                    "at": c.override.at.isoformat() if c.override.at else None,
                }
                if c.override
                else None,
            }
            for c in ev.criteria
        ],
    }


def approve_discharge(
    ctx: AppContext, actor: Actor, session_id: int, password: str
) -> DischargeStatus:
    """The charge nurse's sign-off "Approved for discharge": password re-asked, every criterion
    met or overridden, the nurse's note signed by someone else and current (nothing recorded
    after the signed version: note_stale; the approver's own note: self_approval). Records the
    approval, writes it into the note and countersigns it, and ends the session (the chair is
    free)."""
    ctx.require(actor, "approve_discharge")
    with ctx.tx() as s:
        _approval_precheck(ctx, s, get_session_row(s, session_id), actor)
    reauthenticate(ctx, actor, password)
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        ev = _approval_precheck(ctx, s, row, actor)  # again: nothing may have changed meanwhile
        now = ctx.now()
        approval = DischargeApproval(
            session_id=row.id,
            by_user=actor.user_id,
            at=now,
            meaning=APPROVAL_MEANING,
            criteria=_evaluation_json(ev),
        )
        s.add(approval)
        before = {"ended_at": None, "end_reason": None}
        row.ended_at = now
        row.end_reason = "discharged"
        s.flush()
        ctx.audit(
            s,
            actor,
            "discharge.approve",
            "session",
            row.id,
            before=before,
            after={
                "meaning": APPROVAL_MEANING,
                "by": actor.full_name,
                "at": now.isoformat(),
                "end_reason": "discharged",
                "overridden": [c.id for c in ev.criteria if c.override is not None],
            },
        )
        note_store.countersign_for_approval(ctx, s, row.id, actor, password, now)
        from nursestation.app import alarms

        # The patient leaves the chair: their alarms end with the session, in this transaction
        # (after the countersignature, which covers the record as approved).
        alarms.on_session_ended(ctx, s, actor, row.id)
        return status_in(ctx, s, row.id)


# ---------------------------------------------------------------- instruction sheet and note


def escort_with_relationship(name: str, relationship: str) -> str:
    """The escort as printed: "John Doe (husband)", the relationship once, even when the nurse
    already typed it into the name at check-in ("John Doe (husband)" + "husband")."""
    name, rel = name.strip(), relationship.strip()
    if not name or not rel:
        return name
    if f"({rel.casefold()})" in name.casefold():
        return name
    return f"{name} ({rel})"


def instruction_sheet_pdf(ctx: AppContext, actor: Actor, session_id: int) -> bytes:
    """The patient's printable discharge instructions from the clinic's text (PDF bytes): the
    escort (relationship once), the next appointment, clock times in the clinic's display zone
    and the clinic's phone from the settings."""
    from nursestation.report.note_pdf import render_discharge_instructions_pdf

    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        rec = load_recorded(ctx, s, row)
        escort = escort_with_relationship(
            rec.escort_name(), str(rec.answers.get("escort_relationship") or "")
        )
        next_appointment = str(rec.answers.get("next_appointment") or "")
        patient = row.patient.name
        ctx.audit(s, actor, "discharge.instructions_printed", "session", row.id)
    return render_discharge_instructions_pdf(
        str(ctx.settings.get("general.clinic_name")),
        patient,
        escort,
        rec.config.instruction_lines(),
        ctx.now(),
        display_tz=display_zone_name(ctx),
        next_appointment=next_appointment,
        clinic_phone=str(ctx.settings.get("general.clinic_phone") or ""),
    )


def discharge_for_note(ctx: AppContext, s: Session, session_id: int) -> DischargeNoteData:
    """The discharge part of the session note inside the caller's transaction: every
    assessment, every criterion (as of the approval once approved), overrides and approval."""
    row = get_session_row(s, session_id)
    rec, ev, approval = _evaluate_in(ctx, s, row)
    status = _status(rec, ev, approval)
    escort = escort_with_relationship(
        rec.escort_name(), str(rec.answers.get("escort_relationship") or "")
    )
    return DischargeNoteData(
        session_id=row.id,
        evaluated_at=ev.evaluated_at,
        ready=ev.ready,
        score_used=rec.config.score_used,
        assessments=tuple(assessment_view(a, rec.config, rec.names) for a in rec.assessments),
        criteria=status.criteria,
        overrides=status.overrides,
        approval=status.approval,
        escort=escort,
        instructions_given=bool(rec.answers.get("instructions_given", False)),
        next_appointment=str(rec.answers.get("next_appointment") or ""),
    )
