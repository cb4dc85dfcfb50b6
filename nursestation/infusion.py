"""The crash-proof infusion timer: everything is derived from the stored events and `now`.

Nothing is counted in memory. `infusion_state(events, planned, now)` replays the persisted
start/pause/resume/rate_change/stop events, so a restarted app (or another station) shows the
same minutes and milligrams. The same events and the same `now` always give the same state.

Design choices:
- The order is a total in mg. Delivered mg is capped by it: once the running intervals add up to
  the ordered total the state is "dose complete" (`dose_complete_at`), the session leaves
  "infusing" and the nurse is asked (by an alarm) to stop the pump and record `stop`. Nothing
  after that moment counts as delivered, so "Delivered 44.8 of 41.3 mg" cannot be shown: the
  pump is programmed with the ordered volume to be infused, and charting more than the order
  would chart a dose nobody ordered.
- Time left follows the rate: it is the mg still owed divided by the rate set now (the current
  rate while running, the set rate while paused). A slower rate extends it, a faster one
  shortens it. `overrun_s` is the infused time beyond the planned duration (a slow infusion).
- A `now` earlier than the last event (clock skew between stations) is treated as the time of the
  last event, so no interval is ever negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from nursestation.clinic import ClinicSettings
from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, INVALID_STATE, DomainError

START = "start"
PAUSE = "pause"
RESUME = "resume"
RATE_CHANGE = "rate_change"
STOP = "stop"
EVENT_KINDS = (START, PAUSE, RESUME, RATE_CHANGE, STOP)

# Phases shown on the chair board. The last two are decided by the discharge module / service.
CHECKED_IN = "checked_in"
INFUSING = "infusing"
PAUSED = "paused"
DOSE_COMPLETE = "dose_complete"  # ordered mg delivered, pump not yet stopped by the nurse
OBSERVATION = "observation"
READY_FOR_DISCHARGE = "ready_for_discharge"
DISCHARGED = "discharged"
NOT_TREATED = "not_treated"  # session ended before any drug was given (record kept)
PHASES = (
    CHECKED_IN,
    INFUSING,
    PAUSED,
    DOSE_COMPLETE,
    OBSERVATION,
    READY_FOR_DISCHARGE,
    DISCHARGED,
    NOT_TREATED,
)

# Below this many mg still owed the order counts as delivered (float sums of intervals).
_MG_EPS = 1e-6

# The reasons offered by the Stop, Pause and "Not treated" prompts: (key, words on screen and in
# the note). "other" always needs a written text; any choice may carry one.
OTHER = "other"
STOP_REASONS: tuple[tuple[str, str], ...] = (
    ("completed", "completed"),
    ("patient_request", "patient request"),
    ("adverse_event", "adverse event"),
    (OTHER, "other"),
)
PAUSE_REASONS: tuple[tuple[str, str], ...] = (
    ("nausea_vomiting", "nausea or vomiting"),
    ("vital_signs", "vital signs outside limits"),
    ("patient_request", "patient request"),
    ("adverse_event", "adverse event"),
    ("iv_problem", "IV line problem"),
    (OTHER, "other"),
)
NOT_TREATED_REASONS: tuple[tuple[str, str], ...] = (
    ("check_in_cancelled", "check-in cancelled"),
    ("start_refused_at_baseline", "start refused at baseline"),
    ("patient_left", "patient left"),
    (OTHER, "other"),
)


def reason_text(
    choices: Sequence[tuple[str, str]], key: str | None, text: str | None, *, what: str
) -> str:
    """The stored reason for a choice from a list: its words, then ': text' when given.

    Refused (bad_input, field 'reason'): no choice, a key not in the list, or 'other' without a
    text. Nothing is ever filled in for the nurse.
    """
    keys = [k for k, _ in choices]
    labels = dict(choices)
    detail = (text or "").strip()
    if not key:
        raise DomainError(
            BAD_INPUT,
            f"A {what} needs a reason: choose one of {', '.join(labels.values())}.",
            field="reason",
        )
    if key not in labels:
        raise DomainError(
            BAD_INPUT,
            f"Unknown {what} reason '{key}': allowed {', '.join(keys)}.",
            field="reason",
        )
    if key == OTHER and not detail:
        raise DomainError(
            BAD_INPUT, f"A {what} for 'other' needs the reason written out.", field="reason"
        )
    return f"{labels[key]}: {detail}" if detail else labels[key]


# Pump status replayed from the events alone.
NOT_STARTED = "not_started"
RUNNING = "running"
PUMP_PAUSED = "paused"
STOPPED = "stopped"

_ALLOWED: dict[str, frozenset[str]] = {
    NOT_STARTED: frozenset({START}),
    RUNNING: frozenset({PAUSE, RATE_CHANGE, STOP}),
    PUMP_PAUSED: frozenset({RESUME, RATE_CHANGE, STOP}),
    STOPPED: frozenset(),
}

_REFUSAL: dict[tuple[str, str], str] = {
    (RUNNING, START): "The infusion is already running; it cannot be started twice.",
    (PUMP_PAUSED, START): "The infusion was already started and is paused; resume it instead.",
    (STOPPED, START): "The infusion has been stopped; it cannot be started again.",
    (NOT_STARTED, PAUSE): "The infusion has not been started, so it cannot be paused.",
    (PUMP_PAUSED, PAUSE): "The infusion is already paused.",
    (STOPPED, PAUSE): "The infusion has been stopped, so it cannot be paused.",
    (NOT_STARTED, RESUME): "The infusion has not been started, so it cannot be resumed.",
    (RUNNING, RESUME): "The infusion is running, not paused, so it cannot be resumed.",
    (STOPPED, RESUME): "The infusion has been stopped; it cannot be resumed.",
    (NOT_STARTED, RATE_CHANGE): "The infusion has not been started, so its rate cannot change.",
    (STOPPED, RATE_CHANGE): "The infusion has been stopped, so its rate cannot change.",
    (NOT_STARTED, STOP): "The infusion has not been started, so it cannot be stopped.",
    (STOPPED, STOP): "The infusion has already been stopped.",
}


@dataclass(frozen=True)
class InfusionEvent:
    """One stored pump event. `rate_mg_per_h` on start/resume/rate_change sets the rate."""

    kind: str
    at: datetime
    rate_mg_per_h: float | None = None
    reason: str | None = None


class PlannedInfusion(Protocol):
    """What the timer needs from the order; `DoseCalculation` satisfies it."""

    @property
    def total_mg(self) -> float: ...
    @property
    def duration_min(self) -> float: ...
    @property
    def rate_mg_per_h(self) -> float: ...


@dataclass(frozen=True)
class Planned:
    """A plain planned-infusion record (for callers that hold only the stored numbers)."""

    total_mg: float
    duration_min: float
    rate_mg_per_h: float
    concentration_mg_per_ml: float | None = None


@dataclass(frozen=True)
class RunningInterval:
    """A stretch of time during which the pump ran at one rate."""

    start: datetime
    end: datetime
    rate_mg_per_h: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def mg(self) -> float:
        return self.rate_mg_per_h * self.seconds / 3600.0


@dataclass(frozen=True)
class InfusionState:
    """The timer as of `now`. Durations are in seconds; the `*_min` properties convert."""

    phase: str
    pump: str
    now: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    paused_at: datetime | None
    pause_reason: str | None
    phase_started_at: datetime | None
    planned_total_mg: float
    planned_duration_min: float
    since_start_s: float
    wall_elapsed_s: float
    infused_s: float
    paused_s: float
    remaining_s: float
    overrun_s: float
    delivered_mg: float
    remaining_mg: float
    set_rate_mg_per_h: float | None
    current_rate_mg_per_h: float
    planned_end_at: datetime | None
    min_observation_min: float
    observation_elapsed_s: float
    observation_remaining_s: float | None
    pause_count: int
    concentration_mg_per_ml: float | None
    intervals: tuple[RunningInterval, ...]
    dose_complete_at: datetime | None = None

    @property
    def is_running(self) -> bool:
        """The pump delivers drug now (started, not paused, stopped or dose complete)."""
        return self.pump == RUNNING and self.dose_complete_at is None

    @property
    def dose_complete(self) -> bool:
        """The ordered total has been delivered (whether or not the nurse has pressed Stop)."""
        return self.dose_complete_at is not None

    @property
    def set_rate_ml_per_h(self) -> float | None:
        c = self.concentration_mg_per_ml
        r = self.set_rate_mg_per_h
        return None if not c or r is None else r / c

    @property
    def infused_min(self) -> float:
        return self.infused_s / 60.0

    @property
    def wall_elapsed_min(self) -> float:
        return self.wall_elapsed_s / 60.0

    @property
    def remaining_min(self) -> float:
        return self.remaining_s / 60.0

    @property
    def overrun_min(self) -> float:
        return self.overrun_s / 60.0

    @property
    def observation_elapsed_min(self) -> float:
        return self.observation_elapsed_s / 60.0

    @property
    def observation_remaining_min(self) -> float | None:
        r = self.observation_remaining_s
        return None if r is None else r / 60.0

    @property
    def observation_complete(self) -> bool:
        """True once stopped and the minimum observation time has passed."""
        return self.observation_remaining_s is not None and self.observation_remaining_s <= 0

    @property
    def delivered_ml(self) -> float | None:
        c = self.concentration_mg_per_ml
        return None if not c else self.delivered_mg / c

    @property
    def current_rate_ml_per_h(self) -> float | None:
        c = self.concentration_mg_per_ml
        return None if not c else self.current_rate_mg_per_h / c


@dataclass
class _Replay:
    pump: str = NOT_STARTED
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    paused_at: datetime | None = None
    pause_reason: str | None = None
    run_since: datetime | None = None
    rate: float | None = None
    pause_count: int = 0
    last_at: datetime | None = None


def _refuse(pump: str, kind: str) -> DomainError:
    if kind not in EVENT_KINDS:
        return DomainError(
            BAD_INPUT,
            f"Unknown infusion event '{kind}': allowed {', '.join(EVENT_KINDS)}.",
            field="kind",
        )
    return DomainError(INVALID_STATE, _REFUSAL[(pump, kind)], field="kind")


def _replay(
    events: Sequence[InfusionEvent], default_rate: float | None
) -> tuple[_Replay, list[RunningInterval]]:
    """Walk the events once; refuse a corrupt log rather than show a wrong timer."""
    r = _Replay()
    intervals: list[RunningInterval] = []
    for ev in events:
        at = ensure_utc(ev.at)
        if r.last_at is not None and at < r.last_at:
            raise DomainError(
                INVALID_STATE,
                f"Infusion events are out of order: '{ev.kind}' at {at.isoformat()} is earlier "
                f"than the previous event at {r.last_at.isoformat()}.",
            )
        if ev.kind not in _ALLOWED[r.pump]:
            raise _refuse(r.pump, ev.kind)
        r.last_at = at
        if ev.kind in (START, RESUME, RATE_CHANGE) and ev.rate_mg_per_h is not None:
            new_rate: float | None = float(ev.rate_mg_per_h)
        else:
            new_rate = r.rate if ev.kind != START else default_rate
        if r.pump == RUNNING and r.run_since is not None and r.rate is not None:
            intervals.append(RunningInterval(r.run_since, at, r.rate))
        if ev.kind == START:
            r.started_at, r.run_since, r.pump = at, at, RUNNING
        elif ev.kind == PAUSE:
            r.paused_at, r.pause_reason, r.run_since, r.pump = at, ev.reason, None, PUMP_PAUSED
            r.pause_count += 1
        elif ev.kind == RESUME:
            r.paused_at, r.pause_reason, r.run_since, r.pump = None, None, at, RUNNING
        elif ev.kind == RATE_CHANGE:
            if r.pump == RUNNING:
                r.run_since = at
        else:  # STOP
            r.stopped_at, r.run_since, r.pump = at, None, STOPPED
            r.paused_at, r.pause_reason = None, None
        r.rate = new_rate
    return r, intervals


def infusion_status(events: Sequence[InfusionEvent]) -> str:
    """The pump status from the events alone: not_started, running, paused or stopped."""
    return _replay(events, None)[0].pump


def validate_transition(events: Sequence[InfusionEvent], new_kind: str) -> None:
    """Raise DomainError('invalid_state') if `new_kind` cannot follow `events`.

    Refused: start twice, pause when not running, resume when not paused, stop twice or before
    start, rate change before start or after stop, anything before start except start.
    """
    pump = infusion_status(events)
    if new_kind not in _ALLOWED[pump]:
        raise _refuse(pump, new_kind)


def validate_event(events: Sequence[InfusionEvent], event: InfusionEvent) -> None:
    """Full check of a new event before it is stored: transition, time order, rate, reason."""
    validate_transition(events, event.kind)
    at = ensure_utc(event.at)
    if events and at < ensure_utc(events[-1].at):
        raise DomainError(
            BAD_INPUT,
            f"The {event.kind.replace('_', ' ')} time {at.isoformat()} is before the last "
            f"infusion event at {ensure_utc(events[-1].at).isoformat()}.",
            field="at",
        )
    rate = event.rate_mg_per_h
    if event.kind == RATE_CHANGE and rate is None:
        raise DomainError(BAD_INPUT, "A rate change needs the new rate in mg/h.", field="rate")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise DomainError(
            BAD_INPUT,
            f"Infusion rate {rate} mg/h is impossible: it must be above 0 mg/h (pause instead).",
            field="rate",
        )
    if event.kind == PAUSE and not (event.reason or "").strip():
        raise DomainError(BAD_INPUT, "A pause needs a reason.", field="reason")


def _cap(
    intervals: list[RunningInterval], total_mg: float
) -> tuple[list[RunningInterval], datetime | None]:
    """Cut the running intervals where the ordered total is reached (and the moment it was)."""
    out: list[RunningInterval] = []
    given = 0.0
    for iv in intervals:
        owed = total_mg - given
        if owed <= _MG_EPS:
            return out, out[-1].end if out else iv.start
        if iv.mg < owed - _MG_EPS:
            out.append(iv)
            given += iv.mg
            continue
        # this interval completes the order: keep only the part up to that instant
        end = iv.start + timedelta(seconds=owed * 3600.0 / iv.rate_mg_per_h)
        end = min(end, iv.end)
        out.append(RunningInterval(iv.start, end, iv.rate_mg_per_h))
        return out, end
    return out, None


def infusion_state(
    events: Sequence[InfusionEvent],
    planned: PlannedInfusion,
    now: datetime,
    *,
    min_observation_min: float,
    ready_for_discharge: bool = False,
    discharged: bool = False,
    not_treated: bool = False,
) -> InfusionState:
    """Derive the timer from the stored events and `now` (pure: same inputs, same state).

    A `start` without a rate runs at `planned.rate_mg_per_h`. Delivered mg never exceeds
    `planned.total_mg`: the moment it is reached is `dose_complete_at` and, until the nurse
    records `stop`, the phase is `dose_complete`. `ready_for_discharge`, `discharged` and
    `not_treated` are decided elsewhere (discharge module / service) and only set the phase;
    `ready_for_discharge` applies only once the infusion is stopped.
    """
    now = ensure_utc(now)
    r, raw = _replay(events, float(planned.rate_mg_per_h))
    if r.last_at is not None and now < r.last_at:
        now = r.last_at
    if r.pump == RUNNING and r.run_since is not None and r.rate is not None:
        raw.append(RunningInterval(r.run_since, now, r.rate))
    total_mg = float(planned.total_mg)
    intervals, complete_at = _cap(raw, total_mg)

    planned_s = float(planned.duration_min) * 60.0
    infused_s = sum(iv.seconds for iv in intervals)
    # complete means the whole order went in (the cut instant is rounded to the microsecond)
    delivered = (
        total_mg if complete_at is not None else min(total_mg, sum(iv.mg for iv in intervals))
    )
    remaining_mg = 0.0 if complete_at is not None else max(0.0, total_mg - delivered)
    since_start = (now - r.started_at).total_seconds() if r.started_at else 0.0
    wall = ((r.stopped_at or now) - r.started_at).total_seconds() if r.started_at else 0.0
    # Time left follows the rate in force (the set rate while paused).
    rate_for_left = r.rate if r.rate else float(planned.rate_mg_per_h)
    remaining_s = remaining_mg * 3600.0 / rate_for_left if rate_for_left > 0 else 0.0
    overrun_s = max(0.0, infused_s - planned_s)

    if r.pump == NOT_STARTED:
        phase, phase_started = CHECKED_IN, None
        if not_treated:
            phase = NOT_TREATED
    elif r.pump in (RUNNING, PUMP_PAUSED):
        phase = INFUSING if r.pump == RUNNING else PAUSED
        if complete_at is not None:
            phase = DOSE_COMPLETE
        phase_started = r.started_at
    else:
        phase, phase_started = OBSERVATION, r.stopped_at
        if ready_for_discharge:
            phase = READY_FOR_DISCHARGE
    if discharged:
        phase = DISCHARGED

    obs_elapsed = (now - r.stopped_at).total_seconds() if r.stopped_at else 0.0
    obs_remaining = (
        max(0.0, float(min_observation_min) * 60.0 - obs_elapsed) if r.stopped_at else None
    )
    running = r.pump == RUNNING and complete_at is None
    planned_end = now + timedelta(seconds=remaining_s) if running else None
    return InfusionState(
        phase=phase,
        pump=r.pump,
        now=now,
        started_at=r.started_at,
        stopped_at=r.stopped_at,
        paused_at=r.paused_at,
        pause_reason=r.pause_reason,
        phase_started_at=phase_started,
        planned_total_mg=float(planned.total_mg),
        planned_duration_min=float(planned.duration_min),
        since_start_s=since_start,
        wall_elapsed_s=wall,
        infused_s=infused_s,
        paused_s=wall - infused_s,
        remaining_s=remaining_s,
        overrun_s=overrun_s,
        delivered_mg=delivered,
        remaining_mg=remaining_mg,
        set_rate_mg_per_h=r.rate,
        current_rate_mg_per_h=r.rate if running and r.rate is not None else 0.0,
        planned_end_at=planned_end,
        min_observation_min=float(min_observation_min),
        observation_elapsed_s=obs_elapsed,
        observation_remaining_s=obs_remaining,
        pause_count=r.pause_count,
        concentration_mg_per_ml=getattr(planned, "concentration_mg_per_ml", None),
        intervals=tuple(intervals),
        dose_complete_at=complete_at,
    )


def min_observation_min(settings: ClinicSettings, session_type: str) -> float:
    """The clinic's minimum post-infusion observation for a session type (Spravato: the longer
    of the REMS minimum, ≥ 2 h, and the clinic's minimum)."""
    types = settings.get("session.session_types")
    if session_type not in types:
        raise DomainError(
            BAD_INPUT,
            f"Unknown session type '{session_type}': allowed {', '.join(types)}.",
            field="session_type",
        )
    clinic = float(settings.get("general.min_observation_min"))
    if session_type == "spravato":
        # The REMS minimum (120 min) is a floor, not a replacement: a clinic that observes
        # every patient longer keeps its longer minimum for Spravato too (clinical.md §4.3,
        # §4.4 item 1; the same rule as discharge.min_observation_minutes).
        return max(clinic, float(settings.get("general.spravato_min_observation_min")))
    return clinic
