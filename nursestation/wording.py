"""User-visible wording and formats in one place (issue 14): the display zone, numbers, times,
labels of scales, session types, pump events, indications and the note label. The note, the
export and the screens use these, so one fact is written one way everywhere.

Pure: no database, no Qt, no clock (the station's local zone is read from the OS when the clinic
shows "local" time).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from nursestation.discharge import SCALE_NAMES as DISCHARGE_SCALE_NAMES
from nursestation.errors import DomainError
from nursestation.formulary import Formulary
from nursestation.record import heart_rate
from nursestation.vitals import SEDATION_LABELS, fmt_number

NONE_RECORDED = "none recorded"
DASH = "—"

SESSION_TYPES = {"iv_ketamine": "IV ketamine", "spravato": "Spravato (esketamine)"}
SCALE_LABELS = {
    **SEDATION_LABELS,  # MOAA/S, RASS (nursestation.vitals)
    "cadss": "CADSS",
    **DISCHARGE_SCALE_NAMES,  # Modified Aldrete, PADSS, Modified PADSS (nursestation.discharge)
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "cssrs": "C-SSRS",
    "nausea": "Nausea",
}
PUMP_EVENT_LABELS = {
    "start": "started",
    "pause": "paused",
    "resume": "resumed",
    "rate_change": "rate changed",
    "stop": "stopped",
}
INDICATION_LABELS = {"bp_above_limit": "BP above limit"}
# SPRAVATO REMS (nursestation.spravato): the form's questions as the form words them.
REMS_CONMED_LABELS = {
    "benzodiazepines": "Benzodiazepines",
    "non_benzodiazepine_hypnotics": "Non-benzodiazepine sleep medications",
    "psychostimulants": "Psychostimulants",
    "maois": "Monoamine oxidase inhibitors (MAOIs)",
    "opioids": "Opioids",
}
REMS_FORM_LABELS = {
    "patient_name": "Patient name",
    "patient_dob": "Date of birth",
    "rems_patient_id": "REMS patient enrolment ID",
    **{f"conmed_{k}": f"Concomitant: {v}" for k, v in REMS_CONMED_LABELS.items()},
    "monitoring_hcp": "Monitoring healthcare provider",
    "setting_name": "Healthcare setting",
    "setting_rems_id": "Healthcare setting REMS ID",
    "session_date": "Date of treatment session",
    "dose_mg": "SPRAVATO dose",
    "devices": "Devices: time and lot number",
    "total_monitored_min": "Total monitored time (first device to end of monitoring)",
    "ready_to_leave_at": "When would the patient have been ready to leave?",
    "vitals_acceptable_pre": "Vital signs acceptable before the dose",
    "vitals_acceptable_end": "Vital signs acceptable at completion",
    "bp_pre": "BP before the dose",
    "bp_40": "BP about 40 min after the first device",
    "bp_end": "BP at completion of monitoring",
    "sedation_event": "Sedation during monitoring",
    "dissociation_event": "Dissociation during monitoring",
    "respiratory_depression_event": "Respiratory depression during monitoring",
    "serious_adverse_event": "Serious adverse event",
    "serious_adverse_event_text": "Serious adverse event: description",
}
REMS_SUBMISSION_METHOD_LABELS = {"online": "online (REMS portal)", "fax": "fax"}
PREGNANCY_LABELS = {
    "negative": "Negative",
    "positive": "Positive",
    "not_applicable": "Not applicable",
}
CHART_FIELD_LABELS = {
    "name": "Name",
    "dob": "Date of birth",
    "sex": "Sex",
    "reproductive_potential": "Of reproductive potential",
    "allergies": "Allergies",
    "weight_kg": "Weight",
    "contact.phone": "Phone",
    "contact.email": "Email",
    "contact.address": "Address",
    "contact.emergency_name": "Emergency contact",
    "contact.emergency_phone": "Emergency contact phone",
}
COURSE_PHASE_LABELS = {
    "induction": "Induction series",
    "maintenance": "Maintenance",
    "booster": "Booster",
}
MEASURE_LABELS = {"bp": "BP", "nausea": "nausea", "sedation": "sedation", "none": "response"}


# ---------------------------------------------------------------- zone and times


def display_zone(name: str | None) -> tzinfo:
    """The display zone: a named IANA zone, else the station's local zone."""
    if name:
        return ZoneInfo(name)
    local = datetime.now(UTC).astimezone().tzinfo
    assert local is not None
    return local


def hm(when: datetime | None, tz: tzinfo) -> str:
    """A time as HH:MM in `tz` ("—" when there is none)."""
    return DASH if when is None else when.astimezone(tz).strftime("%H:%M")


def hms(when: datetime | None, tz: tzinfo) -> str:
    """A time as HH:MM:SS in `tz` ("—" when there is none): monitor readings, device links."""
    return DASH if when is None else when.astimezone(tz).strftime("%H:%M:%S")


def date_hm(when: datetime | None, tz: tzinfo) -> str:
    """A date and time as YYYY-MM-DD HH:MM in `tz` ("" when there is none): the form a nurse
    types a time in (checklist times)."""
    return "" if when is None else when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def date_hms(when: datetime | None, tz: tzinfo) -> str:
    """A date and time as YYYY-MM-DD HH:MM:SS in `tz` ("" when there is none): the audit log."""
    return "" if when is None else when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def wall_time_in(naive: datetime, tz: tzinfo) -> datetime:
    """A wall-clock time read in `tz` (as a nurse typed it) as an aware UTC datetime; an
    ambiguous time (the repeated hour when clocks go back) is the first of the two."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def iso_seconds(when: datetime | None, tz: tzinfo) -> str:
    """ISO 8601 to the second in `tz` ("" when there is none): the export's time format."""
    return "" if when is None else when.astimezone(tz).isoformat(timespec="seconds")


def duration_words(seconds: float, *, with_seconds: bool = False) -> str:
    """A duration spelled as a nurse says it, never as a bare M:SS that reads like a clock time:
    "4 min", "1 h 05 min", with `with_seconds` "4 min 05 s" (whole seconds, rounded down)."""
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min"
    if with_seconds:
        return f"{m} min {s:02d} s" if m else f"{s} s"
    return f"{m} min" if m else "less than 1 min"


def until_words(seconds: float) -> str:
    """Time still to go, rounded up to the minute: "in 4 min" (3 min 10 s to go), "in 1 h 05 min";
    "now" when none is left."""
    if seconds <= 0:
        return "now"
    minutes = -(-int(seconds) // 60)
    return f"in {duration_words(minutes * 60)}"


# ---------------------------------------------------------------- numbers


def num(x: float | None) -> str:
    """A number as a nurse writes it: 120 not 120.0, else the shortest form ("—" for none)."""
    if x is None:
        return DASH
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def num_digits(x: float | None, digits: int = 2) -> str:
    """A number rounded to `digits` decimals without trailing zeros ("" for none): the export's
    numbers (35.0 -> "35", 17.456 -> "17.46")."""
    if x is None:
        return ""
    r = round(float(x), digits)
    return str(int(r)) if r.is_integer() else f"{r:g}"


# ---------------------------------------------------------------- labels


def session_type_label(key: str) -> str:
    """Words for a session type: "iv_ketamine" -> "IV ketamine"."""
    return SESSION_TYPES.get(key, key.replace("_", " "))


def pregnancy_choices() -> list[tuple[str, str | None]]:
    """The pregnancy screen's answers as (words, stored key), the unanswered one first."""
    return [("", None), *((label, key) for key, label in PREGNANCY_LABELS.items())]


def scale_label(key: str) -> str:
    """Words for a scale or assessment kind: "aldrete" -> "Modified Aldrete"."""
    return SCALE_LABELS.get(key, key.replace("_", " "))


def indication_label(key: str) -> str:
    """Words for an indication key: "bp_above_limit" -> "BP above limit"."""
    return INDICATION_LABELS.get(key, key.replace("_", " ").capitalize())


def chart_field_label(key: str) -> str:
    """Words for a chart field: "contact.phone" -> "Phone"."""
    return CHART_FIELD_LABELS.get(key, key.split(".")[-1].replace("_", " ").capitalize())


def course_phase_label(key: str) -> str:
    """Words for a course phase: "induction" -> "Induction series"."""
    return COURSE_PHASE_LABELS.get(key, key.replace("_", " ").capitalize())


def allergy_text(substance: str, reaction: str | None, severity: str | None) -> str:
    """One allergy in words: "penicillin (rash, severe)"; the substance alone when nothing more
    is recorded."""
    more = ", ".join(x for x in (reaction, severity) if x)
    return f"{substance} ({more})" if more else substance


def allergy_texts(entries: Any, details: Any) -> tuple[str, ...]:
    """The stored allergy entries (patients.allergies) in words, with the reaction and severity
    the chart recorded for each (patients.allergy_details), in the entries' order."""
    by_substance = {str(d.get("substance")): d for d in (details or ())}
    return tuple(
        allergy_text(
            e,
            by_substance.get(e, {}).get("reaction") or None,
            by_substance.get(e, {}).get("severity") or None,
        )
        for e in entries or ()
    )


def chart_value_text(key: str, value: Any) -> str:
    """A chart field's stored value in words for the history: an allergy list as
    "penicillin (rash, severe); latex", yes/no, and "not recorded" for nothing."""
    if key == "allergies":
        if not value:
            return "no known allergies"
        return "; ".join(
            allergy_text(str(a.get("substance")), a.get("reaction"), a.get("severity"))
            for a in value
        )
    if value is None or value == "":
        return NONE_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return num(value)
    return str(value)


def measure_label(measure: str) -> str:
    """Words for a reassessment measure: "bp" -> "BP"."""
    return MEASURE_LABELS.get(measure, measure.replace("_", " "))


def drug_label(formulary: Formulary | None, key: str) -> str:
    """A drug's name from the clinic formulary; a key no longer there (or no formulary) in
    words: "ondansetron_odt" -> "Ondansetron odt"."""
    if formulary is not None:
        try:
            return formulary.get(key).name
        except (DomainError, KeyError, ValueError):
            pass
    return key.replace("_", " ").capitalize()


def note_label(session_id: int) -> str:
    """The printed note identifier (one per session; versions are numbered separately)."""
    return f"S-{session_id:06d}"


def protocol_text(
    session_type: str,
    dose_mg_per_kg: float,
    duration_min: float,
    conc_mg_per_ml: float,
    *,
    sep: str = ":",
    total_mg: float | None = None,
    device_mg: float = 28,
) -> str:
    """The order in one line: "IV ketamine: 0.5 mg/kg over 40 min at 1 mg/mL" (the export
    writes it without the colon, `sep=""`). A Spravato order is its dose in mg given as 28 mg
    nasal devices: "Spravato (esketamine): 84 mg intranasal (3 × 28 mg devices)"."""
    if session_type == "spravato" and total_mg is not None:
        return (
            f"{session_type_label(session_type)}{sep} {num(total_mg)} mg intranasal "
            f"({num(total_mg / device_mg)} × {num(device_mg)} mg devices)"
        )
    return (
        f"{session_type_label(session_type)}{sep} {num(dose_mg_per_kg)} mg/kg over "
        f"{num(duration_min)} min at {num(conc_mg_per_ml)} mg/mL"
    )


def device_text(r: Any) -> str:
    """Which device a stored reading came from, as the flowsheet names it."""
    return f"device {r.device_protocol} on {r.device_port}" + (
        f" (id {r.device_id})" if r.device_id else ""
    )


def vitals_text(r: Any) -> str:
    """A reading in one line, as a nurse writes it: "BP 186/104, HR 88, SpO2 97 %" (the HR is
    the oximeter's pulse rate when no HR was recorded)."""
    parts: list[str] = []
    if r.sbp is not None and r.dbp is not None:
        parts.append(f"BP {fmt_number(r.sbp)}/{fmt_number(r.dbp)}")
    elif r.sbp is not None:
        parts.append(f"SBP {fmt_number(r.sbp)}")
    hr = heart_rate(r)
    if hr is not None:
        parts.append(f"HR {fmt_number(hr.value)}")
    if r.spo2 is not None:
        parts.append(f"SpO2 {fmt_number(r.spo2)} %")
    if r.rr is not None:
        parts.append(f"RR {fmt_number(r.rr)}")
    if r.sedation_score is not None and r.sedation_scale:
        parts.append(f"{r.sedation_scale.upper()} {fmt_number(r.sedation_score)}")
    return ", ".join(parts) or "no values"


# ---------------------------------------------------------------- reminders


def vitals_due_text(due: Any, tz: tzinfo) -> str:
    """The vitals reminder (a vitals_schedule.VitalsDue) in words with clock times: "Vitals due
    15:03 (in 4 min)", "Vitals DUE since 15:03 (2 min)", "Vitals OVERDUE since 15:03 (9 min)";
    "" when no reminder applies."""
    if due is None or due.status == "none" or due.next_due_at is None:
        return ""
    at = hm(due.next_due_at, tz)
    if due.status == "ok":
        return f"Vitals due {at} ({until_words(due.minutes_until * 60)})"
    word = "OVERDUE" if due.status == "overdue" else "DUE"
    return f"Vitals {word} since {at} ({duration_words(due.overdue_by_min * 60)})"


def reassessment_text(r: Any, now: datetime, tz: tzinfo) -> str:
    """A PRN dose's pending reassessment (app.medications.ReassessmentInfo) in words with clock
    times: "Labetalol 40 mg IV: BP check due 15:03 (in 4 min)", "…: BP check DUE now (30 min
    after the dose)", "…: BP check OVERDUE by 6 min (due 15:03)"."""
    what = f"{measure_label(r.measure)} check"
    if r.status == "upcoming":
        left = (r.due_at - now).total_seconds()
        tail = f"{what} due {hm(r.due_at, tz)} ({until_words(left)})"
    elif r.status == "due":
        tail = f"{what} DUE now ({r.offset_min} min after the dose)"
    else:
        late = max(0, int((now - r.due_at).total_seconds() // 60))
        tail = f"{what} OVERDUE by {late} min (due {hm(r.due_at, tz)})"
    return f"{r.dose_text}: {tail}"


# ---------------------------------------------------------------- messages


def no_chart_access_text(chair: str, *, occupied: bool) -> str:
    """Why a chair does not open for a user without a clinical role (an administrator)."""
    what = (
        "The session in this chair is charted by nurses and charge nurses"
        if occupied
        else "Checking a patient in is done by a nurse or a charge nurse"
    )
    return (
        f"Chair {chair}: {what}. Your account has no clinical role: it manages users, "
        "settings and exports. A nurse or charge nurse role is added under Users."
    )


# What a change to a session did, for "changed at another station" (app/concurrency.py): the
# audit action of the use case -> words after the person's name.
SESSION_CHANGE_PHRASES = {
    "infusion.start": "started the infusion",
    "infusion.pause": "paused the infusion",
    "infusion.resume": "resumed the infusion",
    "infusion.rate_change": "changed the rate",
    "infusion.stop": "stopped the infusion",
    "session.checklist": "changed the checklist",
    "session.checklist_override": "overrode the checklist",
    "session.not_treated": "ended the session (not treated)",
    "discharge.assessment": "recorded discharge answers",
}


def session_change_phrase(action: str | None) -> str:
    """Words for what a change to a session did: "infusion.pause" -> "paused the infusion"."""
    if action is None:
        return "changed it"
    return SESSION_CHANGE_PHRASES.get(action, "changed it")
