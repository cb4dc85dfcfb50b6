"""What a session note says, as plain frozen dataclasses (clinical.md §6.3 outline).

The integrator fills these from the database; `nursestation.report.note_pdf` turns them into a PDF.
Every datetime is aware (stored UTC, shown in `NoteContent.display_tz`). Flags and scores arrive
already computed by the clinical rules: this module holds text and numbers, it decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from nursestation.spravato import MonitoringForm

VITAL_PARAMS: tuple[str, ...] = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp")


@dataclass(frozen=True)
class NoteHeader:
    """Identity block (§6.3 item 1)."""

    patient_name: str
    mrn: str
    dob: date
    session_date: date
    chair: str
    session_number: int | None
    protocol: str
    nurse: str
    prescriber: str | None = None
    allergies: str = "none recorded"
    order: str | None = None  # the prescriber's order as written, with its date (issue 18)
    course_plan: str = ""  # the course plan as of the session, in words (issue 16); "" none set


@dataclass(frozen=True)
class ChecklistRow:
    """One pre-procedure check: the question, the answer given and an optional note."""

    item: str
    answer: str
    note: str = ""


@dataclass(frozen=True)
class VitalsRow:
    """One vital-signs set. `flags` maps a param in VITAL_PARAMS to text like "HIGH (action)".

    `kind` "interval" is a summary of the device readings observed from `observed_at` to `until`
    (`count` of them, at the clinic-set resolution): the values are the last of the interval and
    `flags` name the interval's flagged minimum or maximum ("LOW (notify): min 89", the value also
    in `extremes`); each flagged reading is also a row of its own. `hr_from_pulse`: the HR is the oximeter's pulse rate
    (no ECG heart rate)."""

    observed_at: datetime
    recorded_at: datetime
    source: str
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None
    temp: float | None = None
    sedation: str | None = None
    flags: Mapping[str, str] = field(default_factory=dict)
    late: bool = False
    superseded: bool = False
    correction: str | None = None
    kind: str = "reading"  # reading | interval
    until: datetime | None = None
    count: int = 1
    hr_from_pulse: bool = False
    extremes: Mapping[str, float] = field(default_factory=dict)  # interval: flagged min/max

    def value(self, param: str) -> float | None:
        """The value of one of VITAL_PARAMS."""
        if param not in VITAL_PARAMS:
            raise KeyError(param)
        return getattr(self, param)


@dataclass(frozen=True)
class DoseCalculation:
    """The ketamine dose arithmetic as shown to the nurse at start."""

    weight_kg: float
    dose_mg_per_kg: float
    total_mg: float
    concentration_mg_per_ml: float
    volume_ml: float
    duration_min: float
    rate_mg_per_h: float
    rate_ml_per_h: float
    weight_recorded_on: date | None = None


@dataclass(frozen=True)
class InfusionEvent:
    """Start, pause, resume, rate change or stop of the infusion."""

    at: datetime
    kind: str
    reason: str = ""
    rate_ml_per_h: float | None = None
    by: str = ""


@dataclass(frozen=True)
class InfusionRecord:
    """Ketamine administration (§6.3 item 3)."""

    drug: str
    dose: DoseCalculation
    lot: str
    expiry: str
    diluent: str
    site: str
    events: tuple[InfusionEvent, ...]
    minutes_infused: float
    delivered_mg: float


@dataclass(frozen=True)
class ChartSeries:
    """One line on a trend chart; `chart` is "bp" or "hr_spo2"; x is minutes since start."""

    name: str
    chart: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ChartMarker:
    """A vertical marker on both charts (start, pause, stop, a medication)."""

    minute: float
    label: str


@dataclass(frozen=True)
class MedicationRow:
    """One PRN administration (clinical.md §3.4)."""

    at: datetime
    drug: str
    dose: float
    unit: str
    route: str
    indication: str
    pre_vitals: str
    response: str
    nurse: str
    override_reason: str | None = None


@dataclass(frozen=True)
class AssessmentRow:
    """A scale score at a time (sedation, dissociation, Aldrete, PADSS, nausea…)."""

    at: datetime
    scale: str
    score: float | None
    detail: str = ""


@dataclass(frozen=True)
class OutcomeRow:
    """A completed outcome measure or screen (PHQ-9, GAD-7, PCL-5, C-SSRS) with its answers."""

    at: datetime
    scale: str  # "PHQ-9"
    timepoint: str  # "pre-infusion"
    score: str  # "12 / 27 (moderate)" or "high risk"
    answers: str  # "1:2 2:2 3:1 …" (item number:answer; "–" not asked)
    administered: str  # "self-report on the station, entered for Ana Ruiz, RN" …
    course: str = ""  # "−50 % from baseline 16; response"
    safety: str = ""  # the positive screen's reason ("" when negative)


@dataclass(frozen=True)
class SafetyRow:
    """A safety assessment and plan after a positive screen, or the re-check before discharge."""

    at: datetime
    kind: str  # "Safety assessment before the infusion" | "Re-check before discharge"
    assessment: str
    plan: str
    decision: str  # "infusion may proceed" | "do not proceed" …
    by: str


@dataclass(frozen=True)
class AlarmRow:
    """An alarm raised during the session and what was done about it."""

    at: datetime
    priority: str
    text: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    response: str = ""


@dataclass(frozen=True)
class DischargeItem:
    """One item of a discharge scoring scale (e.g. Aldrete activity 2/2)."""

    name: str
    score: float
    max_score: float
    detail: str = ""


@dataclass(frozen=True)
class CriterionRow:
    """A discharge criterion, whether it was met, and the evidence for it."""

    text: str
    met: bool
    evidence: str = ""


@dataclass(frozen=True)
class OverrideRow:
    """A documented override of a rule: what was overridden, why, by whom and when."""

    what: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class DischargeInfo:
    """Discharge assessment and approval (§6.3 items 6 and 7)."""

    scale_name: str
    assessed_at: datetime | None
    items: tuple[DischargeItem, ...]
    criteria: tuple[CriterionRow, ...]
    overrides: tuple[OverrideRow, ...] = ()
    escort: str = ""
    instructions_given: bool = False
    condition: str = ""
    next_appointment: str = ""
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def total(self) -> float:
        """Sum of the item scores."""
        return sum(i.score for i in self.items)

    @property
    def max_total(self) -> float:
        """Sum of the item maxima."""
        return sum(i.max_score for i in self.items)


@dataclass(frozen=True)
class AddendumInfo:
    """Marks this note as an addendum superseding an earlier signed version."""

    reason: str
    supersedes_note_id: str
    supersedes_version: int
    entered_by: str
    entered_at: datetime


@dataclass(frozen=True)
class SignatureSlot:
    """A signature box on the last page: PDF field name, the role label and the Part 11 meaning."""

    field_name: str
    role: str
    meaning: str


NURSE_SLOT = SignatureSlot(
    "NurseSignature", "Documented by (infusion RN)", "Performed and documented this session"
)
CHARGE_SLOT = SignatureSlot(
    "ChargeNurseSignature",
    "Approved for discharge (charge RN)",
    "Reviewed — approved for discharge",
)


@dataclass(frozen=True)
class SpravatoDeviceRow:
    """One Spravato nasal device on the note: number, time, lot, mg and who observed it."""

    number: int
    at: datetime
    lot: str
    mg: int
    by: str


@dataclass(frozen=True)
class SpravatoNote:
    """The Spravato part of a note (issue 17): the dose, the devices, the prescriber's pre-dose
    decision if one was needed, and the REMS Patient Monitoring Form as of the note."""

    dose_mg: int
    devices: tuple[SpravatoDeviceRow, ...]
    decision: str
    form: MonitoringForm


@dataclass(frozen=True)
class NoteContent:
    """Everything printed on one version of a session note."""

    note_id: str
    version: int
    generated_at: datetime
    app_version: str
    clinic_name: str
    header: NoteHeader
    checklist: tuple[ChecklistRow, ...]
    baseline_vitals: VitalsRow | None
    infusion: InfusionRecord | None
    vitals: tuple[VitalsRow, ...]
    chart_series: tuple[ChartSeries, ...]
    chart_markers: tuple[ChartMarker, ...]
    medications: tuple[MedicationRow, ...]
    assessments: tuple[AssessmentRow, ...]
    alarms: tuple[AlarmRow, ...]
    discharge: DischargeInfo | None
    addendum: AddendumInfo | None = None
    signature_slots: tuple[SignatureSlot, ...] = (NURSE_SLOT, CHARGE_SLOT)
    display_tz: str | None = None
    # Resolution of the device data in `vitals`, in seconds (None: every reading is a row).
    vitals_interval_s: int | None = None
    # Set when the session ended without treatment: the reason given ("start refused at
    # baseline: BP 190/105"). The note then says NOT TREATED, never "infusion not started".
    not_treated_reason: str | None = None
    # Set for a Spravato session: it replaces the infusion record (no pump, no mg/kg).
    spravato: SpravatoNote | None = None
    # Outcome measures and the suicide-risk screen (issue 16); `safety_flag` is the banner text
    # when a screen was positive this session.
    outcomes: tuple[OutcomeRow, ...] = ()
    safety: tuple[SafetyRow, ...] = ()
    safety_flag: str | None = None
    # The audit chain's head ("<row id>:<hash>") when the note was built: stored inside the signed
    # PDF so that a later rewrite of the trail before it shows (app/trail.py).
    audit_head: str | None = None

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None:
            raise ValueError("NoteContent.generated_at must be timezone-aware")

    @property
    def all_overrides(self) -> tuple[OverrideRow, ...]:
        """Discharge overrides plus medication overrides, in time order."""
        rows = list(self.discharge.overrides if self.discharge else ())
        rows += [
            OverrideRow(
                f"{m.drug} {_num(m.dose)} {m.unit} {m.route}", m.override_reason, m.nurse, m.at
            )
            for m in self.medications
            if m.override_reason
        ]
        return tuple(sorted(rows, key=lambda r: r.at))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
