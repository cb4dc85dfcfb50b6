"""Dose calculation: exact numbers, rounding rules and range checks against session.json."""

from __future__ import annotations

import pytest

from nursestation.clinic import load_defaults
from nursestation.dosing import DosingLimits, Protocol, calculate_dose, validate_protocol
from nursestation.errors import DomainError


@pytest.fixture(scope="module")
def limits() -> DosingLimits:
    return DosingLimits.from_settings(load_defaults())


def test_reference_example_70kg(limits: DosingLimits) -> None:
    calc = calculate_dose(70, Protocol(0.5, 40, 1.0), limits)
    assert calc.total_mg == 35.0
    assert calc.volume_ml == 35.0
    assert calc.rate_mg_per_h == 52.5
    assert calc.rate_ml_per_h == 52.5
    assert calc.warnings == ()
    assert calc.lines() == [
        "Dose: 70 kg × 0.5 mg/kg = 35.0 mg",
        "Volume: 35.0 mg ÷ 1 mg/mL = 35.0 mL",
        "Rate: 35.0 mg over 40 min = 52.5 mg/h = 52.5 mL/h",
    ]


def test_shipped_defaults_are_the_reference_protocol(limits: DosingLimits) -> None:
    assert limits.default_protocol == Protocol(0.5, 40, 1.0)
    assert DosingLimits.shipped() == limits
    # limits=None uses the shipped file
    assert calculate_dose(70, limits.default_protocol) == calculate_dose(
        70, limits.default_protocol, limits
    )


def test_rounding_half_up_and_rates_from_rounded_total(limits: DosingLimits) -> None:
    # 73.3 × 0.5 = 36.65 → 36.7 (half-up; banker's rounding would give 36.6)
    calc = calculate_dose(73.3, Protocol(0.5, 40, 10.0), limits)
    assert calc.total_mg == 36.7
    assert calc.volume_ml == 3.7  # 3.67
    assert calc.rate_mg_per_h == 55.1  # 36.7 × 60 / 40 = 55.05
    assert calc.rate_ml_per_h == 5.5  # 5.505
    # 0.1 × 33 = 3.3 exactly in decimal (3.3000000000000003 in binary floats)
    assert calculate_dose(33, Protocol(0.1, 40, 1.0), limits).total_mg == 3.3


def test_other_durations_and_concentrations(limits: DosingLimits) -> None:
    calc = calculate_dose(80, Protocol(0.75, 100, 0.5), limits)
    assert calc.total_mg == 60.0
    assert calc.volume_ml == 120.0
    assert calc.rate_mg_per_h == 36.0
    assert calc.rate_ml_per_h == 72.0
    fast = calculate_dose(50, Protocol(0.2, 2, 1.0), limits)
    assert fast.total_mg == 10.0
    assert fast.rate_mg_per_h == 300.0


def test_rounding_follows_settings() -> None:
    settings = load_defaults().with_overrides(
        {"session": {"rounding": {"mg_decimals": 2, "rate_decimals": 2}}}, "test"
    )
    lim = DosingLimits.from_settings(settings)
    calc = calculate_dose(73.3, Protocol(0.5, 40, 1.0), lim)
    assert calc.total_mg == 36.65
    assert calc.rate_mg_per_h == 54.98  # 54.975 half-up
    assert calc.lines()[0] == "Dose: 73.3 kg × 0.5 mg/kg = 36.65 mg"


@pytest.mark.parametrize(
    ("weight", "ok"), [(20, True), (19.9, False), (350, True), (350.1, False), (0, False)]
)
def test_weight_hard_range_boundaries(limits: DosingLimits, weight: float, ok: bool) -> None:
    if ok:
        calculate_dose(weight, Protocol(0.5, 40, 1.0), limits)
        return
    with pytest.raises(DomainError) as err:
        calculate_dose(weight, Protocol(0.5, 40, 1.0), limits)
    assert err.value.code == "out_of_range"
    assert err.value.field == "weight_kg"
    assert "allowed 20–350 kg" in err.value.message


@pytest.mark.parametrize(
    ("weight", "warned"), [(40, False), (39.9, True), (180, False), (181, True)]
)
def test_weight_soft_band_warns(limits: DosingLimits, weight: float, warned: bool) -> None:
    calc = calculate_dose(weight, Protocol(0.5, 40, 1.0), limits)
    assert bool(calc.warnings) is warned
    if warned:
        assert "40–180 kg" in calc.warnings[0]
        assert calc.lines()[-1].startswith("Warning: Weight")


@pytest.mark.parametrize(
    ("protocol", "field", "allowed"),
    [
        (Protocol(0.09, 40, 1.0), "dose_mg_per_kg", "0.1–1 mg/kg"),
        (Protocol(1.01, 40, 1.0), "dose_mg_per_kg", "0.1–1 mg/kg"),
        (Protocol(0.5, 1.9, 1.0), "duration_min", "2–100 min"),
        (Protocol(0.5, 101, 1.0), "duration_min", "2–100 min"),
        (Protocol(0.5, 40, 0.09), "concentration_mg_per_ml", "0.1–10 mg/mL"),
        (Protocol(0.5, 40, 10.5), "concentration_mg_per_ml", "0.1–10 mg/mL"),
        (Protocol(float("nan"), 40, 1.0), "dose_mg_per_kg", "0.1–1 mg/kg"),
        (Protocol(0.5, float("inf"), 1.0), "duration_min", "2–100 min"),
    ],
)
def test_protocol_out_of_range(
    limits: DosingLimits, protocol: Protocol, field: str, allowed: str
) -> None:
    with pytest.raises(DomainError) as err:
        calculate_dose(70, protocol, limits)
    assert err.value.code == "out_of_range"
    assert err.value.field == field
    assert f"allowed {allowed}" in err.value.message


@pytest.mark.parametrize(
    "protocol",
    [Protocol(0.1, 40, 1.0), Protocol(1.0, 40, 1.0), Protocol(0.5, 2, 0.1), Protocol(0.5, 100, 10)],
)
def test_protocol_boundaries_accepted(limits: DosingLimits, protocol: Protocol) -> None:
    validate_protocol(protocol, limits)
    calculate_dose(70, protocol, limits)


def test_non_number_refused(limits: DosingLimits) -> None:
    with pytest.raises(DomainError) as err:
        calculate_dose("70", Protocol(0.5, 40, 1.0), limits)  # type: ignore[arg-type]
    assert err.value.code == "out_of_range"
    assert err.value.field == "weight_kg"


def test_clinic_can_narrow_dose_range() -> None:
    settings = load_defaults().with_overrides(
        {"session": {"protocol": {"dose_mg_per_kg": {"allowed_max": 0.75}}}}, "clinic.json"
    )
    lim = DosingLimits.from_settings(settings)
    calculate_dose(70, Protocol(0.75, 40, 1.0), lim)
    with pytest.raises(DomainError) as err:
        calculate_dose(70, Protocol(0.76, 40, 1.0), lim)
    assert "allowed 0.1–0.75 mg/kg" in err.value.message


def test_inconsistent_clinic_range_refused() -> None:
    from nursestation.clinic import ConfigError

    settings = load_defaults().with_overrides(
        {"session": {"protocol": {"dose_mg_per_kg": {"allowed_max": 0.4}}}}, "clinic.json"
    )
    with pytest.raises(ConfigError):
        DosingLimits.from_settings(settings)  # default 0.5 outside 0.1–0.4


def test_protocol_defaults_fill_gaps(limits: DosingLimits) -> None:
    assert limits.protocol(duration_min=60) == Protocol(0.5, 60, 1.0)
    assert limits.protocol(0.75, None, 10) == Protocol(0.75, 40, 10)
    assert limits.protocol() == limits.default_protocol
