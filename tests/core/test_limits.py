"""Three-tier alarm limits, change from baseline, sedation limits and who may change them."""

from __future__ import annotations

import math

import pytest

from nursestation.clinic import ConfigError, load_defaults
from nursestation.errors import DomainError
from nursestation.limits import (
    VitalLimits,
    checked_params,
    evaluate,
    highest_tier,
)
from nursestation.vitals import VitalsInput


@pytest.fixture(scope="module")
def limits() -> VitalLimits:
    return VitalLimits.from_settings(load_defaults())


def _one(values: dict, limits: VitalLimits, baseline: dict | None = None):
    breaches = evaluate(values, baseline, limits)
    assert len(breaches) == 1, breaches
    return breaches[0]


def test_limits_loaded(limits: VitalLimits) -> None:
    sbp = limits.params["sbp"]
    assert [sbp.limit(t, "high") for t in ("advisory", "action", "critical")] == [140, 180, 200]
    assert [sbp.limit(t, "low") for t in ("advisory", "action", "critical")] == [100, 90, 80]
    assert limits.params["spo2"].limit("critical", "low") == 90
    assert limits.params["spo2"].limit("critical", "high") is None
    assert dict(limits.baseline_pct) == {"advisory": 20, "action": 40, "critical": 50}
    assert limits.baseline_params == ("sbp", "dbp", "map", "hr")
    assert set(limits.params) == {"sbp", "dbp", "map", "hr", "spo2", "rr", "etco2"}


def test_action_limit_text_and_strictness(limits: VitalLimits) -> None:
    assert evaluate({"sbp": 140}, None, limits) == []  # at the limit: no breach
    b = _one({"sbp": 185}, limits)
    assert (b.param, b.tier, b.direction, b.basis, b.limit) == (
        "sbp",
        "action",
        "high",
        "absolute",
        180,
    )
    assert b.text == "SBP 185 mmHg above action limit 180"
    assert b.symbol == "↑"
    assert _one({"sbp": 180}, limits).tier == "advisory"
    assert _one({"sbp": 181}, limits).tier == "action"
    assert _one({"sbp": 200}, limits).tier == "action"
    assert _one({"sbp": 201}, limits).tier == "critical"


@pytest.mark.parametrize(
    ("param", "value", "tier", "direction"),
    [
        ("spo2", 95, None, None),
        ("spo2", 94, "advisory", "low"),
        ("spo2", 92, "advisory", "low"),
        ("spo2", 91, "action", "low"),
        ("spo2", 90, "action", "low"),
        ("spo2", 89, "critical", "low"),
        ("hr", 49, "action", "low"),
        ("hr", 121, "action", "high"),
        ("hr", 151, "critical", "high"),
        ("rr", 9, "action", "low"),
        ("rr", 7, "critical", "low"),
        ("rr", 26, "action", "high"),
        ("dbp", 111, "action", "high"),
        ("dbp", 121, "critical", "high"),
        ("etco2", 61, "critical", "high"),
        ("etco2", 40, None, None),
    ],
)
def test_tiers(limits: VitalLimits, param: str, value: float, tier, direction) -> None:
    breaches = evaluate({param: value}, None, limits)
    assert [(b.tier, b.direction) for b in breaches] == ([(tier, direction)] if tier else [])


def test_low_text(limits: VitalLimits) -> None:
    assert _one({"spo2": 88}, limits).text == "SpO2 88 % below critical limit 90"


def test_map_from_sbp_dbp(limits: VitalLimits) -> None:
    # 180/120 -> MAP 140.0: DBP breaches the action tier; MAP 140 is not above 140.
    breaches = evaluate({"sbp": 180, "dbp": 120}, None, limits)
    assert [(b.param, b.tier) for b in breaches] == [
        ("sbp", "advisory"),
        ("dbp", "action"),
        ("map", "action"),
    ]


def test_baseline_change_tiers(limits: VitalLimits) -> None:
    base = {"hr": 100}
    assert evaluate({"hr": 80}, base, limits) == []  # exactly -20 %: no breach (and 80 > 55)
    b = _one({"hr": 79}, limits, base)
    assert (b.tier, b.basis, b.direction, b.change_pct) == ("advisory", "baseline", "low", -21.0)
    assert b.text == "HR 79 bpm is 21% below baseline 100 (advisory limit 20%)"
    assert b.symbol == "Δ↓"
    # 100 -> 60 is exactly 40 %: still advisory; 59 breaches action.
    assert _one({"hr": 60}, limits, base).tier == "advisory"
    assert _one({"hr": 59}, limits, base).basis == "baseline"
    assert _one({"hr": 59}, limits, base).tier == "action"


def test_baseline_critical_beats_lower_absolute(limits: VitalLimits) -> None:
    # SBP 120 -> 185: absolute action (> 180) but +54 % from baseline is critical (> 50 %).
    b = _one({"sbp": 185}, limits, {"sbp": 120})
    assert (b.tier, b.basis, b.limit, b.baseline) == ("critical", "baseline", 50, 120)


def test_highest_tier_only_and_absolute_wins_ties(limits: VitalLimits) -> None:
    # SBP 100 -> 145: +45 % (action) and absolute advisory -> action from baseline.
    b = _one({"sbp": 145}, limits, {"sbp": 100})
    assert (b.tier, b.basis) == ("action", "baseline")
    # SBP 150 -> 185: +23 % (advisory) vs absolute action -> absolute action.
    b = _one({"sbp": 185}, limits, {"sbp": 150})
    assert (b.tier, b.basis) == ("action", "absolute")
    # Equal tiers: SBP 115 -> 141: +22.6 % advisory and absolute advisory -> absolute.
    b = _one({"sbp": 141}, limits, {"sbp": 115})
    assert (b.tier, b.basis) == ("advisory", "absolute")


def test_rr_is_not_baseline_checked_by_default(limits: VitalLimits) -> None:
    assert evaluate({"rr": 18}, {"rr": 12}, limits) == []  # +50 %, but RR not in params


def test_sedation_limits(limits: VitalLimits) -> None:
    assert evaluate({"sedation_scale": "moaas", "sedation_score": 4}, None, limits) == []
    b = _one({"sedation_scale": "moaas", "sedation_score": 3}, limits)
    assert (b.param, b.tier, b.text) == (
        "sedation",
        "action",
        "MOAA/S 3 at or below action limit 3",
    )
    assert _one({"sedation_scale": "moaas", "sedation_score": 0}, limits).tier == "critical"
    assert _one({"sedation_scale": "rass", "sedation_score": 4}, limits).tier == "critical"
    assert _one({"sedation_scale": "rass", "sedation_score": -3}, limits).tier == "action"
    assert evaluate({"sedation_scale": "rass", "sedation_score": 0}, None, limits) == []


def test_missing_and_nonfinite_values_are_not_judged(limits: VitalLimits) -> None:
    assert evaluate(VitalsInput(hr=math.nan, spo2=math.inf), None, limits) == []
    assert evaluate({"sbp": 130}, {"sbp": 0}, limits) == []
    assert checked_params({"sbp": 120, "dbp": 80, "spo2": 97}) == {"sbp", "dbp", "map", "spo2"}
    assert checked_params({"sedation_scale": "moaas", "sedation_score": 5}) == {"sedation"}


def test_highest_tier() -> None:
    assert highest_tier([]) is None


def test_highest_tier_of_several(limits: VitalLimits) -> None:
    breaches = evaluate({"sbp": 150, "spo2": 89, "hr": 125}, None, limits)
    assert highest_tier(breaches) == "critical"


def test_who_may_change_limits(limits: VitalLimits) -> None:
    assert limits.editors == ("charge_nurse", "administrator")
    assert limits.can_edit("charge_nurse") and not limits.can_edit("nurse")
    with pytest.raises(DomainError) as err:
        limits.with_limit("sbp", "action", "high", 170, role="nurse", reason="x")
    assert err.value.code == "not_permitted"


def test_per_patient_override(limits: VitalLimits) -> None:
    new = limits.with_limit("sbp", "action", "high", 170, role="charge_nurse", reason="known HTN")
    assert new.params["sbp"].limit("action", "high") == 170
    assert limits.params["sbp"].limit("action", "high") == 180  # the original is untouched
    assert _one({"sbp": 171}, new).tier == "action"
    with pytest.raises(DomainError, match="needs a reason"):
        limits.with_limit("sbp", "action", "high", 170, role="charge_nurse", reason="")
    with pytest.raises(DomainError) as err:
        limits.with_limit("sbp", "action", "high", 210, role="charge_nurse", reason="x")
    assert err.value.code == "out_of_range"
    assert "critical high limit must not be below the action high limit" in err.value.message
    with pytest.raises(DomainError) as err:
        limits.with_limit("spo2", "action", "high", 99, role="charge_nurse", reason="x")
    assert err.value.code == "bad_input"


def test_settings_that_do_not_nest_are_refused() -> None:
    bad = load_defaults().with_overrides(
        {"vitals": {"limits": {"hr": {"action": {"high": 90}}}}}, "t"
    )
    with pytest.raises(ConfigError, match=r"vitals\.limits\.hr"):
        VitalLimits.from_settings(bad)
    bad = load_defaults().with_overrides({"vitals": {"baseline_change": {"action_pct": 10}}}, "t")
    with pytest.raises(ConfigError, match="baseline_change"):
        VitalLimits.from_settings(bad)


def test_clinic_override_changes_a_limit() -> None:
    s = load_defaults().with_overrides(
        {"vitals": {"limits": {"spo2": {"action": {"low": 93}}}}}, "t"
    )
    limits = VitalLimits.from_settings(s)
    assert _one({"spo2": 92}, limits).tier == "action"
