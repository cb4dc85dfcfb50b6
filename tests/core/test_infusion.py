"""Infusion timer derived from stored events: arithmetic to the second, transitions, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nursestation.clinic import ConfigError, load_defaults
from nursestation.dosing import DosingLimits, Protocol, RateOrder, calculate_dose, check_rate
from nursestation.errors import DomainError
from nursestation.infusion import (
    NOT_TREATED_REASONS,
    STOP_REASONS,
    InfusionEvent,
    Planned,
    infusion_state,
    infusion_status,
    min_observation_min,
    reason_text,
    validate_event,
    validate_transition,
)

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PLAN = calculate_dose(70, Protocol(0.5, 40, 1.0))  # 35 mg at 52.5 mg/h over 40 min


def at(minutes: int = 0, seconds: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def ev(kind: str, when: datetime, rate: float | None = None, reason: str | None = None):
    return InfusionEvent(kind, when, rate, reason)


def state(events, now, **kw):
    kw.setdefault("min_observation_min", 60)
    return infusion_state(events, PLAN, now, **kw)


def test_checked_in_before_start() -> None:
    s = state([], at(5))
    assert s.phase == "checked_in"
    assert s.pump == "not_started"
    assert (s.infused_s, s.delivered_mg, s.wall_elapsed_s) == (0.0, 0.0, 0.0)
    assert s.remaining_s == 2400.0
    assert s.planned_end_at is None
    assert s.phase_started_at is None
    assert s.observation_remaining_s is None


def test_running_ten_minutes() -> None:
    s = state([ev("start", at(0))], at(10))
    assert s.phase == "infusing"
    assert s.infused_s == 600.0
    assert s.delivered_mg == 8.75
    assert s.remaining_min == 30.0
    assert s.remaining_mg == 26.25
    assert s.current_rate_mg_per_h == 52.5
    assert s.current_rate_ml_per_h == 52.5
    assert s.delivered_ml == 8.75
    assert s.planned_end_at == at(40)
    assert s.phase_started_at == at(0)


def test_full_session_matches_the_order() -> None:
    events = [ev("start", at(5)), ev("stop", at(45))]
    s = state(events, at(80))
    assert s.phase == "observation"
    assert s.infused_min == 40.0
    assert s.delivered_mg == 35.0
    assert s.stopped_at == at(45)
    assert s.observation_elapsed_min == 35.0
    assert s.observation_remaining_min == 25.0
    assert s.current_rate_mg_per_h == 0.0
    assert s.phase_started_at == at(45)


def test_pause_resume_to_the_second() -> None:
    events = [
        ev("start", at(0)),
        ev("pause", at(7, 13), reason="nausea"),
        ev("resume", at(9, 47)),
    ]
    s = state(events, at(20, 5))
    running = 433 + (1205 - 587)  # 0:00-7:13 and 9:47-20:05
    assert s.infused_s == running == 1051
    assert s.wall_elapsed_s == 1205
    assert s.paused_s == 154
    assert s.delivered_mg == pytest.approx(52.5 * 1051 / 3600, abs=1e-12)
    assert s.remaining_s == 2400 - 1051
    assert s.planned_end_at == at(20, 5) + timedelta(seconds=2400 - 1051)
    assert s.pause_count == 1

    paused = state(events[:2], at(8, 0))
    assert paused.phase == "paused"
    assert paused.infused_s == 433
    assert paused.paused_at == at(7, 13)
    assert paused.pause_reason == "nausea"
    assert paused.current_rate_mg_per_h == 0.0
    assert paused.set_rate_mg_per_h == 52.5
    assert paused.planned_end_at is None
    assert paused.phase_started_at == at(0)  # the infusion period, for the vitals clock
    # time passing during a pause changes nothing delivered
    assert state(events[:2], at(9, 46)).delivered_mg == paused.delivered_mg


def test_rate_change_is_integrated_piecewise() -> None:
    events = [ev("start", at(0)), ev("rate_change", at(20), rate=26.25, reason="BP 165/95")]
    s = state(events, at(30))
    assert s.delivered_mg == 17.5 + 4.375
    assert s.current_rate_mg_per_h == 26.25
    # time left follows the rate: 13.125 mg still owed at 26.25 mg/h is 30 min
    assert s.remaining_mg == 35.0 - 21.875
    assert s.remaining_min == pytest.approx(30.0)
    assert s.planned_end_at == at(60)


def test_rate_change_while_paused_applies_on_resume() -> None:
    events = [
        ev("start", at(0), rate=60.0),
        ev("pause", at(10), reason="BP"),
        ev("rate_change", at(12), rate=30.0),
        ev("resume", at(15)),
    ]
    s = state(events, at(25))
    assert s.delivered_mg == 10.0 + 5.0  # 60 mg/h × 10 min + 30 mg/h × 10 min
    assert s.infused_s == 1200
    assert [iv.rate_mg_per_h for iv in s.intervals] == [60.0, 30.0]


def test_resume_with_a_new_rate() -> None:
    events = [
        ev("start", at(0)),
        ev("pause", at(10), reason="x"),
        ev("resume", at(12), rate=26.25),
    ]
    assert state(events, at(22)).delivered_mg == 8.75 + 4.375


def test_dose_complete_at_the_ordered_total_not_beyond() -> None:
    events = [ev("start", at(0))]
    before = state(events, at(39, 59))
    assert before.phase == "infusing" and not before.dose_complete
    assert before.remaining_s == pytest.approx(1.0)
    done = state(events, at(40))
    assert done.phase == "dose_complete"
    assert done.dose_complete_at == at(40)
    later = state(events, at(45))  # the pump was not stopped: nothing more is charted
    assert later.phase == "dose_complete"
    assert later.delivered_mg == 35.0
    assert later.infused_s == 2400.0
    assert later.remaining_s == 0.0 and later.remaining_mg == 0.0
    assert later.overrun_s == 0.0
    assert later.current_rate_mg_per_h == 0.0 and not later.is_running
    assert later.planned_end_at is None
    stopped = state([*events, ev("stop", at(47), reason="completed")], at(50))
    assert stopped.phase == "observation"
    assert stopped.delivered_mg == 35.0
    assert stopped.stopped_at == at(47)


def test_a_tenfold_rate_completes_early_and_never_exceeds_the_order() -> None:
    events = [ev("start", at(0)), ev("rate_change", at(10), rate=525.0, reason="x")]
    running = state(events, at(11))
    assert running.delivered_mg == pytest.approx(8.75 + 8.75)
    assert running.remaining_min == pytest.approx(2.0)  # 17.5 mg at 525 mg/h
    assert running.current_rate_ml_per_h == 525.0
    s = state(events, at(30))
    assert s.phase == "dose_complete"
    assert s.dose_complete_at == at(13)  # 8.75 + 525 mg/h × 3 min = 35 mg
    assert s.delivered_mg == 35.0
    assert s.infused_s == 13 * 60
    assert s.intervals[-1].end == at(13)


def test_slow_rate_runs_over_the_planned_duration() -> None:
    events = [ev("start", at(0), rate=26.25)]
    s = state(events, at(50))
    assert s.phase == "infusing"
    assert s.overrun_s == 600.0
    assert s.remaining_min == pytest.approx(30.0)
    assert s.delivered_mg == pytest.approx(26.25 * 50 / 60)


def test_paused_time_left_uses_the_set_rate() -> None:
    events = [ev("start", at(0)), ev("pause", at(20), reason="nausea")]
    s = state(events, at(25))
    assert s.remaining_min == pytest.approx(20.0)
    assert s.set_rate_ml_per_h == 52.5


def test_not_treated_phase_only_before_a_start() -> None:
    assert state([], at(5), not_treated=True).phase == "not_treated"
    assert state([ev("start", at(0))], at(5), not_treated=True).phase == "infusing"


def test_reason_from_a_list() -> None:
    assert reason_text(STOP_REASONS, "completed", None, what="stop") == "completed"
    assert (
        reason_text(STOP_REASONS, "adverse_event", " vomiting ", what="stop")
        == "adverse event: vomiting"
    )
    assert reason_text(STOP_REASONS, "other", "pump alarm", what="stop") == "other: pump alarm"
    for key, text in ((None, "x"), ("", None), ("other", "  "), ("finished", None)):
        with pytest.raises(DomainError) as err:
            reason_text(STOP_REASONS, key, text, what="stop")
        assert err.value.code == "bad_input" and err.value.field == "reason"
    with pytest.raises(DomainError) as err:
        reason_text(NOT_TREATED_REASONS, None, None, what="session ended not treated")
    assert "start refused at baseline" in err.value.message


def test_stopped_early_keeps_remaining() -> None:
    s = state([ev("start", at(0)), ev("stop", at(30), reason="patient request")], at(31))
    assert s.remaining_min == 10.0
    assert s.overrun_s == 0.0
    assert s.delivered_mg == 26.25


def test_observation_remaining_boundary() -> None:
    events = [ev("start", at(0)), ev("stop", at(40))]
    almost = state(events, at(99, 59))
    assert almost.observation_remaining_s == 1.0
    assert not almost.observation_complete
    done = state(events, at(100))
    assert done.observation_remaining_s == 0.0
    assert done.observation_complete
    assert state(events, at(200)).observation_remaining_s == 0.0


def test_phase_flags_from_discharge_module() -> None:
    events = [ev("start", at(0)), ev("stop", at(40))]
    assert state(events, at(101), ready_for_discharge=True).phase == "ready_for_discharge"
    assert state(events, at(102), discharged=True).phase == "discharged"
    # ready_for_discharge cannot apply to a running infusion
    assert state(events[:1], at(10), ready_for_discharge=True).phase == "infusing"


def test_state_survives_a_restart() -> None:
    """Two independent computations from the stored events agree (no in-memory counter)."""
    events = [ev("start", at(0)), ev("pause", at(5), reason="x"), ev("resume", at(6))]
    stored = [InfusionEvent(e.kind, e.at, e.rate_mg_per_h, e.reason) for e in events]
    assert state(events, at(33)) == state(stored, at(33))


def test_other_timezones_are_the_same_instant() -> None:
    est = timezone(timedelta(hours=-5))
    events = [ev("start", at(0).astimezone(est))]
    s = state(events, at(10).astimezone(est))
    assert s.infused_s == 600.0
    assert s.started_at == at(0)
    assert s.started_at.tzinfo == UTC


def test_now_before_last_event_is_clamped() -> None:
    s = state([ev("start", at(10))], at(9))
    assert s.infused_s == 0.0
    assert s.since_start_s == 0.0


def test_corrupt_log_refused() -> None:
    with pytest.raises(DomainError) as err:
        state([ev("start", at(10)), ev("pause", at(5), reason="x")], at(20))
    assert err.value.code == "invalid_state"
    with pytest.raises(DomainError) as err:
        state([ev("start", at(0)), ev("start", at(5))], at(20))
    assert err.value.code == "invalid_state"


def test_planned_record_without_dose_calculation() -> None:
    plan = Planned(total_mg=35.0, duration_min=40, rate_mg_per_h=52.5, concentration_mg_per_ml=None)
    s = infusion_state([ev("start", at(0))], plan, at(20), min_observation_min=30)
    assert s.delivered_mg == 17.5
    assert s.delivered_ml is None


# --- transitions -------------------------------------------------------------------------

NONE: list[str] = []
RUN = ["start"]
PAUSED = ["start", "pause"]
STOPPED = ["start", "stop"]
STOPPED_FROM_PAUSE = ["start", "pause", "stop"]


def _events(kinds: list[str]) -> list[InfusionEvent]:
    return [ev(k, at(i), reason="r" if k == "pause" else None) for i, k in enumerate(kinds)]


@pytest.mark.parametrize(
    ("history", "kind"),
    [
        (NONE, "pause"),
        (NONE, "resume"),
        (NONE, "rate_change"),
        (NONE, "stop"),
        (RUN, "start"),
        (RUN, "resume"),
        (PAUSED, "start"),
        (PAUSED, "pause"),
        (STOPPED, "start"),
        (STOPPED, "pause"),
        (STOPPED, "resume"),
        (STOPPED, "rate_change"),
        (STOPPED, "stop"),
        (STOPPED_FROM_PAUSE, "resume"),
        (STOPPED_FROM_PAUSE, "stop"),
        (["start", "pause", "resume"], "resume"),
    ],
)
def test_impossible_transitions_refused(history: list[str], kind: str) -> None:
    with pytest.raises(DomainError) as err:
        validate_transition(_events(history), kind)
    assert err.value.code == "invalid_state"
    assert err.value.message.endswith(".")
    assert "infusion" in err.value.message.lower()


@pytest.mark.parametrize(
    ("history", "kind"),
    [
        (NONE, "start"),
        (RUN, "pause"),
        (RUN, "rate_change"),
        (RUN, "stop"),
        (PAUSED, "resume"),
        (PAUSED, "rate_change"),
        (PAUSED, "stop"),
    ],
)
def test_possible_transitions_accepted(history: list[str], kind: str) -> None:
    validate_transition(_events(history), kind)


def test_status_names() -> None:
    assert infusion_status([]) == "not_started"
    assert infusion_status(_events(RUN)) == "running"
    assert infusion_status(_events(PAUSED)) == "paused"
    assert infusion_status(_events(STOPPED)) == "stopped"


def test_unknown_kind_is_bad_input() -> None:
    with pytest.raises(DomainError) as err:
        validate_transition([], "begin")
    assert err.value.code == "bad_input"


def test_validate_event_details() -> None:
    running = _events(RUN)
    with pytest.raises(DomainError) as err:
        validate_event(running, ev("pause", at(5)))
    assert (err.value.code, err.value.field) == ("bad_input", "reason")
    with pytest.raises(DomainError) as err:
        validate_event(running, ev("pause", at(5), reason="   "))
    assert err.value.field == "reason"
    validate_event(running, ev("pause", at(5), reason="nausea"))

    with pytest.raises(DomainError) as err:
        validate_event(running, ev("rate_change", at(5)))
    assert err.value.field == "rate"
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(DomainError) as err:
            validate_event(running, ev("rate_change", at(5), rate=bad))
        assert err.value.field == "rate"
    validate_event(running, ev("rate_change", at(5), rate=0.1))

    with pytest.raises(DomainError) as err:
        validate_event(running, ev("stop", at(0) - timedelta(seconds=1)))
    assert (err.value.code, err.value.field) == ("bad_input", "at")
    validate_event(running, ev("stop", at(0)))  # same second is fine

    with pytest.raises(DomainError) as err:
        validate_event(running, ev("start", at(5)))
    assert err.value.code == "invalid_state"


def test_min_observation_by_session_type() -> None:
    s = load_defaults()
    assert min_observation_min(s, "iv_ketamine") == 60
    assert min_observation_min(s, "spravato") == 120
    with pytest.raises(DomainError) as err:
        min_observation_min(s, "im_ketamine")
    assert err.value.code == "bad_input"


# --- properties ----------------------------------------------------------------------------

_STEP = st.tuples(
    st.sampled_from(["pause", "resume", "rate_change", "stop"]),
    st.integers(min_value=0, max_value=3600),  # seconds after the previous event
    st.floats(min_value=0.5, max_value=400, allow_nan=False, allow_infinity=False),
)


@st.composite
def sessions(draw):
    """A valid event log plus, independently, the running intervals it implies."""
    t = T0
    start_rate = draw(st.floats(min_value=0.5, max_value=400))
    events = [ev("start", t, rate=start_rate)]
    running, rate, since = True, start_rate, t
    spans: list[tuple[datetime, datetime, float]] = []
    stopped = False
    for kind, gap, new_rate in draw(st.lists(_STEP, max_size=12)):
        allowed = {"pause", "rate_change", "stop"} if running else {"resume", "rate_change", "stop"}
        if stopped or kind not in allowed:
            continue
        t = t + timedelta(seconds=gap)
        if running:
            spans.append((since, t, rate))
        if kind == "pause":
            events.append(ev("pause", t, reason="r"))
            running = False
        elif kind == "resume":
            events.append(ev("resume", t))
            running, since = True, t
        elif kind == "rate_change":
            events.append(ev("rate_change", t, rate=new_rate))
            rate, since = new_rate, t
        else:
            events.append(ev("stop", t))
            running, stopped = False, True
    now = t + timedelta(seconds=draw(st.integers(min_value=0, max_value=7200)))
    if running:
        spans.append((since, now, rate))
    return events, now, spans


@settings(max_examples=300, deadline=None)
@given(sessions())
def test_properties_of_any_valid_session(session) -> None:
    events, now, spans = session
    for i in range(1, len(events)):
        validate_event(events[:i], events[i])
    s = state(events, now)
    expected_mg = sum(r * (b - a).total_seconds() / 3600 for a, b, r in spans)
    expected_s = sum((b - a).total_seconds() for a, b, _ in spans)
    # delivered is what the pump gave, capped by the order: never more than the ordered total
    assert s.delivered_mg == pytest.approx(min(expected_mg, PLAN.total_mg), rel=1e-9, abs=1e-9)
    assert s.delivered_mg <= PLAN.total_mg
    assert (s.dose_complete_at is not None) == (expected_mg >= PLAN.total_mg - 1e-6)
    if s.dose_complete_at is None:
        assert s.infused_s == expected_s
        assert s.remaining_mg == pytest.approx(PLAN.total_mg - s.delivered_mg)
    else:
        assert s.infused_s <= expected_s
        assert s.remaining_mg == 0 and s.remaining_s == 0
        assert s.phase in ("dose_complete", "observation")
    assert 0 <= s.infused_s <= s.wall_elapsed_s <= s.since_start_s
    assert s.delivered_mg >= 0
    # a pure function of (events, now)
    assert state(list(events), now) == s
    assert state(events, now) == state(events, now)


# --- rate checks against the order (dosing.check_rate) --------------------------------------

ORDER = RateOrder(
    total_mg=35.0, duration_min=40, rate_mg_per_h=52.5, concentration_mg_per_ml=1.0, weight_kg=70
)
LIMITS = DosingLimits.shipped()  # 1.0 mg/kg per session: 70 mg for 70 kg = 105 mg/h over 40 min


def test_rate_at_the_order_needs_no_confirmation() -> None:
    r = check_rate(52.5, "mg/h", ORDER, LIMITS)
    assert (r.rate_mg_per_h, r.rate_ml_per_h, r.above_order) == (52.5, 52.5, False)
    assert r.text() == "52.5 mg/h (52.5 mL/h)"


def test_rate_just_above_the_order_needs_a_reason() -> None:
    with pytest.raises(DomainError) as err:
        check_rate(52.6, "mg/h", ORDER, LIMITS)
    assert err.value.code == "confirmation_required"
    assert err.value.field == "confirm_reason"
    assert "above the ordered 35.0 mg" in err.value.message
    with pytest.raises(DomainError):
        check_rate(52.6, "mg/h", ORDER, LIMITS, confirm_reason="   ")
    assert check_rate(52.6, "mg/h", ORDER, LIMITS, confirm_reason="catch up").above_order


def test_clinic_maximum_per_session_at_its_boundary() -> None:
    assert LIMITS.max_session_mg_per_kg == 1.0
    at_max = check_rate(105.0, "mg/h", ORDER, LIMITS, confirm_reason="prescriber call")
    assert at_max.over_order_mg == pytest.approx(70.0)
    for rate in (105.1, 525.0):  # just outside, and the 10× typo
        with pytest.raises(DomainError) as err:
            check_rate(rate, "mg/h", ORDER, LIMITS, confirm_reason="any reason")
        assert err.value.code == "dose_above_max"
        assert "1 mg/kg per session (70.0 mg for 70 kg)" in err.value.message
        assert "fastest allowed rate is 105.0 mg/h (105.0 mL/h)" in err.value.message


@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), 10500.1, "52"])
def test_absurd_rates_are_out_of_range_naming_the_field(value) -> None:
    with pytest.raises(DomainError) as err:
        check_rate(value, "mg/h", ORDER, LIMITS)
    assert err.value.code == "out_of_range"
    assert err.value.field == "rate_mg_per_h"
    assert "allowed 0.1–10500 mg/h" in err.value.message


def test_rate_in_ml_per_h_uses_the_order_concentration() -> None:
    order = RateOrder(35.0, 40, 52.5, concentration_mg_per_ml=2.0, weight_kg=70)
    r = check_rate(26.25, "mL/h", order, LIMITS)
    assert (r.rate_mg_per_h, r.rate_ml_per_h, r.above_order) == (52.5, 26.25, False)
    with pytest.raises(DomainError) as err:
        check_rate(0, "mL/h", order, LIMITS)
    assert err.value.field == "rate_ml_per_h" and "allowed 0.05–5250 mL/h" in err.value.message
    with pytest.raises(DomainError) as err:
        check_rate(52.6, "mL/h", order, LIMITS)  # 105.2 mg/h: above the clinic maximum
    assert err.value.code == "dose_above_max"
    with pytest.raises(DomainError) as err:
        check_rate(50, "drops/min", order, LIMITS)
    assert err.value.code == "bad_input" and err.value.field == "unit"


def test_session_maximum_below_the_order_range_is_a_config_error() -> None:
    settings = load_defaults().with_overrides(
        {"session": {"protocol": {"max_session_mg_per_kg": 0.75}}}, "test"
    )
    with pytest.raises(ConfigError):
        DosingLimits.from_settings(settings)
    narrowed = settings.with_overrides(
        {"session": {"protocol": {"dose_mg_per_kg": {"allowed_max": 0.75}}}}, "test"
    )
    assert DosingLimits.from_settings(narrowed).max_session_mg_per_kg == 0.75
