"""One name per fact (issue 14): temperature is `temp_c` in the clinic JSON, the core, the
database column and scenario files; the former name `temp` is read as `temp_c` in clinic override
files, session settings lists and vital-sign input until the next release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from nursestation.checklist import evaluate_checklist
from nursestation.clinic import ConfigError, load_defaults
from nursestation.db.models import VitalReading
from nursestation.vitals import VitalRanges, VitalsInput, validate_field

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ANSWERS: dict[str, Any] = {
    "consent_confirmed": True,
    "identity_two_identifiers": True,
    "last_solids_at": (NOW - timedelta(hours=8)).isoformat(),
    "last_clear_liquids_at": (NOW - timedelta(hours=3)).isoformat(),
    "escort_name": "John Doe",
    "escort_phone": "+1 555 010 2030",
    "pregnancy_screen": "negative",
    "contraindications_screened": True,
    "contraindications": [],
    "interacting_medications_screened": True,
    "interacting_medications": [],
    "iv_site": "left antecubital",
    "iv_gauge": 22,
    "iv_patent": True,
}


def test_temperature_has_one_name_in_clinic_json_core_and_database() -> None:
    settings = load_defaults()
    assert settings.get("vitals.ranges.temp_c.hard_max") == 45.0
    assert not [s.path for s in settings if s.path.startswith("vitals.ranges.temp.")]
    assert "temp_c" in VitalRanges.from_settings(settings).fields
    assert "temp_c" in VitalReading.__table__.columns
    assert "temp_c" in {f for f in VitalsInput.__dataclass_fields__}


@pytest.mark.parametrize("key", ["temp", "temp_c"])
def test_a_clinic_override_under_either_name_sets_temp_c(key: str) -> None:
    settings = load_defaults().with_overrides(
        {"vitals": {"ranges": {key: {"soft_max": 38.0}}}}, "clinic.json"
    )
    assert settings.get("vitals.ranges.temp_c.soft_max") == 38.0
    assert VitalRanges.from_settings(settings).for_field("temp_c").soft_max == 38.0
    # Dotted paths too, and the range check still applies under the former name.
    dotted = load_defaults().with_overrides({"vitals.ranges.temp.hard_max": 44.0}, "clinic.json")
    assert dotted.get("vitals.ranges.temp_c.hard_max") == 44.0
    with pytest.raises(ConfigError) as exc:
        load_defaults().with_overrides({"vitals": {"ranges": {key: {"hard_max": 51}}}}, "x")
    assert "vitals.ranges.temp_c.hard_max" in str(exc.value)


def test_temp_is_read_as_temp_c_in_vital_sign_input() -> None:
    ranges = VitalRanges.from_settings(load_defaults())
    assert VitalsInput.from_mapping({"temp": 36.6}) == VitalsInput.from_mapping({"temp_c": 36.6})
    # just inside and just outside the hard range, under both names
    for key in ("temp", "temp_c"):
        assert [p.tier for p in validate_field(key, 45.0, ranges)] == ["soft"]
        [problem] = validate_field(key, 45.1, ranges)
        assert (problem.field, problem.tier) == ("temp_c", "hard")


@pytest.mark.parametrize("name", ["temp", "temp_c"])
def test_a_required_baseline_temperature_is_found_on_the_stored_reading(name: str) -> None:
    """The pre-infusion checklist used to call temperature "temp" while the stored reading has
    temp_c: a clinic requiring it never saw it recorded. Both names now find it."""
    settings = load_defaults().with_overrides(
        {
            "session": {
                "checklist": {"baseline_vitals": {"required": ["sbp", "dbp", "hr", "spo2", name]}}
            }
        },
        "clinic.json",
    )
    reading = SimpleNamespace(sbp=128, dbp=82, hr=76, pulse_rate=None, spo2=98, rr=14, temp_c=36.8)
    item = evaluate_checklist(ANSWERS, reading, None, settings, NOW).item("baseline_vitals")
    assert (item.status, item.message) == ("ok", "Baseline vitals within the start limits.")
    no_temp = SimpleNamespace(**{**vars(reading), "temp_c": None})
    item = evaluate_checklist(ANSWERS, no_temp, None, settings, NOW).item("baseline_vitals")
    assert item.status == "missing"
    assert item.message == "Baseline Temperature not recorded."
