"""Spravato (esketamine nasal spray) sessions under the SPRAVATO REMS: the pure rules (issue 17).

Clinical facts and their sources are in resources/clinic/spravato.json (clinical.md §4.3):
- the patient is enrolled in the REMS before the first treatment (a hard stop);
- BP before the dose; a reading above the clinic's pre-dose limit asks for the prescriber's
  decision (proceed or delay) before the first device;
- the form's concomitant-medication questions are answered before the first device;
- the dose is 56 or 84 mg, given as two or three 28 mg devices, each with its time and lot, at
  least 5 minutes apart (an earlier device is refused with the time it is allowed);
- BP about 40 minutes after the first device and at completion; pulse oximetry; sedation,
  dissociation and respiratory depression are watched;
- monitoring lasts at least 120 minutes from the first device, or the clinic's longer minimum;
- the Patient Monitoring Form is submitted within 7 days of the session.

Nothing here reads the database or the clock: times come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from nursestation.clinic import ClinicSettings
from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, INTERVAL_TOO_SHORT, INVALID_STATE, DomainError
from nursestation.wording import (
    REMS_CONMED_LABELS,
    REMS_FORM_LABELS,
    REMS_SUBMISSION_METHOD_LABELS,
    hm,
)

SESSION_TYPE = "spravato"
SECTION = "spravato"

# Stable error codes of the Spravato flow (docs/scenarios.md lists them).
REMS_NOT_ENROLLED = "rems_not_enrolled"
PRESCRIBER_DECISION_REQUIRED = "prescriber_decision_required"

PROCEED = "proceed"
DELAY = "delay"
DECISIONS = (PROCEED, DELAY)

YES, NO = "yes", "no"


def is_spravato(session_type: str | None) -> bool:
    """True for a Spravato session (the type key is case-insensitive, as in discharge.py)."""
    return (session_type or "").strip().casefold() == SESSION_TYPE


@dataclass(frozen=True)
class SpravatoConfig:
    """Typed view of the "spravato" clinic section (resources/clinic/spravato.json)."""

    device_mg: int
    doses_mg: tuple[int, ...]
    min_between_devices_min: float
    bp_after_first_device_min: float
    bp_after_first_device_window_min: float
    predose_sbp_limit: float
    predose_dbp_limit: float
    form_due_days: int
    concomitant_medications: tuple[str, ...]
    submission_methods: tuple[str, ...]
    discharge_criteria: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> SpravatoConfig:
        """Build from the merged clinic settings."""
        return cls.from_dict(settings.section(SECTION))

    @classmethod
    def from_dict(cls, s: Mapping[str, Any]) -> SpravatoConfig:
        """Build from the plain-value section dict."""
        return cls(
            device_mg=int(s["device_mg"]),
            doses_mg=tuple(int(x) for x in s["doses_mg"]),
            min_between_devices_min=float(s["min_between_devices_min"]),
            bp_after_first_device_min=float(s["bp_after_first_device_min"]),
            bp_after_first_device_window_min=float(s["bp_after_first_device_window_min"]),
            predose_sbp_limit=float(s["predose_sbp_limit"]),
            predose_dbp_limit=float(s["predose_dbp_limit"]),
            form_due_days=int(s["form_due_days"]),
            concomitant_medications=tuple(str(x) for x in s["concomitant_medications"]),
            submission_methods=tuple(str(x) for x in s["submission_methods"]),
            discharge_criteria=tuple(str(x) for x in s["discharge_criteria"]),
        )


def devices_for_dose(dose_mg: Any, cfg: SpravatoConfig) -> int:
    """How many 28 mg devices make the ordered dose; bad_input (field dose_mg) for a dose the
    clinic does not offer."""
    allowed = ", ".join(f"{d} mg" for d in cfg.doses_mg)
    if dose_mg is None:
        raise DomainError(BAD_INPUT, f"Choose the Spravato dose: {allowed}.", field="dose_mg")
    if isinstance(dose_mg, bool) or not isinstance(dose_mg, int | float):
        raise DomainError(
            BAD_INPUT,
            f"Spravato dose {dose_mg!r} is not a number: allowed {allowed}.",
            field="dose_mg",
        )
    if dose_mg not in cfg.doses_mg or dose_mg % cfg.device_mg:
        raise DomainError(
            BAD_INPUT,
            f"Spravato dose {dose_mg:g} mg is not offered: allowed {allowed} "
            f"({cfg.device_mg} mg per device).",
            field="dose_mg",
        )
    return int(dose_mg) // cfg.device_mg


# ---------------------------------------------------------------- conmeds and pre-dose BP


def check_conmeds(answers: Mapping[str, Any], cfg: SpravatoConfig) -> dict[str, bool]:
    """The form's concomitant-medication answers as {key: bool}; unknown keys and non-yes/no
    values are refused (bad_input naming the field). Missing answers are simply absent."""
    out: dict[str, bool] = {}
    for key, raw in answers.items():
        if key not in cfg.concomitant_medications:
            raise DomainError(
                BAD_INPUT,
                f"Unknown concomitant-medication question '{key}': allowed "
                f"{', '.join(cfg.concomitant_medications)}.",
                field=key,
            )
        if not isinstance(raw, bool):
            raise DomainError(
                BAD_INPUT,
                f"Concomitant medication '{REMS_CONMED_LABELS.get(key, key)}' must be answered "
                f"yes or no (got {raw!r}).",
                field=key,
            )
        out[key] = raw
    return out


def unanswered_conmeds(answers: Mapping[str, Any], cfg: SpravatoConfig) -> tuple[str, ...]:
    """The concomitant-medication questions not yet answered, in the form's order."""
    return tuple(k for k in cfg.concomitant_medications if not isinstance(answers.get(k), bool))


@dataclass(frozen=True)
class BpReading:
    """One blood pressure with the time it was observed."""

    at: datetime
    sbp: float
    dbp: float | None

    def text(self, tz: tzinfo) -> str:
        """'142/88 at 09:03'."""
        dbp = "—" if self.dbp is None else f"{self.dbp:g}"
        return f"{self.sbp:g}/{dbp} mmHg at {hm(self.at, tz)}"


def predose_above_limit(bp: BpReading, cfg: SpravatoConfig) -> bool:
    """True when the pre-dose BP is above the clinic's limit (SBP or DBP strictly above)."""
    return bp.sbp > cfg.predose_sbp_limit or (bp.dbp is not None and bp.dbp > cfg.predose_dbp_limit)


@dataclass(frozen=True)
class PrescriberDecision:
    """The prescriber's decision on a pre-dose BP above the limit."""

    decision: str  # proceed | delay
    prescriber: str
    reason: str
    at: datetime
    sbp: float | None = None
    dbp: float | None = None


def check_decision(decision: str, prescriber: str, reason: str) -> None:
    """A decision needs one of proceed/delay, the prescriber's name and a reason."""
    if decision not in DECISIONS:
        raise DomainError(
            BAD_INPUT,
            f"Prescriber decision '{decision}' is not one of {', '.join(DECISIONS)}.",
            field="decision",
        )
    if not prescriber.strip():
        raise DomainError(
            BAD_INPUT, "The prescriber's decision needs the prescriber's name.", field="prescriber"
        )
    if not reason.strip():
        raise DomainError(BAD_INPUT, "The prescriber's decision needs a reason.", field="reason")


def first_device_gate(
    *,
    enrolled: bool,
    patient_name: str,
    predose: BpReading | None,
    decision: PrescriberDecision | None,
    conmeds: Mapping[str, Any],
    cfg: SpravatoConfig,
    tz: tzinfo,
) -> None:
    """Refuse the first device unless the Spravato pre-dose steps are done, in this order:
    REMS enrolment (rems_not_enrolled), the pre-dose BP (checklist_incomplete), the
    prescriber's decision on a BP above the limit (prescriber_decision_required; a 'delay'
    decision refuses with invalid_state), the concomitant-medication questions
    (checklist_incomplete)."""
    from nursestation.errors import CHECKLIST_INCOMPLETE

    if not enrolled:
        raise DomainError(
            REMS_NOT_ENROLLED,
            f"{patient_name} is not enrolled in the SPRAVATO REMS: record the enrolment before "
            "the first treatment.",
            field="rems_enrolment",
        )
    if predose is None:
        raise DomainError(
            CHECKLIST_INCOMPLETE,
            "No blood pressure before the dose: record the pre-dose BP first.",
            field="predose_bp",
        )
    if predose_above_limit(predose, cfg):
        limit = f"{cfg.predose_sbp_limit:g}/{cfg.predose_dbp_limit:g}"
        decided = decision is not None and ensure_utc(decision.at) >= ensure_utc(predose.at)
        if not decided:
            raise DomainError(
                PRESCRIBER_DECISION_REQUIRED,
                f"Pre-dose BP {predose.text(tz)} is above the clinic's limit of {limit} mmHg: "
                "the prescriber must decide to proceed or delay.",
                field="predose_bp",
            )
        assert decision is not None
        if decision.decision == DELAY:
            raise DomainError(
                INVALID_STATE,
                f"The prescriber ({decision.prescriber}) decided to delay the dose at "
                f"{hm(decision.at, tz)}: {decision.reason}.",
                field="predose_bp",
            )
    missing = unanswered_conmeds(conmeds, cfg)
    if missing:
        names = ", ".join(REMS_CONMED_LABELS[k] for k in missing)
        raise DomainError(
            CHECKLIST_INCOMPLETE,
            f"Concomitant medications not answered: {names}.",
            field=missing[0],
        )


# ---------------------------------------------------------------- devices


@dataclass(frozen=True)
class Device:
    """One 28 mg nasal spray device as recorded."""

    number: int
    at: datetime
    lot: str
    mg: int
    by: str = ""


def next_device_allowed_at(devices: Sequence[Device], cfg: SpravatoConfig) -> datetime | None:
    """When the next device may be given (None before the first: no wait)."""
    if not devices:
        return None
    last = max(devices, key=lambda d: d.at)
    return ensure_utc(last.at) + timedelta(minutes=cfg.min_between_devices_min)


def check_device(
    devices: Sequence[Device],
    at: datetime,
    lot: str,
    planned_devices: int,
    cfg: SpravatoConfig,
    tz: tzinfo,
) -> int:
    """Check one more device at `at`; its number when allowed.

    Refused: a missing lot (bad_input, field lot); every planned device already given
    (invalid_state); a device earlier than `min_between_devices_min` after the previous one
    (interval_too_short, naming the time it is allowed).
    """
    if not (lot or "").strip():
        raise DomainError(BAD_INPUT, "Each Spravato device needs its lot number.", field="lot")
    if len(devices) >= planned_devices:
        raise DomainError(
            INVALID_STATE,
            f"All {planned_devices} devices of the ordered "
            f"{planned_devices * cfg.device_mg} mg dose are recorded.",
        )
    number = len(devices) + 1
    allowed = next_device_allowed_at(devices, cfg)
    at = ensure_utc(at)
    if allowed is not None and at < allowed:
        last = max(devices, key=lambda d: d.at)
        waited = (at - ensure_utc(last.at)).total_seconds() / 60.0
        raise DomainError(
            INTERVAL_TOO_SHORT,
            f"Device {number} at {hm(at, tz)} is {waited:.0f} min after device {last.number} "
            f"({hm(last.at, tz)}): at least {cfg.min_between_devices_min:g} min between devices; "
            f"allowed from {hm(allowed, tz)}.",
            field="device",
        )
    return number


# ---------------------------------------------------------------- BP timepoints and reminders


@dataclass(frozen=True)
class BpTimepoints:
    """The form's three blood pressures: before the dose, about 40 min after the first device,
    and at completion (the latest after the 40-minute window)."""

    pre: BpReading | None
    after_40: BpReading | None
    end: BpReading | None


def bp_timepoints(
    readings: Sequence[BpReading],
    first_device_at: datetime | None,
    cfg: SpravatoConfig,
    until: datetime | None = None,
) -> BpTimepoints:
    """Pick the three BPs from the session's readings (corrections already applied).

    pre: the latest BP at or before the first device (the latest of all before it is given);
    40 min: the reading closest to first + 40 min within ± the window; end: the latest reading
    after that window closes, up to `until` (the end of monitoring)."""
    ordered = sorted(readings, key=lambda r: ensure_utc(r.at))
    if until is not None:
        ordered = [r for r in ordered if ensure_utc(r.at) <= ensure_utc(until)]
    if first_device_at is None:
        return BpTimepoints(ordered[-1] if ordered else None, None, None)
    first = ensure_utc(first_device_at)
    pre = [r for r in ordered if ensure_utc(r.at) <= first]
    target = first + timedelta(minutes=cfg.bp_after_first_device_min)
    window = timedelta(minutes=cfg.bp_after_first_device_window_min)
    near = [r for r in ordered if abs(ensure_utc(r.at) - target) <= window]
    after_40 = min(near, key=lambda r: abs(ensure_utc(r.at) - target)) if near else None
    late = [r for r in ordered if ensure_utc(r.at) > target + window]
    return BpTimepoints(pre[-1] if pre else None, after_40, late[-1] if late else None)


@dataclass(frozen=True)
class Reminder:
    """A Spravato check that is due (shown on the chair card and in the session view)."""

    key: str  # bp_40 | bp_end
    text: str
    due_at: datetime
    overdue: bool


# The completion BP is asked for this long before the monitoring minimum ends.
END_BP_LEAD_MIN = 10.0


def reminders(
    now: datetime,
    first_device_at: datetime | None,
    readings: Sequence[BpReading],
    min_observation_min: float,
    cfg: SpravatoConfig,
    tz: tzinfo,
) -> tuple[Reminder, ...]:
    """The BP reminders as of `now`: about 40 min after the first device (from the window's
    start until a BP in the window, overdue once it closes), and at completion (from
    END_BP_LEAD_MIN before the minimum ends until a BP is taken after that moment)."""
    if first_device_at is None:
        return ()
    now = ensure_utc(now)
    first = ensure_utc(first_device_at)
    tp = bp_timepoints(readings, first, cfg, until=now)
    out: list[Reminder] = []
    target = first + timedelta(minutes=cfg.bp_after_first_device_min)
    window = timedelta(minutes=cfg.bp_after_first_device_window_min)
    if tp.after_40 is None and now >= target - window:
        out.append(
            Reminder(
                "bp_40",
                f"BP due about {cfg.bp_after_first_device_min:g} min after the first device "
                f"({hm(target, tz)})",
                target,
                now > target + window,
            )
        )
    end_due = first + timedelta(minutes=min_observation_min - END_BP_LEAD_MIN)
    if now >= end_due and not any(ensure_utc(r.at) >= end_due for r in readings):
        end_at = first + timedelta(minutes=min_observation_min)
        out.append(
            Reminder(
                "bp_end",
                f"BP at completion due (monitoring minimum ends {hm(end_at, tz)})",
                end_due,
                now > end_at,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------- the Patient Monitoring Form

SESSION = "session"
NURSE = "nurse"

# (key, who fills it) in the form's order. Labels: wording.REMS_FORM_LABELS.
FORM_FIELDS: tuple[tuple[str, str], ...] = (
    ("patient_name", SESSION),
    ("patient_dob", SESSION),
    ("rems_patient_id", SESSION),
    ("conmed_benzodiazepines", SESSION),
    ("conmed_non_benzodiazepine_hypnotics", SESSION),
    ("conmed_psychostimulants", SESSION),
    ("conmed_maois", SESSION),
    ("conmed_opioids", SESSION),
    ("monitoring_hcp", SESSION),
    ("setting_name", SESSION),
    ("setting_rems_id", NURSE),
    ("session_date", SESSION),
    ("dose_mg", SESSION),
    ("devices", SESSION),
    ("total_monitored_min", SESSION),
    ("ready_to_leave_at", NURSE),
    ("vitals_acceptable_pre", NURSE),
    ("vitals_acceptable_end", NURSE),
    ("bp_pre", SESSION),
    ("bp_40", SESSION),
    ("bp_end", SESSION),
    ("sedation_event", NURSE),
    ("dissociation_event", NURSE),
    ("respiratory_depression_event", NURSE),
    ("serious_adverse_event", NURSE),
    ("serious_adverse_event_text", NURSE),
)
NURSE_KEYS: tuple[str, ...] = tuple(k for k, who in FORM_FIELDS if who == NURSE)
YES_NO_KEYS = frozenset(
    {
        "vitals_acceptable_pre",
        "vitals_acceptable_end",
        "sedation_event",
        "dissociation_event",
        "respiratory_depression_event",
        "serious_adverse_event",
    }
)


def check_form_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The nurse's form answers, checked: only nurse fields; yes/no fields as booleans;
    ready_to_leave_at an aware time; text fields non-empty strings (bad_input naming the field)."""
    out: dict[str, Any] = {}
    for key, raw in answers.items():
        if key not in NURSE_KEYS:
            raise DomainError(
                BAD_INPUT,
                f"'{key}' is not a field the nurse completes on the REMS form: allowed "
                f"{', '.join(NURSE_KEYS)}.",
                field=key,
            )
        label = REMS_FORM_LABELS[key]
        if key in YES_NO_KEYS:
            if not isinstance(raw, bool):
                raise DomainError(
                    BAD_INPUT, f"'{label}' must be answered yes or no (got {raw!r}).", field=key
                )
            out[key] = raw
        elif key == "ready_to_leave_at":
            when = raw if isinstance(raw, datetime) else _parse_time(key, label, raw)
            out[key] = ensure_utc(when).isoformat()
        else:
            if not isinstance(raw, str) or not raw.strip():
                raise DomainError(BAD_INPUT, f"'{label}' needs a text.", field=key)
            out[key] = raw.strip()
    return out


def _parse_time(key: str, label: str, raw: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise DomainError(
            BAD_INPUT,
            f"'{label}' must be a time with its offset, e.g. 2026-03-02T11:05:00-05:00 "
            f"(got {raw!r}).",
            field=key,
        )
    return when


@dataclass(frozen=True)
class FormFacts:
    """What the session knows for the form (times aware, UTC)."""

    patient_name: str
    patient_dob: date
    rems_patient_id: str | None
    conmeds: Mapping[str, bool]
    monitoring_hcp: str
    setting_name: str
    session_date: date
    dose_mg: int
    devices: tuple[Device, ...]
    # The nurse's discharge assessment (clinically stable, ready to leave); None before it.
    monitoring_end: datetime | None
    bp: BpTimepoints
    observation_complete_at: datetime | None
    # Evidence for the nurse's answers (shown beside them, never filled in for the nurse).
    suggestions: Mapping[str, str] = field(default_factory=dict)
    device_mg: int = 28


@dataclass(frozen=True)
class FormField:
    """One line of the form: label, the value as printed, who filled it, and evidence."""

    key: str
    label: str
    value: str
    origin: str | None  # session | nurse | None (missing)
    evidence: str = ""


@dataclass(frozen=True)
class MonitoringForm:
    """The SPRAVATO REMS Patient Monitoring Form for one session."""

    fields: tuple[FormField, ...]
    total_monitored_min: int | None

    @property
    def missing(self) -> tuple[FormField, ...]:
        """Fields still without a value."""
        return tuple(f for f in self.fields if f.origin is None)

    @property
    def complete(self) -> bool:
        """Every field has a value."""
        return not self.missing

    def value(self, key: str) -> str:
        """The printed value of a field."""
        return next(f.value for f in self.fields if f.key == key)


def _yn(flag: bool | None) -> str:
    return "" if flag is None else ("Yes" if flag else "No")


def monitoring_form(facts: FormFacts, answers: Mapping[str, Any], tz: tzinfo) -> MonitoringForm:
    """Fill the form: the session's facts, then the nurse's answers (latest row wins).

    Total monitored minutes run from the first device to the end of monitoring (the nurse's
    discharge assessment); before it the field stays empty. The serious-adverse-event
    description is needed only when the answer is yes."""
    first = min((d.at for d in facts.devices), default=None)
    total: int | None = None
    if first is not None and facts.monitoring_end is not None:
        total = int((ensure_utc(facts.monitoring_end) - ensure_utc(first)).total_seconds() // 60)
    session_values: dict[str, str] = {
        "patient_name": facts.patient_name,
        "patient_dob": facts.patient_dob.isoformat(),
        "rems_patient_id": facts.rems_patient_id or "",
        "monitoring_hcp": facts.monitoring_hcp,
        "setting_name": facts.setting_name,
        "session_date": facts.session_date.isoformat(),
        "dose_mg": f"{facts.dose_mg} mg ({facts.dose_mg // facts.device_mg} × {facts.device_mg} mg devices)"
        if facts.dose_mg
        else "",
        "devices": "; ".join(
            f"device {d.number} at {hm(d.at, tz)}, lot {d.lot}" for d in facts.devices
        ),
        "total_monitored_min": "" if total is None else f"{total} min",
        "bp_pre": facts.bp.pre.text(tz) if facts.bp.pre else "",
        "bp_40": facts.bp.after_40.text(tz) if facts.bp.after_40 else "",
        "bp_end": facts.bp.end.text(tz) if facts.bp.end else "",
    }
    for key in REMS_CONMED_LABELS:
        session_values[f"conmed_{key}"] = _yn(facts.conmeds.get(key))
    sae = answers.get("serious_adverse_event")
    out: list[FormField] = []
    for key, who in FORM_FIELDS:
        label = REMS_FORM_LABELS[key]
        evidence = facts.suggestions.get(key, "")
        if who == SESSION:
            v = session_values.get(key, "")
            out.append(FormField(key, label, v, SESSION if v else None, evidence))
            continue
        raw = answers.get(key)
        if key == "serious_adverse_event_text" and sae is False:
            out.append(FormField(key, label, "not applicable", NURSE, evidence))
            continue
        if raw is None:
            out.append(FormField(key, label, "", None, evidence))
        elif key in YES_NO_KEYS:
            out.append(FormField(key, label, _yn(bool(raw)), NURSE, evidence))
        elif key == "ready_to_leave_at":
            when = datetime.fromisoformat(str(raw))
            out.append(FormField(key, label, hm(when, tz), NURSE, evidence))
        else:
            out.append(FormField(key, label, str(raw), NURSE, evidence))
    return MonitoringForm(tuple(out), total)


# ---------------------------------------------------------------- the 7-day tracker


def form_due_date(session_date: date, cfg: SpravatoConfig) -> date:
    """The submission deadline: the session date + `form_due_days` (7) days."""
    return session_date + timedelta(days=cfg.form_due_days)


def days_left(due: date, today: date) -> int:
    """Days until the deadline (0 on the due date, negative once overdue)."""
    return (due - today).days


def check_submission(
    submitted_on: Any,
    method: str,
    confirmation: str,
    session_date: date,
    today: date,
    cfg: SpravatoConfig,
) -> date:
    """A form submission needs a date (not before the session, not in the future), one of the
    clinic's methods and a confirmation number (bad_input naming the field)."""
    if isinstance(submitted_on, date):
        when = submitted_on
    else:
        try:
            when = date.fromisoformat(str(submitted_on))
        except ValueError:
            raise DomainError(
                BAD_INPUT,
                f"Submission date {submitted_on!r} must be a date like 2026-03-05.",
                field="submitted_on",
            ) from None
    if when < session_date or when > today:
        raise DomainError(
            BAD_INPUT,
            f"Submission date {when.isoformat()} must be from the session date "
            f"{session_date.isoformat()} to today {today.isoformat()}.",
            field="submitted_on",
        )
    if method not in cfg.submission_methods:
        labels = ", ".join(REMS_SUBMISSION_METHOD_LABELS.get(m, m) for m in cfg.submission_methods)
        raise DomainError(
            BAD_INPUT, f"Submission method '{method}' is not one of: {labels}.", field="method"
        )
    if not (confirmation or "").strip():
        raise DomainError(
            BAD_INPUT, "A submission needs the REMS confirmation number.", field="confirmation"
        )
    return when
