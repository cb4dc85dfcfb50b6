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
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.app.context import AppContext
from nursestation.app.sessions import baseline_vitals, events_of, min_observation_for
from nursestation.clock import ensure_utc
from nursestation.db.models import (
    Assessment,
    DischargeOverride,
    InfusionSession,
    MedicationAdministration,
    User,
    VitalReading,
)
from nursestation.discharge import (
    SCALES,
    DischargeConfig,
    DischargeEvaluation,
    DischargeInputs,
    ItemEntry,
    Override,
    ScoreSheet,
    SedationAssessment,
    VitalSnapshot,
    evaluate_discharge,
    score_items,
)
from nursestation.errors import DomainError

KIND_CHECKLIST = "discharge_checklist"
KIND_SEDATION = "sedation"
KIND_DISSOCIATION = "dissociation"
DISCHARGE_KINDS = (*SCALES, KIND_CHECKLIST, KIND_SEDATION, KIND_DISSOCIATION)

# Checklist answers the nurse gives at discharge -> the DischargeInputs field they feed.
# "on_room_air" qualifies the latest SpO2 when the reading itself does not say.
BOOL_ANSWERS: dict[str, str | None] = {
    "alert_oriented": "oriented_x3",
    "gait_steady": "steady_gait",
    "upright_tolerated": "upright_tolerated",
    "nausea_controlled": "nausea_controlled",
    "oral_fluids": "oral_fluids_tolerated",
    "iv_removed": "iv_removed",
    "escort_present": "escort_present",
    "instructions_given": "instructions_given",
    "suicide_screen_positive": "suicide_screen_positive",
    "suicide_recheck_done": "suicide_recheck_done",
    "on_room_air": None,
}
TEXT_ANSWERS: dict[str, str] = {
    "escort_name": "escort_name",
    "escort_relationship": "escort_relationship",
    "next_appointment": "next_appointment",
}
ANSWER_KEYS = (*BOOL_ANSWERS, *TEXT_ANSWERS)


def display_tz(ctx: AppContext) -> tzinfo:
    """The zone times are shown in: the clinic setting, or the station's local zone."""
    name = str(ctx.settings.get("general.timezone_display") or "local")
    if name != "local":
        return ZoneInfo(name)
    local = ctx.now().astimezone().tzinfo
    assert local is not None
    return local


def _not_superseded(s: Session, model: Any, session_id: int) -> list[Any]:
    """Rows of an insert-only table for a session, without those a correction replaced."""
    rows = list(
        s.execute(select(model).where(model.session_id == session_id).order_by(model.id)).scalars()
    )
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return [r for r in rows if r.id not in replaced]


def snapshot_of(r: VitalReading | None) -> VitalSnapshot | None:
    """One stored reading as the core's VitalSnapshot."""
    if r is None:
        return None
    return VitalSnapshot(
        taken_at=r.observed_at,
        sbp=r.sbp,
        dbp=r.dbp,
        hr=r.hr if r.hr is not None else r.pulse_rate,
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
        hr = r.hr if r.hr is not None else r.pulse_rate
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
        from dataclasses import replace

        return replace(snap, on_room_air=answer)
    return snap


@dataclass(frozen=True)
class Recorded:
    """Everything stored about a session's discharge, loaded in one transaction."""

    row: InfusionSession
    config: DischargeConfig
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
        for key, fld in BOOL_ANSWERS.items():
            if fld is not None and key in a:
                kwargs[fld] = a[key]
        for key, fld in TEXT_ANSWERS.items():
            if a.get(key):
                kwargs[fld] = str(a[key])
        kwargs["escort_name"] = self.escort_name() or None
        kwargs["escort_present"] = bool(a.get("escort_present", False))
        kwargs["instructions_given"] = bool(a.get("instructions_given", False))
        return DischargeInputs(
            config=self.config,
            min_observation_min=self.min_observation_min,
            observation_from=self.stopped_at,
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

    formulary = Formulary.from_settings(ctx.settings)
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
    config = DischargeConfig.from_settings(ctx.settings)
    events = events_of(s, row.id)
    started = next((e.at for e in events if e.kind == infusion.START), None)
    stops = [e.at for e in events if e.kind == infusion.STOP]
    stopped = ensure_utc(stops[-1]) if stops else None
    base_row = baseline_vitals(s, row.id, before=started) if started else None

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
            for k, v in (a.items or {}).get("answers", {}).items():
                answers[k] = v
                answered_at[k] = a.at
        elif a.kind in SCALES:
            score_rows[a.kind] = a
        elif a.kind == KIND_SEDATION:
            items = a.items or {}
            sedation.append(SedationAssessment(str(items["scale"]), int(items["score"]), a.at))
        elif a.kind == KIND_DISSOCIATION and (stopped is None or ensure_utc(a.at) >= stopped):
            dissociation = a

    readings = _not_superseded(s, VitalReading, row.id)
    for r in readings:
        if r.sedation_scale in ("moaas", "rass") and r.sedation_score is not None:
            sedation.append(
                SedationAssessment(r.sedation_scale, int(r.sedation_score), r.observed_at)
            )
    on_air = answers.get("on_room_air")
    latest = latest_snapshot(readings, stopped, on_air if isinstance(on_air, bool) else None)

    overrides_rows = tuple(
        s.execute(
            select(DischargeOverride)
            .where(DischargeOverride.session_id == row.id)
            .order_by(DischargeOverride.at, DischargeOverride.id)
        ).scalars()
    )
    names = dict(s.execute(select(User.id, User.full_name)).tuples().all())
    overrides = tuple(
        Override(o.criterion, o.reason, names.get(o.by_user, f"user {o.by_user}"), o.at)
        for o in overrides_rows
    )
    meds = _not_superseded(s, MedicationAdministration, row.id)
    d_items = (dissociation.items or {}) if dissociation is not None else {}
    return Recorded(
        row=row,
        config=config,
        started_at=started,
        stopped_at=stopped,
        min_observation_min=math.ceil(min_observation_for(ctx, row)),
        baseline_row=base_row,
        baseline=snapshot_of(base_row),
        latest=latest,
        answers=answers,
        answered_at=answered_at,
        score_rows=score_rows,
        sheets=tuple(sheet_from_row(k, config, v) for k, v in score_rows.items()),
        sedation=tuple(sedation),
        dissociation_resolved=d_items.get("resolved") if dissociation is not None else None,
        dissociation_evidence=str(d_items.get("text") or ""),
        upright_required_by=_upright_required_by(ctx, meds),
        overrides=overrides,
        assessments=assessments,
        override_rows=overrides_rows,
        names=names,
        tz=display_tz(ctx),
    )


def is_ready_in(ctx: AppContext, s: Session, row: InfusionSession) -> bool:
    """True when every required discharge criterion holds or is overridden, as of ctx.now()
    (called by sessions.summary_in for a stopped session)."""
    return load_recorded(ctx, s, row).evaluate(ctx.now()).ready
