"""The pure Spravato rules (nursestation.spravato): doses, device spacing, BP timepoints and
reminders, the form's fields, the 7-day due date. Boundaries just inside and just outside."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from nursestation.clinic import load_clinic_settings
from nursestation.errors import DomainError
from nursestation.infusion import min_observation_min
from nursestation.spravato import (
    FORM_FIELDS,
    BpReading,
    Device,
    SpravatoConfig,
    bp_timepoints,
    check_device,
    days_left,
    devices_for_dose,
    form_due_date,
    predose_above_limit,
    reminders,
)
from nursestation.wording import REMS_FORM_LABELS

T = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CFG = SpravatoConfig.from_settings(load_clinic_settings())


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def test_shipped_values_and_sources() -> None:
    s = load_clinic_settings()
    assert (CFG.device_mg, CFG.doses_mg, CFG.min_between_devices_min) == (28, (56, 84), 5)
    assert (CFG.predose_sbp_limit, CFG.predose_dbp_limit, CFG.form_due_days) == (140, 90, 7)
    for key in ("device_mg", "doses_mg", "min_between_devices_min", "form_due_days",
                "discharge_criteria", "bp_after_first_device_min"):  # fmt: skip
        assert "clinical.md §4.3" in (s.source(f"spravato.{key}") or "")
    for key in ("predose_sbp_limit", "predose_dbp_limit"):
        assert "clinical.md §0/§2.1" in (s.source(f"spravato.{key}") or "")
    assert "[GK]" in (s.source("spravato.bp_after_first_device_window_min") or "")


def test_clinic_minimum_longer_than_the_rems_minimum_holds() -> None:
    s = load_clinic_settings()
    assert min_observation_min(s, "spravato") == 120
    longer = s.with_overrides({"min_observation_min": 150}, "test")
    assert min_observation_min(longer, "spravato") == 150
    assert min_observation_min(longer, "iv_ketamine") == 150
    shorter = s.with_overrides({"min_observation_min": 119}, "test")
    assert min_observation_min(shorter, "spravato") == 120


def test_doses() -> None:
    assert devices_for_dose(56, CFG) == 2 and devices_for_dose(84, CFG) == 3
    for bad in (0, 28, 57, 83, 85, 112, True, None):
        with pytest.raises(DomainError) as e:
            devices_for_dose(bad, CFG)
        assert e.value.field == "dose_mg"


def test_device_spacing_boundary() -> None:
    d1 = (Device(1, at(0), "L", 28),)
    with pytest.raises(DomainError) as e:
        check_device(d1, at(5) - timedelta(seconds=1), "L", 3, CFG, UTC)
    assert e.value.code == "interval_too_short" and "allowed from 14:05" in e.value.message
    assert check_device(d1, at(5), "L", 3, CFG, UTC) == 2
    two = (*d1, Device(2, at(5), "L", 28))
    with pytest.raises(DomainError) as e:
        check_device(two, at(20), "L", 2, CFG, UTC)
    assert e.value.code == "invalid_state"


def test_predose_limit_is_strictly_above() -> None:
    assert not predose_above_limit(BpReading(T, 140, 90), CFG)
    assert predose_above_limit(BpReading(T, 141, 90), CFG)
    assert predose_above_limit(BpReading(T, 120, 91), CFG)


def test_bp_timepoints_window_edges() -> None:
    readings = [BpReading(at(-2), 128, 82), BpReading(at(30), 150, 95),
                BpReading(at(42), 140, 88), BpReading(at(50), 138, 86),
                BpReading(at(115), 124, 80)]  # fmt: skip
    tp = bp_timepoints(readings, at(0), CFG)
    assert (tp.pre.sbp, tp.after_40.sbp, tp.end.sbp) == (128, 140, 124)
    # outside 40 ± 10 min: no 40-minute BP
    tp = bp_timepoints([BpReading(at(29), 150, 95), BpReading(at(51), 140, 88)], at(0), CFG)
    assert tp.after_40 is None and tp.end.sbp == 140


def test_reminders_overdue_edges() -> None:
    pre = [BpReading(at(-2), 128, 82)]
    (r,) = reminders(at(50), at(0), pre, 120, CFG, UTC)
    assert (r.key, r.overdue) == ("bp_40", False)
    (r,) = reminders(at(50) + timedelta(seconds=1), at(0), pre, 120, CFG, UTC)
    assert r.overdue
    keys = [r.key for r in reminders(at(120) + timedelta(seconds=1), at(0), pre, 120, CFG, UTC)]
    assert keys == ["bp_40", "bp_end"]


def test_due_date_and_days_left() -> None:
    due = form_due_date(date(2026, 3, 2), CFG)
    assert due == date(2026, 3, 9)
    assert days_left(due, date(2026, 3, 9)) == 0 and days_left(due, date(2026, 3, 10)) == -1


def test_every_form_field_has_a_label() -> None:
    assert {k for k, _ in FORM_FIELDS} <= set(REMS_FORM_LABELS)
    assert not any("_" in REMS_FORM_LABELS[k] for k, _ in FORM_FIELDS)
