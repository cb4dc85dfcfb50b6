"""Session (PRN) medications: give a dose through the formulary's dose checks, record the
response, list what was given (the ketamine infusion first), reassessment timers for the chair
card and the session view, the rows of the session note, and the administrator's formulary edits.

The rules live in nursestation.formulary and nursestation.dose_checks; this module feeds them
from the database and owns the transaction and the audit trail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation import dose_checks, infusion
from nursestation.app.context import Actor, AppContext
from nursestation.app.record import clinic_zone
from nursestation.app.sessions import (
    baseline_vitals,
    events_of,
    get_session_row,
    min_observation_for,
    planned_of,
)
from nursestation.clinic import ClinicSettings, ConfigError, load_defaults
from nursestation.clock import ensure_utc
from nursestation.db.models import (
    InfusionSession,
    MedicationAdministration,
    MedicationResponse,
    User,
    VitalReading,
)
from nursestation.db.queries import current_rows
from nursestation.dose_checks import PriorDose, check_dose, format_amount
from nursestation.errors import (
    BAD_INPUT,
    CONFIRMATION_REQUIRED,
    INVALID_STATE,
    NOT_FOUND,
    OUT_OF_RANGE,
    DomainError,
)
from nursestation.formulary import SECTION, Drug, Formulary
from nursestation.limits import TIER_RANK, VitalLimits, evaluate
from nursestation.vitals import fmt_number
from nursestation.wording import hm, indication_label, measure_label, vitals_text

# Shown instead of the raw indication keys of the formulary ("bp_above_limit").
_BP_PARAMS = ("sbp", "dbp", "map")


# ---------------------------------------------------------------- DTOs


@dataclass(frozen=True)
class DrugChoice:
    """One pick-list entry for the give-dose dialog: the formulary drug that prefills the form
    plus what this session has had of it so far."""

    drug: Drug
    given_so_far: float
    last_given_at: datetime | None
    next_allowed_at: datetime | None


@dataclass(frozen=True)
class PreDoseVitals:
    """The reading linked to a dose as its pre-dose vitals (the trigger for an antihypertensive)."""

    vital_id: int
    observed_at: datetime
    text: str
    breaches: tuple[str, ...]


@dataclass(frozen=True)
class ResponseRecord:
    """A recorded response to a dose (e.g. BP 5 min after labetalol)."""

    id: int
    administration_id: int
    at: datetime
    measure: str
    text: str
    vital_id: int | None
    vital_text: str
    by_name: str


@dataclass(frozen=True)
class AdministrationRecord:
    """One PRN dose as the session view and the note show it."""

    id: int
    session_id: int
    drug_key: str
    drug_name: str
    dose: float
    unit: str
    route: str
    indication: str
    indication_label: str
    given_at: datetime
    recorded_at: datetime
    given_by: int
    given_by_name: str
    trigger_vital_id: int | None
    pre_vitals_text: str
    soft_max_reason: str | None
    lot: str | None
    note: str | None
    session_total: float  # this drug's session total including this dose
    cumulative_max: float
    responses: tuple[ResponseRecord, ...]
    indication_override_reason: str | None = None  # the indication was not met at the dose
    indication_override_by_name: str | None = None

    @property
    def indication_text(self) -> str:
        """The indication as the note prints it, with the charge nurse's override if any."""
        if self.indication_override_reason is None:
            return self.indication_label
        return (
            f"{self.indication_label} (not met by the readings; override by "
            f"{self.indication_override_by_name}: {self.indication_override_reason})"
        )

    @property
    def dose_text(self) -> str:
        """E.g. "Labetalol 20 mg IV"."""
        return f"{self.drug_name} {fmt_number(self.dose)} {self.unit} {self.route}"


@dataclass(frozen=True)
class KetamineRow:
    """The ketamine infusion as the first row of the medication list."""

    lot: str | None
    concentration_mg_per_ml: float
    dose_mg_per_kg: float
    weight_kg: float
    ordered_mg: float
    delivered_mg: float
    duration_min: float
    rate_mg_per_h: float
    phase: str
    started_at: datetime | None

    @property
    def text(self) -> str:
        """One line: order, delivered and lot."""
        lot = self.lot or "lot not recorded"
        return (
            f"Ketamine {fmt_number(self.dose_mg_per_kg)} mg/kg × {fmt_number(self.weight_kg)} kg"
            f" = {fmt_number(self.ordered_mg)} mg ordered, {self.delivered_mg:.1f} mg delivered;"
            f" {fmt_number(self.concentration_mg_per_ml)} mg/mL; {lot}"
        )


@dataclass(frozen=True)
class ReassessmentInfo:
    """A pending reassessment of one dose; `status` is upcoming, due or overdue."""

    administration_id: int
    drug: str  # display name
    drug_key: str
    dose_text: str
    measure: str
    offset_min: int
    given_at: datetime
    due_at: datetime
    overdue_at: datetime
    status: str
    text: str

    def seconds_to_due(self, now: datetime) -> float:
        """Seconds until due (negative once due)."""
        return (self.due_at - ensure_utc(now)).total_seconds()


@dataclass(frozen=True)
class DrugTotal:
    """A drug's running session total against its maximum."""

    drug: str
    total: float
    unit: str
    cumulative_max: float


@dataclass(frozen=True)
class MedicationList:
    """Everything the medication panel shows for a session."""

    session_id: int
    open: bool
    ketamine: KetamineRow
    administrations: tuple[AdministrationRecord, ...]
    reassessments: tuple[ReassessmentInfo, ...]  # pending ones, one per dose (the next)
    totals: tuple[DrugTotal, ...]


# ---------------------------------------------------------------- helpers


def formulary(ctx: AppContext) -> Formulary:
    """The clinic formulary as currently configured."""
    return ctx.per_settings("formulary", Formulary.from_settings)



def _mmss(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _drug_or_none(f: Formulary, key: str) -> Drug | None:
    try:
        return f.get(key)
    except DomainError:
        return None


def _current_rows(s: Session, session_id: int) -> list[MedicationAdministration]:
    """The session's administrations in time order, without rows a correction replaced."""
    return list(
        s.execute(
            current_rows(MedicationAdministration, session_id).order_by(
                MedicationAdministration.given_at, MedicationAdministration.id
            )
        ).scalars()
    )


def _responses(s: Session, admin_ids: Sequence[int]) -> dict[int, list[MedicationResponse]]:
    out: dict[int, list[MedicationResponse]] = {i: [] for i in admin_ids}
    if not admin_ids:
        return out
    for r in s.execute(
        select(MedicationResponse)
        .where(MedicationResponse.administration_id.in_(admin_ids))
        .order_by(MedicationResponse.at, MedicationResponse.id)
    ).scalars():
        out[r.administration_id].append(r)
    return out


def _prior(rows: Iterable[MedicationAdministration]) -> list[PriorDose]:
    return [PriorDose(r.drug, r.dose, r.unit, r.route, r.given_at) for r in rows]


def _values(r: VitalReading) -> dict[str, float | None]:
    return {"sbp": r.sbp, "dbp": r.dbp, "map": r.map, "hr": r.hr, "spo2": r.spo2, "rr": r.rr}


def _bp_breaches(ctx: AppContext, s: Session, session_id: int, r: VitalReading) -> tuple[str, ...]:
    """High BP limit breaches of a reading (absolute or against the baseline), as text."""
    base = baseline_vitals(s, session_id)
    baseline = _values(base) if base is not None and base.id != r.id else None
    found = evaluate(
        _values(r), baseline, ctx.per_settings("vital_limits", VitalLimits.from_settings)
    )
    high = [b for b in found if b.param in _BP_PARAMS and b.direction == "high"]
    high.sort(key=lambda b: -TIER_RANK[b.tier])  # stable: SBP before DBP on equal tiers
    return tuple(b.text for b in high)


def _latest_reading(
    s: Session, session_id: int, at: datetime, need_bp: bool
) -> VitalReading | None:
    """The newest current (not superseded) reading observed at or before `at`."""
    stmt = current_rows(VitalReading, session_id).where(VitalReading.observed_at <= at)
    if need_bp:
        stmt = stmt.where(VitalReading.sbp.is_not(None))
    return s.execute(
        stmt.order_by(VitalReading.observed_at.desc(), VitalReading.id.desc()).limit(1)
    ).scalar_one_or_none()


def _pre_dose(
    ctx: AppContext, s: Session, session_id: int, drug: Drug, at: datetime
) -> PreDoseVitals | None:
    r = _latest_reading(s, session_id, at, need_bp=drug.needs_bp)
    if r is None:
        return None
    breaches = _bp_breaches(ctx, s, session_id, r) if drug.needs_bp else ()
    return PreDoseVitals(r.id, r.observed_at, vitals_text(r), breaches)


def _open_row(s: Session, session_id: int) -> InfusionSession:
    row = get_session_row(s, session_id)
    if row.ended_at is not None:
        raise DomainError(
            INVALID_STATE, "This session has ended: document it in an addendum instead."
        )
    return row


def _names(s: Session) -> dict[int, str]:
    return {uid: name for uid, name in s.execute(select(User.id, User.full_name))}


# ---------------------------------------------------------------- pick-list and trigger


def drug_choices(
    ctx: AppContext, actor: Actor, session_id: int, indication: str | None = None
) -> list[DrugChoice]:
    """Enabled PRN drugs (never the ketamine infusion), filtered by `indication` when given,
    each with this session's total and when its interval next allows a dose."""
    ctx.require(actor, "view_session")
    f = formulary(ctx)
    drugs = f.drugs_for_indication(indication) if indication else f.enabled()
    drugs = [d for d in drugs if d.drug_class != "infusion"]
    with ctx.tx() as s:
        rows = _current_rows(s, session_id)
    out: list[DrugChoice] = []
    for d in drugs:
        same = [r for r in rows if r.drug == d.key]
        total = sum(dose_checks.convert_to_drug_unit(d, r.dose, r.unit) for r in same)
        last = max((r.given_at for r in same), default=None)
        nxt = last + timedelta(minutes=d.min_interval_min) if last and d.min_interval_min else None
        out.append(
            DrugChoice(
                drug=d,
                given_so_far=float(format_amount(total)),
                last_given_at=last,
                next_allowed_at=nxt,
            )
        )
    return out


def prn_indications(ctx: AppContext) -> list[str]:
    """Indications of the enabled PRN drugs, in formulary order (the dialog's first pick-list)."""
    f = formulary(ctx)
    seen: dict[str, None] = {}
    for d in f.enabled():
        if d.drug_class == "infusion":
            continue
        for i in d.indications:
            seen.setdefault(i, None)
    return list(seen)


def pre_dose_vitals(
    ctx: AppContext, actor: Actor, session_id: int, drug: str
) -> PreDoseVitals | None:
    """The reading a dose of `drug` given now would be linked to: the latest BP for an
    antihypertensive, else the latest reading of any kind."""
    ctx.require(actor, "view_session")
    d = formulary(ctx).get(drug)
    with ctx.tx() as s:
        return _pre_dose(ctx, s, session_id, d, ctx.now())


def indication_problem(
    ctx: AppContext, actor: Actor, session_id: int, drug: str, indication: str
) -> str | None:
    """Why a dose of `drug` for `indication` given now would be refused by the indication rule
    (indication_not_met), for the give-dose dialog to say before Give is pressed; None when the
    indication is met or names no vital."""
    ctx.require(actor, "view_session")
    d = formulary(ctx).get(drug)
    now = ctx.now()
    with ctx.tx() as s:
        pre = _pre_dose(ctx, s, session_id, d, now)
        problem = _indication_problem(ctx, s, d, indication or "", pre, now, clinic_zone(ctx))
    return problem.message if problem is not None else None


# ---------------------------------------------------------------- give a dose


def give_medication(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    *,
    drug: str,
    dose: float,
    unit: str,
    route: str,
    indication: str,
    confirm_reason: str | None = None,
    given_at: datetime | None = None,
    trigger_vital_id: int | None = None,
    lot: str | None = None,
    note: str | None = None,
    indication_override_reason: str | None = None,
) -> AdministrationRecord:
    """Record a PRN dose given by `actor` after the formulary checks: allergy, route, single-dose
    maximum (a dose in the soft band needs `confirm_reason`), session total and interval. An
    indication that names a vital ("BP above limit") needs the newest reading of it, observed
    within formulary.indication_reading_max_age_min before the dose, to meet it
    (indication_not_met otherwise), unless a charge nurse gives `indication_override_reason`.
    A refusal raises DomainError with the stable code and writes nothing but an audit row."""
    ctx.require(actor, "give_medication")
    if indication_override_reason is not None:
        ctx.require(actor, "override_prn_indication")
        if not indication_override_reason.strip():
            raise DomainError(
                BAD_INPUT,
                "An indication override needs a written reason.",
                field="indication_override_reason",
            )
    override = (indication_override_reason or "").strip() or None
    d = formulary(ctx).get(drug)
    if d.drug_class == "infusion":
        raise DomainError(
            BAD_INPUT,
            f"{d.name} is the session infusion: it is recorded with the infusion (order, lot "
            "and delivered dose), not as a PRN dose.",
            field="drug",
        )
    indication = (indication or "").strip()
    if not indication:
        allowed = ", ".join(indication_label(i) for i in d.indications)
        raise DomainError(
            BAD_INPUT, f"Indication is required for {d.name}: choose {allowed}.", field="indication"
        )
    if indication.casefold() not in (i.casefold() for i in d.indications):
        allowed = ", ".join(indication_label(i) for i in d.indications)
        raise DomainError(
            BAD_INPUT,
            f"{d.name} is not listed for '{indication_label(indication)}': its indications are "
            f"{allowed}.",
            field="indication",
        )
    indication = next(i for i in d.indications if i.casefold() == indication.casefold())
    now = ctx.now()
    when = ensure_utc(given_at) if given_at is not None else now
    if when > now:
        raise DomainError(OUT_OF_RANGE, "The time given cannot be in the future.", field="given_at")
    tz = clinic_zone(ctx)
    reason = (confirm_reason or "").strip() or None
    with ctx.tx() as s:
        row = _open_row(s, session_id)
        if when < row.checked_in_at:
            raise DomainError(
                OUT_OF_RANGE,
                f"The time given is before the check-in at {hm(row.checked_in_at, tz)}.",
                field="given_at",
            )
        rows = _current_rows(s, session_id)
        result = check_dose(
            d,
            dose,
            unit,
            route,
            _prior(rows),
            list(row.patient.allergies or ()),
            when,
            confirmed_soft=reason is not None,
            soft_reason=reason,
            display_tz=tz,
        )
        refusal = result.refusals[0] if result.refusals else None
        unmet = None
        if refusal is None:
            pre = _linked_vitals(ctx, s, session_id, d, when, trigger_vital_id, indication)
            unmet = _indication_problem(ctx, s, d, indication, pre, when, tz)
            if unmet is not None and override is None:
                refusal = unmet
        if refusal is None:
            adm = MedicationAdministration(
                session_id=session_id,
                drug=d.key,
                dose=result.dose,
                unit=result.unit,
                route=result.route,
                indication=indication,
                given_at=when,
                recorded_at=now,
                given_by=actor.user_id,
                triggering_vital_id=pre.vital_id if pre else None,
                soft_max_reason=result.soft_reason,
                lot=(lot or "").strip() or None,
                note=(note or "").strip() or None,
                # Kept only when the override was needed: a reason for nothing is not recorded.
                indication_override_reason=override if unmet is not None else None,
                indication_override_by=actor.user_id if unmet is not None else None,
            )
            s.add(adm)
            s.flush()
            ctx.audit(
                s,
                actor,
                "medication.give",
                "medication_administration",
                adm.id,
                after={
                    "session_id": session_id,
                    "drug": d.key,
                    "dose": result.dose,
                    "unit": result.unit,
                    "route": result.route,
                    "indication": indication,
                    "given_at": when.isoformat(),
                    "trigger_vital_id": adm.triggering_vital_id,
                    "soft_max_reason": result.soft_reason,
                    "indication_not_met": unmet.message if unmet is not None else None,
                    "indication_override_reason": adm.indication_override_reason,
                    "session_total_before": result.session_total_before,
                    "session_total_after": result.session_total_after,
                    "lot": adm.lot,
                },
            )
            return _record(ctx, s, adm, d, [*rows, adm], [], {actor.user_id: actor.full_name})
    # A refused dose is part of the safety record: audit it (its own transaction, since the
    # dose itself wrote nothing). A pending soft-max confirmation is a question, not a refusal.
    if refusal.code != CONFIRMATION_REQUIRED:
        with ctx.tx() as s:
            ctx.audit(
                s,
                actor,
                "medication.refused",
                "session",
                session_id,
                after={
                    "drug": d.key,
                    "dose": dose if isinstance(dose, int | float) else repr(dose),
                    "unit": unit,
                    "route": route,
                    "indication": indication,
                    "code": refusal.code,
                    "message": refusal.message,
                },
            )
    raise refusal.to_error()


def _linked_vitals(
    ctx: AppContext,
    s: Session,
    session_id: int,
    d: Drug,
    when: datetime,
    trigger_vital_id: int | None,
    indication: str = "",
) -> PreDoseVitals | None:
    if trigger_vital_id is None:
        pre = _pre_dose(ctx, s, session_id, d, when)
        # An indication naming the vital is judged by the indication rule (a charge nurse may
        # override it); any other BP-linked dose needs a BP on file.
        vital_indication = indication.casefold() in dose_checks.VITAL_INDICATIONS
        if pre is None and d.needs_bp and not vital_indication:
            raise DomainError(
                INVALID_STATE,
                f"{d.name} is given for a BP above the limit: record the BP first (there is "
                "no BP in this session yet).",
                field="trigger",
            )
        return pre
    r = s.get(VitalReading, trigger_vital_id)
    if r is None or r.session_id != session_id:
        raise DomainError(
            NOT_FOUND, f"Vital reading {trigger_vital_id} is not in this session.", field="trigger"
        )
    breaches = _bp_breaches(ctx, s, session_id, r) if d.needs_bp else ()
    return PreDoseVitals(r.id, r.observed_at, vitals_text(r), breaches)


def _bp_only(r: VitalReading) -> str:
    """The BP as "BP 126/80" (or "SBP 126"): the value an indication about BP is judged on."""
    if r.sbp is not None and r.dbp is not None:
        return f"BP {fmt_number(r.sbp)}/{fmt_number(r.dbp)}"
    return f"SBP {fmt_number(r.sbp)}" if r.sbp is not None else vitals_text(r)


def _indication_problem(
    ctx: AppContext,
    s: Session,
    d: Drug,
    indication: str,
    pre: PreDoseVitals | None,
    when: datetime,
    tz: tzinfo,
) -> dose_checks.DoseProblem | None:
    """The indication rule (dose_checks.check_indication) fed from the linked reading."""
    if indication.casefold() not in dose_checks.VITAL_INDICATIONS:
        return None
    reading = None
    if pre is not None:
        r = s.get(VitalReading, pre.vital_id)
        text = _bp_only(r) if r is not None else pre.text
        reading = dose_checks.IndicationReading(pre.observed_at, text, pre.breaches)
    max_age = float(ctx.settings.get(f"{SECTION}.indication_reading_max_age_min"))
    return dose_checks.check_indication(d, indication, reading, when, max_age, tz)


def _record(
    ctx: AppContext,
    s: Session,
    adm: MedicationAdministration,
    d: Drug | None,
    rows: Sequence[MedicationAdministration],
    responses: Sequence[MedicationResponse],
    names: Mapping[int, str],
) -> AdministrationRecord:
    tz = clinic_zone(ctx)
    total = 0
    if d is not None:
        for r in rows:
            if r.drug == adm.drug and (r.given_at, r.id) <= (adm.given_at, adm.id):
                total += dose_checks.convert_to_drug_unit(d, r.dose, r.unit)
    pre_text = "no vitals recorded before the dose"
    if adm.triggering_vital_id is not None:
        v = s.get(VitalReading, adm.triggering_vital_id)
        if v is not None:
            pre_text = f"{vitals_text(v)} at {hm(v.observed_at, tz)}"
            if d is not None and d.needs_bp:
                breaches = _bp_breaches(ctx, s, adm.session_id, v)
                pre_text += f" ({breaches[0]})" if breaches else " (no BP limit breached)"
    return AdministrationRecord(
        id=adm.id,
        session_id=adm.session_id,
        drug_key=adm.drug,
        drug_name=d.name if d else adm.drug,
        dose=adm.dose,
        unit=adm.unit,
        route=adm.route,
        indication=adm.indication,
        indication_label=indication_label(adm.indication),
        given_at=adm.given_at,
        recorded_at=adm.recorded_at,
        given_by=adm.given_by,
        given_by_name=names.get(adm.given_by, f"user {adm.given_by}"),
        trigger_vital_id=adm.triggering_vital_id,
        pre_vitals_text=pre_text,
        soft_max_reason=adm.soft_max_reason,
        lot=adm.lot,
        note=adm.note,
        session_total=float(format_amount(total)),
        cumulative_max=d.cumulative_max if d else 0.0,
        responses=tuple(_response_record(s, r, names) for r in responses),
        indication_override_reason=adm.indication_override_reason,
        indication_override_by_name=(
            names.get(adm.indication_override_by, f"user {adm.indication_override_by}")
            if adm.indication_override_by is not None
            else None
        ),
    )


def _response_record(s: Session, r: MedicationResponse, names: Mapping[int, str]) -> ResponseRecord:
    vtext = ""
    if r.vital_id is not None:
        v = s.get(VitalReading, r.vital_id)
        vtext = vitals_text(v) if v is not None else ""
    return ResponseRecord(
        r.id,
        r.administration_id,
        r.at,
        r.measure,
        r.text,
        r.vital_id,
        vtext,
        names.get(r.by_user, f"user {r.by_user}"),
    )


# ---------------------------------------------------------------- response


def latest_administration_id(ctx: AppContext, actor: Actor, session_id: int, drug: str) -> int:
    """The newest dose of `drug` in the session (for "record the response to the labetalol")."""
    ctx.require(actor, "view_session")
    d = formulary(ctx).get(drug)
    with ctx.tx() as s:
        rows = [r for r in _current_rows(s, session_id) if r.drug == d.key]
    if not rows:
        raise DomainError(NOT_FOUND, f"No {d.name} has been given in this session.", field="drug")
    return rows[-1].id


def record_response(
    ctx: AppContext,
    actor: Actor,
    administration_id: int,
    *,
    text: str = "",
    measure: str | None = None,
    vitals: Mapping[str, Any] | None = None,
    soft_confirmed: bool = False,
    at: datetime | None = None,
) -> ResponseRecord:
    """Record the response to a dose (text, and/or vitals stored as a reading and linked).
    The response at or after a reassessment's due time completes that reassessment."""
    ctx.require(actor, "record_response")
    text = (text or "").strip()
    values = {k: v for k, v in (vitals or {}).items() if v is not None and v != ""}
    if not text and not values:
        raise DomainError(
            BAD_INPUT,
            "Describe the response or record vitals (e.g. BP after labetalol).",
            field="text",
        )
    now = ctx.now()
    when = ensure_utc(at) if at is not None else now
    if when > now:
        raise DomainError(OUT_OF_RANGE, "The response time cannot be in the future.", field="at")
    with ctx.tx() as s:
        adm = s.get(MedicationAdministration, administration_id)
        if adm is None:
            raise DomainError(NOT_FOUND, f"No medication dose {administration_id}.")
        session_id = adm.session_id
        _open_row(s, session_id)
        if when < adm.given_at:
            raise DomainError(
                OUT_OF_RANGE, "The response cannot be before the dose was given.", field="at"
            )
        d = _drug_or_none(formulary(ctx), adm.drug)
    measure = (measure or (d.reassess_measure if d else "response")).strip()
    vital_id: int | None = None
    if values:
        # The reading is a vital sign like any other (flowsheet, alarms): stored by the vitals
        # use case with its own checks and audit row, then linked to the response.
        from nursestation.app.vitals import record_vitals

        rec = record_vitals(
            ctx, actor, session_id, dict(values), observed_at=when, soft_confirmed=soft_confirmed
        )
        vital_id = rec.id
    with ctx.tx() as s:
        resp = MedicationResponse(
            administration_id=administration_id,
            at=when,
            recorded_at=now,
            measure=measure,
            vital_id=vital_id,
            text=text,
            by_user=actor.user_id,
        )
        s.add(resp)
        s.flush()
        ctx.audit(
            s,
            actor,
            "medication.response",
            "medication_response",
            resp.id,
            after={
                "administration_id": administration_id,
                "measure": measure,
                "text": text,
                "vital_id": vital_id,
                "at": when.isoformat(),
            },
        )
        return _response_record(s, resp, {actor.user_id: actor.full_name})


# ---------------------------------------------------------------- reassessments


def _reassessments_in(
    ctx: AppContext, s: Session, session_id: int
) -> list[tuple[dose_checks.ReassessmentDue, str]]:
    """Every reassessment of every current dose with its status, and the dose text.

    A response completes the earliest open reassessment already due when it was recorded; an
    earlier response is kept and shown but leaves the scheduled check open (labetalol needs
    the BP at 5 and 10 min [S48], not at 2).
    """
    adms, texts = _administrations(ctx, s, session_id)
    due = dose_checks.reassessments_due(adms, ctx.now())
    return [(x, texts[x.admin_id]) for x in due]


def _administrations(
    ctx: AppContext, s: Session, session_id: int
) -> tuple[list[dose_checks.Administration], dict[str, str]]:
    """The current doses that need reassessing, with the offsets their responses completed,
    and each dose's text."""
    f = formulary(ctx)
    rows = _current_rows(s, session_id)
    responses = _responses(s, [r.id for r in rows])
    adms: list[dose_checks.Administration] = []
    texts: dict[str, str] = {}
    for r in rows:
        d = _drug_or_none(f, r.drug)
        if d is None or not d.reassess_min:
            continue
        given = ensure_utc(r.given_at)
        done: set[int] = set()
        for resp in responses[r.id]:
            at = ensure_utc(resp.at)
            for offset in d.reassess_min:
                if offset not in done and given + timedelta(minutes=offset) <= at:
                    done.add(offset)
                    break
        adms.append(dose_checks.Administration(d, given, str(r.id), frozenset(done)))
        texts[str(r.id)] = f"{d.name} {fmt_number(r.dose)} {r.unit} {r.route}"
    return adms, texts


def _info(x: dose_checks.ReassessmentDue, dose_text: str, now: datetime) -> ReassessmentInfo:
    what = f"{measure_label(x.measure)} check"
    if x.status == dose_checks.UPCOMING:
        tail = f"{what} in {_mmss((x.due_at - now).total_seconds())}"
    elif x.status == dose_checks.DUE:
        tail = f"{what} DUE now ({x.offset_min} min after the dose)"
    else:
        late = math.floor((now - x.due_at).total_seconds() / 60)
        tail = f"{what} OVERDUE by {late} min"
    return ReassessmentInfo(
        administration_id=int(x.admin_id),
        drug=x.drug_name,
        drug_key=x.drug_key,
        dose_text=dose_text,
        measure=x.measure,
        offset_min=x.offset_min,
        given_at=x.due_at - timedelta(minutes=x.offset_min),
        due_at=x.due_at,
        overdue_at=x.overdue_at,
        status=x.status,
        text=f"{dose_text}: {tail}",
    )


def _next_pending(ctx: AppContext, s: Session, session_id: int) -> list[ReassessmentInfo]:
    now = ctx.now()
    seen: set[str] = set()
    out: list[ReassessmentInfo] = []
    for x, text in _reassessments_in(ctx, s, session_id):
        if x.status == dose_checks.DONE or x.admin_id in seen:
            continue
        seen.add(x.admin_id)
        out.append(_info(x, text, now))
    return out


def reassessments_for_chair(ctx: AppContext, session_id: int) -> list[ReassessmentInfo]:
    """For the chair card (the board has already checked view_board): per dose, its next
    pending reassessment with a countdown (`status` upcoming) or a due/overdue prompt, most
    urgent first."""
    rank = {dose_checks.OVERDUE: 0, dose_checks.DUE: 1, dose_checks.UPCOMING: 2}
    now = ctx.now()
    # The doses and responses change only by a nurse's entry (ctx.other_version), not by the
    # monitor writing every second: reuse them, as discharge.is_ready_in does (another station's
    # entry moves ctx.other_version too: app/context.poll_changes); the statuses are computed
    # at `now`.
    version, settings = ctx.other_version, ctx.settings  # read before the data (conservative)
    cache = ctx.reassess_cache
    hit = cache.get(session_id)
    if (
        hit is None
        or hit[0] != version
        or hit[1] is not settings
        or abs((now - hit[2]).total_seconds()) > READY_REUSE_S
    ):
        with ctx.read_tx() as s:  # only reads: no write lock against the monitor writer
            hit = (version, settings, now, _administrations(ctx, s, session_id))
        cache[session_id] = hit
    adms, texts = hit[3]
    seen: set[str] = set()
    items: list[ReassessmentInfo] = []
    for x in dose_checks.reassessments_due(adms, now):
        if x.status == dose_checks.DONE or x.admin_id in seen:
            continue
        seen.add(x.admin_id)
        items.append(_info(x, texts[x.admin_id], now))
    return sorted(items, key=lambda r: (rank[r.status], r.due_at))


# How long reassessments_for_chair reuses what it read while the versions stayed put (a safety
# net: another station's entry moves them, app/context.poll_changes).
READY_REUSE_S = 60.0


# ---------------------------------------------------------------- lists


def _ketamine(ctx: AppContext, s: Session, row: InfusionSession) -> KetamineRow:
    # Same derivation as SessionSummary.state (sessions.summary_in) without the discharge
    # readiness, which the delivered dose does not depend on.
    state = infusion.infusion_state(
        events_of(s, row.id),
        planned_of(row),
        ctx.now(),
        min_observation_min=min_observation_for(ctx, row),
    )
    return KetamineRow(
        lot=row.ketamine_lot,
        concentration_mg_per_ml=row.concentration_mg_per_ml,
        dose_mg_per_kg=row.dose_mg_per_kg,
        weight_kg=row.weight_kg_used,
        ordered_mg=row.total_mg,
        delivered_mg=state.delivered_mg,
        duration_min=row.duration_min,
        rate_mg_per_h=row.rate_mg_per_h,
        phase=state.phase,
        started_at=state.started_at,
    )


def _records_in(ctx: AppContext, s: Session, session_id: int) -> list[AdministrationRecord]:
    f = formulary(ctx)
    rows = _current_rows(s, session_id)
    responses = _responses(s, [r.id for r in rows])
    names = _names(s)
    return [
        _record(ctx, s, r, _drug_or_none(f, r.drug), rows, responses[r.id], names) for r in rows
    ]


def medication_list(ctx: AppContext, actor: Actor, session_id: int) -> MedicationList:
    """The session's medications: the ketamine infusion, every PRN dose with its responses,
    pending reassessments and running totals."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        records = _records_in(ctx, s, session_id)
        pending = _next_pending(ctx, s, session_id)
        ket = _ketamine(ctx, s, row)
    totals: dict[str, DrugTotal] = {}
    for r in records:
        totals[r.drug_key] = DrugTotal(r.drug_name, r.session_total, r.unit, r.cumulative_max)
    return MedicationList(
        session_id=session_id,
        open=row.ended_at is None,
        ketamine=ket,
        administrations=tuple(records),
        reassessments=tuple(pending),
        totals=tuple(totals.values()),
    )


# ---------------------------------------------------------------- formulary edits


@dataclass(frozen=True)
class FormularyChange:
    """The result of an administrator's formulary edit: the drug before and after."""

    drug: str
    before: dict[str, Any]
    after: dict[str, Any]
    file: str  # where it is stored: "clinic settings version N" (the database)


def _drug_values(settings: ClinicSettings, key: str) -> dict[str, Any]:
    return dict(settings.section(f"{SECTION}.drugs.{key}"))


def _config_error(exc: ConfigError) -> DomainError:
    field = exc.key.rsplit(".", 1)[-1]
    return DomainError(OUT_OF_RANGE, f"Formulary change refused: {exc}", field=field)


def update_formulary_drug(
    ctx: AppContext, actor: Actor, drug: str, changes: Mapping[str, Any]
) -> FormularyChange:
    """Change one drug's formulary values (e.g. {"cumulative_max": 200}) in the clinic's
    settings (a new stored version, app/clinic_settings.py: every station uses it), validated
    exactly like the settings loader plus the formulary's own consistency rules; audited with
    before/after; `ctx.settings` is replaced. Needs edit_formulary."""
    from nursestation.app.clinic_settings import current_overrides, normalized, store_version

    ctx.require(actor, "edit_formulary")
    key = formulary(ctx).get(drug).key
    if not isinstance(changes, Mapping) or not changes:
        raise DomainError(
            BAD_INPUT, "Name at least one formulary value to change.", field="changes"
        )
    origin = "clinic settings"
    patch = {SECTION: {"drugs": {key: dict(changes)}}}
    with ctx.tx() as s:
        merged_file = normalized(current_overrides(s, lock=True))
        node = merged_file.setdefault(SECTION, {}).setdefault("drugs", {}).setdefault(key, {})
        node.update(dict(changes))
        try:
            # The stored settings as every station will load them ...
            Formulary.from_settings(load_defaults().with_overrides(merged_file, origin))
            # ... and the running settings (which may hold other overrides) take the same change.
            new_settings = ctx.settings.with_overrides(patch, origin)
            Formulary.from_settings(new_settings)
        except ConfigError as exc:
            raise _config_error(exc) from exc
        before = _drug_values(ctx.settings, key)
        after = _drug_values(new_settings, key)
        changed_before = {k: before.get(k) for k in changes}
        changed_after = {k: after.get(k) for k in changes}
        version = store_version(ctx, s, actor, merged_file, f"formulary: {key}")
        ctx.audit(
            s,
            actor,
            "formulary.update",
            "formulary_drug",
            key,
            before=changed_before,
            after=changed_after,
        )
        path = f"clinic settings version {version}"
    ctx.settings = new_settings
    return FormularyChange(key, changed_before, changed_after, path)
