"""Everything stored about one session, as plain immutable values (issue 14).

`SessionRecord` is loaded once by `nursestation.app.record.load_record` (one read transaction, a
fixed number of statements) and then projected: the note content, the CSV row and the FHIR
Bundle (nursestation.report) are pure functions of it. Nothing here reads the database or the
clock; JSON columns arrive deep-frozen (mappings read-only, lists as tuples).

Clinical facts computed once here, for every projection alike:
- the heart rate of a reading (`heart_rate`): the ECG/monitor HR, else the oximeter's pulse rate
  (clinical.md §2: pulse oximeters report the pulse rate, which stands for the HR when no ECG
  HR is recorded), with its source;
- the current rows: a correction is a new row that supersedes the original (append-only tables),
  so "current" leaves out every row some later row supersedes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Protocol

from nursestation import infusion
from nursestation.discharge import canonical_answers
from nursestation.flowsheet import heart_rate as flowsheet_heart_rate

DISCHARGE_CHECKLIST = "discharge_checklist"  # the assessments kind holding discharge answers
HR_SOURCE_HR = "hr"
HR_SOURCE_PULSE = "pulse_rate"


def freeze(value: Any) -> Any:
    """A JSON value made immutable: dicts read-only (MappingProxyType), lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


class VitalValues(Protocol):
    """One stored vital-sign reading (a named tuple from app.flowsheet.stored_vitals)."""

    id: int
    observed_at: datetime
    recorded_at: datetime
    sbp: float | None
    dbp: float | None
    map: float | None
    hr: float | None
    pulse_rate: float | None
    spo2: float | None
    rr: float | None
    etco2: float | None
    temp_c: float | None
    sedation_scale: str | None
    sedation_score: float | None
    source: str
    entered_by: int | None
    device_port: str | None
    device_protocol: str | None
    device_id: str | None
    late: bool
    supersedes_id: int | None
    correction_reason: str | None


@dataclass(frozen=True, slots=True)
class HeartRate:
    """A reading's heart rate and where it came from (HR_SOURCE_HR or HR_SOURCE_PULSE)."""

    value: float
    source: str

    @property
    def from_pulse(self) -> bool:
        """True when the value is the oximeter's pulse rate (no HR recorded)."""
        return self.source == HR_SOURCE_PULSE


def heart_rate(v: Any) -> HeartRate | None:
    """The reading's heart rate, resolved once: HR, else the pulse rate, else None (the rule of
    nursestation.flowsheet.heart_rate, which the flowsheet and the note's rows use)."""
    value, from_pulse = flowsheet_heart_rate(v.hr, v.pulse_rate)
    if value is None:
        return None
    return HeartRate(value, HR_SOURCE_PULSE if from_pulse else HR_SOURCE_HR)


@dataclass(frozen=True)
class PatientRecord:
    """The patient as stored."""

    id: int
    mrn: str
    name: str
    dob: date
    sex: str | None
    weight_kg: float
    weight_date: date | None
    allergies: tuple[str, ...]


@dataclass(frozen=True)
class OrderRecord:
    """The session row: the order and dose as stored at check-in, the chair, how it ended."""

    session_type: str
    chair: str
    session_number: int
    checked_in_at: datetime
    checked_in_by: int
    prescriber: str | None
    weight_kg_used: float
    dose_mg_per_kg: float
    duration_min: float
    concentration_mg_per_ml: float
    total_mg: float
    volume_ml: float
    rate_mg_per_h: float
    rate_ml_per_h: float
    ketamine_lot: str | None
    ended_at: datetime | None
    end_reason: str | None
    end_detail: str | None
    version: int
    order_text: str | None = None  # the prescriber's order as written (issue 18)
    order_date: date | None = None

    @property
    def planned(self) -> infusion.Planned:
        """The planned infusion (the core's input)."""
        return infusion.Planned(
            total_mg=self.total_mg,
            duration_min=self.duration_min,
            rate_mg_per_h=self.rate_mg_per_h,
            concentration_mg_per_ml=self.concentration_mg_per_ml,
        )


@dataclass(frozen=True)
class ChecklistRecord:
    """The pre-infusion checklist answers, its stored evaluation and the charge override."""

    answers: Mapping[str, Any]
    result: Mapping[str, Any]
    override_reason: str | None
    override_by: int | None
    override_at: datetime | None


@dataclass(frozen=True)
class PumpEvent:
    """A start, pause, resume, rate change or stop as stored, with who entered it."""

    id: int
    kind: str
    at: datetime
    rate_mg_per_h: float | None
    reason: str | None
    user_id: int

    def core(self) -> infusion.InfusionEvent:
        """As the core's infusion event."""
        return infusion.InfusionEvent(self.kind, self.at, self.rate_mg_per_h, self.reason)


@dataclass(frozen=True)
class MedicationResponseRecord:
    """A reassessment after a PRN dose."""

    id: int
    administration_id: int
    at: datetime
    measure: str
    text: str
    vital_id: int | None
    by_user: int


@dataclass(frozen=True)
class MedicationRecord:
    """A PRN administration as stored (a correction is its own row, superseding the original)."""

    id: int
    drug: str
    dose: float
    unit: str
    route: str
    indication: str
    given_at: datetime
    recorded_at: datetime
    given_by: int
    triggering_vital_id: int | None
    soft_max_reason: str | None
    lot: str | None
    note: str | None
    supersedes_id: int | None
    correction_reason: str | None
    indication_override_reason: str | None
    indication_override_by: int | None


@dataclass(frozen=True)
class AssessmentRecord:
    """A scale score or discharge checklist entry."""

    id: int
    kind: str
    at: datetime
    score: float | None
    items: Mapping[str, Any]
    by_user: int


@dataclass(frozen=True)
class AlarmEventRecord:
    """One alarm event (raised, acknowledged, cleared…) of the session."""

    id: int
    alarm_key: str
    priority: str
    event: str
    text: str
    user_id: int | None
    at: datetime


@dataclass(frozen=True)
class OverrideRecord:
    """A charge nurse's override of a discharge criterion."""

    id: int
    criterion: str
    reason: str
    by_user: int
    at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    """The discharge approval (the countersignature's record)."""

    by_user: int
    at: datetime
    meaning: str
    criteria: Mapping[str, Any]


@dataclass(frozen=True)
class SignatureRecord:
    """One signature on a stored note document."""

    signer_id: int
    signer_name: str
    meaning: str
    field_name: str
    signed_at: datetime


@dataclass(frozen=True)
class NoteVersionRecord:
    """One signed note version and its latest stored document (the PDF bytes stay stored)."""

    note_id: int
    version: int
    supersedes_id: int | None
    created_at: datetime
    document_id: int
    stage: str
    sha256: str
    size: int
    signatures: tuple[SignatureRecord, ...]


@dataclass(frozen=True)
class SpravatoDeviceRecord:
    """One 28 mg Spravato nasal device as stored (its time and lot)."""

    number: int
    at: datetime
    lot: str
    mg: int
    by_user: int


@dataclass(frozen=True)
class OutcomeRecord:
    """A completed outcome measure or screen of the session (PHQ-9, GAD-7, PCL-5, C-SSRS)."""

    id: int
    scale: str
    timepoint: str
    answers: tuple[int | None, ...]
    total: int | None
    band: str
    safety_positive: bool
    safety_reason: str | None
    administered: str
    on_station: bool
    at: datetime
    entered_by: int
    supersedes_id: int | None
    correction_reason: str | None


@dataclass(frozen=True)
class SafetyRecord:
    """A charge nurse's safety assessment and plan, or the re-check before discharge."""

    id: int
    kind: str  # pre_infusion | discharge_recheck
    assessment: str
    plan: str
    proceed: bool
    by_user: int
    by_role: str
    at: datetime


@dataclass(frozen=True)
class CourseTotal:
    """One session's pre-infusion total of a trended scale, in the patient's course up to this
    session (the note marks response and remission from these)."""

    scale: str
    session_id: int
    session_number: int
    at: datetime
    total: int


@dataclass(frozen=True)
class SessionRecord:
    """Everything stored about one session (see the module doc)."""

    session_id: int
    patient: PatientRecord
    order: OrderRecord
    checklist: ChecklistRecord
    events: tuple[PumpEvent, ...]
    vitals: tuple[VitalValues, ...]  # every stored reading, corrections and originals
    medications: tuple[MedicationRecord, ...]  # every stored row, corrections and originals
    responses: tuple[MedicationResponseRecord, ...]
    assessments: tuple[AssessmentRecord, ...]
    alarm_events: tuple[AlarmEventRecord, ...]
    overrides: tuple[OverrideRecord, ...]
    approval: ApprovalRecord | None
    notes: tuple[NoteVersionRecord, ...]
    names: Mapping[int, str]  # user id -> full name (display name)
    display_zone: str | None  # IANA name, None: the station's local zone
    spravato_devices: tuple[SpravatoDeviceRecord, ...] = ()  # Spravato sessions only
    outcomes: tuple[OutcomeRecord, ...] = ()  # every stored row, corrections and originals
    safety: tuple[SafetyRecord, ...] = ()
    course: tuple[CourseTotal, ...] = ()  # the course up to this session (app.outcomes)

    @property
    def pump_events(self) -> tuple[infusion.InfusionEvent, ...]:
        """The pump events as the core's infusion events, in order."""
        return tuple(e.core() for e in self.events)

    @property
    def started_at(self) -> datetime | None:
        """When the infusion first started, if it did."""
        return next((e.at for e in self.events if e.kind == infusion.START), None)

    @property
    def current_vitals(self) -> tuple[VitalValues, ...]:
        """The readings no correction replaced, in observed order."""
        return current(self.vitals)

    @property
    def current_medications(self) -> tuple[MedicationRecord, ...]:
        """The administrations no correction replaced, in given order."""
        return current(self.medications)

    @property
    def current_outcomes(self) -> tuple[OutcomeRecord, ...]:
        """The outcome scores no correction replaced, in time order."""
        return current(self.outcomes)

    @property
    def safety_positive(self) -> tuple[OutcomeRecord, ...]:
        """The positive suicide-risk screens of the session."""
        return tuple(o for o in self.current_outcomes if o.safety_positive)

    @property
    def discharge_answers(self) -> Mapping[str, Any]:
        """The nurse's discharge checklist answers under their one name (a row stored with a
        former key is read under the new one): repeat assessments merge, the latest answer to
        each question wins (as app.discharge reads them)."""
        merged: dict[str, Any] = {}
        for a in self.assessments:
            if a.kind == DISCHARGE_CHECKLIST:
                merged.update(canonical_answers(a.items.get("answers", {})))
        return MappingProxyType(merged)

    def vital(self, vital_id: int | None) -> VitalValues | None:
        """A stored reading by id."""
        if vital_id is None:
            return None
        return self._vitals_by_id().get(vital_id)

    def _vitals_by_id(self) -> dict[int, VitalValues]:
        cache = self.__dict__.get("_by_id")
        if cache is None:
            cache = {v.id: v for v in self.vitals}
            object.__setattr__(self, "_by_id", cache)
        return cache

    def responses_to(self, m: MedicationRecord) -> tuple[MedicationResponseRecord, ...]:
        """Reassessments of a dose, including those recorded against the row it corrects."""
        ids = {m.id, m.supersedes_id}
        return tuple(r for r in self.responses if r.administration_id in ids)

    def name(self, user_id: int | None, default: str = "") -> str:
        """A user's display name."""
        if user_id is None:
            return default
        return self.names.get(user_id, default)

    def baseline(self) -> VitalValues | None:
        """The baseline: the latest current reading with a BP at or before the infusion's start
        (None before the start), as app.sessions.baseline_vitals picks it."""
        start = self.started_at
        return None if start is None else self.latest_with_bp(start)

    def latest_with_bp(self, until: datetime | None = None) -> VitalValues | None:
        """The latest current reading with a BP observed at or before `until` (any time when
        None)."""
        best = None
        for v in self.current_vitals:
            if v.sbp is None or (until is not None and v.observed_at > until):
                continue
            if best is None or (v.observed_at, v.id) > (best.observed_at, best.id):
                best = v
        return best


def current(rows: Sequence[Any]) -> tuple[Any, ...]:
    """Rows of an append-only table without those a later row supersedes (order kept)."""
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return tuple(r for r in rows if r.id not in replaced)
