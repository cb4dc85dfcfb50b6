"""The CSV row and the FHIR R4 Bundle of one session: pure functions of its SessionRecord
(nursestation.record) and of the export's checks of its signed notes (issue 14).

FHIR resources are built as plain JSON dicts following the R4B models of fhir.resources (FHIR
4.3.0, wire-compatible with R4 4.0.1 for the resources used here); the tests validate every
Bundle the export writes against those models (tests/app/test_export.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol

from nursestation import infusion
from nursestation.note_content import CHARGE_SLOT, OutcomeRow
from nursestation.outcome_scales import NAMES as SCALE_NAMES
from nursestation.outcome_scales import OutcomeSettings, risk_text, timepoint_label
from nursestation.record import NoteVersionRecord, OutcomeRecord, SessionRecord, heart_rate
from nursestation.report.note_build import SAFETY_KIND_LABELS, outcome_rows, safety_flag
from nursestation.wording import (
    indication_label,
    iso_seconds,
    note_label,
    protocol_text,
)
from nursestation.wording import num_digits as _num

NOT_TREATED = "not_treated"
DISCHARGED = "discharged"
COUNTERSIGNED = "countersigned"

# CSV/formula injection (OWASP "CSV Injection"): a cell starting with one of these is prefixed
# with an apostrophe so a spreadsheet shows it as text instead of evaluating it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# FHIR code systems and LOINC codes (FHIR R4 vital-signs value set, hl7.org/fhir/R4/
# valueset-observation-vitalsignresult.html; SpO2 59408-5 with 2708-6 as in the US Core pulse
# oximetry profile; MAP 8478-0 and EtCO2 19889-5 from LOINC).
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = (
    ("sbp", "8480-6", "Systolic blood pressure"),
    ("dbp", "8462-4", "Diastolic blood pressure"),
    ("map", "8478-0", "Mean blood pressure"),
)
# column -> (codings, unit text, UCUM code)
VITAL_CODES: dict[str, tuple[tuple[tuple[str, str], ...], str, str]] = {
    "hr": ((("8867-4", "Heart rate"),), "beats/minute", "/min"),
    "spo2": (
        (
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            ("2708-6", "Oxygen saturation in Arterial blood"),
        ),
        "%",
        "%",
    ),
    "rr": ((("9279-1", "Respiratory rate"),), "breaths/minute", "/min"),
    "temp_c": ((("8310-5", "Body temperature"),), "C", "Cel"),
    "etco2": (
        (("19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration"),),
        "mmHg",
        "mm[Hg]",
    ),
}
_UCUM_UNITS = {"mg": "mg", "mcg": "ug", "ug": "ug", "g": "g", "mL": "mL", "ml": "mL"}
_GENDER = {"female": "female", "male": "male", "other": "other", "intersex": "other"}
_ID_SYSTEM = "urn:nursestation"

CSV_COLUMNS: tuple[str, ...] = (
    "session_id",
    "note",
    "session_date",
    "patient_name",
    "mrn",
    "date_of_birth",
    "chair",
    "session_number",
    "protocol",
    "checked_in_at",
    "infusion_started_at",
    "infusion_stopped_at",
    "minutes_infused",
    "mg_delivered",
    "mg_planned",
    "ketamine_lot",
    "medications_given",
    "discharge_time",
    "approved_by",
    "signers",
    "status",
    "note_versions",
    "note_sha256",
    "verification",
    # issue 16: the session's outcome measures and the suicide-risk screen (empty when none)
    "outcome_scores",
    "safety_flag",
)


class NoteCheck(Protocol):
    """What the export found checking one signed note version (app.export.ExportedNote)."""

    @property
    def verified(self) -> bool: ...
    @property
    def problems(self) -> tuple[str, ...]: ...
    @property
    def file(self) -> str | None: ...


@dataclass(frozen=True)
class ExportInputs:
    """The export's facts about one session besides its record: the clinic display zone, the
    session's local date, drug display names, the time the state is computed at, and the
    checks of each signed version (by note id)."""

    tz: tzinfo
    local_date: date
    drug_name: Callable[[str], str]
    now: datetime
    checks: Mapping[int, NoteCheck]
    scales: OutcomeSettings | None = None  # the clinic's scales: LOINC codes, maxima, course


def csv_cell(value: Any) -> str:
    """Text for one CSV cell; formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _state(rec: SessionRecord, now: datetime) -> infusion.InfusionState:
    o = rec.order
    return infusion.infusion_state(
        rec.pump_events,
        o.planned,
        now,
        min_observation_min=0,  # the export prints the pump's times and amounts only
        discharged=o.end_reason == DISCHARGED,
        not_treated=o.end_reason == NOT_TREATED,
    )


def _protocol(rec: SessionRecord) -> str:
    o = rec.order
    return protocol_text(
        o.session_type,
        o.dose_mg_per_kg,
        o.duration_min,
        o.concentration_mg_per_ml,
        sep="",
        total_mg=o.total_mg,
    )


def _given(rec: SessionRecord, st: infusion.InfusionState) -> list[str]:
    """infused_min, delivered_mg, ordered_mg and lot: a Spravato session has no infusion, so
    its delivered mg are its devices and its lots theirs (issue 17)."""
    o = rec.order
    if rec.order.session_type == "spravato":
        given = sum(d.mg for d in rec.spravato_devices)
        lots = "; ".join(dict.fromkeys(d.lot for d in rec.spravato_devices))
        return ["", _num(given, 2), _num(o.total_mg, 2), lots]
    return [_num(st.infused_min, 1), _num(st.delivered_mg, 2), _num(o.total_mg, 2),
            o.ketamine_lot or ""]  # fmt: skip


def _approved(versions: tuple[NoteVersionRecord, ...]) -> bool:
    return any(v.stage == COUNTERSIGNED for v in versions)


# ---------------------------------------------------------------- CSV


def csv_row(rec: SessionRecord, x: ExportInputs) -> list[str]:
    """The session's row of sessions.csv (CSV_COLUMNS), cells already formula-safe."""
    o, p, tz = rec.order, rec.patient, x.tz
    st = _state(rec, x.now)
    meds = "; ".join(
        f"{x.drug_name(m.drug)} {_num(m.dose)} {m.unit} {m.route} "
        f"({indication_label(m.indication)}) at {m.given_at.astimezone(tz):%H:%M}"
        for m in rec.current_medications
    )
    versions = rec.notes
    signers = "; ".join(
        f"{sig.signer_name}: {sig.meaning} (v{v.version}, {sig.signed_at.astimezone(tz):%Y-%m-%d %H:%M})"
        for v in versions
        for sig in v.signatures
    )
    latest = versions[-1]
    status = ["approved" if _approved(versions) else "signed"]
    if any(v.version > 1 for v in versions):
        status.append("addended")
    if o.end_reason == NOT_TREATED:  # ended without any drug given: say so with the reason
        status.append(f"NOT TREATED: {o.end_detail or 'no reason recorded'}")
    failed = [f"v{v.version}" for v in versions if not x.checks[v.note_id].verified]
    discharge = o.ended_at if o.end_reason == DISCHARGED else None
    approval = rec.approval
    values: list[Any] = [
        rec.session_id,
        note_label(rec.session_id),
        x.local_date.isoformat(),
        p.name,
        p.mrn,
        p.dob.isoformat(),
        o.chair,
        o.session_number,
        _protocol(rec),
        iso_seconds(o.checked_in_at, tz),
        iso_seconds(st.started_at, tz),
        iso_seconds(st.stopped_at, tz),
        *_given(rec, st),
        meds,
        iso_seconds(discharge or (approval.at if approval else None), tz),
        rec.name(approval.by_user) if approval else "",
        signers,
        ", ".join(status),
        ", ".join(f"v{v.version}" for v in versions),
        latest.sha256,
        f"FAILED: {', '.join(failed)}" if failed else "verified",
        "; ".join(_outcome_cell(o) for o in outcome_rows(rec, x.scales)),
        safety_flag(rec, tz) or "",
    ]
    return [csv_cell(v) for v in values]


def _outcome_cell(o: OutcomeRow) -> str:
    text = f"{o.scale} {o.timepoint} {o.score}"
    if o.course:
        text += f" [{o.course}]"
    return text + (f" POSITIVE: {o.safety}" if o.safety else "")


# ---------------------------------------------------------------- FHIR


class FhirIds:
    """Stable resource ids: UUIDv5 under a namespace derived from the clinic CA."""

    def __init__(self, ca: bytes) -> None:
        self.ns = uuid.uuid5(uuid.NAMESPACE_URL, "urn:nursestation:" + hashlib.sha256(ca)
                             .hexdigest())  # fmt: skip

    def __call__(self, kind: str, key: object) -> str:
        return str(uuid.uuid5(self.ns, f"{kind}/{key}"))


def _ref(rid: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": f"urn:uuid:{rid}"}
    if display:
        out["display"] = display
    return out


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _quantity(value: float, unit: str, code: str | None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": float(value), "unit": unit}
    if code:
        q.update(system=UCUM, code=code)
    return q


def _patient_resource(rec: SessionRecord, pid: str) -> dict[str, Any]:
    p = rec.patient
    name: dict[str, Any] = {"text": p.name}
    family, _, given = p.name.partition(",")
    if given.strip():
        name.update(family=family.strip(), given=given.split())
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": f"{_ID_SYSTEM}:mrn", "value": p.mrn}],
        "name": [name],
        "gender": _GENDER.get((p.sex or "").lower(), "unknown"),
        "birthDate": p.dob.isoformat(),
    }


def _encounter_status(rec: SessionRecord) -> str:
    # FHIR R4 Encounter.status: a session ended without treatment is "cancelled"
    if rec.order.end_reason == NOT_TREATED:
        return "cancelled"
    return "finished" if rec.order.ended_at is not None else "in-progress"


def _not_treated_type(rec: SessionRecord) -> list[dict[str, Any]]:
    if rec.order.end_reason != NOT_TREATED:
        return []
    return [{"text": f"NOT TREATED: {rec.order.end_detail or 'no reason recorded'}"}]


def _vital_observations(
    rec: SessionRecord, ids: FhirIds, pid: str, eid: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    category = [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs",
                             "display": "Vital Signs"}]}]  # fmt: skip
    for r in rec.current_vitals:
        base: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "amended" if r.supersedes_id else "final",
            "category": category,
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "effectiveDateTime": _utc(r.observed_at),
            "issued": _utc(r.recorded_at),
        }
        if r.source == "manual" and r.entered_by:
            base["performer"] = [{"display": rec.name(r.entered_by)}]
        if r.source != "manual":
            label = " ".join(x for x in (r.device_protocol, r.device_id) if x) or "monitor"
            base["device"] = {"display": label}
        parts = [(col, code, text) for col, code, text in BP_PARTS if getattr(r, col) is not None]
        if parts:
            out.append({
                **base,
                "id": ids("obs", f"{r.id}/bp"),
                "code": {"coding": [{"system": LOINC, "code": BP_PANEL[0],
                                     "display": BP_PANEL[1]}], "text": "Blood pressure"},
                "component": [
                    {"code": {"coding": [{"system": LOINC, "code": code, "display": text}]},
                     "valueQuantity": _quantity(getattr(r, col), "mmHg", "mm[Hg]")}
                    for col, code, text in parts
                ],
            })  # fmt: skip
        hr = heart_rate(r)
        values = {"hr": hr.value if hr else None, "spo2": r.spo2, "rr": r.rr,
                  "temp_c": r.temp_c, "etco2": r.etco2}  # fmt: skip
        for col, value in values.items():
            if value is None:
                continue
            codings, unit, ucum = VITAL_CODES[col]
            out.append({
                **base,
                "id": ids("obs", f"{r.id}/{col}"),
                "code": {"coding": [{"system": LOINC, "code": c, "display": t}
                                    for c, t in codings], "text": codings[0][1]},
                "valueQuantity": _quantity(value, unit, ucum),
            })  # fmt: skip
    return out


def _medication_resources(
    rec: SessionRecord, st: infusion.InfusionState, ids: FhirIds, pid: str, eid: str,
    drug: Callable[[str], str],
) -> list[dict[str, Any]]:  # fmt: skip
    o = rec.order
    out: list[dict[str, Any]] = []
    if o.session_type == "spravato":  # one administration per nasal device (issue 17)
        out += [
            {
                "resourceType": "MedicationAdministration",
                "id": ids("spravato", f"{rec.session_id}-{d.number}"),
                "status": "completed",
                "medicationCodeableConcept": {"text": "Esketamine (SPRAVATO) nasal spray"},
                "subject": _ref(pid),
                "context": _ref(eid),
                "effectiveDateTime": _utc(d.at),
                "performer": [{"actor": {"display": rec.name(d.by_user)}}],
                "dosage": {
                    "text": f"device {d.number}: {d.mg} mg intranasal",
                    "route": {"text": "intranasal"},
                    "dose": _quantity(d.mg, "mg", "mg"),
                },
                "note": [{"text": f"Lot {d.lot}"}],
            }
            for d in rec.spravato_devices
        ]
    elif st.started_at is not None:
        period: dict[str, Any] = {"start": _utc(st.started_at)}
        if st.stopped_at is not None:
            period["end"] = _utc(st.stopped_at)
        dosage: dict[str, Any] = {
            "text": f"{_protocol(rec)}; {_num(st.delivered_mg)} mg delivered over "
                    f"{_num(st.infused_min, 1)} min",
            "route": {"text": "IV"},
            "dose": _quantity(round(st.delivered_mg, 2), "mg", "mg"),
            "rateQuantity": _quantity(o.rate_mg_per_h, "mg/h", "mg/h"),
        }  # fmt: skip
        ket: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "id": ids("ketamine", rec.session_id),
            "status": "completed" if st.stopped_at is not None else "in-progress",
            "medicationCodeableConcept": {"text": "Ketamine (IV infusion)"},
            "subject": _ref(pid),
            "context": _ref(eid),
            "effectivePeriod": period,
            "dosage": dosage,
        }
        if o.ketamine_lot:
            ket["note"] = [{"text": f"Lot {o.ketamine_lot}"}]
        out.append(ket)
    for m in rec.current_medications:
        unit_code = _UCUM_UNITS.get(m.unit)
        res: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "id": ids("med", m.id),
            "status": "completed",
            "medicationCodeableConcept": {"text": drug(m.drug)},
            "subject": _ref(pid),
            "context": _ref(eid),
            "effectiveDateTime": _utc(m.given_at),
            "performer": [{"actor": {"display": rec.name(m.given_by)}}],
            "reasonCode": [{"text": indication_label(m.indication)}],
            "dosage": {"route": {"text": m.route},
                       "dose": _quantity(m.dose, m.unit, unit_code)},
        }  # fmt: skip
        notes = [t for t in (m.soft_max_reason, m.note) if t]
        if m.lot:
            notes.append(f"Lot {m.lot}")
        if notes:
            res["note"] = [{"text": t} for t in notes]
        out.append(res)
    return out


def _procedure(
    rec: SessionRecord, st: infusion.InfusionState, ids: FhirIds, pid: str, eid: str
) -> dict[str, Any] | None:
    if st.started_at is None:
        return None
    period: dict[str, Any] = {"start": _utc(st.started_at)}
    if st.stopped_at is not None:
        period["end"] = _utc(st.stopped_at)
    if rec.order.session_type == "spravato":
        given = sum(d.mg for d in rec.spravato_devices)
        return {
            "resourceType": "Procedure",
            "id": ids("procedure", rec.session_id),
            "status": "completed",
            "code": {"text": "SPRAVATO (esketamine) administration and REMS monitoring"},
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "performedDateTime": _utc(st.started_at),
            "performer": [{"actor": {"display": rec.name(rec.order.checked_in_by)}}],
            "note": [{"text": f"{len(rec.spravato_devices)} device(s), {given} mg given of "
                              f"{_num(rec.order.total_mg)} mg ordered"}],
        }  # fmt: skip
    return {
        "resourceType": "Procedure",
        "id": ids("procedure", rec.session_id),
        "status": "completed" if st.stopped_at is not None else "in-progress",
        "code": {"text": "Intravenous ketamine infusion"},
        "subject": _ref(pid),
        "encounter": _ref(eid),
        "performedPeriod": period,
        "performer": [{"actor": {"display": rec.name(rec.order.checked_in_by)}}],
        "note": [{"text": f"{_num(st.infused_min, 1)} min infused, {_num(st.delivered_mg)} mg "
                          f"delivered of {_num(rec.order.total_mg)} mg planned; "
                          f"{st.pause_count} pause(s)"}],
    }  # fmt: skip


LOCAL_SCALE = f"{_ID_SYSTEM}:scale"  # local codes where no LOINC code was confirmed
SURVEY = [{"coding": [{"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}]}]


def _scale_code(o: OutcomeRecord, x: ExportInputs) -> dict[str, Any]:
    """The total's code: LOINC where the clinic data names one (PHQ-9 44261-6, GAD-7 70274-6),
    else a local code; the text names the scale either way."""
    name = SCALE_NAMES.get(o.scale, o.scale)
    d = x.scales.scales.get(o.scale) if x.scales is not None else None
    what = f"{name} total score" if o.total is not None else f"{name} risk level"
    if d is not None and d.loinc_total:
        coding = {"system": LOINC, "code": d.loinc_total, "display": what}
    else:
        coding = {"system": LOCAL_SCALE, "code": f"{o.scale}-total", "display": what}
    return {"coding": [coding], "text": what}


def _questionnaire_response(
    rec: SessionRecord, x: ExportInputs, o: OutcomeRecord, qid: str, pid: str, eid: str
) -> dict[str, Any]:
    d = x.scales.scales.get(o.scale) if x.scales is not None else None
    items = []
    for n, v in enumerate(o.answers, 1):
        if v is None:
            continue  # a question not asked (C-SSRS Q3-Q5 after a no to Q2)
        item: dict[str, Any] = {"linkId": str(n)}
        if d is not None:
            item["text"] = (
                d.item_label(n) if d.texts_embedded or o.scale == "cssrs" else f"Item {n}"
            )
        answer = {"valueBoolean": bool(v)} if o.scale == "cssrs" else {"valueInteger": int(v)}
        item["answer"] = [answer]
        items.append(item)
    res: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "status": "amended" if o.supersedes_id else "completed",
        "subject": _ref(pid),
        "encounter": _ref(eid),
        "authored": _utc(o.at),
        "author": {"display": rec.name(o.entered_by)},
        "source": _ref(pid) if o.administered == "self_report" else None,
        "item": items,
    }
    if d is not None and d.loinc_panel:
        res["identifier"] = {"system": LOINC, "value": d.loinc_panel}
    return res


def _session_scale_resources(
    rec: SessionRecord, x: ExportInputs, ids: FhirIds, pid: str, eid: str
) -> list[dict[str, Any]]:
    """CADSS and MOAA/S taken at a clinic-set timepoint (issue 16: stored as session
    assessments with their timepoint): the items as a QuestionnaireResponse and the total as an
    Observation with a local code (no LOINC code was found for either)."""
    out: list[dict[str, Any]] = []
    for a in rec.assessments:
        tp = a.items.get("timepoint")
        if a.kind not in ("cadss", "moaas") or not tp or a.score is None:
            continue
        answers = list(a.items.get("items") or ()) if a.kind == "cadss" else [int(a.score)]
        name = SCALE_NAMES.get(a.kind, a.kind)
        qid = ids("questionnaire-response", f"assessment/{a.id}")
        out.append({
            "resourceType": "QuestionnaireResponse",
            "id": qid,
            "status": "completed",
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "authored": _utc(a.at),
            "author": {"display": rec.name(a.by_user)},
            "item": [{"linkId": str(n), "text": f"Item {n}" if a.kind == "cadss" else name,
                      "answer": [{"valueInteger": int(v)}]} for n, v in enumerate(answers, 1)],
        })  # fmt: skip
        out.append({
            "resourceType": "Observation",
            "id": ids("outcome", f"assessment/{a.id}"),
            "status": "final",
            "category": SURVEY,
            "code": {"coding": [{"system": LOCAL_SCALE, "code": f"{a.kind}-total",
                                 "display": f"{name} total score"}], "text": f"{name} total score"},
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "effectiveDateTime": _utc(a.at),
            "performer": [{"display": rec.name(a.by_user)}],
            "valueInteger": int(a.score),
            "derivedFrom": [_ref(qid)],
            "note": [{"text": f"timepoint: {timepoint_label(str(tp))}"},
                     *([{"text": str(a.items["text"])}] if a.items.get("text") else [])],
        })  # fmt: skip
    return out


def _outcome_resources(
    rec: SessionRecord, x: ExportInputs, ids: FhirIds, pid: str, eid: str
) -> list[dict[str, Any]]:
    """Each outcome measure as a QuestionnaireResponse (the items) and an Observation (the
    total with its LOINC code, or the screen's risk level), and a positive suicide-risk screen
    as a Flag with the safety assessments as Observations."""
    out: list[dict[str, Any]] = []
    for o in rec.current_outcomes:
        qid = ids("questionnaire-response", o.id)
        out.append(_questionnaire_response(rec, x, o, qid, pid, eid))
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": ids("outcome", o.id),
            "status": "amended" if o.supersedes_id else "final",
            "category": SURVEY,
            "code": _scale_code(o, x),
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "effectiveDateTime": _utc(o.at),
            "performer": [{"display": rec.name(o.entered_by)}],
            "derivedFrom": [_ref(qid)],
            "note": [{"text": f"timepoint: {timepoint_label(o.timepoint)}"}],
        }
        if o.total is not None:
            obs["valueInteger"] = o.total
            if o.band:
                obs["interpretation"] = [{"text": o.band}]
        else:
            obs["valueCodeableConcept"] = {"text": risk_text(o.band)}
        if o.safety_positive:
            obs["note"].append({"text": f"POSITIVE suicide-risk screen: {o.safety_reason}"})
        out.append(obs)
    out += _session_scale_resources(rec, x, ids, pid, eid)
    positive = rec.safety_positive
    if positive:
        flag_text = safety_flag(rec, x.tz) or ""
        out.append({
            "resourceType": "Flag",
            "id": ids("safety-flag", rec.session_id),
            "status": "active" if rec.order.ended_at is None else "inactive",
            "category": [{"text": "Suicide risk"}],
            "code": {"text": flag_text},
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "period": {"start": _utc(positive[0].at)},
        })  # fmt: skip
    for a in rec.safety:
        out.append({
            "resourceType": "Observation",
            "id": ids("safety-assessment", a.id),
            "status": "final",
            "category": SURVEY,
            "code": {"coding": [{"system": LOCAL_SCALE, "code": a.kind,
                                 "display": SAFETY_KIND_LABELS.get(a.kind, a.kind)}],
                     "text": SAFETY_KIND_LABELS.get(a.kind, a.kind)},
            "subject": _ref(pid),
            "encounter": _ref(eid),
            "effectiveDateTime": _utc(a.at),
            "performer": [{"display": rec.name(a.by_user)}],
            "valueString": f"Assessment: {a.assessment} Plan: {a.plan} "
                           f"Decision: {'proceed' if a.proceed else 'do not proceed'}.",
        })  # fmt: skip
    return out


def _document_references(
    rec: SessionRecord,
    x: ExportInputs,
    ids: FhirIds,
    pid: str,
    eid: str,
    with_pdf: bool,
    pdf_sha1: Mapping[int, str],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    versions = rec.notes
    newest = max(v.version for v in versions)
    by_note = {v.note_id: v for v in versions}
    charge = CHARGE_SLOT.field_name
    for v in versions:
        chk = x.checks[v.note_id]
        attachment: dict[str, Any] = {
            "contentType": "application/pdf",
            "size": v.size,
            "hash": pdf_sha1[v.note_id],
            "title": f"Session note {note_label(rec.session_id)} v{v.version}",
            "creation": _utc(v.created_at),
        }
        if with_pdf and chk.file:
            attachment["url"] = f"../{chk.file}"
        authors = [sig.signer_name for sig in v.signatures if sig.field_name != charge]
        counter = [sig.signer_name for sig in v.signatures if sig.field_name == charge]
        last_signed = max((sig.signed_at for sig in v.signatures), default=v.created_at)
        doc: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "id": ids("document", v.note_id),
            "identifier": [{"system": f"{_ID_SYSTEM}:note-sha256", "value": v.sha256}],
            "status": "current" if v.version == newest else "superseded",
            "docStatus": "final" if v.version == 1 else "amended",
            "type": {"text": "Infusion session nursing note (signed PDF)"},
            "subject": _ref(pid),
            "date": _utc(last_signed),
            "author": [{"display": n} for n in authors] or None,
            "authenticator": {"display": counter[0]} if counter else None,
            "description": ("verified against the clinic CA" if chk.verified
                            else "FAILED verification: " + "; ".join(chk.problems)),
            "content": [{"attachment": attachment}],
            "context": {"encounter": [_ref(eid)]},
        }  # fmt: skip
        prev = by_note.get(v.supersedes_id) if v.supersedes_id else None
        if prev is not None:
            doc["relatesTo"] = [{"code": "replaces",
                                 "target": _ref(ids("document", prev.note_id))}]  # fmt: skip
        out.append({k: val for k, val in doc.items() if val is not None})
    return out


def session_bundle(
    rec: SessionRecord,
    x: ExportInputs,
    ids: FhirIds,
    *,
    with_pdf: bool,
    pdf_sha1: Mapping[int, str],
    timestamp: datetime,
) -> dict[str, Any]:
    """One FHIR R4 collection Bundle for a session, as plain JSON (R4B-model valid)."""
    o = rec.order
    st = _state(rec, x.now)
    pid, eid = ids("patient", rec.patient.id), ids("encounter", rec.session_id)
    encounter_period: dict[str, Any] = {"start": _utc(o.checked_in_at)}
    if o.ended_at is not None:
        encounter_period["end"] = _utc(o.ended_at)
    encounter = {
        "resourceType": "Encounter",
        "id": eid,
        "identifier": [{"system": f"{_ID_SYSTEM}:session", "value": note_label(rec.session_id)}],
        "status": _encounter_status(rec),
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": _protocol(rec)}, *_not_treated_type(rec)],
        "subject": _ref(pid),
        "period": encounter_period,
        "location": [{"location": {"display": f"Chair {o.chair}"}}],
    }
    resources: list[dict[str, Any]] = [_patient_resource(rec, pid), encounter]
    resources += _vital_observations(rec, ids, pid, eid)
    resources += _medication_resources(rec, st, ids, pid, eid, x.drug_name)
    proc = _procedure(rec, st, ids, pid, eid)
    if proc is not None:
        resources.append(proc)
    resources += _outcome_resources(rec, x, ids, pid, eid)
    resources += _document_references(rec, x, ids, pid, eid, with_pdf, pdf_sha1)
    bundle = {
        "resourceType": "Bundle",
        "id": ids("bundle", rec.session_id),
        "identifier": {"system": f"{_ID_SYSTEM}:session", "value": note_label(rec.session_id)},
        "type": "collection",
        "timestamp": _utc(timestamp),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    return _without_none(bundle)


def _without_none(node: Any) -> Any:
    """Drop null members: FHIR JSON leaves an absent element out instead of writing null."""
    if isinstance(node, dict):
        return {k: _without_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_none(v) for v in node]
    return node
