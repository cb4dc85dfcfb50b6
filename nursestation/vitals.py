"""Vital-sign entry: the values a nurse or monitor gives and the two-tier check before storing.

Hard problems (a value no living patient can have, or a typing error such as SBP <= DBP) block
saving; soft problems (clinically unusual but possible) need the nurse to confirm. The limits live in
resources/clinic/vitals.json; this module only applies them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from nursestation.clinic import ClinicSettings, ConfigError
from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, CONFIRMATION_REQUIRED, OUT_OF_RANGE, DomainError

Tier = Literal["hard", "soft"]


@dataclass(frozen=True)
class FieldInfo:
    """How a field is named and shown (display metadata, not clinical numbers)."""

    label: str
    unit: str


# Keyed by the name used in resources/clinic/vitals.json "ranges".
FIELD_INFO: dict[str, FieldInfo] = {
    "sbp": FieldInfo("SBP", "mmHg"),
    "dbp": FieldInfo("DBP", "mmHg"),
    "map": FieldInfo("MAP", "mmHg"),
    "hr": FieldInfo("HR", "bpm"),
    "spo2": FieldInfo("SpO2", "%"),
    "rr": FieldInfo("RR", "/min"),
    "etco2": FieldInfo("EtCO2", "mmHg"),
    "temp_c": FieldInfo("Temp", "°C"),
    "weight_kg": FieldInfo("Weight", "kg"),
}

# One name per fact (issue 14): a VitalsInput attribute, its vitals.json range key, the
# vital_readings column and the scenario key are the same word. Former names, accepted as input
# (scenario files, forms) until the next release:
VITAL_ALIASES: dict[str, str] = {"temp": "temp_c"}

SEDATION_LABELS = {"moaas": "MOAA/S", "rass": "RASS"}

NUMERIC_FIELDS = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c")


def range_key(field: str) -> str:
    """The vitals.json range key for a VitalsInput attribute: the same name (a former name such
    as `temp` gives its one name, `temp_c`)."""
    return input_name(field)


def input_name(field: str) -> str:
    """The VitalsInput attribute for `field`, a current or former name (`temp` -> `temp_c`)."""
    return VITAL_ALIASES.get(field, field)


@dataclass(frozen=True)
class VitalsInput:
    """One set of vital signs as entered or received; every value optional.

    `map` is a measured MAP (from a monitor); when absent it is calculated from SBP and DBP.
    `sedation_scale` is "moaas" or "rass" and qualifies `sedation_score`.
    """

    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    etco2: float | None = None
    temp_c: float | None = None
    sedation_scale: str | None = None
    sedation_score: float | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> VitalsInput:
        """Build from a dict (scenario step, form); unknown keys are refused, the former name
        `temp` is accepted for `temp_c` (VITAL_ALIASES),
        numeric text becomes a float and blank text None."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = input_name(key)
            if name not in known:
                allowed = ", ".join(sorted(known))
                raise DomainError(
                    BAD_INPUT, f"Unknown vital sign '{key}': allowed {allowed}.", field=key
                )
            if isinstance(value, str) and name != "sedation_scale":
                # Typed or JSON text becomes a number when it is one; anything else is kept so
                # validation can name it ("HR '7x' is not a number").
                number, ok = _coerce(value)
                value = number if ok else value
            kwargs[name] = value
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """The values that were given (None left out)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @property
    def mean_arterial(self) -> float | None:
        """Measured MAP if given, else MAP calculated from plausible SBP and DBP, else None."""
        if _is_finite_number(self.map):
            return float(self.map)  # type: ignore[arg-type]
        if _is_finite_number(self.sbp) and _is_finite_number(self.dbp):
            return compute_map(float(self.sbp), float(self.dbp))  # type: ignore[arg-type]
        return None


@dataclass(frozen=True)
class FieldRange:
    """Hard (refuse) and soft (confirm) bounds for one field, inclusive."""

    field: str
    hard_min: float
    hard_max: float
    soft_min: float
    soft_max: float
    integer: bool = False

    @property
    def label(self) -> str:
        return FIELD_INFO[self.field].label if self.field in FIELD_INFO else self.field

    @property
    def unit(self) -> str:
        return FIELD_INFO[self.field].unit if self.field in FIELD_INFO else ""


@dataclass(frozen=True)
class ScoreRange:
    """Allowed integer scores of a sedation scale."""

    scale: str
    min: int
    max: int


@dataclass(frozen=True)
class VitalRanges:
    """Entry ranges, cross-checks and sedation score ranges from the clinic settings."""

    fields: Mapping[str, FieldRange]
    min_pulse_pressure: float
    sedation: Mapping[str, ScoreRange]
    max_future_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: ClinicSettings | Mapping[str, Any]) -> VitalRanges:
        """Build from ClinicSettings or from the plain `vitals` section dict."""
        data = settings.section("vitals") if isinstance(settings, ClinicSettings) else settings
        ranges: dict[str, FieldRange] = {}
        for key, spec in data["ranges"].items():
            fr = FieldRange(
                field=key,
                hard_min=float(spec["hard_min"]),
                hard_max=float(spec["hard_max"]),
                soft_min=float(spec["soft_min"]),
                soft_max=float(spec["soft_max"]),
                integer=bool(spec.get("integer", False)),
            )
            if not (
                fr.hard_min <= fr.soft_min <= fr.soft_max <= fr.hard_max
                and fr.hard_min < fr.hard_max
            ):
                raise ConfigError(
                    "vitals settings",
                    f"vitals.ranges.{key}",
                    "must satisfy hard_min <= soft_min <= soft_max <= hard_max",
                    (fr.hard_min, fr.soft_min, fr.soft_max, fr.hard_max),
                )
            ranges[key] = fr
        sedation = {
            scale: ScoreRange(scale, int(spec["min"]), int(spec["max"]))
            for scale, spec in data["sedation"].items()
        }
        return cls(
            fields=ranges,
            min_pulse_pressure=float(data["cross_checks"]["min_pulse_pressure"]),
            sedation=sedation,
            max_future_s=float(data.get("entry", {}).get("max_future_s", 60)),
        )

    def for_field(self, field: str) -> FieldRange:
        """The range for a VitalsInput attribute or range key."""
        return self.fields[range_key(field)]


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field: `hard` blocks saving, `soft` needs confirmation."""

    field: str
    value: Any
    tier: Tier
    message: str


@dataclass(frozen=True)
class ValidationResult:
    """All problems found in one set of vitals, plus the MAP that would be stored."""

    problems: tuple[FieldProblem, ...]
    computed_map: float | None = None

    @property
    def hard(self) -> tuple[FieldProblem, ...]:
        return tuple(p for p in self.problems if p.tier == "hard")

    @property
    def soft(self) -> tuple[FieldProblem, ...]:
        return tuple(p for p in self.problems if p.tier == "soft")

    @property
    def ok(self) -> bool:
        """True when nothing blocks saving (soft problems may still need confirmation)."""
        return not self.hard

    @property
    def needs_confirmation(self) -> bool:
        """True when saving is allowed only after the nurse confirms the soft problems."""
        return self.ok and bool(self.soft)

    def for_field(self, field: str) -> tuple[FieldProblem, ...]:
        """Problems attached to one field."""
        return tuple(p for p in self.problems if p.field == field)


def compute_map(sbp: float, dbp: float) -> float:
    """Mean arterial pressure DBP + (SBP − DBP)/3, rounded to 1 decimal."""
    return round(dbp + (sbp - dbp) / 3.0, 1)


def fmt_number(value: float) -> str:
    """A number as a nurse would write it: 120 not 120.0, 37.5 kept."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return repr(value)
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _range_text(lo: float, hi: float, unit: str = "") -> str:
    text = f"{fmt_number(lo)} to {hi:+g}" if lo < 0 else f"{fmt_number(lo)}–{fmt_number(hi)}"
    return f"{text} {unit}".rstrip()


def _with_unit(value: float, unit: str) -> str:
    return f"{fmt_number(value)} {unit}".rstrip()


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _coerce(value: Any) -> tuple[float | None, bool]:
    """(number, ok): None/blank is (None, True); unparseable text, bools and NaN give ok=False."""
    if value is None:
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        if not text:
            return None, True
        try:
            value = float(text)
        except ValueError:
            return None, False
    if not isinstance(value, int | float):
        return None, False
    number = float(value)
    if not math.isfinite(number):
        return None, False
    return number, True


def _check_range(field: str, raw: Any, fr: FieldRange, note: str = "") -> list[FieldProblem]:
    number, ok = _coerce(raw)
    allowed = _range_text(fr.hard_min, fr.hard_max, fr.unit)
    if not ok:
        shown = f" '{raw}'" if isinstance(raw, str) else ""
        return [
            FieldProblem(
                field, raw, "hard", f"{fr.label}{shown} is not a number: allowed {allowed}."
            )
        ]
    if number is None:
        return []
    if not fr.hard_min <= number <= fr.hard_max:
        return [
            FieldProblem(
                field,
                number,
                "hard",
                f"{fr.label} {_with_unit(number, fr.unit)}{note} is impossible: allowed {allowed}.",
            )
        ]
    if fr.integer and not number.is_integer():
        return [
            FieldProblem(
                field,
                number,
                "hard",
                f"{fr.label} {_with_unit(number, fr.unit)} must be a whole number: allowed {allowed}.",
            )
        ]
    if not fr.soft_min <= number <= fr.soft_max:
        soft = _range_text(fr.soft_min, fr.soft_max, fr.unit)
        return [
            FieldProblem(
                field,
                number,
                "soft",
                f"{fr.label} {_with_unit(number, fr.unit)}{note} is outside {soft}: "
                "confirm it is correct.",
            )
        ]
    return []


def _check_pulse_pressure(sbp: Any, dbp: Any, ranges: VitalRanges) -> list[FieldProblem]:
    s, s_ok = _coerce(sbp)
    d, d_ok = _coerce(dbp)
    if s is None or d is None or not (s_ok and d_ok):
        return []
    minimum = ranges.min_pulse_pressure
    if s <= d:
        return [
            FieldProblem(
                "sbp",
                s,
                "hard",
                f"SBP {fmt_number(s)} mmHg must be higher than DBP {fmt_number(d)} mmHg "
                f"by at least {fmt_number(minimum)} mmHg.",
            )
        ]
    if s - d < minimum:
        return [
            FieldProblem(
                "sbp",
                s,
                "hard",
                f"Pulse pressure {fmt_number(s)}/{fmt_number(d)} is {fmt_number(round(s - d, 1))} "
                f"mmHg: SBP must exceed DBP by at least {fmt_number(minimum)} mmHg.",
            )
        ]
    return []


def _check_sedation(scale: Any, score: Any, ranges: VitalRanges) -> list[FieldProblem]:
    number, ok = _coerce(score)
    if number is None and ok:
        return []
    allowed_scales = ", ".join(SEDATION_LABELS.get(s, s) for s in ranges.sedation)
    if scale is None or scale == "":
        return [
            FieldProblem(
                "sedation_scale",
                scale,
                "hard",
                f"Sedation score {fmt_number(number) if ok and number is not None else repr(score)} "
                "needs a scale: "
                f"allowed {allowed_scales}.",
            )
        ]
    if scale not in ranges.sedation:
        return [
            FieldProblem(
                "sedation_scale",
                scale,
                "hard",
                f"Sedation scale '{scale}' is unknown: allowed {allowed_scales}.",
            )
        ]
    sr = ranges.sedation[scale]
    label = SEDATION_LABELS.get(scale, scale)
    allowed = _range_text(sr.min, sr.max)
    if not ok:
        return [
            FieldProblem(
                "sedation_score",
                score,
                "hard",
                f"{label} score is not a number: allowed {allowed}.",
            )
        ]
    assert number is not None
    if not sr.min <= number <= sr.max or not number.is_integer():
        return [
            FieldProblem(
                "sedation_score",
                number,
                "hard",
                f"{label} {fmt_number(number)} is impossible: allowed whole numbers {allowed}.",
            )
        ]
    return []


def validate_field(
    field: str, value: Any, ranges: VitalRanges, *, context: VitalsInput | None = None
) -> tuple[FieldProblem, ...]:
    """Check one field as the nurse types it (value may be text); `context` gives the other values
    for the SBP/DBP cross-check and the sedation scale."""
    name = input_name(field)
    if name == "sedation_score":
        scale = context.sedation_scale if context else None
        return tuple(_check_sedation(scale, value, ranges))
    if name == "sedation_scale":
        score = context.sedation_score if context else None
        return tuple(_check_sedation(value, score, ranges))
    problems = _check_range(name, value, ranges.for_field(name))
    if not any(p.tier == "hard" for p in problems) and context is not None:
        if name == "sbp":
            problems += _check_pulse_pressure(value, context.dbp, ranges)
        elif name == "dbp":
            problems += [
                FieldProblem("dbp", p.value, p.tier, p.message)
                for p in _check_pulse_pressure(context.sbp, value, ranges)
            ]
    return tuple(problems)


def validate_vitals(
    values: VitalsInput | Mapping[str, Any], ranges: VitalRanges
) -> ValidationResult:
    """Check a whole set of vitals: each field, SBP > DBP with the minimum pulse pressure, the
    calculated MAP, and the sedation score against its scale."""
    vi = values if isinstance(values, VitalsInput) else VitalsInput.from_mapping(values)
    problems: list[FieldProblem] = []
    for name in NUMERIC_FIELDS:
        problems += _check_range(name, getattr(vi, name), ranges.for_field(name))
    sbp_ok = not any(p.field in ("sbp", "dbp") and p.tier == "hard" for p in problems)
    computed: float | None = None
    if sbp_ok:
        cross = _check_pulse_pressure(vi.sbp, vi.dbp, ranges)
        problems += cross
        s, _ = _coerce(vi.sbp)
        d, _ = _coerce(vi.dbp)
        if not cross and s is not None and d is not None:
            computed = compute_map(s, d)
            if vi.map is None:
                # A calculated MAP is stored too, so it must be plausible as well.
                note = f" (calculated from {fmt_number(s)}/{fmt_number(d)})"
                problems += [
                    p
                    for p in _check_range("map", computed, ranges.for_field("map"), note)
                    if p.tier == "hard"
                ]
    problems += _check_sedation(vi.sedation_scale, vi.sedation_score, ranges)
    return ValidationResult(tuple(problems), computed)


def ensure_storable(
    values: VitalsInput | Mapping[str, Any], ranges: VitalRanges, *, soft_confirmed: bool = True
) -> ValidationResult:
    """Refuse (DomainError out_of_range) any hard problem; with `soft_confirmed=False` also refuse
    (confirmation_required) unconfirmed soft problems. Called before every insert."""
    result = validate_vitals(values, ranges)
    if result.hard:
        first = result.hard[0]
        raise DomainError(OUT_OF_RANGE, first.message, field=first.field)
    if result.soft and not soft_confirmed:
        first = result.soft[0]
        raise DomainError(CONFIRMATION_REQUIRED, first.message, field=first.field)
    return result


def is_late(observed_at: datetime, recorded_at: datetime, late_after_min: float) -> bool:
    """True when the entry was recorded more than `late_after_min` minutes after the measurement."""
    return ensure_utc(recorded_at) - ensure_utc(observed_at) > timedelta(minutes=late_after_min)


def ensure_observed_time(observed_at: datetime, recorded_at: datetime, ranges: VitalRanges) -> None:
    """Refuse a measurement time further in the future than the clinic's clock-skew allowance."""
    ahead = (ensure_utc(observed_at) - ensure_utc(recorded_at)).total_seconds()
    if ahead > ranges.max_future_s:
        raise DomainError(
            BAD_INPUT,
            f"Measurement time is {fmt_number(round(ahead))} s after the entry time: "
            f"allowed at most {fmt_number(ranges.max_future_s)} s.",
            field="observed_at",
        )


def changed_fields(original: VitalsInput, corrected: VitalsInput) -> dict[str, tuple[Any, Any]]:
    """Fields whose value differs: {field: (old, new)}, for the correction's audit entry."""
    return {
        f.name: (getattr(original, f.name), getattr(corrected, f.name))
        for f in fields(VitalsInput)
        if getattr(original, f.name) != getattr(corrected, f.name)
    }


def ensure_correction(
    original: VitalsInput, corrected: VitalsInput, reason: str, ranges: VitalRanges
) -> dict[str, tuple[Any, Any]]:
    """Check a correction of a stored set (the original is kept): a reason is required, something
    must change, and the corrected values must be storable. Returns the changed fields."""
    if not reason or not reason.strip():
        raise DomainError(BAD_INPUT, "A correction needs a reason.", field="reason")
    changes = changed_fields(original, corrected)
    if not changes:
        raise DomainError(BAD_INPUT, "The correction changes no value.", field=None)
    ensure_storable(corrected, ranges)
    return changes
