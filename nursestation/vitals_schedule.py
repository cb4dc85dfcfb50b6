"""When the next set of vitals is due: infusion interval while infusing or paused, recovery
interval in observation, nothing before the start or once ready for discharge.

Rules: the first reading of a period is due at the period's start (the infusion start, or the
stop for observation); a reading taken at or after that start resets the clock to
reading + interval. A reading taken before the period began does not count for it, so an
end-of-infusion set is asked for when the pump stops. "due" turns "overdue" `overdue_after_min`
minutes after the due time (at exactly that minute it is overdue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nursestation.clinic import ClinicSettings
from nursestation.clock import ensure_utc
from nursestation.infusion import DOSE_COMPLETE, INFUSING, OBSERVATION, PAUSED, InfusionState

OK = "ok"
DUE = "due"
OVERDUE = "overdue"
NONE = "none"


@dataclass(frozen=True)
class VitalsScheduleSettings:
    """The clinic's vitals intervals (general.json)."""

    interval_infusion_min: float
    interval_recovery_min: float
    overdue_after_min: float

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> VitalsScheduleSettings:
        g = settings.section("general")
        return cls(
            interval_infusion_min=float(g["vitals_interval_infusion_min"]),
            interval_recovery_min=float(g["vitals_interval_recovery_min"]),
            overdue_after_min=float(g["vitals_overdue_after_min"]),
        )


@dataclass(frozen=True)
class VitalsDue:
    """The reminder: next due time, status, minutes until due (ok) or past due (due/overdue)."""

    next_due_at: datetime | None
    status: str
    minutes_until: float = 0.0
    overdue_by_min: float = 0.0
    interval_min: float | None = None


def vitals_due(
    phase: str,
    last_vitals_at: datetime | None,
    phase_started_at: datetime | None,
    interval_infusion_min: float,
    interval_recovery_min: float,
    overdue_after_min: float,
    now: datetime,
) -> VitalsDue:
    """The vitals reminder for a chair. For infusing/paused pass the infusion start time as
    `phase_started_at` (a pause does not restart the clock); for observation, the stop time."""
    if phase in (INFUSING, PAUSED, DOSE_COMPLETE):
        interval = float(interval_infusion_min)
    elif phase == OBSERVATION:
        interval = float(interval_recovery_min)
    else:
        return VitalsDue(None, NONE)
    if phase_started_at is None:
        raise ValueError(f"phase '{phase}' needs the time it started")
    now = ensure_utc(now)
    start = ensure_utc(phase_started_at)
    last = ensure_utc(last_vitals_at) if last_vitals_at is not None else None
    # a reading from before this period (e.g. the baseline) does not count for it
    due_at = start if last is None or last < start else last + timedelta(minutes=interval)
    past = (now - due_at).total_seconds() / 60.0
    if past < 0:
        return VitalsDue(due_at, OK, minutes_until=-past, interval_min=interval)
    status = OVERDUE if past >= float(overdue_after_min) else DUE
    return VitalsDue(due_at, status, overdue_by_min=past, interval_min=interval)


def vitals_due_for_state(
    state: InfusionState,
    last_vitals_at: datetime | None,
    schedule: VitalsScheduleSettings,
    now: datetime,
) -> VitalsDue:
    """`vitals_due` fed from an InfusionState (uses its phase and phase_started_at)."""
    return vitals_due(
        state.phase,
        last_vitals_at,
        state.phase_started_at,
        schedule.interval_infusion_min,
        schedule.interval_recovery_min,
        schedule.overdue_after_min,
        now,
    )
