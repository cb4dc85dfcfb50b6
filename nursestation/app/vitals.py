"""Vital signs: record manual readings (two-tier checked before every insert), list them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation.app.alarms import alarm_center, session_baseline
from nursestation.app.context import Actor, AppContext
from nursestation.app.record import clinic_zone
from nursestation.app.session_rows import events_of, get_session_row
from nursestation.db.models import VitalReading
from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_FOUND, DomainError
from nursestation.vitals import (
    VitalRanges,
    VitalsInput,
    compute_map,
    ensure_observed_time,
    ensure_storable,
    is_late,
)
from nursestation.wording import date_hm, hm


@dataclass(frozen=True)
class VitalsRecord:
    """A stored reading as shown in the flowsheet."""

    id: int
    observed_at: datetime
    recorded_at: datetime
    sbp: float | None
    dbp: float | None
    map: float | None
    hr: float | None
    spo2: float | None
    rr: float | None
    etco2: float | None
    temp_c: float | None
    sedation_scale: str | None
    sedation_score: float | None
    source: str
    source_detail: str
    late: bool
    supersedes_id: int | None
    correction_reason: str | None
    superseded_by: int | None = None

    def values(self) -> dict[str, float | None]:
        """The numeric vitals by name."""
        return {
            "sbp": self.sbp,
            "dbp": self.dbp,
            "map": self.map,
            "hr": self.hr,
            "spo2": self.spo2,
            "rr": self.rr,
            "etco2": self.etco2,
            "temp_c": self.temp_c,
        }


def _record(r: VitalReading, user_names: dict[int, str], superseded_by: int | None) -> VitalsRecord:
    if r.source == "manual":
        detail = f"manual, {user_names.get(r.entered_by or 0, 'unknown user')}"
    else:
        detail = f"device {r.device_protocol} on {r.device_port}" + (
            f" (id {r.device_id})" if r.device_id else ""
        )
    return VitalsRecord(
        r.id,
        r.observed_at,
        r.recorded_at,
        r.sbp,
        r.dbp,
        r.map,
        r.hr,
        r.spo2,
        r.rr,
        r.etco2,
        r.temp_c,
        r.sedation_scale,
        r.sedation_score,
        r.source,
        detail,
        r.late,
        r.supersedes_id,
        r.correction_reason,
        superseded_by,
    )


def readings_in(s: Session, session_id: int) -> list[VitalsRecord]:
    """All readings of a session in observed order, each marked with what superseded it."""
    from nursestation.db.models import User

    rows = list(
        s.execute(
            select(VitalReading)
            .where(VitalReading.session_id == session_id)
            .order_by(VitalReading.observed_at, VitalReading.id)
        ).scalars()
    )
    names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    by = {r.supersedes_id: r.id for r in rows if r.supersedes_id is not None}
    return [_record(r, names, by.get(r.id)) for r in rows]


def list_vitals(ctx: AppContext, actor: Actor, session_id: int) -> list[VitalsRecord]:
    """The session's flowsheet (originals and corrections)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return readings_in(s, session_id)


def record_vitals(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    values: VitalsInput | dict[str, Any],
    *,
    observed_at: datetime | None = None,
    soft_confirmed: bool = False,
) -> VitalsRecord:
    """Store one manual reading. Hard-range values are refused (out_of_range); soft-range values
    need `soft_confirmed` (else confirmation_required). MAP is computed when not given. The
    observed time defaults to now; it must lie between the session's check-in and now (plus the
    clinic's clock-skew allowance), else bad_input on field observed_at naming that range.
    Entered more than general.late_entry_after_min after it, the reading is marked late. Alarms
    are re-evaluated in the same transaction."""

    ctx.require(actor, "record_vitals")
    ranges = VitalRanges.from_settings(ctx.settings)
    v = values if isinstance(values, VitalsInput) else VitalsInput.from_mapping(values)
    if not {k for k in v.as_dict() if k != "sedation_scale"}:
        raise DomainError(BAD_INPUT, "Enter at least one value.", field=None)
    ensure_storable(v, ranges, soft_confirmed=soft_confirmed)
    now = ctx.now()
    observed = observed_at or now
    ensure_observed_time(observed, now, ranges)
    late_after = float(ctx.settings.get("general.late_entry_after_min"))
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        ensure_after_check_in(observed, row.checked_in_at, now, ranges, clinic_zone(ctx))
        center = alarm_center(ctx, s)
        late = is_late(observed, now, late_after)
        reading = VitalReading(
            session_id=row.id,
            observed_at=observed,
            recorded_at=now,
            sbp=v.sbp,
            dbp=v.dbp,
            map=_mean(v),
            hr=v.hr,
            spo2=v.spo2,
            rr=v.rr,
            etco2=v.etco2,
            temp_c=v.temp_c,
            sedation_scale=v.sedation_scale,
            sedation_score=v.sedation_score,
            source="manual",
            entered_by=actor.user_id,
            late=late,
            soft_confirmed=soft_confirmed,
        )
        s.add(reading)
        s.flush()
        ctx.audit(
            s,
            actor,
            "vitals.record",
            "vital_reading",
            reading.id,
            after={
                **v.as_dict(),
                "map": reading.map,
                "observed_at": observed.isoformat(),
                "late": late,
                "soft_confirmed": soft_confirmed,
            },
        )
        center.evaluate_session(s, row.id)
        return _record(reading, {actor.user_id: actor.full_name}, None)


def _local_text(when: datetime, now: datetime, tz: tzinfo) -> str:
    """A time as the screens show it (the clinic's zone): HH:MM today, else the date too."""
    same_day = when.astimezone(tz).date() == now.astimezone(tz).date()
    return hm(when, tz) if same_day else date_hm(when, tz)


def ensure_after_check_in(
    observed: datetime,
    checked_in_at: datetime,
    now: datetime,
    ranges: VitalRanges,
    tz: tzinfo,
) -> None:
    """Refuse an observation time before the session's check-in: nothing measured before the
    patient was seated belongs to this session (a baseline stored before its check-in would let
    an earlier visit's values stand as this infusion's baseline)."""
    from nursestation.clock import ensure_utc

    if ensure_utc(observed) < ensure_utc(checked_in_at):
        latest = ensure_utc(now) + timedelta(seconds=ranges.max_future_s)
        raise DomainError(
            BAD_INPUT,
            f"Observed at {_local_text(observed, now, tz)} is before the check-in at "
            f"{_local_text(checked_in_at, now, tz)}: allowed from "
            f"{_local_text(checked_in_at, now, tz)} to {_local_text(latest, now, tz)}.",
            field="observed_at",
        )


def _mean(v: VitalsInput) -> float | None:
    """Measured MAP when given, else computed from SBP/DBP."""
    if v.map is not None:
        return v.map
    if v.sbp is not None and v.dbp is not None:
        return compute_map(v.sbp, v.dbp)
    return None


def _input_of(r: VitalReading) -> VitalsInput:
    return VitalsInput(
        sbp=r.sbp,
        dbp=r.dbp,
        map=r.map,
        hr=r.hr,
        spo2=r.spo2,
        rr=r.rr,
        etco2=r.etco2,
        temp_c=r.temp_c,
        sedation_scale=r.sedation_scale,
        sedation_score=r.sedation_score,
    )


def correct_vitals(
    ctx: AppContext,
    actor: Actor,
    reading_id: int,
    values: VitalsInput | dict[str, Any],
    reason: str,
    *,
    soft_confirmed: bool = False,
) -> VitalsRecord:
    """Correct a stored reading: a new row that supersedes it (the original stays in the
    flowsheet, marked corrected). `values` are the fields that change (None clears one); the
    others are carried over. A changed SBP or DBP recomputes MAP unless MAP is given."""
    from nursestation.vitals import ensure_correction, input_name

    ctx.require(actor, "correct_vitals")
    ranges = VitalRanges.from_settings(ctx.settings)
    given = values.as_dict() if isinstance(values, VitalsInput) else dict(values)
    given = {input_name(k): val for k, val in given.items()}
    now = ctx.now()
    with ctx.tx() as s:
        original = s.get(VitalReading, reading_id)
        if original is None:
            raise DomainError(NOT_FOUND, f"No vital-signs reading #{reading_id}.")
        newer = s.execute(
            select(VitalReading.id).where(VitalReading.supersedes_id == reading_id)
        ).scalar_one_or_none()
        if newer is not None:
            raise DomainError(
                INVALID_STATE,
                f"Reading #{reading_id} was already corrected by #{newer}: correct #{newer}.",
            )
        row = get_session_row(s, original.session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        old = _input_of(original)
        merged = {**old.as_dict(), **given}
        merged = {k: val for k, val in merged.items() if val is not None}
        if "map" not in given and ("sbp" in given or "dbp" in given):
            merged.pop("map", None)
        corrected = VitalsInput.from_mapping(merged)
        corrected = VitalsInput.from_mapping({**corrected.as_dict(), "map": _mean(corrected)})
        changes = ensure_correction(old, corrected, reason, ranges)
        ensure_storable(corrected, ranges, soft_confirmed=soft_confirmed)
        center = alarm_center(ctx, s)
        new = VitalReading(
            session_id=row.id,
            observed_at=original.observed_at,
            recorded_at=now,
            sbp=corrected.sbp,
            dbp=corrected.dbp,
            map=corrected.map,
            hr=corrected.hr,
            pulse_rate=original.pulse_rate,
            spo2=corrected.spo2,
            rr=corrected.rr,
            etco2=corrected.etco2,
            temp_c=corrected.temp_c,
            on_room_air=original.on_room_air,
            sedation_scale=corrected.sedation_scale,
            sedation_score=corrected.sedation_score,
            source="manual",
            entered_by=actor.user_id,
            late=original.late,
            soft_confirmed=soft_confirmed,
            is_baseline=original.is_baseline,
            supersedes_id=original.id,
            correction_reason=reason.strip(),
        )
        s.add(new)
        s.flush()
        ctx.audit(
            s,
            actor,
            "vitals.correct",
            "vital_reading",
            new.id,
            before={k: old_new[0] for k, old_new in changes.items()} | {"id": original.id},
            after={k: old_new[1] for k, old_new in changes.items()}
            | {"id": new.id, "reason": reason.strip()},
        )
        center.evaluate_session(s, row.id)
        return _record(new, {actor.user_id: actor.full_name}, None)


# ---------------------------------------------------------------- flowsheet and trend


@dataclass(frozen=True)
class ValueFlag:
    """A stored value outside a limit, as the flowsheet marks it (text as well as colour)."""

    param: str
    tier: str  # advisory | action | critical
    direction: str  # high | low
    text: str  # the breach sentence, for a tooltip

    @property
    def mark(self) -> str:
        """Short text mark beside the value, e.g. "▲ACTION"."""
        return ("▲" if self.direction == "high" else "▼") + self.tier.upper()


@dataclass(frozen=True)
class FlowsheetRow:
    """One reading with its limit flags; `corrected_by` is the id of the row that replaced it."""

    record: VitalsRecord
    flags: dict[str, ValueFlag]

    @property
    def corrected_by(self) -> int | None:
        return self.record.superseded_by


@dataclass(frozen=True)
class ChartMarker:
    """A vertical marker on the trend: an infusion event or a medication given."""

    at: datetime
    kind: str  # start | pause | resume | rate_change | stop | medication
    label: str


@dataclass(frozen=True)
class TrendData:
    """Charted series (valid, not superseded readings only) and markers of a session."""

    times: tuple[datetime, ...]
    series: dict[str, tuple[float | None, ...]]  # sbp, dbp, map, hr, spo2
    markers: tuple[ChartMarker, ...]


def _flags(rec: VitalsRecord, baseline: VitalsInput | None, lim: Any) -> dict[str, ValueFlag]:
    from nursestation.limits import evaluate

    vi = VitalsInput(
        sbp=rec.sbp,
        dbp=rec.dbp,
        map=rec.map,
        hr=rec.hr,
        spo2=rec.spo2,
        rr=rec.rr,
        etco2=rec.etco2,
        temp_c=rec.temp_c,
        sedation_scale=rec.sedation_scale,
        sedation_score=rec.sedation_score,
    )
    return {
        b.param: ValueFlag(b.param, b.tier, b.direction, b.text)
        for b in evaluate(vi, baseline, lim)
    }


def flowsheet(ctx: AppContext, actor: Actor, session_id: int) -> list[FlowsheetRow]:
    """Every reading of a session (originals and corrections) with out-of-limit flags judged
    against the clinic limits and the pre-infusion baseline."""
    from nursestation.limits import VitalLimits

    ctx.require(actor, "view_session")
    lim = VitalLimits.from_settings(ctx.settings)
    with ctx.tx() as s:
        get_session_row(s, session_id)
        base = session_baseline(s, session_id)
        return [FlowsheetRow(r, _flags(r, base, lim)) for r in readings_in(s, session_id)]


_EVENT_LABELS = {
    "start": "Infusion start",
    "pause": "Paused",
    "resume": "Resumed",
    "rate_change": "Rate",
    "stop": "Infusion stop",
}
CHART_PARAMS = ("sbp", "dbp", "map", "hr", "spo2")


def trend_data(ctx: AppContext, actor: Actor, session_id: int) -> TrendData:
    """What the trend chart draws: valid current readings (corrected originals left out) and
    markers for infusion events and medications given."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        get_session_row(s, session_id)
        rows = [r for r in readings_in(s, session_id) if r.superseded_by is None]
        markers = _markers(s, session_id)
    return TrendData(
        times=tuple(r.observed_at for r in rows),
        series={p: tuple(getattr(r, p) for r in rows) for p in CHART_PARAMS},
        markers=markers,
    )


def chart_markers(ctx: AppContext, actor: Actor, session_id: int) -> tuple[ChartMarker, ...]:
    """The trend chart's markers alone (infusion events, medications given): the chart appends
    readings as they arrive and asks for these separately."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        get_session_row(s, session_id)
        return _markers(s, session_id)


def _markers(s: Session, session_id: int) -> tuple[ChartMarker, ...]:
    from nursestation.db.models import MedicationAdministration

    markers: list[ChartMarker] = []
    for e in events_of(s, session_id):
        label = _EVENT_LABELS.get(e.kind, e.kind)
        if e.kind == "rate_change" and e.rate_mg_per_h is not None:
            label = f"Rate {e.rate_mg_per_h:g} mg/h"
        elif e.kind == "pause" and e.reason:
            label = f"Paused: {e.reason}"
        markers.append(ChartMarker(e.at, e.kind, label))
    meds = list(
        s.execute(
            select(MedicationAdministration)
            .where(MedicationAdministration.session_id == session_id)
            .order_by(MedicationAdministration.given_at, MedicationAdministration.id)
        ).scalars()
    )
    replaced = {m.supersedes_id for m in meds if m.supersedes_id is not None}
    for m in meds:
        if m.id not in replaced:
            markers.append(
                ChartMarker(m.given_at, "medication", f"{m.drug} {m.dose:g} {m.unit} {m.route}")
            )
    markers.sort(key=lambda mk: mk.at)
    return tuple(markers)


# ---------------------------------------------------------------- assessments


@dataclass(frozen=True)
class AssessmentRecord:
    """A stored sedation or dissociation assessment."""

    id: int
    kind: str  # moaas | rass | cadss | dissociation
    at: datetime
    score: float | None
    text: str


def record_assessment(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    kind: str,
    *,
    score: int | None = None,
    items: list[int] | None = None,
    baseline_total: int | None = None,
    resolved: bool | None = None,
    at: datetime | None = None,
    timepoint: str | None = None,
) -> AssessmentRecord:
    """Store a sedation score (kind "moaas" or "rass") or a dissociation check (kind "cadss"
    with 23 item scores, or "dissociation" with the clinician's resolved yes/no). A sedation
    score is judged against the sedation limits and may raise an alarm. `timepoint` (a clinic-set
    one, app.outcomes) is kept with the items when the scale was taken at one."""
    from nursestation import scales
    from nursestation.db.models import Assessment

    ctx.require(actor, "record_assessment")
    now = ctx.now()
    when = at or now
    ensure_observed_time(when, now, VitalRanges.from_settings(ctx.settings))
    settings = scales.ScaleSettings.from_settings(ctx.settings)
    stored_items: dict[str, Any] = {}
    if kind in scales.SEDATION_SCALES:
        if score is None:
            raise DomainError(BAD_INPUT, f"{kind.upper()} needs a score.", field="score")
        level = scales.sedation_scale(kind).level(score)
        value: float | None = float(score)
        text = f"{scales.sedation_scale(kind).name} {score}: {level.text}"
        stored_items = {"text": level.text}
    elif kind == "cadss":
        total = scales.cadss_total(list(items or []))
        check = scales.cadss_check(total, baseline_total, settings)
        value, text = float(total), check.text
        stored_items = {
            "items": list(items or []),
            "baseline_total": baseline_total,
            "resolved": check.resolved,
        }
    elif kind == "dissociation":
        check = scales.clinician_check(resolved)  # type: ignore[arg-type]
        value, text = None, check.text
        stored_items = {"resolved": check.resolved}
    else:
        raise DomainError(
            BAD_INPUT,
            f"Assessment '{kind}' is unknown: allowed moaas, rass, cadss, dissociation.",
            field="kind",
        )
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        ensure_after_check_in(
            when, row.checked_in_at, now, VitalRanges.from_settings(ctx.settings), clinic_zone(ctx)
        )
        center = alarm_center(ctx, s)
        a = Assessment(
            session_id=row.id,
            kind=kind,
            at=when,
            recorded_at=now,
            score=value,
            items={**stored_items, "text": text, **({"timepoint": timepoint} if timepoint else {})},
            by_user=actor.user_id,
        )
        s.add(a)
        s.flush()
        ctx.audit(
            s,
            actor,
            "assessment.record",
            "assessment",
            a.id,
            after={"kind": kind, "score": value, "text": text, "at": when.isoformat()},
        )
        if kind in scales.SEDATION_SCALES:
            center.evaluate_session(s, row.id)
        return AssessmentRecord(a.id, kind, when, value, text)


# ---------------------------------------------------------------- clinic limits


@dataclass(frozen=True)
class LimitSetting:
    """One alarm limit as the settings screen shows it, with where its value comes from."""

    key: str  # "sbp.critical.high"
    value: float
    unit: str | None
    source: str | None
    overridden: bool


def limit_settings(ctx: AppContext) -> list[LimitSetting]:
    """Every tiered limit and baseline-change percentage with its source."""
    out: list[LimitSetting] = []
    for st in ctx.settings:
        if st.path.startswith(("vitals.limits.", "vitals.baseline_change.")) and isinstance(
            st.value, int | float
        ):
            key = st.path.removeprefix("vitals.limits.").removeprefix("vitals.")
            out.append(
                LimitSetting(key, float(st.value), st.unit, st.source, st.overridden_by is not None)
            )
    return out


def update_limits(
    ctx: AppContext, actor: Actor, changes: dict[str, float], reason: str
) -> list[LimitSetting]:
    """Change clinic alarm limits ("sbp.critical.high": 190, "baseline_change.action_pct": 35).
    Needs change_limits and a role named in vitals.limit_editors, and a reason. The change is
    stored as a new version of the clinic's settings (every station uses it, app/clinic_settings.py),
    the audit trail gets before and after, and every
    open session is judged again against the new limits."""
    from nursestation.app.clinic_settings import (
        current_overrides,
        merge_overrides,
        normalized,
        store_version,
    )
    from nursestation.clinic import ConfigError, load_defaults
    from nursestation.errors import OUT_OF_RANGE
    from nursestation.limits import VitalLimits

    ctx.require(actor, "change_limits")
    lim = VitalLimits.from_settings(ctx.settings)
    if not any(lim.can_edit(r) for r in actor.roles):
        lim.ensure_can_edit(sorted(actor.roles)[0])
    if not reason or not reason.strip():
        raise DomainError(BAD_INPUT, "A limit change needs a reason.", field="reason")
    if not changes:
        raise DomainError(BAD_INPUT, "No limit to change.", field=None)
    origin = "clinic settings"
    patch: dict[str, Any] = {}
    before: dict[str, Any] = {}
    stamp = ctx.now().isoformat(timespec="seconds")
    for key, value in changes.items():
        full = f"vitals.limits.{key}" if not key.startswith("baseline_change.") else f"vitals.{key}"
        try:
            before[key] = ctx.settings.get(full)
        except KeyError:
            raise DomainError(BAD_INPUT, f"Unknown limit '{key}'.", field=key) from None
        node = patch
        parts = full.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = {
            "value": value,
            "source": f"changed by {actor.full_name or actor.username} on {stamp}: {reason.strip()}",
        }
    with ctx.tx() as s:
        updated = merge_overrides(normalized(current_overrides(s, lock=True)), patch)
        try:
            load_defaults().with_overrides(updated, origin)  # what every station loads
            new_settings = ctx.settings.with_overrides(patch, origin)
            VitalLimits.from_settings(new_settings)  # tiers must still nest
        except ConfigError as exc:
            raise DomainError(OUT_OF_RANGE, str(exc), field=exc.key) from None
        store_version(ctx, s, actor, updated, f"alarm limits: {reason.strip()}")
        ctx.audit(
            s,
            actor,
            "limits.update",
            "clinic_settings",
            "vitals.limits",
            before=before,
            after={**changes, "reason": reason.strip()},
        )
    ctx.settings = new_settings
    alarm_center(ctx).reevaluate_all()
    return limit_settings(ctx)
