"""Vital-sign entry validation: hard/soft tiers, cross-checks, MAP, clinical vs entry time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nursestation.clinic import ConfigError, load_defaults
from nursestation.errors import DomainError
from nursestation.vitals import (
    VitalRanges,
    VitalsInput,
    changed_fields,
    compute_map,
    ensure_correction,
    ensure_observed_time,
    ensure_storable,
    is_late,
    validate_field,
    validate_vitals,
)

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ranges() -> VitalRanges:
    return VitalRanges.from_settings(load_defaults())


def test_ranges_loaded_from_settings(ranges: VitalRanges) -> None:
    sbp = ranges.for_field("sbp")
    assert (sbp.hard_min, sbp.hard_max, sbp.soft_min, sbp.soft_max) == (40, 280, 80, 200)
    assert ranges.for_field("temp_c").hard_max == 45.0
    assert ranges.for_field("spo2").integer is True
    assert ranges.min_pulse_pressure == 10
    assert (ranges.sedation["moaas"].min, ranges.sedation["moaas"].max) == (0, 5)
    assert (ranges.sedation["rass"].min, ranges.sedation["rass"].max) == (-5, 4)
    assert set(ranges.fields) == {
        "sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c", "weight_kg",
    }  # fmt: skip


def test_from_settings_accepts_plain_section_dict() -> None:
    section = load_defaults().section("vitals")
    assert VitalRanges.from_settings(section).for_field("hr").hard_max == 300


def test_inverted_range_in_settings_is_a_config_error() -> None:
    settings = load_defaults().with_overrides({"vitals": {"ranges": {"hr": {"soft_min": 10}}}}, "t")
    with pytest.raises(ConfigError, match=r"vitals\.ranges\.hr"):
        VitalRanges.from_settings(settings)


@pytest.mark.parametrize(
    ("field", "lo", "hi", "step"),
    [
        ("sbp", 40, 280, 1),
        ("dbp", 15, 220, 1),
        ("map", 25, 240, 1),
        ("hr", 20, 300, 1),
        ("spo2", 50, 100, 1),
        ("rr", 0, 80, 1),
        ("etco2", 0, 150, 1),
        ("temp_c", 25.0, 45.0, 0.1),
    ],
)
def test_hard_boundaries(
    ranges: VitalRanges, field: str, lo: float, hi: float, step: float
) -> None:
    assert not validate_vitals(VitalsInput(**{field: lo}), ranges).hard
    assert not validate_vitals(VitalsInput(**{field: hi}), ranges).hard
    below = validate_vitals(VitalsInput(**{field: round(lo - step, 1)}), ranges)
    above = validate_vitals(VitalsInput(**{field: round(hi + step, 1)}), ranges)
    assert [p.field for p in below.hard] == [field]
    assert [p.field for p in above.hard] == [field]


def test_weight_hard_boundary_by_single_field(ranges: VitalRanges) -> None:
    assert validate_field("weight_kg", 20, ranges)[0].tier == "soft"
    assert validate_field("weight_kg", 19.9, ranges)[0].tier == "hard"
    assert validate_field("weight_kg", 350, ranges)[0].tier == "soft"
    assert validate_field("weight_kg", 350.1, ranges)[0].tier == "hard"
    assert validate_field("weight_kg", 70, ranges) == ()


def test_hard_message_names_field_and_allowed_range(ranges: VitalRanges) -> None:
    result = validate_vitals(VitalsInput(spo2=120), ranges)
    assert [p.message for p in result.hard] == ["SpO2 120 % is impossible: allowed 50–100 %."]
    assert not result.ok


def test_soft_tier_needs_confirmation(ranges: VitalRanges) -> None:
    result = validate_vitals(VitalsInput(sbp=210, dbp=80), ranges)
    assert result.ok and result.needs_confirmation
    assert [(p.field, p.tier, p.message) for p in result.problems] == [
        ("sbp", "soft", "SBP 210 mmHg is outside 80–200 mmHg: confirm it is correct.")
    ]


@pytest.mark.parametrize(
    ("field", "inside", "outside"),
    [("sbp", 200, 201), ("sbp", 80, 79), ("hr", 150, 151), ("spo2", 90, 89), ("rr", 6, 5)],
)
def test_soft_boundaries(ranges: VitalRanges, field: str, inside: float, outside: float) -> None:
    assert validate_field(field, inside, ranges) == ()
    (problem,) = validate_field(field, outside, ranges)
    assert problem.tier == "soft"


def test_sbp_not_above_dbp_is_refused(ranges: VitalRanges) -> None:
    for sbp, dbp in [(80, 90), (90, 90)]:
        result = validate_vitals(VitalsInput(sbp=sbp, dbp=dbp), ranges)
        assert [p.field for p in result.hard] == ["sbp"]
        assert "must be higher than DBP" in result.hard[0].message
        with pytest.raises(DomainError) as err:
            ensure_storable(VitalsInput(sbp=sbp, dbp=dbp), ranges)
        assert err.value.code == "out_of_range"


def test_pulse_pressure_minimum(ranges: VitalRanges) -> None:
    assert validate_vitals(VitalsInput(sbp=100, dbp=90), ranges).ok  # exactly 10 accepted
    result = validate_vitals(VitalsInput(sbp=99, dbp=90), ranges)
    assert [p.message for p in result.hard] == [
        "Pulse pressure 99/90 is 9 mmHg: SBP must exceed DBP by at least 10 mmHg."
    ]


def test_compute_map() -> None:
    assert compute_map(120, 80) == 93.3
    assert compute_map(121, 80) == 93.7
    assert compute_map(180, 120) == 140.0


def test_map_is_calculated_and_checked(ranges: VitalRanges) -> None:
    assert validate_vitals(VitalsInput(sbp=120, dbp=80), ranges).computed_map == 93.3
    # Both plausible alone, but the calculated MAP is not.
    result = validate_vitals(VitalsInput(sbp=41, dbp=15), ranges)
    assert [p.message for p in result.hard] == [
        "MAP 23.7 mmHg (calculated from 41/15) is impossible: allowed 25–240 mmHg."
    ]
    assert VitalsInput(sbp=120, dbp=80).mean_arterial == 93.3
    assert VitalsInput(sbp=120, dbp=80, map=95).mean_arterial == 95


def test_spo2_must_be_whole(ranges: VitalRanges) -> None:
    (problem,) = validate_field("spo2", 97.5, ranges)
    assert problem.tier == "hard"
    assert problem.message == "SpO2 97.5 % must be a whole number: allowed 50–100 %."


def test_field_check_as_typed(ranges: VitalRanges) -> None:
    assert validate_field("hr", "", ranges) == ()
    assert validate_field("hr", " 72 ", ranges) == ()
    assert validate_field("temp", "37,2", ranges) == ()
    (problem,) = validate_field("hr", "7x", ranges)
    assert (problem.tier, problem.message) == (
        "hard",
        "HR '7x' is not a number: allowed 20–300 bpm.",
    )
    (problem,) = validate_field("dbp", 95, ranges, context=VitalsInput(sbp=90))
    assert (problem.field, problem.tier) == ("dbp", "hard")


@pytest.mark.parametrize(
    ("scale", "score", "ok"),
    [
        ("moaas", 0, True),
        ("moaas", 5, True),
        ("moaas", 6, False),
        ("moaas", -1, False),
        ("rass", -5, True),
        ("rass", 4, True),
        ("rass", 5, False),
        ("rass", -6, False),
        ("rass", 1.5, False),
        ("ramsay", 2, False),
        (None, 2, False),
    ],
)
def test_sedation_score_ranges(
    ranges: VitalRanges, scale: str | None, score: float, ok: bool
) -> None:
    result = validate_vitals(VitalsInput(sedation_scale=scale, sedation_score=score), ranges)
    assert result.ok is ok


def test_rass_message(ranges: VitalRanges) -> None:
    result = validate_vitals(VitalsInput(sedation_scale="rass", sedation_score=6), ranges)
    assert result.hard[0].message == "RASS 6 is impossible: allowed whole numbers -5 to +4."


def test_nan_inf_bool_refused(ranges: VitalRanges) -> None:
    for bad in (math.nan, math.inf, -math.inf, True):
        result = validate_vitals(VitalsInput(hr=bad), ranges)
        assert [p.field for p in result.hard] == ["hr"], bad


def test_ensure_storable(ranges: VitalRanges) -> None:
    result = ensure_storable(VitalsInput(sbp=128, dbp=82, hr=76, spo2=98, rr=14), ranges)
    assert result.computed_map == 97.3
    with pytest.raises(DomainError) as err:
        ensure_storable({"spo2": 120}, ranges)
    assert (err.value.code, err.value.field) == ("out_of_range", "spo2")
    assert str(err.value) == "SpO2 120 % is impossible: allowed 50–100 %."
    # Soft problems pass unless the caller says they were not confirmed.
    ensure_storable(VitalsInput(hr=160), ranges)
    with pytest.raises(DomainError) as err:
        ensure_storable(VitalsInput(hr=160), ranges, soft_confirmed=False)
    assert err.value.code == "confirmation_required"


def test_unknown_field_refused() -> None:
    with pytest.raises(DomainError) as err:
        VitalsInput.from_mapping({"pulse": 70})
    assert (err.value.code, err.value.field) == ("bad_input", "pulse")
    assert VitalsInput.from_mapping({"temp": 36.6}).temp_c == 36.6
    vi = VitalsInput.from_mapping({"sbp": "128", "dbp": " ", "hr": "7x", "sedation_scale": "rass"})
    assert (vi.sbp, vi.dbp, vi.hr, vi.sedation_scale) == (128.0, None, "7x", "rass")


def test_is_late() -> None:
    assert not is_late(T0, T0 + timedelta(minutes=10), 10)
    assert is_late(T0, T0 + timedelta(minutes=10, seconds=1), 10)
    assert not is_late(T0, T0 - timedelta(minutes=1), 10)
    with pytest.raises(ValueError):
        is_late(datetime(2026, 3, 2, 14, 0), T0, 10)


def test_observed_time_not_in_future(ranges: VitalRanges) -> None:
    ensure_observed_time(T0 + timedelta(seconds=60), T0, ranges)
    with pytest.raises(DomainError) as err:
        ensure_observed_time(T0 + timedelta(seconds=61), T0, ranges)
    assert (err.value.code, err.value.field) == ("bad_input", "observed_at")


def test_correction_keeps_original_and_needs_reason(ranges: VitalRanges) -> None:
    original = VitalsInput(sbp=182, dbp=90, hr=70)
    corrected = VitalsInput(sbp=128, dbp=90, hr=70)
    assert changed_fields(original, corrected) == {"sbp": (182, 128)}
    assert ensure_correction(original, corrected, "typo: 128 not 182", ranges) == {
        "sbp": (182, 128)
    }
    with pytest.raises(DomainError, match="needs a reason"):
        ensure_correction(original, corrected, "  ", ranges)
    with pytest.raises(DomainError, match="changes no value"):
        ensure_correction(original, original, "x", ranges)
    with pytest.raises(DomainError) as err:
        ensure_correction(original, VitalsInput(sbp=300, dbp=90), "x", ranges)
    assert err.value.code == "out_of_range"


_any_float = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-50, max_value=400),
    st.integers(min_value=-1000, max_value=1000),
)


@settings(max_examples=400, deadline=None)
@given(
    sbp=_any_float,
    dbp=_any_float,
    map_=_any_float,
    hr=_any_float,
    spo2=_any_float,
    rr=_any_float,
    etco2=_any_float,
    temp=_any_float,
)
def test_ensure_storable_accepts_only_hard_range_values(**kw: float | None) -> None:
    r = VitalRanges.from_settings(load_defaults())
    values = VitalsInput(
        sbp=kw["sbp"], dbp=kw["dbp"], map=kw["map_"], hr=kw["hr"], spo2=kw["spo2"],
        rr=kw["rr"], etco2=kw["etco2"], temp_c=kw["temp"],
    )  # fmt: skip
    try:
        ensure_storable(values, r)
    except DomainError as err:
        assert err.code == "out_of_range"
        return
    for name in ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c"):
        v = getattr(values, name)
        if v is None:
            continue
        fr = r.for_field(name)
        assert math.isfinite(v) and fr.hard_min <= v <= fr.hard_max, (name, v)
    if values.sbp is not None and values.dbp is not None:
        assert values.sbp - values.dbp >= r.min_pulse_pressure
    if values.spo2 is not None:
        assert float(values.spo2).is_integer()


@settings(max_examples=600, deadline=None)
@given(
    name=st.sampled_from(["sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c"]),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-10, max_value=310),
        st.integers(min_value=-10, max_value=310),
    ),
)
def test_single_field_storable_iff_inside_hard_range(name: str, value: float) -> None:
    r = VitalRanges.from_settings(load_defaults())
    fr = r.for_field(name)
    expected = (
        math.isfinite(value)
        and fr.hard_min <= value <= fr.hard_max
        and (not fr.integer or float(value).is_integer())
    )
    try:
        ensure_storable(VitalsInput(**{name: value}), r)
        stored = True
    except DomainError as err:
        assert err.code == "out_of_range" and err.field == name
        stored = False
    assert stored is expected
