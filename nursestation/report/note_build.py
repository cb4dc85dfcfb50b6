"""The session note's content (NoteContent) as a pure function of the session's record
(issue 14): the same SessionRecord and inputs always give the same note. The app loads the
record (app.record.load_record) and the discharge evaluation, then calls `note_content`;
`nursestation.report.note_pdf` renders the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from nursestation import infusion
from nursestation.checklist import ITEM_LABELS
from nursestation.errors import DomainError
from nursestation.flowsheet import FlowRow, Judge, build_rows, reading_of
from nursestation.formulary import Drug, Formulary
from nursestation.limits import SEDATION_PARAM, TIER_RANK, LimitBreach, VitalLimits, evaluate
from nursestation.note_content import (
    CHARGE_SLOT,
    NURSE_SLOT,
    AddendumInfo,
    AlarmRow,
    AssessmentRow,
    ChartMarker,
    ChartSeries,
    ChecklistRow,
    DischargeInfo,
    DoseCalculation,
    MedicationRow,
    NoteContent,
    NoteHeader,
    OutcomeRow,
    OverrideRow,
    SafetyRow,
    SignatureSlot,
    SpravatoDeviceRow,
    SpravatoNote,
    VitalsRow,
)
from nursestation.note_content import InfusionEvent as NoteInfusionEvent
from nursestation.note_content import InfusionRecord as NoteInfusionRecord
from nursestation.outcome_scales import (
    NAMES as OUTCOME_NAMES,
)
from nursestation.outcome_scales import (
    OutcomeSettings,
    course_trend,
    risk_text,
    timepoint_label,
    trend_text,
)
from nursestation.prescriber_order import PrescriberOrder
from nursestation.record import (
    MedicationRecord,
    OutcomeRecord,
    SessionRecord,
    VitalValues,
    heart_rate,
)
from nursestation.spravato import MonitoringForm, is_spravato
from nursestation.vitals import SEDATION_LABELS, VitalsInput
from nursestation.wording import (
    NONE_RECORDED,
    PUMP_EVENT_LABELS,
    device_text,
    display_zone,
    drug_label,
    hm,
    indication_label,
    note_label,
    num,
    protocol_text,
    scale_label,
    vitals_text,
)

NOT_TREATED = "not_treated"
# Tier words as printed: the PDF colours a flag red when it says "action" and amber otherwise,
# so a critical breach (beyond action) must carry the word too.
_TIER_WORDS = {"advisory": "notify", "action": "action", "critical": "critical action"}
_ROW_PARAMS = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c")
_BP_PARAMS = ("sbp", "dbp", "map")


@dataclass(frozen=True)
class ScoredAssessment:
    """An assessment as the discharge rules scored it (name, score and the scored items)."""

    name: str
    score: float | None
    detail: str


@dataclass(frozen=True)
class NoteInputs:
    """What the note needs besides the record: clinic settings already read, the discharge
    evaluation (app.discharge), and the version being made."""

    clinic_name: str
    app_version: str
    interval_s: int
    limits: VitalLimits
    formulary: Formulary | None
    generated_at: datetime
    version: int
    nurse: str | None = None
    addendum: AddendumInfo | None = None
    signature_slots: tuple[SignatureSlot, ...] = (NURSE_SLOT, CHARGE_SLOT)
    discharge: DischargeInfo | None = None
    scored: Mapping[int, ScoredAssessment] | None = None  # assessment id -> discharge view
    # A Spravato session's REMS form as of this note, and the prescriber's pre-dose decision.
    spravato_form: MonitoringForm | None = None
    spravato_decision: str = ""
    scales: OutcomeSettings | None = None  # the clinic's scales: outcome rows and the course
    # The patient's course plan as of this session, in words (app.course_plan); "" when none.
    course_plan: str = ""


def note_content(rec: SessionRecord, x: NoteInputs) -> NoteContent:
    """Everything the note prints (clinical.md §6.3), from the record alone. Every time is
    printed in the clinic's display zone."""
    tz = display_zone(rec.display_zone)
    o, p = rec.order, rec.patient
    start_at = rec.started_at
    base = rec.baseline()
    header = NoteHeader(
        patient_name=p.name,
        mrn=p.mrn,
        dob=p.dob,
        session_date=o.checked_in_at.astimezone(tz).date(),
        chair=o.chair,
        session_number=o.session_number,
        protocol=protocol_text(
            o.session_type,
            o.dose_mg_per_kg,
            o.duration_min,
            o.concentration_mg_per_ml,
            total_mg=o.total_mg,
        ),
        nurse=x.nurse or rec.name(o.checked_in_by, "unknown"),
        prescriber=o.prescriber,
        allergies=", ".join(p.allergies) or NONE_RECORDED,
        order=PrescriberOrder(o.prescriber, o.order_text, o.order_date).order_line(),
        course_plan=x.course_plan,
    )
    flow = _flowsheet_rows(rec, base, x)
    by_id = {r.id: r for r in rec.vitals}
    vitals_rows = [_vitals_row(fr, tz, by_id) for fr in flow]
    baseline_row = next(
        (
            v
            for fr, v in zip(flow, vitals_rows, strict=True)
            if base is not None and fr.reading is not None and fr.reading.id == base.id
        ),
        None,
    )
    origin = start_at or (rec.vitals[0].observed_at if rec.vitals else None)
    meds = medication_rows(rec, x, tz)
    series, markers = _charts(flow, rec.pump_events, meds, origin)
    discharge = _with_checklist_override(x.discharge, rec)
    spravato = _spravato(rec, x)
    return NoteContent(
        note_id=note_label(rec.session_id),
        version=x.version,
        generated_at=x.generated_at,
        app_version=x.app_version,
        clinic_name=x.clinic_name,
        header=header,
        checklist=_checklist_rows(rec, tz),
        baseline_vitals=baseline_row,
        infusion=None if spravato is not None else _infusion_record(rec, x),
        vitals=tuple(vitals_rows),
        chart_series=series,
        chart_markers=markers,
        medications=meds,
        assessments=_assessments(rec, x.scored or {}),
        alarms=_alarms(rec, tz),
        discharge=discharge,
        addendum=x.addendum,
        signature_slots=x.signature_slots,
        display_tz=rec.display_zone,
        vitals_interval_s=x.interval_s,
        not_treated_reason=o.end_detail if o.end_reason == NOT_TREATED else None,
        outcomes=outcome_rows(rec, x.scales),
        safety=safety_rows(rec),
        safety_flag=safety_flag(rec, tz),
        spravato=spravato,
    )


def _started_word(rec: SessionRecord) -> str:
    return "first Spravato device" if is_spravato(rec.order.session_type) else "infusion started"


def _spravato(rec: SessionRecord, x: NoteInputs) -> SpravatoNote | None:
    """The Spravato part of the note (None for every other session type)."""
    if not is_spravato(rec.order.session_type) or x.spravato_form is None:
        return None
    return SpravatoNote(
        dose_mg=int(rec.order.total_mg),
        devices=tuple(
            SpravatoDeviceRow(d.number, d.at, d.lot, d.mg, rec.name(d.by_user))
            for d in rec.spravato_devices
        ),
        decision=x.spravato_decision,
        form=x.spravato_form,
    )


# ---------------------------------------------------------------- checklist


def _yes(value: Any) -> str:
    if value is None:
        return "not answered"
    return "yes" if value else "no"


def _local_time(raw: Any, tz: tzinfo) -> str:
    if not raw:
        return "not answered"
    try:
        return datetime.fromisoformat(str(raw)).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(raw)


def _answer_text(item_id: str, a: Mapping[str, Any], tz: tzinfo) -> str:
    """The nurse's answer for one checklist item, in words."""
    if item_id == "consent_confirmed":
        return _yes(a.get("consent_confirmed"))
    if item_id == "identity_two_identifiers":
        return _yes(a.get("identity_two_identifiers"))
    if item_id == "npo":
        return (
            f"solids {_local_time(a.get('last_solids_at'), tz)}; clear liquids "
            f"{_local_time(a.get('last_clear_liquids_at'), tz)}"
        )
    if item_id == "escort":
        parts = [str(a[k]) for k in ("escort_name", "escort_phone") if a.get(k)]
        return ", ".join(parts) or "not answered"
    if item_id == "pregnancy_screen":
        return str(a.get("pregnancy_screen") or "not answered").replace("_", " ")
    if item_id in ("contraindication_screen", "interacting_medications"):
        key = "contraindications" if item_id == "contraindication_screen" else item_id
        screened = a.get(f"{key}_screened")
        found = ", ".join(a.get(key) or []) or "none"
        return f"screened: {_yes(screened)}; found: {found}"
    if item_id == "iv_access":
        gauge = f"{a['iv_gauge']} G" if a.get("iv_gauge") else "gauge not recorded"
        site = a.get("iv_site") or "site not recorded"
        return f"{site}, {gauge}, patent: {_yes(a.get('iv_patent'))}"
    return ""


def _checklist_rows(rec: SessionRecord, tz: tzinfo) -> tuple[ChecklistRow, ...]:
    c = rec.checklist
    answers, result = c.answers, c.result
    items = {it["id"]: it for it in result.get("items", ())}
    ids = list(items) or [i for i in ITEM_LABELS if i != "baseline_vitals"]
    if not answers and not items:
        return ()
    rows: list[ChecklistRow] = []
    for item_id in ids:
        it = items.get(item_id, {})
        label = it.get("label") or ITEM_LABELS.get(item_id, item_id)
        answer = _answer_text(item_id, answers, tz) or str(it.get("status", ""))
        status = str(it.get("status", "")).replace("_", " ")
        parts = (status.upper() if status else "", it.get("message", ""))
        note = " — ".join(p for p in parts if p)
        if it.get("overridden"):
            note += " (overridden by charge nurse)"
        rows.append(ChecklistRow(label, answer, note))
    if c.override_reason:
        who = rec.name(c.override_by or 0, "unknown")
        rows.append(
            ChecklistRow(
                "Charge-nurse override of hard stops",
                "overridden",
                f"{c.override_reason} — {who} at {hm(c.override_at, tz)}",
            )
        )
    start = rec.started_at
    if result:
        rows.append(
            ChecklistRow(
                "OK to proceed",
                "yes" if result.get("can_start") else "no",
                f"{_started_word(rec)} at {hm(start, tz)}" if start else "infusion not started",
            )
        )
    return tuple(rows)


# ---------------------------------------------------------------- flowsheet


def _flowsheet_rows(rec: SessionRecord, base: VitalValues | None, x: NoteInputs) -> list[FlowRow]:
    """The note's flowsheet from the same core as the screen (nursestation.flowsheet): device
    data one row per `interval_s`, manual entries, flagged readings and corrections in full."""
    baseline_input = None
    if base is not None:
        hr = heart_rate(base)
        baseline_input = VitalsInput(
            sbp=base.sbp, dbp=base.dbp, map=base.map, hr=hr.value if hr else None,
            spo2=base.spo2, rr=base.rr, etco2=base.etco2, temp_c=base.temp_c,
        )  # fmt: skip
    judged = Judge(baseline_input, x.limits)
    records = rec.vitals
    superseded_by = {r.supersedes_id: r.id for r in records if r.supersedes_id is not None}
    by_id = {r.id: r for r in records}
    readings = [
        reading_of(
            r,
            judged,
            superseded_by=superseded_by.get(r.id),
            is_baseline=base is not None and r.id == base.id,
            payload=(r, by_id.get(r.supersedes_id) if r.supersedes_id is not None else None),
        )
        for r in records
    ]
    return build_rows(readings, x.interval_s)


def _breach_text(b: LimitBreach) -> str:
    word = "HIGH" if b.direction == "high" else "LOW"
    tier = _TIER_WORDS.get(b.tier, b.tier)
    if b.basis == "baseline" and b.change_pct is not None:
        return f"{word} ({tier}, {b.change_pct:+g}% vs baseline)"
    return f"{word} ({tier})"


def _col(param: str) -> str:
    return "temp" if param == "temp_c" else param


def _vitals_row(fr: FlowRow, tz: tzinfo, by_id: Mapping[int, Any]) -> VitalsRow:
    """One flowsheet row as the note prints it."""
    if fr.reading is None:  # an interval of device readings: last values, flagged extremes
        flags: dict[str, str] = {}
        extremes: dict[str, float] = {}
        for param, summary in fr.summary.items():
            texts = [
                f"{_breach_text(b)}: {'min' if b.direction == 'low' else 'max'} {num(b.value)}"
                for b in summary.flags
            ]
            if texts:
                flags[_col(param)] = "; ".join(texts)
                # The most severe extreme is printed beside the last value.
                worst = max(summary.flags, key=lambda b: TIER_RANK[b.tier])
                extremes[_col(param)] = worst.value
        sbp, dbp, map_, hr, spo2, rr, etco2, temp = (fr.value(p) for p in _ROW_PARAMS)
        return VitalsRow(
            observed_at=fr.at,
            recorded_at=fr.at,
            source=device_text(by_id[fr.reading_ids[-1]]),
            sbp=sbp,
            dbp=dbp,
            map=map_,
            hr=hr,
            spo2=spo2,
            rr=rr,
            etco2=etco2,
            temp=temp,
            flags=flags,
            kind="interval",
            until=fr.end,
            extremes=extremes,
            count=fr.count,
            hr_from_pulse=fr.hr_from_pulse,
        )
    reading = fr.reading
    r, original = reading.payload
    flags = {}
    sedation = None
    if r.sedation_scale and r.sedation_score is not None:
        label = SEDATION_LABELS.get(r.sedation_scale, r.sedation_scale)
        sedation = f"{label} {num(r.sedation_score)}"
    for b in reading.flags.values():
        text = _breach_text(b)
        if b.param == SEDATION_PARAM:
            sedation = f"{sedation} {text}" if sedation else text
        else:
            flags[_col(b.param)] = text
    correction = None
    if r.supersedes_id is not None:
        when = hm(original.recorded_at, tz) if original is not None else "?"
        correction = (
            f"Corrects the entry made at {when}: {r.correction_reason or 'no reason given'}"
        )
    elif reading.superseded_by is not None:
        correction = "Superseded by a later correction"
    sbp, dbp, map_, hr, spo2, rr, etco2, temp = (reading.values.get(p) for p in _ROW_PARAMS)
    return VitalsRow(
        observed_at=r.observed_at,
        recorded_at=r.recorded_at,
        source="manual" if r.source == "manual" else device_text(r),
        sbp=sbp,
        dbp=dbp,
        map=map_,
        hr=hr,
        spo2=spo2,
        rr=rr,
        etco2=etco2,
        temp=temp,
        sedation=sedation,
        flags=flags,
        late=r.late,
        superseded=reading.superseded_by is not None,
        correction=correction,
        hr_from_pulse=reading.hr_from_pulse,
    )


# ---------------------------------------------------------------- infusion


def _drug(x: NoteInputs, key: str) -> Drug | None:
    if x.formulary is None:
        return None
    try:
        return x.formulary.get(key)
    except (DomainError, KeyError, ValueError):  # no longer in the formulary: the stored key
        return None


def _infusion_record(rec: SessionRecord, x: NoteInputs) -> NoteInfusionRecord | None:
    if not rec.events:
        return None
    o = rec.order
    events = rec.pump_events
    state = infusion.infusion_state(events, o.planned, x.generated_at, min_observation_min=0)
    conc = o.concentration_mg_per_ml
    rows: list[NoteInfusionEvent] = []
    rate = o.rate_mg_per_h
    for e in rec.events:
        if e.kind in (infusion.START, infusion.RESUME, infusion.RATE_CHANGE) and e.rate_mg_per_h:
            rate = e.rate_mg_per_h
        running = e.kind in (infusion.START, infusion.RESUME, infusion.RATE_CHANGE)
        rows.append(
            NoteInfusionEvent(
                at=e.at,
                kind=PUMP_EVENT_LABELS.get(e.kind, e.kind),
                reason=e.reason or "",
                rate_ml_per_h=round(rate / conc, 1) if running and conc else None,
                by=rec.name(e.user_id),
            )
        )
    if state.dose_complete_at is not None and (
        state.stopped_at is None or state.dose_complete_at < state.stopped_at
    ):
        # derived, not typed: the moment the pump events add up to the ordered total (shown
        # only when the pump ran on after it; a stop at that very moment says it already)
        rows.append(
            NoteInfusionEvent(
                at=state.dose_complete_at,
                kind="ordered dose complete",
                reason=f"{state.planned_total_mg:g} mg delivered (derived from the pump events)",
            )
        )
        rows.sort(key=lambda r: r.at)
    answers = rec.checklist.answers
    site = answers.get("iv_site") or "not recorded"
    if answers.get("iv_gauge"):
        site = f"{site}, {answers['iv_gauge']} G"
    return NoteInfusionRecord(
        drug=drug_label(x.formulary, "ketamine"),
        dose=DoseCalculation(
            weight_kg=o.weight_kg_used,
            dose_mg_per_kg=o.dose_mg_per_kg,
            total_mg=o.total_mg,
            concentration_mg_per_ml=o.concentration_mg_per_ml,
            volume_ml=o.volume_ml,
            duration_min=o.duration_min,
            rate_mg_per_h=o.rate_mg_per_h,
            rate_ml_per_h=o.rate_ml_per_h,
            weight_recorded_on=rec.patient.weight_date,
        ),
        lot=o.ketamine_lot or "not recorded",
        expiry="not recorded",
        diluent="not recorded",
        site=str(site),
        events=tuple(rows),
        minutes_infused=round(state.infused_min, 1),
        delivered_mg=round(state.delivered_mg, 1),
    )


# ---------------------------------------------------------------- PRN medications


def _values(r: VitalValues) -> dict[str, float | None]:
    return {"sbp": r.sbp, "dbp": r.dbp, "map": r.map, "hr": r.hr, "spo2": r.spo2, "rr": r.rr}


def _bp_breach_text(rec: SessionRecord, r: VitalValues, limits: VitalLimits) -> str:
    """The most severe high-BP breach of the reading that triggered a dose, in words."""
    # As app.medications judges it at the dose: against the session's latest reading with a
    # BP (app.sessions.baseline_vitals without a start), unless that is the reading itself.
    base = rec.latest_with_bp()
    baseline = _values(base) if base is not None and base.id != r.id else None
    found = evaluate(_values(r), baseline, limits)
    high = [b for b in found if b.param in _BP_PARAMS and b.direction == "high"]
    high.sort(key=lambda b: -TIER_RANK[b.tier])  # stable: SBP before DBP on equal tiers
    return f" ({high[0].text})" if high else " (no BP limit breached)"


def _pre_vitals(rec: SessionRecord, m: MedicationRecord, d: Drug | None, x: NoteInputs,
                tz: tzinfo) -> str:  # fmt: skip
    v = rec.vital(m.triggering_vital_id)
    if v is None:
        return "no vitals recorded before the dose"
    text = f"{vitals_text(v)} at {hm(v.observed_at, tz)}"
    if d is not None and d.needs_bp:
        text += _bp_breach_text(rec, v, x.limits)
    return text


def medication_rows(rec: SessionRecord, x: NoteInputs, tz: tzinfo) -> tuple[MedicationRow, ...]:
    """The PRN rows (the ketamine infusion has its own section): each current dose with the
    reading that triggered it and every reassessment, times in `tz`."""
    out: list[MedicationRow] = []
    for m in rec.current_medications:
        d = _drug(x, m.drug)
        responses = "; ".join(
            f"{hm(r.at, tz)} "
            + ", ".join(t for t in (_response_vitals(rec, r.vital_id), r.text) if t)
            for r in rec.responses_to(m)
        )
        indication = indication_label(m.indication)
        if m.indication_override_reason is not None:
            by = rec.name(m.indication_override_by, f"user {m.indication_override_by}")
            indication = (
                f"{indication} (not met by the readings; override by {by}: "
                f"{m.indication_override_reason})"
            )
        out.append(
            MedicationRow(
                at=m.given_at,
                drug=drug_label(x.formulary, m.drug),
                dose=m.dose,
                unit=m.unit,
                route=m.route,
                indication=indication,
                pre_vitals=_pre_vitals(rec, m, d, x, tz),
                response=responses or "no response recorded",
                nurse=rec.name(m.given_by, f"user {m.given_by}"),
                override_reason=m.soft_max_reason,
            )
        )
    return tuple(out)


def _response_vitals(rec: SessionRecord, vital_id: int | None) -> str:
    v = rec.vital(vital_id)
    return vitals_text(v) if v is not None else ""


# ---------------------------------------------------------------- charts


def _charts(
    flow: Sequence[FlowRow],
    events: Sequence[infusion.InfusionEvent],
    meds: Sequence[MedicationRow],
    origin: datetime | None,
) -> tuple[tuple[ChartSeries, ...], tuple[ChartMarker, ...]]:
    """Trend series at the flowsheet's resolution: each interval's last values and every reading
    shown in full (corrected originals left out)."""
    if origin is None:
        return (), ()

    def minute(when: datetime) -> float:
        return round((when - origin).total_seconds() / 60.0, 2)

    points: list[tuple[datetime, FlowRow]] = []
    for fr in flow:
        if fr.reading is not None:
            if fr.reading.superseded_by is None:
                points.append((fr.reading.observed_at, fr))
        elif fr.last_at is not None:
            points.append((fr.last_at, fr))
    points.sort(key=lambda p: p[0])
    spec = (("SBP", "bp", "sbp"), ("DBP", "bp", "dbp"), ("MAP", "bp", "map"),
            ("HR", "hr_spo2", "hr"), ("SpO2", "hr_spo2", "spo2"))  # fmt: skip
    series = tuple(
        ChartSeries(
            name,
            chart,
            tuple(
                (minute(at), float(value))
                for at, fr in points
                if (value := fr.value(attr)) is not None
            ),
        )
        for name, chart, attr in spec
    )
    marked = (infusion.START, infusion.PAUSE, infusion.RESUME, infusion.STOP)
    markers = [
        ChartMarker(minute(e.at), PUMP_EVENT_LABELS[e.kind]) for e in events if e.kind in marked
    ]
    markers += [ChartMarker(minute(m.at), m.drug.lower()) for m in meds]
    return tuple(s for s in series if s.points), tuple(sorted(markers, key=lambda m: m.minute))


# ---------------------------------------------------------------- assessments, alarms


def _items_text(items: Any) -> str:
    """A readable one-line summary of an assessment's stored items (for kinds nobody else
    describes): scalars as "key value", nested structures flattened one level."""
    if not isinstance(items, Mapping) or not items:
        return ""
    parts = []
    for key, value in items.items():
        if isinstance(value, Mapping):
            value = _items_text(value)
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value if not isinstance(v, Mapping | list | tuple))
        if value in (None, "", "None"):
            continue
        if key == "timepoint":  # a clinic-set timepoint key (issue 16) in words: "+40 min"
            value = timepoint_label(str(value))
        parts.append(f"{str(key).replace('_', ' ')} {value}")
    return "; ".join(parts)


def _assessments(
    rec: SessionRecord, scored: Mapping[int, ScoredAssessment]
) -> tuple[AssessmentRow, ...]:
    out = []
    for a in rec.assessments:
        view = scored.get(a.id)
        by = rec.name(a.by_user)
        if view is not None:
            out.append(AssessmentRow(a.at, view.name, view.score, f"{view.detail} ({by})"))
            continue
        detail = _items_text(a.items)
        out.append(
            AssessmentRow(
                at=a.at,
                scale=scale_label(a.kind),
                score=a.score,
                detail=f"{detail} ({by})" if detail else by,
            )
        )
    return tuple(out)


def _alarms(rec: SessionRecord, tz: tzinfo) -> tuple[AlarmRow, ...]:
    raised: dict[str, Any] = {}
    acks: dict[str, Any] = {}
    trail: dict[str, list[str]] = {}
    for e in rec.alarm_events:
        # An alarm first found at a restart ("restored") is as much an alarm as a raised one.
        if e.event in ("raised", "restored") and e.alarm_key not in raised:
            raised[e.alarm_key] = e
            continue
        if e.event == "acknowledged" and e.alarm_key not in acks:
            acks[e.alarm_key] = e
        if e.event != "raised":
            text = e.event.replace("_", " ")
            if e.text and e.event != "acknowledged":
                text += f" ({e.text})"
            trail.setdefault(e.alarm_key, []).append(f"{hm(e.at, tz)} {text}")
    out = []
    for key, e in raised.items():
        ack = acks.get(key)
        out.append(
            AlarmRow(
                at=e.at,
                priority=e.priority,
                text=e.text,
                acknowledged_by=rec.name(ack.user_id or 0, "unknown") if ack else None,
                acknowledged_at=ack.at if ack else None,
                response="; ".join(trail.get(key, [])),
            )
        )
    return tuple(out)


def _with_checklist_override(
    info: DischargeInfo | None, rec: SessionRecord
) -> DischargeInfo | None:
    """The start-checklist override belongs in the Overrides section too (it has no other home
    in the content model than the discharge overrides)."""
    c = rec.checklist
    if info is None or not c.override_reason or c.override_at is None:
        return info
    extra = OverrideRow(
        "Pre-infusion checklist hard stop",
        c.override_reason,
        rec.name(c.override_by or 0),
        c.override_at,
    )
    if any(o.reason == extra.reason and o.at == extra.at for o in info.overrides):
        return info
    return replace(info, overrides=(extra, *info.overrides))


# ---------------------------------------------------------------- outcome measures (issue 16)

SAFETY_KIND_LABELS = {
    "pre_infusion": "Safety assessment before the infusion",
    "discharge_recheck": "Suicide-risk re-check before discharge",
}


def _answers_text(answers: Sequence[int | None]) -> str:
    """Item number:answer, "–" for a question not asked: "1:2 2:2 3:– …"."""
    return " ".join(f"{n}:{'–' if v is None else v}" for n, v in enumerate(answers, 1))


def _score_text(o: OutcomeRecord, scales: OutcomeSettings | None) -> str:
    if o.total is None:
        return risk_text(o.band)
    out = str(o.total)
    if scales is not None and o.scale in scales.scales:
        out += f" / {scales.scales[o.scale].total_max}"
    return out + (f" ({o.band})" if o.band else "")


def _administered_text(rec: SessionRecord, o: OutcomeRecord) -> str:
    who = rec.name(o.entered_by, "unknown")
    if o.supersedes_id is not None:
        original = next((x for x in rec.outcomes if x.id == o.supersedes_id), None)
        was = f" (was {_score_text(original, None)})" if original is not None else ""
        return f"corrected by {who}{was}: {o.correction_reason or 'no reason recorded'}"
    if o.on_station:
        return f"self-report, typed by the patient on the station (opened by {who})"
    if o.administered == "self_report":
        return f"self-report, entered by {who}"
    return f"clinician-administered by {who}"


def _course_texts(rec: SessionRecord, scales: OutcomeSettings | None) -> dict[tuple[str, int], str]:
    """(scale, session id) -> the trend words of this session's total in the course."""
    if scales is None:
        return {}
    out: dict[tuple[str, int], str] = {}
    for scale in scales.trend_scales:
        trend = course_trend(scales, scale, [c for c in rec.course if c.scale == scale])
        for p in trend.points:
            if p.session_id == rec.session_id:
                out[(scale, p.session_id)] = trend_text(p, trend.baseline)
    return out


def outcome_rows(rec: SessionRecord, scales: OutcomeSettings | None) -> tuple[OutcomeRow, ...]:
    """The session's outcome measures and screens as the note prints them, with the course's
    response and remission on the pre-infusion total this course trend uses."""
    course = _course_texts(rec, scales)
    rows = []
    current = rec.current_outcomes
    last_pre = {o.scale: o.id for o in current if o.timepoint == "pre"}
    for o in current:
        trend = course.get((o.scale, rec.session_id), "") if last_pre.get(o.scale) == o.id else ""
        rows.append(
            OutcomeRow(
                at=o.at,
                scale=OUTCOME_NAMES.get(o.scale, scale_label(o.scale)),
                timepoint=timepoint_label(o.timepoint),
                score=_score_text(o, scales),
                answers=_answers_text(o.answers),
                administered=_administered_text(rec, o),
                course=trend,
                safety=o.safety_reason or "",
            )
        )
    return tuple(rows)


def safety_rows(rec: SessionRecord) -> tuple[SafetyRow, ...]:
    """The safety assessments and re-checks recorded this session."""
    return tuple(
        SafetyRow(
            at=a.at,
            kind=SAFETY_KIND_LABELS.get(a.kind, a.kind.replace("_", " ")),
            assessment=a.assessment,
            plan=a.plan,
            decision=(
                ("infusion may proceed" if a.proceed else "infusion not to proceed")
                if a.kind == "pre_infusion"
                else ("may leave with the plan" if a.proceed else "not safe to leave")
            ),
            by=rec.name(a.by_user, "unknown"),
        )
        for a in rec.safety
    )


def safety_flag(rec: SessionRecord, tz: tzinfo) -> str | None:
    """The banner when a suicide-risk screen was positive this session: which screen, the
    assessment before the infusion and the re-check before discharge (clinical.md §4.4 item 9)."""
    positive = rec.safety_positive
    if not positive:
        return None
    what = "; ".join(
        f"{OUTCOME_NAMES.get(o.scale, o.scale)} at {hm(o.at, tz)}: {o.safety_reason}"
        for o in positive
    )
    pre = [a for a in rec.safety if a.kind == "pre_infusion" and a.proceed]
    re_ = [a for a in rec.safety if a.kind == "discharge_recheck" and a.proceed]
    assessed = (
        f"safety assessment by {rec.name(pre[-1].by_user)} at {hm(pre[-1].at, tz)}"
        if pre
        else "NO safety assessment allowing the infusion recorded"
    )
    recheck = (
        f"re-checked before discharge by {rec.name(re_[-1].by_user)} at {hm(re_[-1].at, tz)}"
        if re_
        else "re-check before discharge NOT recorded"
    )
    return f"POSITIVE SUICIDE-RISK SCREEN — {what}. {assessed[0].upper()}{assessed[1:]}; {recheck}."
