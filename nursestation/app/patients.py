"""Patient registry: register, search, update weight and allergies; the chart (issue 16): edits
field by field with their history (who, when, old -> new, why), structured allergies (reaction,
severity), contact details and the weight measured at each visit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.record import clinic_zone
from nursestation.db.models import InfusionSession, Patient, PatientChange, PatientWeight, User
from nursestation.dosing import DosingLimits
from nursestation.errors import (
    BAD_INPUT,
    CONFIRMATION_REQUIRED,
    DUPLICATE,
    NOT_FOUND,
    OUT_OF_RANGE,
    DomainError,
)
from nursestation.text_checks import clean_list, clean_text
from nursestation.vitals import fmt_number
from nursestation.wording import allergy_text

MAX_AGE_YEARS = 120  # a date of birth further back than this is a typing error, not a patient
# Lengths are those of the columns (db/models.py): longer text would be cut or refused there.
MAX_MRN = 64
MAX_NAME = 200
MAX_ALLERGY = 200
MAX_ALLERGIES = 50  # [GK] a bound on a list typed by hand, not a clinical number


@dataclass(frozen=True)
class Allergy:
    """One documented allergy: the substance (what the dose checks match), the reaction and the
    severity when known (None: not recorded)."""

    substance: str
    reaction: str | None = None
    severity: str | None = None

    def text(self) -> str:
        """In words, e.g. "penicillin (rash, severe)" (wording.allergy_text)."""
        return allergy_text(self.substance, self.reaction, self.severity)

    def as_json(self) -> dict[str, str | None]:
        """The stored form."""
        return {"substance": self.substance, "reaction": self.reaction, "severity": self.severity}


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
    allergy_details: tuple[Allergy, ...] = ()
    contact: Mapping[str, str] = field(default_factory=dict)

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
        allergies_of(p),
        {k: str(v) for k, v in (p.contact or {}).items() if v},
    )


def allergies_of(p: Patient) -> tuple[Allergy, ...]:
    """The patient's allergies with reaction and severity where recorded (an entry registered
    as plain text has neither)."""
    details = {str(d.get("substance")): d for d in (p.allergy_details or ())}
    out = []
    for entry in p.allergies or ():
        d = details.get(entry, {})
        out.append(Allergy(entry, d.get("reaction") or None, d.get("severity") or None))
    return tuple(out)


def _check_dob(dob: Any, today: date) -> None:
    """A date of birth is a date, not in the future, within MAX_AGE_YEARS (field dob)."""
    if not isinstance(dob, date) or isinstance(dob, datetime):
        raise DomainError(BAD_INPUT, "Date of birth must be a date (YYYY-MM-DD).", field="dob")
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
    _check_dob(dob, today)
    if weight_kg is None:
        raise DomainError(BAD_INPUT, "Weight is required (kg).", field="weight_kg")
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
        s.add(
            PatientWeight(
                patient_id=p.id,
                weight_kg=float(weight_kg),
                measured_on=weight_date,
                previous_kg=p.weight_kg,
                change_pct=change_pct(p.weight_kg, float(weight_kg)),
                by_user=actor.user_id,
                at=ctx.now(),
            )
        )
        p.weight_kg = float(weight_kg)
        p.weight_date = weight_date
        p.weight_measured = True
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


# ---------------------------------------------------------------- the chart (issue 16)

SEXES = ("female", "male", "other")  # as the registration form offers them
CONTACT_FIELDS = ("phone", "email", "address", "emergency_name", "emergency_phone")
MAX_CONTACT = 300
MAX_REACTION = 200
MAX_REASON = 2000
# The chart's editable fields (MRN is the identifier: never edited; weight has its own rows).
EDITABLE = (
    "name",
    "dob",
    "sex",
    "reproductive_potential",
    "allergies",
    *(f"contact.{k}" for k in CONTACT_FIELDS),
)


def change_pct(previous_kg: float | None, weight_kg: float) -> float | None:
    """The change from `previous_kg` in percent of it, rounded to 0.1 % (the figure the nurse
    reads is the one compared with the limit); None without a previous weight."""
    if not previous_kg:
        return None
    return round((weight_kg - previous_kg) / previous_kg * 100, 1)


def _allergy(ctx: AppContext, raw: Any, n: int) -> Allergy:
    """One allergy from the chart form or a scenario: an Allergy, a mapping with substance,
    reaction and severity, or plain text (the substance alone)."""
    if isinstance(raw, Allergy):
        raw = raw.as_json()
    if isinstance(raw, str):
        raw = {"substance": raw}
    if not isinstance(raw, Mapping):
        raise DomainError(
            BAD_INPUT,
            f"Allergy {n} must be a substance with its reaction and severity.",
            field="allergies",
        )
    label = f"Allergy {n}"
    substance = clean_text(
        raw.get("substance"), field="allergies", label=f"{label}: substance", max_len=MAX_ALLERGY
    )
    reaction = clean_text(
        raw.get("reaction"),
        field="allergies",
        label=f"{label}: reaction",
        max_len=MAX_REACTION,
        required=False,
    )
    severity = raw.get("severity") or None
    allowed = tuple(ctx.settings.get("chart.allergy_severities"))
    if severity is not None and severity not in allowed:
        raise DomainError(
            BAD_INPUT,
            f"{label}: severity '{severity}' is not one of {', '.join(allowed)} "
            "(or leave it empty when not known).",
            field="allergies",
        )
    assert substance is not None  # required
    return Allergy(substance, reaction, severity)


def _checked_value(ctx: AppContext, key: str, value: Any) -> Any:
    """The new value of one chart field, validated; refused naming the field and what is
    allowed. Returns the JSON form stored in the history."""
    today = ctx.now().date()
    if key == "name":
        return clean_text(value, field="name", label="Name (Family, Given)", max_len=MAX_NAME)
    if key == "dob":
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise DomainError(
                    BAD_INPUT, f"Date of birth '{value}' is not a date (YYYY-MM-DD).", field="dob"
                ) from None
        _check_dob(value, today)
        return value.isoformat()
    if key == "sex":
        if value in (None, ""):
            return None
        if value not in SEXES:
            raise DomainError(
                BAD_INPUT, f"Sex '{value}' is not one of {', '.join(SEXES)}.", field="sex"
            )
        return value
    if key == "reproductive_potential":
        if value is not None and not isinstance(value, bool):
            raise DomainError(
                BAD_INPUT,
                "Reproductive potential is yes, no or not recorded.",
                field="reproductive_potential",
            )
        return value
    if key == "allergies":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise DomainError(
                BAD_INPUT,
                "Allergies must be a list of entries (an empty list: no known allergies).",
                field="allergies",
            )
        if len(value) > MAX_ALLERGIES:
            raise DomainError(
                OUT_OF_RANGE,
                f"{len(value)} allergies: allowed at most {MAX_ALLERGIES}.",
                field="allergies",
            )
        entries = [_allergy(ctx, raw, n) for n, raw in enumerate(value, start=1)]
        seen: set[str] = set()
        for a in entries:
            if a.substance.casefold() in seen:
                raise DomainError(
                    DUPLICATE, f"Allergy '{a.substance}' is listed twice.", field="allergies"
                )
            seen.add(a.substance.casefold())
        return [a.as_json() for a in entries]
    if key.startswith("contact.") and key.split(".", 1)[1] in CONTACT_FIELDS:
        from nursestation.wording import chart_field_label

        return clean_text(
            value, field=key, label=chart_field_label(key), max_len=MAX_CONTACT, required=False
        )
    raise DomainError(
        BAD_INPUT,
        f"'{key}' is not a field of the chart that can be edited.",
        field=key,
    )


def _current_value(p: Patient, key: str) -> Any:
    """A chart field's stored value in the JSON form of the history."""
    if key == "dob":
        return p.dob.isoformat()
    if key == "allergies":
        return [a.as_json() for a in allergies_of(p)]
    if key.startswith("contact."):
        return (p.contact or {}).get(key.split(".", 1)[1]) or None
    return getattr(p, key)


def _apply(p: Patient, key: str, value: Any) -> None:
    if key == "dob":
        p.dob = date.fromisoformat(value)
    elif key == "allergies":
        p.allergies = [a["substance"] for a in value]
        p.allergy_details = list(value)
    elif key.startswith("contact."):
        contact = dict(p.contact or {})
        contact[key.split(".", 1)[1]] = value
        p.contact = {k: v for k, v in contact.items() if v}
    else:
        setattr(p, key, value)


def edit_patient(
    ctx: AppContext, actor: Actor, mrn: str, changes: Mapping[str, Any], reason: str
) -> PatientInfo:
    """Change chart fields (`changes`: field -> new value, fields in EDITABLE) with a written
    reason. Every changed field keeps its old value in the history (patient_changes: who,
    when, old -> new, why) and the audit trail; unchanged fields are left out. Refused naming
    the field: an unknown field, an impossible value, no reason, nothing changed."""
    ctx.require(actor, "edit_patient")
    min_chars = int(ctx.settings.get("chart.edit_min_reason_chars"))
    why = clean_text(reason, field="reason", label="Reason for the change", max_len=MAX_REASON)
    assert why is not None
    if len(why) < min_chars:
        raise DomainError(
            BAD_INPUT,
            f"Reason for the change: at least {min_chars} characters, saying why.",
            field="reason",
        )
    checked = {key: _checked_value(ctx, key, value) for key, value in changes.items()}
    with ctx.tx() as s:
        p = get_patient_row(s, mrn)
        diffs = {
            k: (_current_value(p, k), v) for k, v in checked.items() if _current_value(p, k) != v
        }
        if not diffs:
            raise DomainError(BAD_INPUT, "Nothing was changed on the chart.", field="changes")
        now = ctx.now()
        for key, (old, new) in diffs.items():
            _apply(p, key, new)
            s.add(
                PatientChange(
                    patient_id=p.id,
                    field=key,
                    old={"value": old},
                    new={"value": new},
                    reason=why,
                    by_user=actor.user_id,
                    at=now,
                )
            )
        ctx.audit(
            s,
            actor,
            "patient.edit",
            "patient",
            p.id,
            before={k: old for k, (old, _) in diffs.items()},
            after={**{k: new for k, (_, new) in diffs.items()}, "reason": why},
        )
        s.flush()
        return info(p)


@dataclass(frozen=True)
class ChartChange:
    """One changed field of the chart as the history shows it."""

    field: str
    old: Any
    new: Any
    reason: str
    by_name: str
    at: datetime


def chart_history(ctx: AppContext, actor: Actor, mrn: str) -> list[ChartChange]:
    """Every change of the patient's chart, oldest first (old values stay readable here)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        p = get_patient_row(s, mrn)
        rows = s.execute(
            select(PatientChange, User.full_name)
            .join(User, User.id == PatientChange.by_user)
            .where(PatientChange.patient_id == p.id)
            .order_by(PatientChange.at, PatientChange.id)
        ).all()
        return [
            ChartChange(c.field, c.old.get("value"), c.new.get("value"), c.reason, name, c.at)
            for c, name in rows
        ]


# ---------------------------------------------------------------- weight per visit


@dataclass(frozen=True)
class WeightCheck:
    """Today's weight against the last visit's: the change, and whether it is over the clinic's
    limit (then the nurse confirms before the dose is calculated from it)."""

    weight_kg: float
    previous_kg: float | None
    previous_on: date | None
    change_pct: float | None
    limit_pct: float

    @property
    def needs_confirmation(self) -> bool:
        """True when the change is over the limit (either way); exactly at it is not."""
        return self.change_pct is not None and abs(self.change_pct) > self.limit_pct

    def message(self) -> str:
        """The question put to the nurse."""
        pct = self.change_pct or 0.0
        way = "more" if pct > 0 else "less"
        return (
            f"Weight {fmt_number(self.weight_kg)} kg is {fmt_number(abs(pct))} % {way} than at "
            f"the last visit ({fmt_number(self.previous_kg or 0.0)} kg on {self.previous_on}): over "
            f"the clinic's {fmt_number(self.limit_pct)} %. Check the scale and confirm the "
            "weight before the dose is calculated from it."
        )


def last_visit_weight(ctx: AppContext, s: Session, p: Patient) -> tuple[float, date] | None:
    """The weight the last visit's dose used, and its date in the clinic's zone; before any
    visit the registered weight (None only for a patient without one, which registration
    refuses)."""
    last = s.execute(
        select(InfusionSession.weight_kg_used, InfusionSession.checked_in_at)
        .where(InfusionSession.patient_id == p.id)
        .order_by(InfusionSession.checked_in_at.desc(), InfusionSession.id.desc())
        .limit(1)
    ).first()
    if last is not None:
        return float(last[0]), last[1].astimezone(clinic_zone(ctx)).date()
    if p.weight_kg:
        return float(p.weight_kg), p.weight_date
    return None


def weight_check_in(ctx: AppContext, s: Session, p: Patient, weight_kg: Any) -> WeightCheck:
    """Today's weight validated (the registry's limits) and compared with the last visit."""
    _validate(ctx, p.mrn, p.name, p.dob, weight_kg, ctx.now().date())
    last = last_visit_weight(ctx, s, p)
    limit = float(ctx.settings.get("chart.weight_change_confirm_pct"))
    kg = float(weight_kg)
    if last is None:
        return WeightCheck(kg, None, None, None, limit)
    return WeightCheck(kg, last[0], last[1], change_pct(last[0], kg), limit)


def check_weight(ctx: AppContext, actor: Actor, mrn: str, weight_kg: float) -> WeightCheck:
    """The comparison the check-in will make, for the form to ask before it is sent."""
    ctx.require(actor, "check_in")
    with ctx.read_tx() as s:
        return weight_check_in(ctx, s, get_patient_row(s, mrn), weight_kg)


def confirm_visit_weight(
    ctx: AppContext, s: Session, p: Patient, weight_kg: Any, *, confirmed: bool
) -> WeightCheck:
    """Inside a check-in's transaction: today's weight checked against the last visit. A change
    over the clinic's limit is refused with confirmation_required (field weight_kg) unless
    `confirmed`: the nurse has looked at the scale again."""
    check = weight_check_in(ctx, s, p, weight_kg)
    if check.needs_confirmation and not confirmed:
        raise DomainError(CONFIRMATION_REQUIRED, check.message(), field="weight_kg")
    return check


def store_visit_weight(
    ctx: AppContext, actor: Actor, s: Session, p: Patient, check: WeightCheck, session_id: int
) -> None:
    """Today's weight becomes the patient's weight and a row of the weight history, linked to
    the session whose dose it gave (who confirmed it when the change was over the limit)."""
    s.add(
        PatientWeight(
            patient_id=p.id,
            session_id=session_id,
            weight_kg=check.weight_kg,
            measured_on=ctx.now().date(),
            previous_kg=check.previous_kg,
            change_pct=check.change_pct,
            confirmed_by=actor.user_id if check.needs_confirmation else None,
            by_user=actor.user_id,
            at=ctx.now(),
        )
    )
    p.weight_kg = check.weight_kg
    p.weight_date = ctx.now().date()
    p.weight_measured = True


@dataclass(frozen=True)
class WeightEntry:
    """One weight of the history."""

    weight_kg: float
    measured_on: date
    session_id: int | None
    previous_kg: float | None
    change_pct: float | None
    confirmed_by: str | None
    by_name: str
    at: datetime


def weight_history(ctx: AppContext, actor: Actor, mrn: str) -> list[WeightEntry]:
    """Every weight recorded since registration, oldest first (the registration weight is the
    patient row's first value, shown by the chart as such)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        p = get_patient_row(s, mrn)
        names = {uid: n for uid, n in s.execute(select(User.id, User.full_name))}
        rows = s.execute(
            select(PatientWeight)
            .where(PatientWeight.patient_id == p.id)
            .order_by(PatientWeight.at, PatientWeight.id)
        ).scalars()
        return [
            WeightEntry(
                w.weight_kg,
                w.measured_on,
                w.session_id,
                w.previous_kg,
                w.change_pct,
                names.get(w.confirmed_by) if w.confirmed_by else None,
                names.get(w.by_user, "?"),
                w.at,
            )
            for w in rows
        ]
