"""Alarm limits for vital signs: three tiers (advisory, action, critical) of absolute low/high
limits, percent change from the pre-infusion baseline, and sedation-score limits.

The numbers come from resources/clinic/vitals.json ("limits", "baseline_change", "sedation");
a breach is strict: a value equal to a limit does not breach it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Literal

from nursestation.clinic import ClinicSettings, ConfigError
from nursestation.errors import BAD_INPUT, NOT_PERMITTED, OUT_OF_RANGE, DomainError
from nursestation.vitals import FIELD_INFO, SEDATION_LABELS, VitalsInput, fmt_number

Tier = Literal["advisory", "action", "critical"]
Direction = Literal["high", "low"]
Basis = Literal["absolute", "baseline"]

TIERS: tuple[Tier, ...] = ("advisory", "action", "critical")  # ascending severity
TIER_RANK: dict[str, int] = {t: i for i, t in enumerate(TIERS)}
PARAMS: tuple[str, ...] = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2")
SEDATION_PARAM = "sedation"

_ARROW = {"high": "↑", "low": "↓"}


@dataclass(frozen=True)
class TierLimit:
    """Low and high limit of one tier; None where the tier has no limit on that side."""

    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ParamLimits:
    """The three tiers of one parameter."""

    param: str
    tiers: Mapping[str, TierLimit]

    def limit(self, tier: str, side: Direction) -> float | None:
        tl = self.tiers.get(tier)
        return None if tl is None else getattr(tl, side)


@dataclass(frozen=True)
class SedationLimits:
    """Score thresholds for one sedation scale; a score at or past a threshold breaches it."""

    scale: str
    action_at_or_below: float | None = None
    critical_at_or_below: float | None = None
    action_at_or_above: float | None = None
    critical_at_or_above: float | None = None


@dataclass(frozen=True)
class LimitBreach:
    """One parameter outside one limit: the highest tier it breaches."""

    param: str
    value: float
    tier: Tier
    direction: Direction
    basis: Basis
    limit: float  # absolute limit, or the percentage for a baseline-change breach
    text: str
    symbol: str
    baseline: float | None = None
    change_pct: float | None = None


@dataclass(frozen=True)
class VitalLimits:
    """All alarm limits of a clinic (or of one patient after an override)."""

    params: Mapping[str, ParamLimits]
    baseline_pct: Mapping[str, float]
    baseline_params: tuple[str, ...]
    sedation: Mapping[str, SedationLimits]
    editors: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: ClinicSettings | Mapping[str, Any]) -> VitalLimits:
        """Build from ClinicSettings or the plain `vitals` section dict; refuses tiers that do
        not nest (ConfigError)."""
        data = settings.section("vitals") if isinstance(settings, ClinicSettings) else settings
        params: dict[str, ParamLimits] = {}
        for param, tiers in data["limits"].items():
            pl = ParamLimits(
                param,
                {
                    tier: TierLimit(_opt(spec.get("low")), _opt(spec.get("high")))
                    for tier, spec in tiers.items()
                },
            )
            problem = _nesting_problem(pl)
            if problem:
                raise ConfigError("vitals settings", f"vitals.limits.{param}", problem)
            params[param] = pl
        bc = data["baseline_change"]
        pct: dict[str, float] = {tier: float(bc[f"{tier}_pct"]) for tier in TIERS}
        if not pct["advisory"] <= pct["action"] <= pct["critical"]:
            raise ConfigError(
                "vitals settings",
                "vitals.baseline_change",
                "must have advisory_pct <= action_pct <= critical_pct",
                pct,
            )
        sedation = {
            scale: SedationLimits(
                scale,
                _opt(spec.get("action_at_or_below")),
                _opt(spec.get("critical_at_or_below")),
                _opt(spec.get("action_at_or_above")),
                _opt(spec.get("critical_at_or_above")),
            )
            for scale, spec in data.get("sedation", {}).items()
        }
        return cls(
            params=params,
            baseline_pct=pct,
            baseline_params=tuple(bc["params"]),
            sedation=sedation,
            editors=tuple(data["limit_editors"]),
        )

    def can_edit(self, role: str) -> bool:
        """Whether a user with `role` may change alarm limits (NPSG.06.01.01 'by whom')."""
        return role in self.editors

    def ensure_can_edit(self, role: str) -> None:
        """Refuse (not_permitted) a limit change by a role not allowed to make it."""
        if not self.can_edit(role):
            raise DomainError(
                NOT_PERMITTED,
                f"Role '{role}' may not change alarm limits: allowed {', '.join(self.editors)}.",
                field="role",
            )

    def with_limit(
        self, param: str, tier: Tier, side: Direction, value: float, *, role: str, reason: str
    ) -> VitalLimits:
        """A copy with one limit changed (per-patient override). Needs a permitted role and a
        reason; the tiers must still nest. The caller writes the audit entry."""
        self.ensure_can_edit(role)
        if not reason or not reason.strip():
            raise DomainError(BAD_INPUT, "A limit change needs a reason.", field="reason")
        if param not in self.params or tier not in TIERS or side not in ("low", "high"):
            raise DomainError(
                BAD_INPUT, f"Unknown limit {param} {tier} {side}.", field=f"{param}.{tier}.{side}"
            )
        pl = self.params[param]
        if pl.limit(tier, side) is None:
            raise DomainError(
                BAD_INPUT,
                f"{_label(param)} has no {tier} {side} limit to change.",
                field=f"{param}.{tier}.{side}",
            )
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise DomainError(
                OUT_OF_RANGE,
                f"{_label(param)} limit must be a number.",
                field=f"{param}.{tier}.{side}",
            )
        tiers = dict(pl.tiers)
        tiers[tier] = replace(tiers[tier], **{side: float(value)})
        new_pl = ParamLimits(param, tiers)
        problem = _nesting_problem(new_pl)
        if problem:
            raise DomainError(
                OUT_OF_RANGE,
                f"{_label(param)} {tier} {side} limit {fmt_number(value)} is refused: {problem}.",
                field=f"{param}.{tier}.{side}",
            )
        return replace(self, params={**self.params, param: new_pl})


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _label(param: str) -> str:
    if param in FIELD_INFO:
        return FIELD_INFO[param].label
    return param


def _unit(param: str) -> str:
    return FIELD_INFO[param].unit if param in FIELD_INFO else ""


def _nesting_problem(pl: ParamLimits) -> str | None:
    """Why the tiers of `pl` do not nest, or None when they do."""
    lows = [(t, v) for t in TIERS if (v := pl.limit(t, "low")) is not None]
    highs = [(t, v) for t in TIERS if (v := pl.limit(t, "high")) is not None]
    for (t1, v1), (t2, v2) in pairwise(lows):
        if v2 > v1:
            return f"the {t2} low limit must not be above the {t1} low limit ({fmt_number(v1)})"
    for (t1, v1), (t2, v2) in pairwise(highs):
        if v2 < v1:
            return f"the {t2} high limit must not be below the {t1} high limit ({fmt_number(v1)})"
    if lows and highs and max(v for _, v in lows) >= min(v for _, v in highs):
        return "every low limit must be below every high limit"
    return None


def _as_input(values: VitalsInput | Mapping[str, Any] | None) -> VitalsInput | None:
    if values is None or isinstance(values, VitalsInput):
        return values
    return VitalsInput.from_mapping(values)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _param_value(vi: VitalsInput, param: str) -> float | None:
    if param == "map":
        return _finite(vi.mean_arterial)
    if param == "temp":
        return _finite(vi.temp_c)
    return _finite(getattr(vi, param, None))


def checked_params(values: VitalsInput | Mapping[str, Any]) -> frozenset[str]:
    """The parameters a set of values lets us judge (so alarms on the others are left alone)."""
    vi = _as_input(values)
    assert vi is not None
    present = {p for p in PARAMS if _param_value(vi, p) is not None}
    if vi.sedation_scale is not None and _finite(vi.sedation_score) is not None:
        present.add(SEDATION_PARAM)
    return frozenset(present)


def _absolute(param: str, value: float, pl: ParamLimits) -> LimitBreach | None:
    for tier in reversed(TIERS):
        for side in ("low", "high"):
            limit = pl.limit(tier, side)
            if limit is None:
                continue
            if (side == "low" and value < limit) or (side == "high" and value > limit):
                word = "below" if side == "low" else "above"
                unit = f" {_unit(param)}" if _unit(param) else ""
                text = (
                    f"{_label(param)} {fmt_number(value)}{unit} {word} {tier} limit "
                    f"{fmt_number(limit)}"
                )
                return LimitBreach(param, value, tier, side, "absolute", limit, text, _ARROW[side])
    return None


def _baseline_change(
    param: str, value: float, base: float, pct: Mapping[str, float]
) -> LimitBreach | None:
    if base <= 0:
        return None
    change = (value - base) / base * 100.0
    for tier in reversed(TIERS):
        if abs(change) > pct[tier]:
            side: Direction = "high" if change > 0 else "low"
            word = "above" if side == "high" else "below"
            unit = f" {_unit(param)}" if _unit(param) else ""
            text = (
                f"{_label(param)} {fmt_number(value)}{unit} is {fmt_number(round(abs(change), 1))}% "
                f"{word} baseline {fmt_number(base)} ({tier} limit {fmt_number(pct[tier])}%)"
            )
            return LimitBreach(
                param,
                value,
                tier,
                side,
                "baseline",
                pct[tier],
                text,
                "Δ" + _ARROW[side],
                baseline=base,
                change_pct=round(change, 1),
            )
    return None


def _sedation(scale: str, score: float, sl: SedationLimits) -> LimitBreach | None:
    label = SEDATION_LABELS.get(scale, scale)
    checks: list[tuple[Tier, Direction, float | None]] = [
        ("critical", "low", sl.critical_at_or_below),
        ("critical", "high", sl.critical_at_or_above),
        ("action", "low", sl.action_at_or_below),
        ("action", "high", sl.action_at_or_above),
    ]
    for tier, side, limit in checks:
        if limit is None:
            continue
        if (side == "low" and score <= limit) or (side == "high" and score >= limit):
            word = "at or below" if side == "low" else "at or above"
            text = f"{label} {fmt_number(score)} {word} {tier} limit {fmt_number(limit)}"
            return LimitBreach(
                SEDATION_PARAM, score, tier, side, "absolute", limit, text, _ARROW[side]
            )
    return None


def evaluate(
    values: VitalsInput | Mapping[str, Any],
    baseline: VitalsInput | Mapping[str, Any] | None,
    limits: VitalLimits,
) -> list[LimitBreach]:
    """Breaches of one set of vitals, the highest tier per parameter only, in parameter order.

    Absolute limits and change from `baseline` are both checked; on equal tiers the absolute
    breach is reported. Missing or non-finite values are skipped (they are not judged here).
    """
    vi = _as_input(values)
    base = _as_input(baseline)
    assert vi is not None
    out: list[LimitBreach] = []
    for param in PARAMS:
        value = _param_value(vi, param)
        if value is None:
            continue
        candidates: list[LimitBreach] = []
        if param in limits.params:
            hit = _absolute(param, value, limits.params[param])
            if hit:
                candidates.append(hit)
        if base is not None and param in limits.baseline_params:
            b = _param_value(base, param)
            if b is not None:
                hit = _baseline_change(param, value, b, limits.baseline_pct)
                if hit:
                    candidates.append(hit)
        if candidates:
            # max() keeps the first of equal tiers, and absolute is appended first.
            out.append(max(candidates, key=lambda br: TIER_RANK[br.tier]))
    score = _finite(vi.sedation_score)
    scale = vi.sedation_scale
    if scale is not None and scale in limits.sedation and score is not None:
        hit = _sedation(scale, score, limits.sedation[scale])
        if hit:
            out.append(hit)
    return out


def highest_tier(breaches: Iterable[LimitBreach]) -> Tier | None:
    """The most severe tier among `breaches`, or None."""
    tiers = [b.tier for b in breaches]
    if not tiers:
        return None
    return max(tiers, key=TIER_RANK.__getitem__)
