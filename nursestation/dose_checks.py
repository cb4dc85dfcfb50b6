"""Dose rules for a session medication: single-dose limits, minimum interval, session total,
allergy and route, plus the reassessments each administration makes due.

Dose arithmetic is exact: every amount is converted to whole thousandths of the drug's unit
(0.001 mg resolution, half-up rounding) before it is compared, so 0.1 + 0.2 + 0.4 mg is exactly
the 0.7 mg maximum (accepted) and 0.701 mg is one unit past it (refused).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from nursestation.clock import ensure_utc
from nursestation.errors import (
    ALLERGY,
    BAD_INPUT,
    CONFIRMATION_REQUIRED,
    CUMULATIVE_MAX,
    DOSE_ABOVE_MAX,
    INDICATION_NOT_MET,
    INTERVAL_TOO_SHORT,
    NOT_PERMITTED,
    OUT_OF_RANGE,
    ROUTE_NOT_ALLOWED,
    DomainError,
)
from nursestation.formulary import Drug, normalize_route

# One "unit" of dose resolution is a thousandth of the drug's unit (1 mcg for a mg drug).
RESOLUTION = Decimal("0.001")

# Conversion of entered units into milligrams (a unit definition, not a clinical limit).
_TO_MG = {
    "mg": Decimal(1),
    "mcg": Decimal("0.001"),
    "µg": Decimal("0.001"),
    "ug": Decimal("0.001"),
    "microgram": Decimal("0.001"),
    "micrograms": Decimal("0.001"),
    "g": Decimal(1000),
}

# When several problems apply, the one a nurse must hear first is raised first.
_PRIORITY = (
    OUT_OF_RANGE,
    BAD_INPUT,
    NOT_PERMITTED,
    ALLERGY,
    ROUTE_NOT_ALLOWED,
    DOSE_ABOVE_MAX,
    CUMULATIVE_MAX,
    INTERVAL_TOO_SHORT,
    CONFIRMATION_REQUIRED,
)


@dataclass(frozen=True)
class PriorDose:
    """A dose already given this session (any drug; only the same drug counts)."""

    drug: str  # formulary key or name, e.g. "labetalol"
    dose: float
    unit: str
    route: str
    given_at: datetime


@dataclass(frozen=True)
class DoseProblem:
    """One reason a dose cannot be given as entered (`code` is a stable errors.py code)."""

    code: str
    message: str
    field: str

    def to_error(self) -> DomainError:
        """The DomainError the service layer raises for this problem."""
        return DomainError(self.code, self.message, field=self.field)


@dataclass(frozen=True)
class DoseCheckResult:
    """Outcome of `check_dose`: refusals (incl. confirmation_required) and the running totals."""

    drug_key: str
    dose: float  # in the drug's unit
    unit: str  # the drug's unit
    route: str
    refusals: tuple[DoseProblem, ...]
    soft_limit_exceeded: bool
    soft_reason: str | None  # the nurse's reason, kept only when the soft excess was confirmed
    caution: str
    session_total_before: float
    session_total_after: float
    next_dose_allowed_at: datetime | None  # after this dose, when the interval allows another

    @property
    def accepted(self) -> bool:
        """True when the dose may be given and recorded."""
        return not self.refusals

    @property
    def needs_confirmation(self) -> bool:
        """True when the only obstacle is a soft-limit excess awaiting a confirmed reason."""
        return bool(self.refusals) and all(p.code == CONFIRMATION_REQUIRED for p in self.refusals)

    @property
    def codes(self) -> tuple[str, ...]:
        """The refusal codes, most important first."""
        return tuple(p.code for p in self.refusals)

    def raise_if_refused(self) -> None:
        """Raise the most important refusal as a DomainError; do nothing when accepted."""
        if self.refusals:
            raise self.refusals[0].to_error()


def to_milli(amount: float | Decimal) -> int:
    """`amount` in whole thousandths (half-up), the resolution every comparison uses."""
    try:
        d = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not a number: {amount!r}") from None
    return int((d / RESOLUTION).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_amount(milli: int) -> str:
    """A thousandths amount as the shortest decimal text: 700 -> "0.7", 16000 -> "16"."""
    d = (Decimal(milli) * RESOLUTION).normalize()
    text = format(d, "f")
    return text


def convert_to_drug_unit(drug: Drug, dose: float, unit: str) -> int:
    """`dose` given in `unit`, as thousandths of the drug's unit; ValueError for a unit that
    does not convert (mg drugs accept mg, mcg/µg and g; other drugs only their own unit)."""
    u = unit.strip()
    if u.casefold() == drug.unit.casefold():
        return to_milli(dose)
    if drug.unit == "mg" and u.casefold() in _TO_MG:
        return to_milli(Decimal(str(dose)) * _TO_MG[u.casefold()])
    raise ValueError(unit)


def _fmt_time(when: datetime, now: datetime, tz: tzinfo) -> str:
    local = when.astimezone(tz)
    same_day = local.date() == now.astimezone(tz).date()
    text = local.strftime("%H:%M") if same_day else local.strftime("%Y-%m-%d %H:%M")
    zone = local.tzname() or ""
    return f"{text} {zone}".rstrip()


def _norm_text(text: str) -> str:
    return " ".join(re.sub(r"[-_/,;()]+", " ", text.casefold()).split())


def allergy_matches(drug: Drug, allergies: Iterable[str]) -> list[str]:
    """The documented allergy entries that name the drug, a brand, or one of its classes
    (case-insensitive, whole words, plural "s"/"es" allowed: "Beta-blockers" matches)."""
    terms = [_norm_text(t) for t in drug.allergy_terms() if t.strip()]
    hits: list[str] = []
    for entry in allergies:
        text = _norm_text(entry)
        if not text:
            continue
        for term in terms:
            if re.search(r"\b" + re.escape(term) + r"(?:e?s)?\b", text):
                hits.append(entry.strip())
                break
    return hits


def check_dose(
    drug: Drug,
    dose: float,
    unit: str,
    route: str,
    prior_doses: Sequence[PriorDose],
    allergies: Sequence[str],
    now: datetime,
    confirmed_soft: bool = False,
    soft_reason: str | None = None,
    *,
    display_tz: tzinfo = UTC,
) -> DoseCheckResult:
    """Check one intended administration at `now` against the drug's limits, this session's
    prior doses and the patient's allergies. Never raises for a clinical refusal: the result
    lists every refusal; call `raise_if_refused()` to refuse the action."""
    now = ensure_utc(now)
    name = drug.name
    route_n = normalize_route(route)
    problems: list[DoseProblem] = []
    caution = drug.caution

    def result(milli: int, before: int, soft: bool, reason: str | None) -> DoseCheckResult:
        ordered = sorted(problems, key=lambda p: _PRIORITY.index(p.code))
        next_at = None
        if drug.min_interval_min > 0 and not ordered:
            next_at = now + timedelta(minutes=drug.min_interval_min)
        return DoseCheckResult(
            drug_key=drug.key,
            dose=float(Decimal(milli) * RESOLUTION),
            unit=drug.unit,
            route=route_n,
            refusals=tuple(ordered),
            soft_limit_exceeded=soft,
            soft_reason=reason if soft and not ordered else None,
            caution=caution,
            session_total_before=float(Decimal(before) * RESOLUTION),
            session_total_after=float(Decimal(before + milli) * RESOLUTION),
            next_dose_allowed_at=next_at,
        )

    # Entry validation first: nothing else is meaningful for an impossible number.
    if (
        isinstance(dose, bool)
        or not isinstance(dose, int | float | Decimal)
        or not math.isfinite(float(dose))
    ):
        problems.append(DoseProblem(OUT_OF_RANGE, f"{name} dose {dose!r} is not a number.", "dose"))
        return result(0, 0, False, None)
    try:
        milli = convert_to_drug_unit(drug, dose, unit)
    except ValueError:
        allowed = "mg, mcg or g" if drug.unit == "mg" else drug.unit
        problems.append(
            DoseProblem(
                BAD_INPUT,
                f"{name} cannot be dosed in '{unit}': allowed units are {allowed}.",
                "unit",
            )
        )
        return result(0, 0, False, None)
    if milli <= 0:
        problems.append(
            DoseProblem(
                OUT_OF_RANGE,
                f"{name} dose {dose} {unit} is not possible: it must be at least "
                f"{format_amount(1)} {drug.unit}.",
                "dose",
            )
        )
        return result(0, 0, False, None)
    shown = f"{name} {format_amount(milli)} {drug.unit}"

    if not drug.enabled:
        problems.append(
            DoseProblem(NOT_PERMITTED, f"{name} is disabled in the clinic formulary.", "drug")
        )

    hits = allergy_matches(drug, allergies)
    if hits:
        listed = ", ".join(f"'{h}'" for h in hits)
        problems.append(
            DoseProblem(
                ALLERGY,
                f"{name} cannot be given: the patient has a documented allergy to {listed}.",
                "drug",
            )
        )

    if not drug.allows_route(route_n):
        problems.append(
            DoseProblem(
                ROUTE_NOT_ALLOWED,
                f"{name} cannot be given by route '{route.strip()}': allowed routes are "
                f"{', '.join(drug.routes)}.",
                "route",
            )
        )

    hard = to_milli(drug.hard_max_single)
    soft_limit = to_milli(drug.soft_max_single)
    soft = False
    accepted_reason: str | None = None
    if milli > hard:
        problems.append(
            DoseProblem(
                DOSE_ABOVE_MAX,
                f"{shown} is above the maximum single dose of {format_amount(hard)} {drug.unit}.",
                "dose",
            )
        )
    elif milli > soft_limit:
        soft = True
        reason = (soft_reason or "").strip()
        if confirmed_soft and reason:
            accepted_reason = reason
        elif confirmed_soft:
            problems.append(
                DoseProblem(
                    CONFIRMATION_REQUIRED,
                    f"{shown} is above the usual maximum single dose of "
                    f"{format_amount(soft_limit)} {drug.unit}: a written reason is required "
                    "to confirm it.",
                    "soft_reason",
                )
            )
        else:
            problems.append(
                DoseProblem(
                    CONFIRMATION_REQUIRED,
                    f"{shown} is above the usual maximum single dose of "
                    f"{format_amount(soft_limit)} {drug.unit}: confirm it with a written reason "
                    f"(hard maximum {format_amount(hard)} {drug.unit}).",
                    "dose",
                )
            )

    same = [p for p in prior_doses if _same_drug(drug, p.drug)]
    before = 0
    for p in same:
        try:
            before += convert_to_drug_unit(drug, p.dose, p.unit)
        except ValueError:
            raise DomainError(
                BAD_INPUT,
                f"A recorded {name} dose has unit '{p.unit}', which cannot be converted to "
                f"{drug.unit}.",
                field="prior_doses",
            ) from None
    cap = to_milli(drug.cumulative_max)
    if before + milli > cap:
        problems.append(
            DoseProblem(
                CUMULATIVE_MAX,
                f"{shown} would bring the session total to {format_amount(before + milli)} "
                f"{drug.unit}, above the maximum of {format_amount(cap)} {drug.unit} "
                f"({format_amount(before)} {drug.unit} given so far).",
                "dose",
            )
        )

    interval_problem = _interval_problem(drug, shown, same, now, display_tz)
    if interval_problem is not None:
        problems.append(interval_problem)

    return result(milli, before, soft, accepted_reason)


def _same_drug(drug: Drug, name: str) -> bool:
    wanted = name.strip().casefold()
    return wanted in (
        drug.key.casefold(),
        drug.name.casefold(),
        *(s.casefold() for s in drug.synonyms),
    )


def _interval_problem(
    drug: Drug, shown: str, same: Sequence[PriorDose], now: datetime, tz: tzinfo
) -> DoseProblem | None:
    """The nearest same-drug dose on either side of `now` must be at least the minimum
    interval away (a back-dated entry must not squeeze in before a later dose either)."""
    if drug.min_interval_min <= 0 or not same:
        return None
    gap = timedelta(minutes=drug.min_interval_min)
    times = sorted(ensure_utc(p.given_at) for p in same)
    earlier = [t for t in times if t <= now]
    later = [t for t in times if t > now]
    if earlier and now - earlier[-1] < gap:
        last = earlier[-1]
        allowed_at = last + gap
        wait_min = math.ceil((allowed_at - now).total_seconds() / 60)
        return DoseProblem(
            INTERVAL_TOO_SHORT,
            f"{shown} is too soon: the last dose was at {_fmt_time(last, now, tz)} and the "
            f"minimum interval is {drug.min_interval_min} min, so the next dose is allowed at "
            f"{_fmt_time(allowed_at, now, tz)} (in {wait_min} min).",
            "given_at",
        )
    if later and later[0] - now < gap:
        return DoseProblem(
            INTERVAL_TOO_SHORT,
            f"{shown} at {_fmt_time(now, now, tz)} is less than the minimum interval of "
            f"{drug.min_interval_min} min before the dose recorded at "
            f"{_fmt_time(later[0], now, tz)}.",
            "given_at",
        )
    return None


# --- reassessments ------------------------------------------------------------------------

UPCOMING = "upcoming"
DUE = "due"
OVERDUE = "overdue"
DONE = "done"


@dataclass(frozen=True)
class Administration:
    """A recorded administration, with the reassessment offsets (min) already documented."""

    drug: Drug
    given_at: datetime
    admin_id: str = ""
    done_min: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ReassessmentDue:
    """One reassessment of one administration: what to measure, when, and its status."""

    admin_id: str
    drug_key: str
    drug_name: str
    measure: str  # e.g. "bp", "nausea", "sedation"
    offset_min: int
    due_at: datetime
    overdue_at: datetime
    status: str  # upcoming | due | overdue | done


def reassessments_due(
    administrations: Iterable[Administration], now: datetime
) -> list[ReassessmentDue]:
    """Every reassessment of every administration (from the drug's reassessment times), with
    status at `now`: upcoming before due_at, due from due_at to overdue_at inclusive, overdue
    after, done when documented. Sorted by due time."""
    now = ensure_utc(now)
    out: list[ReassessmentDue] = []
    for adm in administrations:
        given = ensure_utc(adm.given_at)
        grace = timedelta(minutes=adm.drug.reassess_overdue_after_min)
        for offset in adm.drug.reassess_min:
            due_at = given + timedelta(minutes=offset)
            overdue_at = due_at + grace
            if offset in adm.done_min:
                status = DONE
            elif now < due_at:
                status = UPCOMING
            elif now <= overdue_at:
                status = DUE
            else:
                status = OVERDUE
            out.append(
                ReassessmentDue(
                    admin_id=adm.admin_id,
                    drug_key=adm.drug.key,
                    drug_name=adm.drug.name,
                    measure=adm.drug.reassess_measure,
                    offset_min=offset,
                    due_at=due_at,
                    overdue_at=overdue_at,
                    status=status,
                )
            )
    out.sort(key=lambda r: (r.due_at, r.admin_id, r.offset_min))
    return out


# ---------------------------------------------------------------- indications naming a vital

# Indications that name a vital sign, and the words for that vital. A dose for one of them
# needs a current reading that meets it.
VITAL_INDICATIONS: dict[str, str] = {"bp_above_limit": "BP"}


@dataclass(frozen=True)
class IndicationReading:
    """The newest reading of the measure an indication names, as of the dose time."""

    observed_at: datetime
    text: str  # "BP 126/80"
    breaches: tuple[str, ...]  # the limit breaches that meet the indication, as text


def check_indication(
    drug: Drug,
    indication: str,
    reading: IndicationReading | None,
    given_at: datetime,
    max_age_min: float,
    display_tz: tzinfo = UTC,
) -> DoseProblem | None:
    """A PRN dose for an indication that names a vital ("BP above limit") needs the newest
    reading of that vital, observed at most `max_age_min` minutes before the dose, to meet it.
    None when met, or when the indication names no vital; else an `indication_not_met` problem
    (a charge nurse may override it with a written reason)."""
    label = VITAL_INDICATIONS.get(indication.casefold())
    if label is None:
        return None
    given_at = ensure_utc(given_at)
    needed = (
        f"{drug.name} for {label} above limit needs a {label} above its limit measured at most "
        f"{max_age_min:g} min before the dose"
    )
    tail = ": record a current reading, or a charge nurse may override with a written reason."
    if reading is None:
        return DoseProblem(
            INDICATION_NOT_MET, f"{needed}; there is no {label} in this session{tail}", "indication"
        )
    at = _fmt_time(reading.observed_at, given_at, display_tz)
    age = given_at - ensure_utc(reading.observed_at)
    if age > timedelta(minutes=max_age_min):
        return DoseProblem(
            INDICATION_NOT_MET,
            f"{needed}; the latest {label} ({reading.text}) is from {at}, "
            f"{math.floor(age.total_seconds() / 60)} min before{tail}",
            "indication",
        )
    if not reading.breaches:
        return DoseProblem(
            INDICATION_NOT_MET,
            f"{needed}; the latest {label} at {at} is {reading.text}, within limits{tail}",
            "indication",
        )
    return None
