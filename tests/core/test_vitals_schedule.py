"""Vitals reminders: infusion vs recovery interval, reset by a reading, due/overdue boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nursestation.clinic import load_defaults
from nursestation.dosing import Protocol, calculate_dose
from nursestation.infusion import InfusionEvent, infusion_state
from nursestation.vitals_schedule import VitalsScheduleSettings, vitals_due, vitals_due_for_state

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def due(phase: str, last: datetime | None, start: datetime | None, now: datetime):
    # infusion every 10 min, recovery every 15, overdue 5 min after due
    return vitals_due(phase, last, start, 10, 15, 5, now)


def test_shipped_settings() -> None:
    s = VitalsScheduleSettings.from_settings(load_defaults())
    assert (s.interval_infusion_min, s.interval_recovery_min, s.overdue_after_min) == (10, 15, 5)


@pytest.mark.parametrize("phase", ["checked_in", "ready_for_discharge", "discharged"])
def test_no_reminder_outside_infusion_and_observation(phase: str) -> None:
    d = due(phase, None, None, at(0))
    assert d.status == "none"
    assert d.next_due_at is None


def test_first_reading_due_at_phase_start() -> None:
    d = due("infusing", None, at(0), at(0))
    assert (d.status, d.next_due_at, d.overdue_by_min) == ("due", at(0), 0.0)
    # a baseline taken before the start does not count for the infusion period
    d = due("infusing", at(-3), at(0), at(2))
    assert (d.status, d.next_due_at, d.overdue_by_min) == ("due", at(0), 2.0)


def test_reading_resets_the_clock_infusion_interval() -> None:
    d = due("infusing", at(1), at(0), at(4))
    assert (d.status, d.next_due_at, d.minutes_until) == ("ok", at(11), 7.0)
    assert d.interval_min == 10


def test_paused_uses_infusion_interval() -> None:
    assert due("paused", at(1), at(0), at(4)).next_due_at == at(11)


def test_observation_uses_recovery_interval_and_restarts_at_stop() -> None:
    # reading at 38 min during the infusion; stopped at 40 → due at the stop
    d = due("observation", at(38), at(40), at(41))
    assert (d.status, d.next_due_at) == ("due", at(40))
    d = due("observation", at(41), at(40), at(42))
    assert (d.status, d.next_due_at, d.minutes_until) == ("ok", at(56), 14.0)
    assert d.interval_min == 15


@pytest.mark.parametrize(
    ("now", "status", "until", "over"),
    [
        (at(10.5), "ok", 0.5, 0.0),
        (at(11), "due", 0.0, 0.0),
        (at(15.99), "due", 0.0, 4.99),
        (at(16), "overdue", 0.0, 5.0),
        (at(30), "overdue", 0.0, 19.0),
    ],
)
def test_due_overdue_boundaries(now: datetime, status: str, until: float, over: float) -> None:
    d = due("infusing", at(1), at(0), now)
    assert d.status == status
    assert d.minutes_until == pytest.approx(until)
    assert d.overdue_by_min == pytest.approx(over)


def test_overdue_after_zero_goes_straight_to_overdue() -> None:
    assert vitals_due("infusing", at(1), at(0), 10, 15, 0, at(11)).status == "overdue"


def test_active_phase_without_start_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        due("infusing", None, None, at(0))


def test_from_infusion_state_pause_does_not_restart_clock() -> None:
    plan = calculate_dose(70, Protocol(0.5, 40, 1.0))
    events = [
        InfusionEvent("start", at(0)),
        InfusionEvent("pause", at(12), reason="nausea"),
    ]
    schedule = VitalsScheduleSettings(10, 15, 5)
    st = infusion_state(events, plan, at(14), min_observation_min=60)
    d = vitals_due_for_state(st, at(8), schedule, at(14))
    assert (d.status, d.next_due_at) == ("ok", at(18))
    stopped = [*events, InfusionEvent("stop", at(20))]
    st = infusion_state(stopped, plan, at(21), min_observation_min=60)
    d = vitals_due_for_state(st, at(8), schedule, at(21))
    assert (d.status, d.next_due_at) == ("due", at(20))
