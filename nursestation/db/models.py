"""SQLAlchemy 2 typed models. Clinical facts are insert-only rows (enforced by triggers in the
migrations); a correction is a new row that points at the row it supersedes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from nursestation.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
utc = Annotated[datetime, mapped_column(UTCDateTime())]


class Base(DeclarativeBase):
    """Declarative base with a naming convention (Alembic batch mode needs named constraints)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON, list: JSON}


# ---------------------------------------------------------------- people


class User(Base):
    """A unique person who signs in. Roles live in UserRole (a user may hold several)."""

    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    credentials: Mapped[str] = mapped_column(String(64), default="")  # e.g. "RN"
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    signing_credential: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed (report/pki.py)
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[utc]
    password_changed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def role_names(self) -> frozenset[str]:
        """The user's roles as plain strings."""
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    """One role held by a user: nurse, charge_nurse or administrator."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[User] = relationship(back_populates="roles")


class Patient(Base):
    """A patient in the clinic's registry."""

    __tablename__ = "patients"

    id: Mapped[intpk]
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))  # "Family, Given"
    dob: Mapped[date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    reproductive_potential: Mapped[bool | None] = mapped_column(Boolean)
    weight_kg: Mapped[float] = mapped_column(Float)
    weight_date: Mapped[date] = mapped_column(Date)
    weight_measured: Mapped[bool] = mapped_column(Boolean, default=True)
    allergies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The chart (issue 16): each allergy's reaction and severity, keyed by the entry in
    # `allergies` (which the dose checks read); contact details. Every change is a row in
    # patient_changes.
    allergy_details: Mapped[list[dict] | None] = mapped_column(JSON)
    contact: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[utc]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# ---------------------------------------------------------------- session and infusion


class InfusionSession(Base):
    """One visit of a patient in a chair: protocol, dose calculation and checklist at check-in.

    The phase is not stored: it is derived from infusion events, discharge approval and
    `ended_at`, so it can never disagree with them.
    """

    __tablename__ = "infusion_sessions"

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    chair: Mapped[str] = mapped_column(String(32), index=True)
    session_type: Mapped[str] = mapped_column(String(32), default="iv_ketamine")
    session_number: Mapped[int] = mapped_column(Integer, default=1)  # in the patient's series
    checked_in_at: Mapped[utc]
    checked_in_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # protocol and dose calculation, stored as shown to the nurse before start
    dose_mg_per_kg: Mapped[float] = mapped_column(Float)
    duration_min: Mapped[float] = mapped_column(Float)
    concentration_mg_per_ml: Mapped[float] = mapped_column(Float)
    weight_kg_used: Mapped[float] = mapped_column(Float)
    total_mg: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float] = mapped_column(Float)
    rate_mg_per_h: Mapped[float] = mapped_column(Float)
    rate_ml_per_h: Mapped[float] = mapped_column(Float)
    ketamine_lot: Mapped[str | None] = mapped_column(String(64))
    prescriber: Mapped[str | None] = mapped_column(String(200))
    order_text: Mapped[str | None] = mapped_column(Text)  # the order as written (0003_paper)
    order_date: Mapped[date | None] = mapped_column(Date)  # the order's date
    checklist: Mapped[dict] = mapped_column(JSON, default=dict)
    checklist_result: Mapped[dict] = mapped_column(JSON, default=dict)
    checklist_override_reason: Mapped[str | None] = mapped_column(Text)
    checklist_override_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checklist_override_at: Mapped[datetime | None]
    settings_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    ended_at: Mapped[datetime | None]  # discharged, cancelled or not treated
    end_reason: Mapped[str | None] = mapped_column(String(32))  # discharged|cancelled|not_treated
    end_detail: Mapped[str | None] = mapped_column(Text)  # the reason given for "not treated"
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The latest change that moved `version` (app/concurrency.py): when, by whom (the name as
    # shown), at which station, which use case (its audit action). The audit trail has the rest.
    changed_at: Mapped[datetime | None]
    changed_by: Mapped[str | None] = mapped_column(String(200))
    changed_station: Mapped[str | None] = mapped_column(String(128))
    changed_action: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_infusion_sessions_open", "chair", "ended_at"),)


class InfusionEvent(Base):
    """start / pause / resume / rate_change / stop, insert-only: the timer is derived from these."""

    __tablename__ = "infusion_events"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[utc]
    rate_mg_per_h: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[utc]


# ---------------------------------------------------------------- vitals and devices


def _newest_with(name: str, condition: str) -> Index:
    """(session_id, observed_at) over only the rows where `condition` holds: the newest such row
    of a session is then found without walking back over rows that lack it (a monitor without
    RR, a BP every few minutes), whatever the length of the session's history."""
    return Index(
        f"ix_vital_readings_{name}",
        "session_id",
        "observed_at",
        sqlite_where=text(condition),
        postgresql_where=text(condition),
    )


# The conditions of the partial indexes, repeated word for word by the queries that use them
# (db/queries.py): SQLite only uses a partial index when the query states its condition.
VITAL_PRESENT: dict[str, str] = {
    "sbp": "sbp IS NOT NULL",
    "hr": "(hr IS NOT NULL OR pulse_rate IS NOT NULL)",
    "spo2": "spo2 IS NOT NULL",
    "rr": "rr IS NOT NULL",
    "temp_c": "temp_c IS NOT NULL",
    "sedation": "sedation_score IS NOT NULL",
}


class VitalReading(Base):
    """One set of vital signs observed at one time, manual or from a device. Insert-only."""

    __tablename__ = "vital_readings"
    __table_args__ = (
        # Every per-session query of the board, the flowsheet and discharge reads by time.
        Index("ix_vital_readings_session_observed", "session_id", "observed_at"),
        *(_newest_with(name, cond) for name, cond in VITAL_PRESENT.items()),
        # Corrections are few: the "not superseded" filter reads only them.
        Index(
            "ix_vital_readings_corrections",
            "session_id",
            "supersedes_id",
            sqlite_where=text("supersedes_id IS NOT NULL"),
            postgresql_where=text("supersedes_id IS NOT NULL"),
        ),
    )

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"))
    observed_at: Mapped[utc]
    recorded_at: Mapped[utc]
    sbp: Mapped[float | None] = mapped_column(Float)
    dbp: Mapped[float | None] = mapped_column(Float)
    map: Mapped[float | None] = mapped_column(Float)
    hr: Mapped[float | None] = mapped_column(Float)
    pulse_rate: Mapped[float | None] = mapped_column(Float)
    spo2: Mapped[float | None] = mapped_column(Float)
    rr: Mapped[float | None] = mapped_column(Float)
    etco2: Mapped[float | None] = mapped_column(Float)
    temp_c: Mapped[float | None] = mapped_column(Float)
    on_room_air: Mapped[bool | None] = mapped_column(Boolean)
    sedation_scale: Mapped[str | None] = mapped_column(String(16))
    sedation_score: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # manual | device
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_port: Mapped[str | None] = mapped_column(String(255))
    device_protocol: Mapped[str | None] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(64))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    soft_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("vital_readings.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)


class DeviceReading(Base):
    """Every value a monitor sent, with its quality, kept raw for audit. Insert-only."""

    __tablename__ = "device_readings"
    # The NIBP repeat check of each batch looks up (session, parameter, device time).
    __table_args__ = (
        Index("ix_device_readings_session_param_time", "session_id", "param", "device_time"),
    )

    id: Mapped[intpk]
    session_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_sessions.id"))
    chair: Mapped[str] = mapped_column(String(32))
    port: Mapped[str] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str | None] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    quality: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    device_time: Mapped[str | None] = mapped_column(String(40))  # as sent; may have no zone
    host_time: Mapped[utc]


class DeviceBinding(Base):
    """Which monitor feeds which chair, with its port settings (configuration, editable)."""

    __tablename__ = "device_bindings"

    id: Mapped[intpk]
    chair: Mapped[str] = mapped_column(String(32), unique=True)
    protocol: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(255))
    baudrate: Mapped[int] = mapped_column(Integer, default=9600)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[utc]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The station that opens the port (issue 15); the others show the stored readings. None:
    # made before stations had names in bindings, claimed by the first station that captures.
    station: Mapped[str | None] = mapped_column(String(128))


# ---------------------------------------------------------------- medications, assessments, alarms


class MedicationAdministration(Base):
    """A PRN dose given during the session (ketamine itself is on the session). Insert-only."""

    __tablename__ = "medication_administrations"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    drug: Mapped[str] = mapped_column(String(64))
    dose: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16))
    indication: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[utc]
    recorded_at: Mapped[utc]
    given_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    triggering_vital_id: Mapped[int | None] = mapped_column(ForeignKey("vital_readings.id"))
    soft_max_reason: Mapped[str | None] = mapped_column(Text)
    lot: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("medication_administrations.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)
    # A charge nurse's reason for giving a PRN dose whose indication no current reading met.
    indication_override_reason: Mapped[str | None] = mapped_column(Text)
    indication_override_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MedicationResponse(Base):
    """The reassessment after a dose (e.g. BP 5 and 10 min after labetalol). Insert-only."""

    __tablename__ = "medication_responses"

    id: Mapped[intpk]
    administration_id: Mapped[int] = mapped_column(
        ForeignKey("medication_administrations.id"), index=True
    )
    at: Mapped[utc]
    recorded_at: Mapped[utc]
    measure: Mapped[str] = mapped_column(String(32))
    vital_id: Mapped[int | None] = mapped_column(ForeignKey("vital_readings.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Assessment(Base):
    """A scored assessment: sedation, dissociation, Aldrete, PADSS, discharge checklist. Insert-only;
    repeat assessments are new rows."""

    __tablename__ = "assessments"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[utc]
    recorded_at: Mapped[utc]
    score: Mapped[float | None] = mapped_column(Float)
    items: Mapped[dict] = mapped_column(JSON, default=dict)
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))


class DischargeOverride(Base):
    """A charge nurse's override of one failing criterion (or a checklist hard stop), with reason."""

    __tablename__ = "discharge_overrides"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    criterion: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]


class DischargeApproval(Base):
    """The charge nurse's sign-off, meaning 'Approved for discharge'. One per session."""

    __tablename__ = "discharge_approvals"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), unique=True)
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]
    meaning: Mapped[str] = mapped_column(String(64))
    criteria: Mapped[dict] = mapped_column(JSON, default=dict)


class AlarmEvent(Base):
    """Alarm raised / cleared / acknowledged / audio paused, for the note and the audit. Insert-only."""

    __tablename__ = "alarm_events"

    id: Mapped[intpk]
    session_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    chair: Mapped[str] = mapped_column(String(32))
    alarm_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))  # physiological | technical
    priority: Mapped[str] = mapped_column(String(8))  # high | medium | low
    event: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]
    # The vital parameter or technical code the alarm is about: a restart restores the same
    # alarm (and its acknowledgement) from it.
    source: Mapped[str | None] = mapped_column(String(32))


# ---------------------------------------------------------------- Spravato (REMS)


class RemsEnrolment(Base):
    """A patient's SPRAVATO REMS enrolment as recorded before the first treatment. Insert-only:
    a correction is a new row (the latest row of a patient is the enrolment in force)."""

    __tablename__ = "rems_enrolments"

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    rems_patient_id: Mapped[str] = mapped_column(String(64))
    enrolled_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[utc]


class SpravatoDevice(Base):
    """One 28 mg Spravato nasal device given under observation, with its time and lot.
    Insert-only."""

    __tablename__ = "spravato_devices"
    __table_args__ = (UniqueConstraint("session_id", "device_no"),)

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    device_no: Mapped[int] = mapped_column(Integer)
    at: Mapped[utc]
    lot: Mapped[str] = mapped_column(String(64))
    mg: Mapped[int] = mapped_column(Integer)
    given_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[utc]


class RemsSubmission(Base):
    """The REMS Patient Monitoring Form's submission (date, how, confirmation number).
    Insert-only: a correction is a new row; the latest row of a session is in force."""

    __tablename__ = "rems_submissions"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    submitted_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))
    confirmation: Mapped[str] = mapped_column(String(128))
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[utc]


# ---------------------------------------------------------------- outcome measures (issue 16)


class OutcomeScore(Base):
    """A completed outcome measure or screen (PHQ-9, GAD-7, PCL-5, C-SSRS) at one timepoint of a
    session: every answer, the total, the band, who administered it. Insert-only; a correction
    is a new row that supersedes the original."""

    __tablename__ = "outcome_scores"
    __table_args__ = (Index("ix_outcome_scores_patient_scale", "patient_id", "scale"),)

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    scale: Mapped[str] = mapped_column(String(16))
    timepoint: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list] = mapped_column(JSON, default=list)  # per item; null = not asked
    total: Mapped[int | None] = mapped_column(Integer)  # None: a screen without a total
    band: Mapped[str] = mapped_column(String(64))
    safety_positive: Mapped[bool] = mapped_column(Boolean, default=False)
    safety_reason: Mapped[str | None] = mapped_column(Text)
    administered: Mapped[str] = mapped_column(String(16))  # self_report | clinician
    on_station: Mapped[bool] = mapped_column(Boolean, default=False)  # patient typed it in
    at: Mapped[utc]
    recorded_at: Mapped[utc]
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("outcome_scores.id"))
    correction_reason: Mapped[str | None] = mapped_column(Text)


class ScaleDraft(Base):
    """A half-filled scale kept when its dialog closed (nothing entered is lost). Insert-only:
    the newest draft of (session, scale, timepoint) after the last completed score is open."""

    __tablename__ = "scale_drafts"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    scale: Mapped[str] = mapped_column(String(16))
    timepoint: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list] = mapped_column(JSON, default=list)
    saved_at: Mapped[utc]
    saved_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SafetyAssessment(Base):
    """A charge nurse's (or prescriber's) suicide-risk assessment and plan after a positive
    screen (kind "pre_infusion"), or the re-check before the patient leaves ("discharge_recheck",
    clinical.md §4.4 item 9). Insert-only."""

    __tablename__ = "safety_assessments"

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    assessment: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)
    proceed: Mapped[bool] = mapped_column(Boolean)  # infusion may go ahead / patient may leave
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    by_role: Mapped[str] = mapped_column(String(32))
    at: Mapped[utc]
    recorded_at: Mapped[utc]
# ---------------------------------------------------------------- the patient chart (issue 16)


class PatientChange(Base):
    """One field of the chart changed: old and new value, who, when and why. Insert-only: the
    chart's history is these rows, never overwritten."""

    __tablename__ = "patient_changes"

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[dict] = mapped_column(JSON)  # {"value": ...}: a JSON null stays a value
    new: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]


class PatientWeight(Base):
    """A weight measured at a visit (or on the chart). Insert-only: the chart lists them all;
    `change_pct` against the last visit, `confirmed_by` when it was over the clinic's limit."""

    __tablename__ = "patient_weights"

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_sessions.id"))
    weight_kg: Mapped[float] = mapped_column(Float)
    measured_on: Mapped[date] = mapped_column(Date)
    previous_kg: Mapped[float | None] = mapped_column(Float)
    change_pct: Mapped[float | None] = mapped_column(Float)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]


class CoursePlan(Base):
    """The patient's course plan as set by the nurse (induction series, maintenance, booster;
    sessions planned in the phase; next appointment). Insert-only: the latest row is in force."""

    __tablename__ = "course_plans"

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    sessions_planned: Mapped[int] = mapped_column(Integer)
    phase_start: Mapped[date] = mapped_column(Date)
    next_appointment: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notes: Mapped[str | None] = mapped_column(Text)
    by_user: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[utc]


# ---------------------------------------------------------------- notes and signatures


class Note(Base):
    """One version of a session note. An addendum is a new version linked to the one it corrects."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    id: Mapped[intpk]
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id"))
    addendum_reason: Mapped[str | None] = mapped_column(Text)
    addendum_text: Mapped[str | None] = mapped_column(Text)  # the late entry itself
    created_at: Mapped[utc]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class NoteDocument(Base):
    """The PDF bytes of a note after each signature (signing is an incremental update). Insert-only."""

    __tablename__ = "note_documents"
    __table_args__ = (UniqueConstraint("note_id", "seq"),)

    id: Mapped[intpk]
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32))  # signed | countersigned
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[utc]


class NoteSignature(Base):
    """Who signed which document, when, and with what meaning. Insert-only."""

    __tablename__ = "note_signatures"

    id: Mapped[intpk]
    document_id: Mapped[int] = mapped_column(ForeignKey("note_documents.id"), index=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(64))
    field_name: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[utc]


# ---------------------------------------------------------------- audit


class AuditEvent(Base):
    """The audit trail: append-only (triggers) and hash-chained to detect edits outside the app."""

    __tablename__ = "audit_events"
    # An entity's newest seal (db/seals.py) in one index step.
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    id: Mapped[intpk]
    at: Mapped[utc]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    """The audit chain's head at one moment, signed by a clinical user's key (app/trail.py):
    rewriting or cutting the chain before it no longer matches a signature. Append-only."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[intpk]
    at: Mapped[utc]
    station: Mapped[str] = mapped_column(String(128))
    audit_id: Mapped[int] = mapped_column(Integer, index=True)
    audit_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signer: Mapped[str] = mapped_column(String(200))
    certificate_pem: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
# ---------------------------------------------------------------- the clinic (issue 15)


class ClinicCA(Base):
    """The clinic's signing CA: the trust anchor every station verifies notes against. One row
    (`anchor` is unique). The key is sealed under the CA passphrase, which is never stored
    (report/pki.seal_ca_key); a passphrase change rewrites `sealed_key` only (audited)."""

    __tablename__ = "clinic_ca"

    id: Mapped[intpk]
    anchor: Mapped[str] = mapped_column(String(16), unique=True, default="clinic")
    clinic_name: Mapped[str] = mapped_column(String(200))
    cert_pem: Mapped[str] = mapped_column(Text)
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: certificate only
    created_at: Mapped[utc]
    station: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(200))  # "created" or "imported from <dir>"


class ClinicSettingsVersion(Base):
    """One version of the clinic's settings overrides (the shipped defaults apply beneath it).
    Append-only: every change is a new row with who, when and why; the newest row is active."""

    __tablename__ = "clinic_settings_versions"

    id: Mapped[intpk]
    created_at: Mapped[utc]
    station: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    overrides: Mapped[dict] = mapped_column(JSON)


# Tables whose rows may never be updated or deleted once written (triggers in the migrations).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "infusion_events",
    "vital_readings",
    "device_readings",
    "medication_administrations",
    "medication_responses",
    "assessments",
    "discharge_overrides",
    "discharge_approvals",
    "alarm_events",
    "notes",
    "note_documents",
    "note_signatures",
    "audit_events",
    "rems_enrolments",
    "spravato_devices",
    "rems_submissions",
    "outcome_scores",
    "scale_drafts",
    "safety_assessments",
    "audit_checkpoints",
    "clinic_settings_versions",
    "patient_changes",
    "patient_weights",
    "course_plans",
)
