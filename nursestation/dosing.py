"""Weight-based ketamine dose calculation: mg, volume and pump rate from weight and protocol.

Rounding (half-up, decimals from resources/clinic/session.json "rounding", default 0.1):
the total mg is weight × mg/kg rounded to `mg_decimals`; the volume, the mg/h and the mL/h are
computed from that rounded total (the dose actually drawn up) and each rounded once, so the
numbers shown agree with each other and with the order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from nursestation.clinic import ClinicSettings, ConfigError, load_defaults
from nursestation.errors import (
    BAD_INPUT,
    CONFIRMATION_REQUIRED,
    DOSE_ABOVE_MAX,
    OUT_OF_RANGE,
    DomainError,
)

MG_PER_H = "mg/h"
ML_PER_H = "mL/h"
RATE_UNITS = (MG_PER_H, ML_PER_H)


@dataclass(frozen=True)
class Range:
    """An inclusive allowed range with its unit, for validation messages."""

    low: float
    high: float
    unit: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self) -> str:
        return f"{_num(self.low)}–{_num(self.high)} {self.unit}"


@dataclass(frozen=True)
class Protocol:
    """The ordered regimen: mg per kg, infusion minutes, and bag/syringe concentration."""

    dose_mg_per_kg: float
    duration_min: float
    concentration_mg_per_ml: float


@dataclass(frozen=True)
class DosingLimits:
    """Allowed ranges for each dosing input and the rounding rules (from session.json)."""

    dose_mg_per_kg: Range
    duration_min: Range
    concentration_mg_per_ml: Range
    weight_kg: Range
    weight_soft_kg: Range
    mg_decimals: int
    ml_decimals: int
    rate_decimals: int
    default_protocol: Protocol
    max_session_mg_per_kg: float = 1.0

    def rate_range(self) -> Range:
        """The hard range for any pump rate in mg/h: from the smallest programmable step to the
        fastest order the clinic's own ranges allow (largest mg/kg × heaviest weight over the
        shortest duration). Outside it a number is a typing error, not a clinical choice."""
        step = 10.0**-self.rate_decimals
        fastest = self.dose_mg_per_kg.high * self.weight_kg.high * 60.0 / self.duration_min.low
        return Range(step, fastest, MG_PER_H)

    def protocol(
        self,
        dose_mg_per_kg: float | None = None,
        duration_min: float | None = None,
        concentration_mg_per_ml: float | None = None,
    ) -> Protocol:
        """A protocol with the clinic defaults filled in for any value not given (unvalidated)."""
        d = self.default_protocol
        return Protocol(
            d.dose_mg_per_kg if dose_mg_per_kg is None else dose_mg_per_kg,
            d.duration_min if duration_min is None else duration_min,
            d.concentration_mg_per_ml
            if concentration_mg_per_ml is None
            else concentration_mg_per_ml,
        )

    @classmethod
    def shipped(cls) -> DosingLimits:
        """The limits from the shipped resources/clinic/session.json (no clinic overrides)."""
        return _shipped_limits()

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> DosingLimits:
        """Build from the clinic's `session` section; refuses inconsistent ranges."""
        s = settings.section("session")
        p = s["protocol"]
        w = s["weight"]
        r = s["rounding"]

        def rng(group: dict[str, float], unit: str, name: str) -> Range:
            out = Range(float(group["allowed_min"]), float(group["allowed_max"]), unit)
            if out.low > out.high:
                raise ConfigError("session", name, "allowed_min must not exceed allowed_max")
            if not out.contains(float(group["default"])):
                raise ConfigError("session", name, "default must lie inside the allowed range")
            return out

        max_session = float(p["max_session_mg_per_kg"])
        if max_session < float(p["dose_mg_per_kg"]["allowed_max"]):
            raise ConfigError(
                "session",
                "session.protocol.max_session_mg_per_kg",
                "must not be below session.protocol.dose_mg_per_kg.allowed_max",
            )
        weight = Range(float(w["allowed_min_kg"]), float(w["allowed_max_kg"]), "kg")
        soft = Range(float(w["soft_min_kg"]), float(w["soft_max_kg"]), "kg")
        if weight.low > weight.high or soft.low > soft.high:
            raise ConfigError("session", "session.weight", "minimum must not exceed maximum")
        return cls(
            dose_mg_per_kg=rng(p["dose_mg_per_kg"], "mg/kg", "session.protocol.dose_mg_per_kg"),
            duration_min=rng(p["duration_min"], "min", "session.protocol.duration_min"),
            concentration_mg_per_ml=rng(
                p["concentration_mg_per_ml"], "mg/mL", "session.protocol.concentration_mg_per_ml"
            ),
            weight_kg=weight,
            weight_soft_kg=soft,
            mg_decimals=int(r["mg_decimals"]),
            ml_decimals=int(r["ml_decimals"]),
            rate_decimals=int(r["rate_decimals"]),
            default_protocol=Protocol(
                dose_mg_per_kg=float(p["dose_mg_per_kg"]["default"]),
                duration_min=float(p["duration_min"]["default"]),
                concentration_mg_per_ml=float(p["concentration_mg_per_ml"]["default"]),
            ),
            max_session_mg_per_kg=max_session,
        )


@dataclass(frozen=True)
class DoseCalculation:
    """The computed order: inputs, rounded total mg, volume and rates, plus soft warnings."""

    weight_kg: float
    dose_mg_per_kg: float
    duration_min: float
    concentration_mg_per_ml: float
    total_mg: float
    volume_ml: float
    rate_mg_per_h: float
    rate_ml_per_h: float
    warnings: tuple[str, ...] = field(default=())
    mg_decimals: int = field(default=1, compare=False)
    ml_decimals: int = field(default=1, compare=False)
    rate_decimals: int = field(default=1, compare=False)

    @property
    def protocol(self) -> Protocol:
        return Protocol(self.dose_mg_per_kg, self.duration_min, self.concentration_mg_per_ml)

    def lines(self) -> list[str]:
        """Human-readable calculation, one step per line, for the order screen and the note."""
        mg = f"{self.total_mg:.{self.mg_decimals}f} mg"
        return [
            f"Dose: {_num(self.weight_kg)} kg × {_num(self.dose_mg_per_kg)} mg/kg = {mg}",
            f"Volume: {mg} ÷ {_num(self.concentration_mg_per_ml)} mg/mL"
            f" = {self.volume_ml:.{self.ml_decimals}f} mL",
            f"Rate: {mg} over {_num(self.duration_min)} min"
            f" = {self.rate_mg_per_h:.{self.rate_decimals}f} mg/h"
            f" = {self.rate_ml_per_h:.{self.rate_decimals}f} mL/h",
            *(f"Warning: {w}" for w in self.warnings),
        ]


@lru_cache(maxsize=1)
def _shipped_limits() -> DosingLimits:
    return DosingLimits.from_settings(load_defaults())


def _num(x: float) -> str:
    """An input as typed: no trailing '.0' on whole numbers."""
    return f"{x:.10g}"


def _dec(x: float) -> Decimal:
    # str() first so 0.1 is decimal 0.1, not its binary approximation
    return Decimal(str(x))


def _round(x: Decimal, decimals: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _check(name: str, label: str, value: float, allowed: Range) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(
            OUT_OF_RANGE, f"{label} must be a number: allowed {allowed.text()}.", field=name
        )
    value = float(value)
    if not math.isfinite(value) or not allowed.contains(value):
        raise DomainError(
            OUT_OF_RANGE,
            f"{label} {_num(value)} {allowed.unit} is out of range: allowed {allowed.text()}.",
            field=name,
        )
    return value


def validate_protocol(protocol: Protocol, limits: DosingLimits) -> None:
    """Raise DomainError(out_of_range) naming the first protocol field outside its range."""
    _check("dose_mg_per_kg", "Dose", protocol.dose_mg_per_kg, limits.dose_mg_per_kg)
    _check("duration_min", "Duration", protocol.duration_min, limits.duration_min)
    _check(
        "concentration_mg_per_ml",
        "Concentration",
        protocol.concentration_mg_per_ml,
        limits.concentration_mg_per_ml,
    )


def weight_warnings(weight_kg: float, limits: DosingLimits) -> tuple[str, ...]:
    """Soft warnings for a weight inside the hard range but outside the usual band."""
    if limits.weight_soft_kg.contains(weight_kg):
        return ()
    return (
        f"Weight {_num(weight_kg)} kg is outside the usual {limits.weight_soft_kg.text()}:"
        " confirm it was measured correctly.",
    )


def calculate_dose(
    weight_kg: float, protocol: Protocol, limits: DosingLimits | None = None
) -> DoseCalculation:
    """Total mg, volume and pump rates for `weight_kg` on `protocol`.

    Every input is checked against `limits` (DomainError out_of_range naming the field and the
    allowed range). `limits=None` means the shipped session.json; the service layer must pass
    `DosingLimits.from_settings(clinic_settings)` so a clinic's narrower ranges apply.
    """
    limits = limits or DosingLimits.shipped()
    weight = _check("weight_kg", "Weight", weight_kg, limits.weight_kg)
    validate_protocol(protocol, limits)
    total = _round(_dec(weight) * _dec(protocol.dose_mg_per_kg), limits.mg_decimals)
    conc = _dec(protocol.concentration_mg_per_ml)
    minutes = _dec(protocol.duration_min)
    volume = _round(total / conc, limits.ml_decimals)
    rate_mg = _round(total * 60 / minutes, limits.rate_decimals)
    rate_ml = _round(total * 60 / (minutes * conc), limits.rate_decimals)
    return DoseCalculation(
        weight_kg=weight,
        dose_mg_per_kg=float(protocol.dose_mg_per_kg),
        duration_min=float(protocol.duration_min),
        concentration_mg_per_ml=float(protocol.concentration_mg_per_ml),
        total_mg=float(total),
        volume_ml=float(volume),
        rate_mg_per_h=float(rate_mg),
        rate_ml_per_h=float(rate_ml),
        warnings=weight_warnings(weight, limits),
        mg_decimals=limits.mg_decimals,
        ml_decimals=limits.ml_decimals,
        rate_decimals=limits.rate_decimals,
    )


@dataclass(frozen=True)
class RateOrder:
    """What a new pump rate is checked against: the stored order of the session."""

    total_mg: float
    duration_min: float
    rate_mg_per_h: float
    concentration_mg_per_ml: float
    weight_kg: float


@dataclass(frozen=True)
class CheckedRate:
    """A pump rate that passed the checks, in both units, and what it would give."""

    rate_mg_per_h: float
    rate_ml_per_h: float
    over_order_mg: float  # mg over the ordered duration at this rate
    above_order: bool  # needed (and got) a confirmation with a reason

    def text(self, decimals: int = 1) -> str:
        """'78.8 mg/h (78.8 mL/h)': each unit shown with the other."""
        return (
            f"{self.rate_mg_per_h:.{decimals}f} {MG_PER_H} "
            f"({self.rate_ml_per_h:.{decimals}f} {ML_PER_H})"
        )


def check_rate(
    value: float,
    unit: str,
    order: RateOrder,
    limits: DosingLimits,
    *,
    confirm_reason: str | None = None,
) -> CheckedRate:
    """Check a pump rate typed in mg/h or mL/h against the hard range, the clinic's maximum per
    session and the order.

    - not a number, infinite, NaN, 0 or below, or outside `limits.rate_range()` (converted to the
      unit typed): out_of_range naming the field and the range;
    - a rate that, run for the ordered duration, would give more than
      `limits.max_session_mg_per_kg` × the weight used: dose_above_max (refused outright);
    - a rate that would give more than the ordered total over the ordered duration (i.e. faster
      than the order): confirmation_required unless `confirm_reason` is written.
    """
    if unit not in RATE_UNITS:
        raise DomainError(
            BAD_INPUT,
            f"Rate unit '{unit}' is unknown: allowed {', '.join(RATE_UNITS)}.",
            field="unit",
        )
    conc = float(order.concentration_mg_per_ml)
    hard = limits.rate_range()
    decimals = limits.rate_decimals
    if unit == ML_PER_H:
        field_name, label = "rate_ml_per_h", "Rate"
        allowed = Range(round(hard.low / conc, 6), round(hard.high / conc, 6), ML_PER_H)
    else:
        field_name, label = "rate_mg_per_h", "Rate"
        allowed = hard
    number = _check(field_name, label, value, allowed)
    mg_h = number * conc if unit == ML_PER_H else number
    ml_h = mg_h / conc
    hours = float(order.duration_min) / 60.0
    would_give = mg_h * hours
    shown = f"{mg_h:.{decimals}f} {MG_PER_H} ({ml_h:.{decimals}f} {ML_PER_H})"
    ceiling = limits.max_session_mg_per_kg * float(order.weight_kg)
    if would_give > ceiling + 1e-9:
        fastest = ceiling / hours
        raise DomainError(
            DOSE_ABOVE_MAX,
            f"Rate {shown} would give {would_give:.1f} mg over the ordered "
            f"{_num(order.duration_min)} min, above the clinic's maximum of "
            f"{_num(limits.max_session_mg_per_kg)} mg/kg per session ({ceiling:.1f} mg for "
            f"{_num(order.weight_kg)} kg): the fastest allowed rate is "
            f"{fastest:.{decimals}f} {MG_PER_H} ({fastest / conc:.{decimals}f} {ML_PER_H}).",
            field=field_name,
        )
    ordered_rate = max(float(order.rate_mg_per_h), float(order.total_mg) / hours)
    above = mg_h > ordered_rate + 1e-9
    if above and not (confirm_reason or "").strip():
        raise DomainError(
            CONFIRMATION_REQUIRED,
            f"Rate {shown} is faster than the order: over the ordered "
            f"{_num(order.duration_min)} min it would give {would_give:.1f} mg, above the "
            f"ordered {order.total_mg:.1f} mg. Confirm with a reason to use it.",
            field="confirm_reason",
        )
    return CheckedRate(mg_h, ml_h, would_give, above)
