"""Patient registry: register, search, update weight and allergies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select

from nursestation.app.context import Actor, AppContext
from nursestation.db.models import Patient
from nursestation.dosing import DosingLimits
from nursestation.errors import BAD_INPUT, DUPLICATE, NOT_FOUND, OUT_OF_RANGE, DomainError
from nursestation.text_checks import clean_list, clean_text
from nursestation.vitals import fmt_number

MAX_AGE_YEARS = 120  # a date of birth further back than this is a typing error, not a patient
# Lengths are those of the columns (db/models.py): longer text would be cut or refused there.
MAX_MRN = 64
MAX_NAME = 200
MAX_ALLERGY = 200
MAX_ALLERGIES = 50  # [GK] a bound on a list typed by hand, not a clinical number


@dataclass(frozen=True)
class PatientInfo:
    """A patient as shown to the nurse."""

    id: int
    mrn: str
    name: str
    dob: date
    weight_kg: float
    weight_date: date
    weight_measured: bool
    allergies: tuple[str, ...]
    sex: str | None
    reproductive_potential: bool | None

    def age_on(self, day: date) -> int:
        """Age in whole years on `day`."""
        return day.year - self.dob.year - ((day.month, day.day) < (self.dob.month, self.dob.day))


def info(p: Patient) -> PatientInfo:
    """DTO for a patient row."""
    return PatientInfo(
        p.id,
        p.mrn,
        p.name,
        p.dob,
        p.weight_kg,
        p.weight_date,
        p.weight_measured,
        tuple(p.allergies or ()),
        p.sex,
        p.reproductive_potential,
    )


def _validate(
    ctx: AppContext,
    mrn: str,
    name: str,
    dob: date | None,
    weight_kg: float | None,
    weight_date: date,
) -> None:
    today = ctx.now().date()
    clean_text(mrn, field="mrn", label="MRN", max_len=MAX_MRN)
    clean_text(name, field="name", label="Name (Family, Given)", max_len=MAX_NAME)
    # Both drive the dose and the note: required, never assumed (Convention 12).
    if dob is None:
        raise DomainError(BAD_INPUT, "Date of birth is required.", field="dob")
    if not isinstance(dob, date) or isinstance(dob, datetime):
        raise DomainError(BAD_INPUT, "Date of birth must be a date (YYYY-MM-DD).", field="dob")
    if weight_kg is None:
        raise DomainError(BAD_INPUT, "Weight is required (kg).", field="weight_kg")
    if dob > today:
        raise DomainError(
            OUT_OF_RANGE,
            f"Date of birth {dob} is in the future: allowed up to {today}.",
            field="dob",
        )
    if today.year - dob.year > MAX_AGE_YEARS:
        raise DomainError(
            OUT_OF_RANGE,
            f"Date of birth {dob} is impossible: allowed within the last {MAX_AGE_YEARS} years.",
            field="dob",
        )
    limits = DosingLimits.from_settings(ctx.settings)
    if (
        isinstance(weight_kg, bool)
        or not isinstance(weight_kg, int | float)
        or not limits.weight_kg.contains(float(weight_kg))
    ):
        raise DomainError(
            OUT_OF_RANGE,
            f"Weight {fmt_number(weight_kg)} kg is impossible: allowed {limits.weight_kg.text()}.",
            field="weight_kg",
        )
    if weight_date > today:
        raise DomainError(
            OUT_OF_RANGE, f"Date weighed {weight_date} is in the future.", field="weight_date"
        )


def register_patient(
    ctx: AppContext,
    actor: Actor,
    *,
    mrn: str,
    name: str,
    dob: date | None,
    weight_kg: float | None,
    weight_date: date | None = None,
    weight_measured: bool = True,
    allergies: list[str] | tuple[str, ...] = (),
    sex: str | None = None,
    reproductive_potential: bool | None = None,
) -> PatientInfo:
    """Add a patient; a duplicate MRN or an impossible value is refused with a clear message
    naming the field. Date of birth and weight are required. Allergies must be a list (a string
    is refused, not split into letters); names and entries refuse control and text-direction
    characters (nursestation.text_checks)."""
    ctx.require(actor, "register_patient")
    weight_date = weight_date or ctx.now().date()
    _validate(ctx, mrn, name, dob, weight_kg, weight_date)
    assert dob is not None and weight_kg is not None  # checked above
    mrn = mrn.strip()
    allergy_list = clean_list(
        allergies,
        field="allergies",
        label="Allergies",
        max_len=MAX_ALLERGY,
        max_items=MAX_ALLERGIES,
    )
    with ctx.tx() as s:
        if s.execute(select(Patient.id).where(Patient.mrn == mrn)).first():
            raise DomainError(DUPLICATE, f"MRN {mrn} is already registered.", field="mrn")
        p = Patient(
            mrn=mrn,
            name=name.strip(),
            dob=dob,
            weight_kg=float(weight_kg),
            weight_date=weight_date,
            weight_measured=weight_measured,
            allergies=allergy_list,
            sex=sex,
            reproductive_potential=reproductive_potential,
            created_at=ctx.now(),
            created_by=actor.user_id,
        )
        s.add(p)
        s.flush()
        ctx.audit(s, actor, "patient.create", "patient", p.id, after=_audit_view(p))
        return info(p)


def _audit_view(p: Patient) -> dict[str, object]:
    return {
        "mrn": p.mrn,
        "name": p.name,
        "dob": p.dob.isoformat(),
        "weight_kg": p.weight_kg,
        "weight_date": p.weight_date.isoformat(),
        "allergies": list(p.allergies or []),
    }


def update_weight(
    ctx: AppContext, actor: Actor, mrn: str, weight_kg: float, weight_date: date | None = None
) -> PatientInfo:
    """Record a new weight (the dose of the next check-in uses it)."""
    ctx.require(actor, "edit_patient")
    weight_date = weight_date or ctx.now().date()
    with ctx.tx() as s:
        p = get_patient_row(s, mrn)
        _validate(ctx, p.mrn, p.name, p.dob, weight_kg, weight_date)
        before = _audit_view(p)
        p.weight_kg = float(weight_kg)
        p.weight_date = weight_date
        ctx.audit(s, actor, "patient.update", "patient", p.id, before, _audit_view(p))
        return info(p)


def get_patient_row(s: object, mrn: str) -> Patient:
    """The patient row for an MRN, or not_found."""
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    p = s.execute(select(Patient).where(Patient.mrn == mrn.strip())).scalar_one_or_none()
    if p is None:
        raise DomainError(NOT_FOUND, f"No patient with MRN {mrn}.", field="mrn")
    return p


def find_patients(ctx: AppContext, actor: Actor, query: str, limit: int = 50) -> list[PatientInfo]:
    """Search by MRN (prefix) or name (any part, case-insensitive)."""
    ctx.require(actor, "view_session")
    q = query.strip()
    with ctx.tx() as s:
        stmt = select(Patient).order_by(Patient.name).limit(limit)
        if q:
            like = f"%{q.lower()}%"
            stmt = stmt.where(or_(Patient.mrn.startswith(q), func.lower(Patient.name).like(like)))
        return [info(p) for p in s.execute(stmt).scalars()]


def get_patient(ctx: AppContext, actor: Actor, mrn: str) -> PatientInfo:
    """One patient by MRN."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        return info(get_patient_row(s, mrn))
