"""Reading model, JSON shape and plausible ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nursestation.clinic import load_defaults
from nursestation.devices.reading import (
    PARAMS,
    QUESTIONABLE,
    UNAVAILABLE,
    UNITS,
    VALID,
    DecodeStats,
    PlausibleRanges,
    Reading,
    make_reading,
)

HOST = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_json_dict_has_exactly_the_contract_keys_in_order() -> None:
    r = make_reading(
        "masimo-ascii",
        "spo2",
        97,
        VALID,
        None,
        datetime(2016, 2, 22, 22, 47, 45),
        HOST,
        "0000056661",
    )
    d = r.to_json_dict()
    assert list(d) == [
        "protocol",
        "param",
        "value",
        "unit",
        "quality",
        "reason",
        "device_time",
        "device_id",
    ]
    assert d == {
        "protocol": "masimo-ascii",
        "param": "spo2",
        "value": 97,
        "unit": "%",
        "quality": "valid",
        "reason": None,
        "device_time": "2016-02-22T22:47:45",
        "device_id": "0000056661",
    }
    assert isinstance(d["value"], int)


def test_json_keeps_decimals_offsets_and_nulls() -> None:
    tz = timezone(timedelta(hours=5))
    r = make_reading(
        "hl7-mllp", "temp", 36.75, QUESTIONABLE, "x", datetime(2020, 1, 1, tzinfo=tz), HOST, None
    )
    d = r.to_json_dict()
    assert d["value"] == 36.75
    assert d["unit"] == "°C"
    assert d["device_time"] == "2020-01-01T00:00:00+05:00"
    u = make_reading("nonin-df8", "pulse_rate", None, UNAVAILABLE, "no_value", None, HOST, None)
    assert u.to_json_dict()["value"] is None
    assert u.to_json_dict()["device_time"] is None
    assert not u.is_valid


def test_units_cover_every_param() -> None:
    assert set(UNITS) == set(PARAMS)
    assert UNITS["pulse_rate"] == "/min" and UNITS["sbp"] == "mmHg" and UNITS["temp"] == "°C"


def test_reading_is_frozen() -> None:
    r = make_reading("nonin-df8", "spo2", 97, VALID, None, None, HOST, None)
    with pytest.raises(AttributeError):
        r.value = 50  # type: ignore[misc]


def test_stats_json_and_add() -> None:
    a = DecodeStats(1, 2, 3, 4)
    a.add(DecodeStats(10, 20, 30, 40))
    assert a.to_json_dict() == {"frames": 11, "readings": 22, "rejected": 33, "bytes_skipped": 44}


def test_default_ranges_are_clinical_hard_reject_bounds() -> None:
    ranges = PlausibleRanges.default()
    assert ranges.ranges["spo2"] == (50.0, 100.0)
    assert ranges.ranges["sbp"] == (40.0, 280.0)
    assert ranges.ranges["dbp"] == (15.0, 220.0)
    assert ranges.ranges["map"] == (25.0, 240.0)
    assert ranges.ranges["pulse_rate"] == (20.0, 300.0)
    assert ranges.ranges["hr"] == (20.0, 300.0)
    assert ranges.ranges["rr"] == (0.0, 80.0)
    assert ranges.ranges["etco2"] == (0.0, 150.0)
    assert ranges.ranges["temp"] == (25.0, 45.0)
    assert set(ranges.ranges) == set(PARAMS)


def test_every_range_setting_names_its_source() -> None:
    settings = load_defaults()
    paths = [s.path for s in settings if s.path.startswith("devices.")]
    assert paths
    for path in paths:
        assert settings.source(path), path


@pytest.mark.parametrize(
    ("param", "value", "quality"),
    [
        ("spo2", 50, VALID),
        ("spo2", 49, QUESTIONABLE),
        ("spo2", 100, VALID),
        ("spo2", 101, QUESTIONABLE),
        ("sbp", 280, VALID),
        ("sbp", 281, QUESTIONABLE),
        ("sbp", 40, VALID),
        ("sbp", 39, QUESTIONABLE),
        ("pulse_rate", 300, VALID),
        ("pulse_rate", 301, QUESTIONABLE),
        ("temp", 45.0, VALID),
        ("temp", 45.1, QUESTIONABLE),
    ],
)
def test_check_boundaries(param: str, value: float, quality: str) -> None:
    r = make_reading("x", param, value, VALID, None, None, HOST, None)
    checked = PlausibleRanges.default().check(r)
    assert checked.quality == quality
    assert checked.value == value  # the raw number is kept
    assert checked.reason == (None if quality == VALID else "implausible")


def test_unavailable_is_never_upgraded_or_relabelled() -> None:
    r = make_reading("x", "spo2", 20, UNAVAILABLE, "probe_off", None, HOST, None)
    assert PlausibleRanges.default().check(r) == r


def test_clinic_override_changes_the_range() -> None:
    settings = load_defaults().with_overrides(
        {"devices": {"plausible": {"spo2": {"min": 70}}}}, "test"
    )
    ranges = PlausibleRanges.from_settings(settings)
    assert ranges.ranges["spo2"] == (70.0, 100.0)
    r = make_reading("x", "spo2", 69, VALID, None, None, HOST, None)
    assert ranges.check(r).quality == QUESTIONABLE


def test_from_dict_refuses_unknown_param_and_inverted_range() -> None:
    with pytest.raises(ValueError, match="unknown device parameter 'glucose'"):
        PlausibleRanges.from_dict({"glucose": {"min": 1, "max": 2}})
    with pytest.raises(ValueError, match=r"min 5\.0 is above max 1\.0"):
        PlausibleRanges.from_dict({"spo2": {"min": 5, "max": 1}})


def test_reading_equality_includes_host_time() -> None:
    a = Reading("p", "spo2", 97.0, "%", VALID, None, None, HOST, None)
    b = Reading("p", "spo2", 97.0, "%", VALID, None, None, HOST + timedelta(seconds=1), None)
    assert a != b


def test_questionable_keeps_its_specific_reason_when_out_of_range() -> None:
    r = make_reading("x", "temp", 310, QUESTIONABLE, "unknown_unit", None, HOST, None)
    assert PlausibleRanges.default().check(r) == r
