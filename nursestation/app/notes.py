"""The signed session note: content from the stored session, PAdES signing, countersigning at
discharge approval, addenda, and verification of note files (issue 8).

A note version is rendered once and then only grows by incremental signature updates; the rows
in notes / note_documents / note_signatures are append-only in the database. A correction after
signing is an addendum: a new version (n+1) that supersedes the previous one, signed again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import __version__, infusion
from nursestation.app.context import Actor, AppContext
from nursestation.app.flowsheet import device_text, stored_vitals
from nursestation.app.sessions import (
    NOT_TREATED,
    baseline_vitals,
    events_of,
    get_session_row,
    planned_of,
)
from nursestation.config import StationConfig
from nursestation.db.models import (
    AlarmEvent,
    Assessment,
    DischargeApproval,
    DischargeOverride,
    InfusionEvent,
    InfusionSession,
    MedicationAdministration,
    MedicationResponse,
    Note,
    NoteDocument,
    NoteSignature,
    User,
    VitalReading,
)
from nursestation.db.queries import current_rows
from nursestation.errors import (
    BAD_INPUT,
    INVALID_STATE,
    NOT_FOUND,
    NOT_PERMITTED,
    NOTE_STALE,
    SELF_APPROVAL,
    DomainError,
)
from nursestation.flowsheet import FlowRow, FlowsheetSettings, Judge, build_rows, reading_of
from nursestation.limits import TIER_RANK, LimitBreach
from nursestation.note_content import (
    CHARGE_SLOT,
    NURSE_SLOT,
    AddendumInfo,
    AlarmRow,
    AssessmentRow,
    ChartMarker,
    ChartSeries,
    ChecklistRow,
    CriterionRow,
    DischargeInfo,
    DischargeItem,
    DoseCalculation,
    MedicationRow,
    NoteContent,
    NoteHeader,
    OverrideRow,
    SignatureSlot,
    VitalsRow,
)
from nursestation.note_content import InfusionEvent as NoteInfusionEvent
from nursestation.note_content import InfusionRecord as NoteInfusionRecord

NURSE_FIELD = "NurseSignature"
CHARGE_FIELD = "ChargeNurseSignature"
MEANING_DOCUMENTED = "Documented by"
MEANING_ADDENDUM = "Addendum documented by"
MEANING_APPROVED = "Approved for discharge"
STAGE_SIGNED = "signed"
STAGE_COUNTERSIGNED = "countersigned"
NONE_RECORDED = "none recorded"

_EVENT_LABELS = {
    infusion.START: "started",
    infusion.PAUSE: "paused",
    infusion.RESUME: "resumed",
    infusion.RATE_CHANGE: "rate changed",
    infusion.STOP: "stopped",
}
_SCALE_LABELS = {
    "moaas": "MOAA/S",
    "rass": "RASS",
    "cadss": "CADSS",
    "aldrete": "Modified Aldrete",
    "padss": "PADSS",
    "modified_padss": "Modified PADSS",
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "cssrs": "C-SSRS",
    "nausea": "Nausea",
}
_SESSION_TYPES = {"iv_ketamine": "IV ketamine", "spravato": "Spravato (esketamine)"}
# Tier words as printed: the PDF colours a flag red when it says "action" and amber otherwise,
# so a critical breach (beyond action) must carry the word too.
_TIER_WORDS = {"advisory": "notify", "action": "action", "critical": "critical action"}


# ---------------------------------------------------------------- DTOs


@dataclass(frozen=True)
class NoteInfo:
    """One version of a session note as stored: who signed it and its latest document."""

    note_id: int
    label: str
    session_id: int
    version: int
    stage: str
    document_id: int
    sha256: str
    signed_by: str
    signed_at: datetime
    countersigned_by: str | None
    countersigned_at: datetime | None
    supersedes_id: int | None
    addendum_reason: str | None
    addendum_text: str | None
    file_name: str


@dataclass(frozen=True)
class NoteCheck:
    """Verification of a stored note document against the clinic CA."""

    note_id: int
    version: int
    ok: bool
    lines: tuple[str, ...]


# ---------------------------------------------------------------- small helpers


def note_label(session_id: int) -> str:
    """The printed note identifier (one per session; versions are numbered separately)."""
    return f"S-{session_id:06d}"


_LABEL_RE = re.compile(r"Session note S-(\d+) v(\d+)")


def display_tz_name(ctx: AppContext) -> str | None:
    """The clinic's display zone (an IANA name), or None for the station's local zone."""
    try:
        value = ctx.settings.get("general.timezone_display")
    except KeyError:
        return None
    return None if not value or value == "local" else str(value)


def _zone(name: str | None) -> tzinfo:
    from nursestation.report.note_pdf import display_zone

    return display_zone(name)


def _hm(when: datetime | None, tz: tzinfo) -> str:
    return "—" if when is None else when.astimezone(tz).strftime("%H:%M")


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def file_name_for(session_date: date, mrn: str, session_id: int, version: int) -> str:
    """date_MRN_session_vN.pdf, safe on every file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", mrn).strip("-") or "patient"
    return f"{session_date.isoformat()}_{safe}_session{session_id}_v{version}.pdf"


def _names(s: Session) -> dict[int, str]:
    return {uid: name for uid, name in s.execute(select(User.id, User.full_name))}


def _optional(module: str, name: str) -> Any:
    """A function another engineer's module may offer (e.g. medications_for_note), else None."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    return getattr(mod, name, None)


# ---------------------------------------------------------------- content


def build_note_content(
    ctx: AppContext,
    s: Session,
    session_id: int,
    generated_at: datetime,
    version: int,
    *,
    nurse: str | None = None,
    addendum: AddendumInfo | None = None,
    signature_slots: tuple[SignatureSlot, ...] = (NURSE_SLOT, CHARGE_SLOT),
) -> NoteContent:
    """Everything the note prints, read from the session's stored rows (pure for given rows).

    `nurse` is the documenting nurse printed in the header (default: who checked the patient in).
    """
    row = get_session_row(s, session_id)
    tz_name = display_tz_name(ctx)
    tz = _zone(tz_name)
    names = _names(s)
    patient = row.patient
    events = events_of(s, session_id)
    start_at = next((e.at for e in events if e.kind == infusion.START), None)
    records = stored_vitals(s, session_id)
    base = baseline_vitals(s, session_id, before=start_at) if start_at else None
    header = NoteHeader(
        patient_name=patient.name,
        mrn=patient.mrn,
        dob=patient.dob,
        session_date=row.checked_in_at.astimezone(tz).date(),
        chair=row.chair,
        session_number=row.session_number,
        protocol=_protocol_text(row),
        nurse=nurse or names.get(row.checked_in_by, "unknown"),
        prescriber=row.prescriber,
        allergies=", ".join(patient.allergies or []) or NONE_RECORDED,
    )
    interval_s = FlowsheetSettings.from_settings(ctx.settings).interval_s
    flow = _flowsheet_rows(ctx, records, base, interval_s)
    by_id = {r.id: r for r in records}
    vitals_rows = [_vitals_row(fr, tz, by_id) for fr in flow]
    baseline_row = next(
        (
            v
            for fr, v in zip(flow, vitals_rows, strict=True)
            if base is not None and fr.reading is not None and fr.reading.id == base.id
        ),
        None,
    )
    infusion_rec = _infusion_record(ctx, s, row, events, generated_at, names)
    origin = start_at or (records[0].observed_at if records else None)
    meds = _medications(ctx, s, session_id, tz, names)
    series, markers = _charts(flow, events, meds, origin)
    discharge_data = _discharge_data(ctx, s, session_id)
    discharge = _discharge(ctx, s, row, names, discharge_data)
    return NoteContent(
        note_id=note_label(session_id),
        version=version,
        generated_at=generated_at,
        app_version=__version__,
        clinic_name=str(ctx.settings.get("general.clinic_name")),
        header=header,
        checklist=_checklist_rows(row, events, names, tz),
        baseline_vitals=baseline_row,
        infusion=infusion_rec,
        vitals=tuple(vitals_rows),
        chart_series=series,
        chart_markers=markers,
        medications=meds,
        assessments=_assessments(s, session_id, discharge_data, names),
        alarms=_alarms(s, session_id, names, tz),
        discharge=discharge,
        addendum=addendum,
        signature_slots=signature_slots,
        display_tz=tz_name,
        vitals_interval_s=interval_s,
        not_treated_reason=row.end_detail if row.end_reason == NOT_TREATED else None,
    )


def _protocol_text(row: InfusionSession) -> str:
    kind = _SESSION_TYPES.get(row.session_type, row.session_type.replace("_", " "))
    return (
        f"{kind}: {_num(row.dose_mg_per_kg)} mg/kg over {_num(row.duration_min)} min "
        f"at {_num(row.concentration_mg_per_ml)} mg/mL"
    )


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


def _answer_text(item_id: str, a: dict[str, Any], tz: tzinfo) -> str:
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


def _checklist_rows(
    row: InfusionSession,
    events: Sequence[infusion.InfusionEvent],
    names: dict[int, str],
    tz: tzinfo,
) -> tuple[ChecklistRow, ...]:
    from nursestation.checklist import ITEM_LABELS

    answers = dict(row.checklist or {})
    result = dict(row.checklist_result or {})
    items = {it["id"]: it for it in result.get("items", [])}
    rows: list[ChecklistRow] = []
    ids = list(items) or [i for i in ITEM_LABELS if i != "baseline_vitals"]
    if not answers and not items:
        return ()
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
    if row.checklist_override_reason:
        who = names.get(row.checklist_override_by or 0, "unknown")
        when = _hm(row.checklist_override_at, tz)
        rows.append(
            ChecklistRow(
                "Charge-nurse override of hard stops",
                "overridden",
                f"{row.checklist_override_reason} — {who} at {when}",
            )
        )
    start = next((e for e in events if e.kind == infusion.START), None)
    if result:
        decision = "yes" if result.get("can_start") else "no"
        rows.append(
            ChecklistRow(
                "OK to proceed",
                decision,
                f"infusion started at {_hm(start.at, tz)}" if start else "infusion not started",
            )
        )
    return tuple(rows)


def _flowsheet_rows(
    ctx: AppContext, records: Sequence[Any], base: VitalReading | None, interval_s: int
) -> list[FlowRow]:
    """The note's flowsheet from the same core as the screen (nursestation.flowsheet): device
    data one row per `interval_s`, manual entries, flagged readings and corrections in full."""
    from nursestation.limits import VitalLimits
    from nursestation.vitals import VitalsInput

    limits = VitalLimits.from_settings(ctx.settings)
    baseline_input = (
        VitalsInput(sbp=base.sbp, dbp=base.dbp, map=base.map,
                    hr=base.hr if base.hr is not None else base.pulse_rate, spo2=base.spo2,
                    rr=base.rr, etco2=base.etco2, temp_c=base.temp_c)
        if base is not None
        else None
    )  # fmt: skip
    judged = Judge(baseline_input, limits)
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
    return build_rows(readings, interval_s)


def _breach_text(b: LimitBreach) -> str:
    word = "HIGH" if b.direction == "high" else "LOW"
    tier = _TIER_WORDS.get(b.tier, b.tier)
    if b.basis == "baseline" and b.change_pct is not None:
        return f"{word} ({tier}, {b.change_pct:+g}% vs baseline)"
    return f"{word} ({tier})"


def _vitals_row(fr: FlowRow, tz: tzinfo, by_id: dict[int, Any]) -> VitalsRow:
    """One flowsheet row as the note prints it."""
    from nursestation.limits import SEDATION_PARAM
    from nursestation.vitals import SEDATION_LABELS

    if fr.reading is None:  # an interval of device readings: last values, flagged extremes
        flags: dict[str, str] = {}
        extremes: dict[str, float] = {}
        for param, summary in fr.summary.items():
            texts = [
                f"{_breach_text(b)}: {'min' if b.direction == 'low' else 'max'} {_num(b.value)}"
                for b in summary.flags
            ]
            if texts:
                name = "temp" if param == "temp_c" else param
                flags[name] = "; ".join(texts)
                # The most severe extreme is printed beside the last value.
                worst = max(summary.flags, key=lambda b: TIER_RANK[b.tier])
                extremes[name] = worst.value
        values: dict[str, Any] = {
            ("temp" if p == "temp_c" else p): fr.value(p) for p in _ROW_PARAMS
        }
        return VitalsRow(
            observed_at=fr.at,
            recorded_at=fr.at,
            source=device_text(by_id[fr.reading_ids[-1]]),
            **values,
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
        sedation = f"{label} {_num(r.sedation_score)}"
    for b in reading.flags.values():
        text = _breach_text(b)
        if b.param == SEDATION_PARAM:
            sedation = f"{sedation} {text}" if sedation else text
        else:
            flags["temp" if b.param == "temp_c" else b.param] = text
    correction = None
    if r.supersedes_id is not None:
        when = _hm(original.recorded_at, tz) if original is not None else "?"
        correction = (
            f"Corrects the entry made at {when}: {r.correction_reason or 'no reason given'}"
        )
    elif reading.superseded_by is not None:
        correction = "Superseded by a later correction"
    shown: dict[str, Any] = {
        ("temp" if p == "temp_c" else p): reading.values.get(p) for p in _ROW_PARAMS
    }
    return VitalsRow(
        observed_at=r.observed_at,
        recorded_at=r.recorded_at,
        source="manual" if r.source == "manual" else device_text(r),
        **shown,
        sedation=sedation,
        flags=flags,
        late=r.late,
        superseded=reading.superseded_by is not None,
        correction=correction,
        hr_from_pulse=reading.hr_from_pulse,
    )


_ROW_PARAMS = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c")


def _drug_name(ctx: AppContext, key: str) -> str:
    from nursestation.formulary import Formulary

    try:
        return Formulary.from_settings(ctx.settings).get(key).name
    except (DomainError, KeyError, ValueError):
        return key.replace("_", " ").capitalize()


def _infusion_record(
    ctx: AppContext,
    s: Session,
    row: InfusionSession,
    events: Sequence[infusion.InfusionEvent],
    generated_at: datetime,
    names: dict[int, str],
) -> NoteInfusionRecord | None:
    if not events:
        return None
    planned = planned_of(row)
    state = infusion.infusion_state(events, planned, generated_at, min_observation_min=0)
    users = [
        user_id
        for (user_id,) in s.execute(
            select(InfusionEvent.user_id)
            .where(InfusionEvent.session_id == row.id)
            .order_by(InfusionEvent.at, InfusionEvent.id)
        )
    ]
    conc = row.concentration_mg_per_ml
    rows: list[NoteInfusionEvent] = []
    rate = row.rate_mg_per_h
    for e, user_id in zip(events, users, strict=True):
        if e.kind in (infusion.START, infusion.RESUME, infusion.RATE_CHANGE) and e.rate_mg_per_h:
            rate = e.rate_mg_per_h
        running = e.kind in (infusion.START, infusion.RESUME, infusion.RATE_CHANGE)
        rows.append(
            NoteInfusionEvent(
                at=e.at,
                kind=_EVENT_LABELS.get(e.kind, e.kind),
                reason=e.reason or "",
                rate_ml_per_h=round(rate / conc, 1) if running and conc else None,
                by=names.get(user_id, ""),
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
    checklist = row.checklist or {}
    site = checklist.get("iv_site") or "not recorded"
    if checklist.get("iv_gauge"):
        site = f"{site}, {checklist['iv_gauge']} G"
    return NoteInfusionRecord(
        drug=_drug_name(ctx, "ketamine"),
        dose=DoseCalculation(
            weight_kg=row.weight_kg_used,
            dose_mg_per_kg=row.dose_mg_per_kg,
            total_mg=row.total_mg,
            concentration_mg_per_ml=row.concentration_mg_per_ml,
            volume_ml=row.volume_ml,
            duration_min=row.duration_min,
            rate_mg_per_h=row.rate_mg_per_h,
            rate_ml_per_h=row.rate_ml_per_h,
            weight_recorded_on=row.patient.weight_date,
        ),
        lot=row.ketamine_lot or "not recorded",
        expiry="not recorded",
        diluent="not recorded",
        site=str(site),
        events=tuple(rows),
        minutes_infused=round(state.infused_min, 1),
        delivered_mg=round(state.delivered_mg, 1),
    )


def _vitals_summary(v: VitalReading | None, tz: tzinfo) -> str:
    if v is None:
        return NONE_RECORDED
    parts = []
    if v.sbp is not None or v.dbp is not None:
        parts.append(f"BP {_num(v.sbp)}/{_num(v.dbp)}")
    for label, value, unit in (("HR", v.hr, ""), ("SpO2", v.spo2, " %"), ("RR", v.rr, "")):
        if value is not None:
            parts.append(f"{label} {_num(value)}{unit}")
    return f"{_hm(v.observed_at, tz)}: " + ", ".join(parts)


def _medications(
    ctx: AppContext, s: Session, session_id: int, tz: tzinfo, names: dict[int, str]
) -> tuple[MedicationRow, ...]:
    provided = _optional("nursestation.app.medications", "medications_for_note")
    if provided is not None:
        try:
            rows = tuple(provided(ctx, s, session_id))
        except TypeError:  # a different signature than expected: read the tables ourselves
            rows = None
        if rows is not None and all(isinstance(r, MedicationRow) for r in rows):
            return rows
    admins = s.execute(
        current_rows(MedicationAdministration, session_id).order_by(
            MedicationAdministration.given_at, MedicationAdministration.id
        )
    ).scalars()
    out: list[MedicationRow] = []
    for a in admins:  # a corrected dose shows as its correction; the original stays stored
        trigger = s.get(VitalReading, a.triggering_vital_id) if a.triggering_vital_id else None
        if trigger is None:
            trigger = s.execute(
                select(VitalReading)
                .where(
                    VitalReading.session_id == session_id, VitalReading.observed_at <= a.given_at
                )
                .order_by(VitalReading.observed_at.desc(), VitalReading.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        responses = s.execute(
            select(MedicationResponse)
            .where(MedicationResponse.administration_id.in_([a.id, a.supersedes_id or -1]))
            .order_by(MedicationResponse.at, MedicationResponse.id)
        ).scalars()
        texts = []
        for r in responses:
            vital = s.get(VitalReading, r.vital_id) if r.vital_id else None
            detail = r.text or ""
            if vital is not None:
                detail = f"{detail} ({_vitals_summary(vital, tz)})".strip()
            texts.append(f"{_hm(r.at, tz)} {r.measure}: {detail}".strip())
        indication = a.indication
        if a.supersedes_id is not None:
            indication += f" (corrected entry: {a.correction_reason or 'no reason given'})"
        out.append(
            MedicationRow(
                at=a.given_at,
                drug=_drug_name(ctx, a.drug),
                dose=a.dose,
                unit=a.unit,
                route=a.route,
                indication=indication + (f"; lot {a.lot}" if a.lot else ""),
                pre_vitals=_vitals_summary(trigger, tz),
                response="; ".join(texts) or "no reassessment recorded",
                nurse=names.get(a.given_by, ""),
                override_reason=a.soft_max_reason,
            )
        )
    return tuple(out)


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
    markers = [ChartMarker(minute(e.at), _EVENT_LABELS[e.kind]) for e in events if e.kind in marked]
    markers += [ChartMarker(minute(m.at), m.drug.lower()) for m in meds]
    return tuple(s for s in series if s.points), tuple(sorted(markers, key=lambda m: m.minute))


def _items_text(items: Any) -> str:
    """A readable one-line summary of an assessment's stored items (for kinds nobody else
    describes): scalars as "key value", nested structures flattened one level."""
    if not isinstance(items, dict) or not items:
        return ""
    parts = []
    for key, value in items.items():
        if isinstance(value, dict):
            value = _items_text(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value if not isinstance(v, dict | list))
        if value in (None, "", "None"):
            continue
        parts.append(f"{str(key).replace('_', ' ')} {value}")
    return "; ".join(parts)


def _discharge_data(ctx: AppContext, s: Session, session_id: int) -> Any:
    """The discharge service's note data when that service is installed, else None."""
    provided = _optional("nursestation.app.discharge", "discharge_for_note")
    return provided(ctx, s, session_id) if provided is not None else None


def _assessments(
    s: Session, session_id: int, discharge_data: Any, names: dict[int, str]
) -> tuple[AssessmentRow, ...]:
    views = {v.id: v for v in getattr(discharge_data, "assessments", ())}
    out = []
    for a in s.execute(
        select(Assessment)
        .where(Assessment.session_id == session_id)
        .order_by(Assessment.at, Assessment.id)
    ).scalars():
        view = views.get(a.id)
        by = names.get(a.by_user, "")
        if view is not None:
            scored = "; ".join(f"{i.label} {_num(i.score)}" for i in view.items)
            detail = " — ".join(p for p in (scored, view.detail) if p)
            out.append(AssessmentRow(a.at, view.name, view.score, f"{detail} ({by})"))
            continue
        detail = _items_text(a.items)
        out.append(
            AssessmentRow(
                at=a.at,
                scale=_SCALE_LABELS.get(a.kind, a.kind.replace("_", " ")),
                score=a.score,
                detail=f"{detail} ({by})" if detail else by,
            )
        )
    return tuple(out)


def _alarms(s: Session, session_id: int, names: dict[int, str], tz: tzinfo) -> tuple[AlarmRow, ...]:
    events = list(
        s.execute(
            select(AlarmEvent)
            .where(AlarmEvent.session_id == session_id)
            .order_by(AlarmEvent.at, AlarmEvent.id)
        ).scalars()
    )
    raised: dict[str, AlarmEvent] = {}
    acks: dict[str, AlarmEvent] = {}
    trail: dict[str, list[str]] = {}
    for e in events:
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
            trail.setdefault(e.alarm_key, []).append(f"{_hm(e.at, tz)} {text}")
    out = []
    for key, e in raised.items():
        ack = acks.get(key)
        out.append(
            AlarmRow(
                at=e.at,
                priority=e.priority,
                text=e.text,
                acknowledged_by=names.get(ack.user_id or 0, "unknown") if ack else None,
                acknowledged_at=ack.at if ack else None,
                response="; ".join(trail.get(key, [])),
            )
        )
    return tuple(out)


def _criteria_from_json(data: Any) -> tuple[CriterionRow, ...]:
    """Criteria as stored with the approval: a list, {"criteria": [...]}, or {id: {...}}."""
    if isinstance(data, dict) and "criteria" in data:
        data = data["criteria"]
    if isinstance(data, dict):
        data = [
            {"id": k, **v} if isinstance(v, dict) else {"id": k, "met": v} for k, v in data.items()
        ]
    out = []
    for c in data if isinstance(data, list) else []:
        if not isinstance(c, dict):
            continue
        text = c.get("label") or c.get("text") or str(c.get("id", "")).replace("_", " ")
        evidence = c.get("evidence") or c.get("reason") or ""
        if c.get("override"):
            evidence = f"{evidence} (overridden)".strip()
        out.append(CriterionRow(str(text), bool(c.get("met")), str(evidence)))
    return tuple(out)


def _discharge(
    ctx: AppContext,
    s: Session,
    row: InfusionSession,
    names: dict[int, str],
    data: Any,
) -> DischargeInfo | None:
    if data is not None:
        if not (data.assessments or data.overrides or data.approval):
            return None
        info = data.to_note_info() if hasattr(data, "to_note_info") else data
        if isinstance(info, DischargeInfo):
            return _with_checklist_override(info, row, names)
    from nursestation.discharge import SCALE_NAMES, SCALES

    score = s.execute(
        select(Assessment)
        .where(Assessment.session_id == row.id, Assessment.kind.in_(SCALES))
        .order_by(Assessment.at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    overrides = tuple(
        OverrideRow(o.criterion.replace("_", " "), o.reason, names.get(o.by_user, ""), o.at)
        for o in s.execute(
            select(DischargeOverride)
            .where(DischargeOverride.session_id == row.id)
            .order_by(DischargeOverride.at, DischargeOverride.id)
        ).scalars()
    )
    approval = s.execute(
        select(DischargeApproval).where(DischargeApproval.session_id == row.id)
    ).scalar_one_or_none()
    if score is None and not overrides and approval is None:
        return _with_checklist_override(None, row, names)
    items: list[DischargeItem] = []
    if score is not None and isinstance(score.items, dict):
        for key, value in score.items.items():
            detail = ""
            if isinstance(value, dict):
                detail = str(value.get("wording") or value.get("detail") or "")
                value = value.get("value", value.get("score", value.get("entered")))
            if isinstance(value, int | float) and not isinstance(value, bool):
                items.append(
                    DischargeItem(str(key).replace("_", " ").capitalize(), value, 2, detail)
                )
    checklist = row.checklist or {}
    escort = ", ".join(
        str(checklist[k]) for k in ("escort_name", "escort_phone") if checklist.get(k)
    )
    crit = _criteria_from_json(approval.criteria) if approval else ()
    info = DischargeInfo(
        scale_name=SCALE_NAMES.get(score.kind, score.kind) if score else NONE_RECORDED,
        assessed_at=score.at if score else None,
        items=tuple(items),
        criteria=crit,
        overrides=overrides,
        escort=escort,
        approved_by=names.get(approval.by_user, "") if approval else None,
        approved_at=approval.at if approval else None,
    )
    return _with_checklist_override(info, row, names)


def _with_checklist_override(
    info: DischargeInfo | None, row: InfusionSession, names: dict[int, str]
) -> DischargeInfo | None:
    """The start-checklist override belongs in the Overrides section too (it has no other home
    in the content model than the discharge overrides)."""
    if info is None or not row.checklist_override_reason or row.checklist_override_at is None:
        return info
    extra = OverrideRow(
        "Pre-infusion checklist hard stop",
        row.checklist_override_reason,
        names.get(row.checklist_override_by or 0, ""),
        row.checklist_override_at,
    )
    if any(o.reason == extra.reason and o.at == extra.at for o in info.overrides):
        return info
    from dataclasses import replace

    return replace(info, overrides=(extra, *info.overrides))


# ---------------------------------------------------------------- stored notes


def _latest_note(s: Session, session_id: int) -> Note | None:
    return s.execute(
        select(Note).where(Note.session_id == session_id).order_by(Note.version.desc()).limit(1)
    ).scalar_one_or_none()


def _latest_document(s: Session, note_id: int) -> NoteDocument | None:
    return s.execute(
        select(NoteDocument)
        .where(NoteDocument.note_id == note_id)
        .order_by(NoteDocument.seq.desc())
        .limit(1)
    ).scalar_one_or_none()


def _store_signed_document(
    s: Session,
    note: Note,
    seq: int,
    stage: str,
    pdf: bytes,
    actor: Actor,
    meaning: str,
    field_name: str,
    when: datetime,
) -> NoteDocument:
    """Insert the signed PDF bytes with their hash and the signature that produced them."""
    doc = NoteDocument(
        note_id=note.id,
        seq=seq,
        stage=stage,
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=when,
    )
    s.add(doc)
    s.flush()
    s.add(
        NoteSignature(
            document_id=doc.id,
            signer_id=actor.user_id,
            signer_name=actor.full_name,
            meaning=meaning,
            field_name=field_name,
            signed_at=when,
        )
    )
    s.flush()
    return doc


def has_signed_note(s: Session, session_id: int) -> bool:
    """True when any version of the session's note has been signed."""
    return (
        s.execute(
            select(NoteDocument.id)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(Note.session_id == session_id)
            .limit(1)
        ).first()
        is not None
    )


def _info(s: Session, note: Note) -> NoteInfo:
    doc = _latest_document(s, note.id)
    assert doc is not None, "a note row is always written with its signed document"
    sigs = list(
        s.execute(
            select(NoteSignature)
            .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
            .where(NoteDocument.note_id == note.id)
            .order_by(NoteSignature.signed_at, NoteSignature.id)
        ).scalars()
    )
    first = next(x for x in sigs if x.field_name == NURSE_FIELD)
    counter = next((x for x in sigs if x.field_name == CHARGE_FIELD), None)
    row = get_session_row(s, note.session_id)
    return NoteInfo(
        note_id=note.id,
        label=note_label(note.session_id),
        session_id=note.session_id,
        version=note.version,
        stage=doc.stage,
        document_id=doc.id,
        sha256=doc.sha256,
        signed_by=first.signer_name,
        signed_at=first.signed_at,
        countersigned_by=counter.signer_name if counter else None,
        countersigned_at=counter.signed_at if counter else None,
        supersedes_id=note.supersedes_id,
        addendum_reason=note.addendum_reason,
        addendum_text=note.addendum_text,
        file_name=file_name_for(
            row.checked_in_at.date(), row.patient.mrn, note.session_id, note.version
        ),
    )


def list_notes(ctx: AppContext, actor: Actor, session_id: int) -> list[NoteInfo]:
    """Every signed version of the session's note, oldest first."""
    ctx.require(actor, "view_note")
    with ctx.read_tx() as s:
        notes = s.execute(
            select(Note).where(Note.session_id == session_id).order_by(Note.version)
        ).scalars()
        return [_info(s, n) for n in notes]


def latest_note(ctx: AppContext, actor: Actor, session_id: int) -> NoteInfo | None:
    """The newest version of the session's note, or None before it is signed."""
    ctx.require(actor, "view_note")
    with ctx.read_tx() as s:
        note = _latest_note(s, session_id)
        return _info(s, note) if note else None


def note_pdf(ctx: AppContext, actor: Actor, note_id: int) -> bytes:
    """The latest signed bytes of one note version (audited: someone read a clinical record)."""
    ctx.require(actor, "view_note")
    with ctx.tx() as s:
        note = s.get(Note, note_id)
        doc = _latest_document(s, note_id) if note else None
        if doc is None:
            raise DomainError(NOT_FOUND, f"No signed note {note_id}.")
        ctx.audit(s, actor, "note.open", "note", note_id, after={"document": doc.id})
        return bytes(doc.pdf)


def preview_note(ctx: AppContext, actor: Actor, session_id: int) -> bytes:
    """The unsigned note as it would be signed now (for the preview; nothing is stored)."""
    ctx.require(actor, "view_session")
    from nursestation.report import worker

    with ctx.tx() as s:
        latest = _latest_note(s, session_id)
        content = build_note_content(
            ctx, s, session_id, ctx.now(), (latest.version + 1) if latest else 1,
            nurse=_first_signer(s, latest) if latest else actor.full_name,
        )  # fmt: skip
    return worker.render_pdf(content)  # another process: see _render_and_sign


def preview_text(ctx: AppContext, actor: Actor, session_id: int) -> str:
    """The note's text (for stations without pdftoppm): rendered, then extracted with pypdf."""
    from io import BytesIO

    from pypdf import PdfReader

    pdf = preview_note(ctx, actor, session_id)
    pages = PdfReader(BytesIO(pdf)).pages
    return "\n\n".join(f"— page {i} of {len(pages)} —\n{p.extract_text()}" for i, p in
                       enumerate(pages, start=1))  # fmt: skip


def _first_signer(s: Session, note: Note) -> str:
    """The nurse who signed version 1 (printed as the session's nurse on every version)."""
    first = note
    while first.supersedes_id is not None:
        prev = s.get(Note, first.supersedes_id)
        if prev is None:
            break
        first = prev
    name = s.execute(
        select(NoteSignature.signer_name)
        .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
        .where(NoteDocument.note_id == first.id, NoteSignature.field_name == NURSE_FIELD)
    ).scalar_one_or_none()
    return name or ""


# ---------------------------------------------------------------- signing


def _ca_pem(ctx: AppContext) -> bytes:
    from nursestation.report.pki import CA_CERT_FILE

    path = ctx.config.pki_dir / CA_CERT_FILE
    if not path.exists():
        raise DomainError(
            NOT_FOUND, f"No clinic CA certificate at {path}: run `nursestation check`."
        )
    return path.read_bytes()


def _credential(s: Session, actor: Actor) -> bytes:
    user = s.get(User, actor.user_id)
    if user is None or user.signing_credential is None:
        raise DomainError(
            NOT_PERMITTED,
            f"{actor.full_name} has no signing credential: an administrator must issue one.",
        )
    return bytes(user.signing_credential)


def _sign_check(row: InfusionSession, events: Sequence[infusion.InfusionEvent]) -> None:
    """A note documents a finished infusion (or a session that ended without one)."""
    status = infusion.infusion_status(events)
    if status in (infusion.RUNNING, infusion.PUMP_PAUSED):
        raise DomainError(
            INVALID_STATE, "The infusion is still running or paused: stop it before signing."
        )
    if status == infusion.NOT_STARTED and row.ended_at is None:
        raise DomainError(
            INVALID_STATE, "The infusion has not started: there is no session to document yet."
        )


def _store(
    ctx: AppContext,
    s: Session,
    actor: Actor,
    *,
    session_id: int,
    version: int,
    pdf: bytes,
    meaning: str,
    when: datetime,
    supersedes: Note | None = None,
    reason: str | None = None,
    text: str | None = None,
) -> Note:
    note = Note(
        session_id=session_id,
        version=version,
        supersedes_id=supersedes.id if supersedes else None,
        addendum_reason=reason,
        addendum_text=text,
        created_at=when,
        created_by=actor.user_id,
    )
    s.add(note)
    s.flush()
    doc = _store_signed_document(s, note, 1, STAGE_SIGNED, pdf, actor, meaning, NURSE_FIELD, when)
    ctx.audit(
        s,
        actor,
        "note.addendum" if supersedes else "note.sign",
        "note",
        note.id,
        after={
            "session_id": session_id,
            "version": version,
            "sha256": doc.sha256,
            "meaning": meaning,
            "supersedes_id": note.supersedes_id,
            "reason": reason,
        },
    )
    return note


def _render_and_sign(
    ctx: AppContext,
    content: NoteContent,
    p12: bytes,
    password: str,
    actor: Actor,
    meaning: str,
    record_state: str,
) -> bytes:
    # In the signing worker process: rendering and signing must not hold this process's
    # interpreter lock (the GUI's event loop) for seconds (issue 19).
    from nursestation.report import worker

    # The record state goes into the document before the nurse signs it, so approval can tell
    # whether anything was recorded after this version was signed.
    return worker.render_and_sign(
        content,
        NURSE_FIELD,
        p12,
        password,
        actor.full_name,
        meaning,
        _ca_pem(ctx),
        location=f"{content.clinic_name}, chair {content.header.chair}",
        record_state=record_state,
    )


_ATTEMPTS = 3


_RECORD_TABLES = (InfusionEvent, VitalReading, MedicationAdministration, Assessment, AlarmEvent,
                  DischargeOverride, DischargeApproval)  # fmt: skip


def _fingerprint(s: Session, session_id: int) -> dict[str, Any]:
    """Changes whenever anything the note prints is added or edited (rows are append-only, so
    count and highest id per table suffice; the session row carries a version counter)."""
    out: dict[str, Any] = {"infusion_sessions": get_session_row(s, session_id).version}
    for model in _RECORD_TABLES:
        count, top = s.execute(
            select(func.count(model.id), func.max(model.id)).where(model.session_id == session_id)
        ).one()
        out[model.__tablename__] = [count, top]
    count, top = s.execute(
        select(func.count(MedicationResponse.id), func.max(MedicationResponse.id))
        .join(MedicationAdministration)
        .where(MedicationAdministration.session_id == session_id)
    ).one()
    out[MedicationResponse.__tablename__] = [count, top]
    return out


def _record_state(fingerprint: dict[str, Any]) -> str:
    """The fingerprint as the text stored in the signed PDF (see report.signing.record_state)."""
    return json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))


# What a changed table means to a nurse, for the "recorded after signing" refusal.
_RECORD_WORDS = {
    "infusion_sessions": "session details (check-in, checklist or status)",
    "infusion_events": "infusion events",
    "vital_readings": "vital signs",
    "medication_administrations": "medications",
    "medication_responses": "medication responses",
    "assessments": "assessments",
    "alarm_events": "alarms or alarm acknowledgements",
    "discharge_overrides": "discharge overrides",
    "discharge_approvals": "discharge approval",
}


def sign_note(ctx: AppContext, actor: Actor, session_id: int, password: str) -> NoteInfo:
    """Sign the session note (version 1) as its documenting nurse: password re-asked, PDF
    rendered with both signature fields, NurseSignature signed "Documented by", rows stored."""
    ctx.require(actor, "sign_note")
    from nursestation.app.users import reauthenticate

    reauthenticate(ctx, actor, password)  # wrong password: bad_password, audited, kept
    # Rendering and signing take a few hundred ms: do them outside the write transaction, then
    # store only if the session's data did not change meanwhile (else render again).
    for _ in range(_ATTEMPTS):
        now = ctx.now()
        with ctx.tx() as s:
            row = get_session_row(s, session_id)
            _sign_check(row, events_of(s, session_id))
            if _latest_note(s, session_id) is not None:
                raise DomainError(
                    INVALID_STATE, "This note is already signed: corrections go in an addendum."
                )
            content = build_note_content(ctx, s, session_id, now, 1, nurse=actor.full_name)
            p12 = _credential(s, actor)
            seen = _fingerprint(s, session_id)
        signed = _render_and_sign(
            ctx, content, p12, password, actor, MEANING_DOCUMENTED, _record_state(seen)
        )
        with ctx.tx() as s:
            if _latest_note(s, session_id) is not None:
                raise DomainError(INVALID_STATE, "Someone signed this note a moment ago.")
            if _fingerprint(s, session_id) != seen:
                continue
            note = _store(
                ctx, s, actor, session_id=session_id, version=1, pdf=signed,
                meaning=MEANING_DOCUMENTED, when=now,
            )  # fmt: skip
            return _info(s, note)
    raise DomainError(INVALID_STATE, "The session kept changing while signing: try again.")


def _signed_by(s: Session, session_id: int, user_id: int) -> bool:
    """True when `user_id` signed any version of the session's note as its documenting nurse."""
    return (
        s.execute(
            select(NoteSignature.id)
            .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(
                Note.session_id == session_id,
                NoteSignature.field_name == NURSE_FIELD,
                NoteSignature.signer_id == user_id,
            )
            .limit(1)
        ).first()
        is not None
    )


def _refuse_self_approval(s: Session, session_id: int, actor: Actor) -> None:
    if _signed_by(s, session_id, actor.user_id):
        raise DomainError(
            SELF_APPROVAL,
            f"{actor.full_name} signed this session's note: another charge nurse must approve "
            "the discharge (nobody approves a note they signed themselves).",
        )


def require_approvable(ctx: AppContext, s: Session, session_id: int, actor: Actor) -> None:
    """Inside the approval transaction, before anything is written: the note is signed, its
    newest version is not yet countersigned, `actor` did not sign it, and nothing was recorded
    after that version was signed. Raises invalid_state, self_approval or note_stale."""
    note = _latest_note(s, session_id)
    doc = _latest_document(s, note.id) if note else None
    if note is None or doc is None:
        raise DomainError(
            INVALID_STATE, "The nurse must sign the session note before discharge approval."
        )
    if doc.stage == STAGE_COUNTERSIGNED:
        raise DomainError(INVALID_STATE, "This note version is already countersigned.")
    _refuse_self_approval(s, session_id, actor)
    from nursestation.report.signing import record_state

    stored = record_state(bytes(doc.pdf))
    now = _fingerprint(s, session_id)
    if stored == _record_state(now):
        return
    what = "; ".join(_stale_parts(stored, now)) or "the record state is unknown"
    raise DomainError(
        NOTE_STALE,
        f"Recorded after the nurse signed note version {note.version}: {what}. Approval needs "
        "a signed version that contains it: the nurse signs an addendum first.",
    )


def _stale_parts(stored: str | None, now: dict[str, Any]) -> list[str]:
    try:
        then = json.loads(stored) if stored else None
    except ValueError:
        then = None
    if not isinstance(then, dict):
        return ["the signed version predates record-state binding"]
    return [
        _RECORD_WORDS.get(key, key.replace("_", " "))
        for key, value in now.items()
        if then.get(key) != value
    ]


def approval_record_text(
    ctx: AppContext, actor: Actor, approved_at: datetime, note: Note, doc: NoteDocument
) -> str:
    """The words written into the note's approval record at approval: who, when, meaning, and
    which signed document it approves."""
    from nursestation.report.signing import format_signing_time

    roles = ", ".join(sorted(r.replace("_", " ") for r in actor.roles)) or "no role"
    return (
        f"{MEANING_APPROVED} by {actor.full_name} ({roles}; user {actor.username}) on "
        f"{format_signing_time(approved_at, display_tz_name(ctx))}. Meaning: reviewed the "
        f"session record and approved the patient for discharge. Approves note "
        f"{note_label(note.session_id)} version {note.version} as signed by the nurse "
        f"(SHA-256 {doc.sha256[:16]}…)."
    )


def countersign_for_approval(
    ctx: AppContext,
    s: Session,
    session_id: int,
    actor: Actor,
    password: str,
    approved_at: datetime,
) -> NoteInfo:
    """Inside the caller's approval transaction: the approval record (who, when, meaning) is
    written into the note's approval field, then the charge nurse's credential signs the field
    ChargeNurseSignature ("Approved for discharge") over both, as incremental updates of the
    latest signed document of the newest note version; stored as document seq n+1
    "countersigned". The caller has run `require_approvable` before writing anything."""
    ctx.require(actor, "approve_discharge")
    from nursestation.report.signing import fill_approval_record, has_approval_field
    from nursestation.report.worker import sign_pdf as pades_sign  # in the signing process

    note = _latest_note(s, session_id)
    doc = _latest_document(s, note.id) if note else None
    if note is None or doc is None:
        raise DomainError(
            INVALID_STATE,
            "The nurse has not signed the session note yet: it must be signed before approval.",
        )
    if doc.stage == STAGE_COUNTERSIGNED:
        raise DomainError(INVALID_STATE, "This note version is already countersigned.")
    _refuse_self_approval(s, session_id, actor)
    row = get_session_row(s, session_id)
    pdf = bytes(doc.pdf)
    if has_approval_field(pdf):  # notes signed before the field existed carry the stamp only
        pdf = fill_approval_record(pdf, approval_record_text(ctx, actor, approved_at, note, doc))
    countersigned = pades_sign(
        pdf,
        CHARGE_FIELD,
        _credential(s, actor),
        password,
        actor.full_name,
        MEANING_APPROVED,
        approved_at,
        _ca_pem(ctx),
        display_tz=display_tz_name(ctx),
        location=f"{ctx.settings.get('general.clinic_name')}, chair {row.chair}",
    )
    new = _store_signed_document(
        s,
        note,
        doc.seq + 1,
        STAGE_COUNTERSIGNED,
        countersigned,
        actor,
        MEANING_APPROVED,
        CHARGE_FIELD,
        approved_at,
    )
    ctx.audit(
        s,
        actor,
        "note.countersign",
        "note",
        note.id,
        after={"session_id": session_id, "version": note.version, "sha256": new.sha256},
    )
    return _info(s, note)


def _addendum_info(
    reason: str, text: str, previous: Note, actor: Actor, now: datetime, history: str
) -> AddendumInfo:
    """AddendumInfo has no field for the entry itself (yet): when it lacks one, the entry is
    printed in the banner after the reason."""
    names = {f.name for f in fields(AddendumInfo)}
    base: dict[str, Any] = {
        "supersedes_note_id": note_label(previous.session_id),
        "supersedes_version": previous.version,
        "entered_by": actor.full_name,
        "entered_at": now,
    }
    if "text" in names:
        return AddendumInfo(reason=reason, text=history + text, **base)  # type: ignore[call-arg]
    return AddendumInfo(reason=f"{reason}. Addendum: {history}{text}", **base)


def add_addendum(
    ctx: AppContext, actor: Actor, session_id: int, reason: str, text: str, password: str
) -> NoteInfo:
    """A late entry after signing: note version n+1 (superseding n), re-rendered with an addendum
    banner and the entry, signed again. Earlier versions stay as they were."""
    ctx.require(actor, "add_addendum")
    reason, text = (reason or "").strip(), (text or "").strip()
    if not reason:
        raise DomainError(BAD_INPUT, "An addendum needs a reason.", field="reason")
    if not text:
        raise DomainError(BAD_INPUT, "An addendum needs the text of the late entry.", field="text")
    from nursestation.app.users import reauthenticate

    reauthenticate(ctx, actor, password)
    for _ in range(_ATTEMPTS):
        now = ctx.now()
        with ctx.tx() as s:
            previous = _latest_note(s, session_id)
            if previous is None:
                raise DomainError(
                    INVALID_STATE, "The note is not signed yet: sign it instead of an addendum."
                )
            prev_id, version = previous.id, previous.version + 1
            content = _addendum_content(ctx, s, session_id, previous, actor, reason, text, now)
            p12 = _credential(s, actor)
            seen = _fingerprint(s, session_id)
        signed = _render_and_sign(
            ctx, content, p12, password, actor, MEANING_ADDENDUM, _record_state(seen)
        )
        with ctx.tx() as s:
            previous = _latest_note(s, session_id)
            assert previous is not None
            if previous.id != prev_id:
                continue
            if _fingerprint(s, session_id) != seen:
                continue
            note = _store(
                ctx, s, actor, session_id=session_id, version=version, pdf=signed,
                meaning=MEANING_ADDENDUM, when=now, supersedes=previous, reason=reason, text=text,
            )  # fmt: skip
            return _info(s, note)
    raise DomainError(INVALID_STATE, "The session kept changing while signing: try again.")


def _addendum_content(
    ctx: AppContext,
    s: Session,
    session_id: int,
    previous: Note,
    actor: Actor,
    reason: str,
    text: str,
    now: datetime,
) -> NoteContent:
    tz = _zone(display_tz_name(ctx))
    # Earlier addenda are re-printed so the newest version carries every late entry.
    chain: list[Note] = []
    n: Note | None = previous
    while n is not None and n.addendum_text:
        chain.append(n)
        n = s.get(Note, n.supersedes_id) if n.supersedes_id else None
    names = _names(s)
    history = "".join(
        f"[v{p.version}, {p.created_at.astimezone(tz):%Y-%m-%d %H:%M}, "
        f"{names.get(p.created_by, '')}: {p.addendum_reason} — {p.addendum_text}] "
        for p in reversed(chain)
    )
    slots = (
        SignatureSlot(NURSE_FIELD, "Addendum documented by", "Late entry, entered and signed"),
        _charge_slot_for_addendum(s, previous),
    )
    return build_note_content(
        ctx, s, session_id, now, previous.version + 1,
        nurse=_first_signer(s, previous),
        addendum=_addendum_info(reason, text, previous, actor, now, history),
        signature_slots=slots,
    )  # fmt: skip


def _charge_slot_for_addendum(s: Session, previous: Note) -> SignatureSlot:
    """If an earlier version carries the approval signature, say so in the (empty) box label."""
    signed = s.execute(
        select(Note.version)
        .join(NoteDocument, NoteDocument.note_id == Note.id)
        .where(Note.session_id == previous.session_id, NoteDocument.stage == STAGE_COUNTERSIGNED)
        .order_by(Note.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if signed is None:
        return CHARGE_SLOT
    return SignatureSlot(
        CHARGE_FIELD, CHARGE_SLOT.role, f"Countersigned on version {signed} (kept unchanged)"
    )


# ---------------------------------------------------------------- verification


def verify_note(ctx: AppContext, actor: Actor, note_id: int) -> NoteCheck:
    """Check the stored latest document of a note: its hash and every signature vs the CA."""
    ctx.require(actor, "verify_note")
    from nursestation.report.worker import verify_pdf  # in the signing process (pyHanko)

    with ctx.tx() as s:
        note = s.get(Note, note_id)
        doc = _latest_document(s, note_id) if note else None
        if note is None or doc is None:
            raise DomainError(NOT_FOUND, f"No signed note {note_id}.")
        pdf, sha, version = bytes(doc.pdf), doc.sha256, note.version
    result = verify_pdf(pdf, _ca_pem(ctx))
    lines = [_signature_line(c) for c in result.signatures]
    hash_ok = hashlib.sha256(pdf).hexdigest() == sha
    if not hash_ok:
        lines.append("stored SHA-256 does not match the stored bytes")
    if result.error:
        lines.append(result.error)
    return NoteCheck(note_id, version, result.ok and hash_ok, tuple(lines))


def _signature_line(c: Any) -> str:
    when = c.signing_time.isoformat(timespec="seconds") if c.signing_time else "time unknown"
    verdict = "OK" if c.bottom_line else "FAILED"
    state = "intact" if c.intact else "NOT intact"
    trust = "trusted" if c.trusted else "NOT trusted"
    extra = f" — {c.problem}" if c.problem else ""
    return (
        f"{verdict} {c.field_name}: {c.signer_name or 'unknown signer'}, "
        f"\u201c{c.meaning}\u201d, {when}; {state}, {trust}{extra}"
    )


def _stored_lookup(config: StationConfig) -> tuple[Any, str]:
    """An engine on the station database for hash look-ups, without creating or migrating it."""
    from sqlalchemy.exc import SQLAlchemyError

    from nursestation.db.engine import make_engine

    path = config.sqlite_path
    if path is not None and not path.exists():
        return None, f"no database at {path}: stored-note comparison skipped"
    try:
        engine = make_engine(config.db_url)
        with engine.connect() as conn:
            conn.execute(select(func.count(NoteDocument.id))).scalar_one()
        return engine, ""
    except SQLAlchemyError as exc:
        return None, f"database not readable ({type(exc).__name__}): stored-note comparison skipped"


def _compare_stored(engine: Any, data: bytes, sha: str) -> tuple[bool, str]:
    """(ok, text) comparing a file with the stored note documents."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    with Session(engine) as s:
        hit = s.execute(
            select(NoteDocument, Note)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(NoteDocument.sha256 == sha)
        ).first()
        if hit is not None:
            doc, note = hit
            latest = _latest_document(s, note.id)
            later = (
                ""
                if latest is None or latest.id == doc.id
                else f"; a later {latest.stage} document exists"
            )
            return True, (
                f"matches stored note {note_label(note.session_id)} version {note.version} "
                f"({doc.stage}){later}"
            )
        title = ""
        try:
            from io import BytesIO

            info = PdfFileReader(BytesIO(data), strict=False).trailer_view.get("/Info")
            title = str(info.get_object().get("/Title", "")) if info is not None else ""
        except Exception:  # an unreadable /Info only means we cannot name the note
            title = ""
        m = _LABEL_RE.search(title)
        if m:
            named = s.execute(
                select(Note).where(Note.session_id == int(m[1]), Note.version == int(m[2]))
            ).scalar_one_or_none()
            if named is not None:
                return False, (
                    f"DIFFERS from stored note {note_label(named.session_id)} version "
                    f"{named.version}: the file is not the signed document the station keeps"
                )
    return True, "no stored note with this SHA-256 in this station's database"


def verify_files(
    config: StationConfig, files: Iterable[str], ca_path: str | None, out: TextIO
) -> int:
    """`nursestation verify`: one line per signature; 0 only if every signature is intact and
    trusted by the clinic CA (and no file differs from the note stored for it); 2 if a file or
    the CA cannot be read."""
    import sys

    from nursestation.report.pki import CA_CERT_FILE
    from nursestation.report.verify import verify_pdf

    ca_file = Path(ca_path) if ca_path else config.pki_dir / CA_CERT_FILE
    try:
        ca = ca_file.read_bytes()
    except OSError as exc:
        print(f"nursestation: cannot read the clinic CA {ca_file}: {exc.strerror}", file=sys.stderr)
        return 2
    engine, db_note = _stored_lookup(config)
    worst = 0
    try:
        for name in files:
            try:
                data = Path(name).read_bytes()
            except OSError as exc:
                print(f"{name}: cannot read: {exc.strerror}", file=out)
                worst = 2
                continue
            result = verify_pdf(data, ca)
            if result.error:
                print(f"{name}: UNREADABLE: {result.error}", file=out)
                worst = 2
                continue
            if not result.signatures:
                print(f"{name}: FAILED: no signatures", file=out)
                worst = max(worst, 1)
                continue
            sha = hashlib.sha256(data).hexdigest()
            for c in result.signatures:
                print(f"{name}: {_signature_line(c)}", file=out)
            stored_ok, stored = (
                (True, db_note) if engine is None else _compare_stored(engine, data, sha)
            )
            print(f"{name}: sha256 {sha[:16]}… {stored}", file=out)
            ok = result.ok and stored_ok
            print(f"{name}: {'VERIFIED' if ok else 'FAILED'}", file=out)
            if not ok:
                worst = max(worst, 1)
    finally:
        if engine is not None:
            engine.dispose()
    return worst
