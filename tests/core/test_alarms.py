"""Alarm state machine: priorities, latching, acknowledge, audio pause, breakthrough, escalation,
technical alarms kept apart. All times are fixed; nothing waits on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nursestation.alarms import AlarmConfig, AlarmManager, device_data_stale
from nursestation.clinic import load_defaults
from nursestation.errors import DomainError
from nursestation.limits import VitalLimits, checked_params, evaluate

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CHAIR = "1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def limits() -> VitalLimits:
    return VitalLimits.from_settings(load_defaults())


@pytest.fixture
def mgr() -> AlarmManager:
    return AlarmManager(AlarmConfig.from_settings(load_defaults()))


def breaches(limits: VitalLimits, **values: float):
    return evaluate(values, None, limits)


def kinds(events) -> list[tuple[str, str | None]]:
    return [(e.kind, e.priority) for e in events]


def test_config_from_settings() -> None:
    cfg = AlarmConfig.from_settings(load_defaults())
    assert cfg.audio_pause_s == 120
    high, medium, low = cfg.styles["high"], cfg.styles["medium"], cfg.styles["low"]
    assert (high.colour, high.flash_hz, high.marker, high.latching) == ("red", 2.0, "***", True)
    assert (medium.colour, medium.flash_hz, medium.marker, medium.latching) == (
        "yellow",
        0.6,
        "**",
        False,
    )
    assert (low.colour, low.flash_hz, low.marker, low.latching) == ("cyan", 0.0, "*", False)
    assert 1.4 <= high.flash_hz <= 2.8 and 0.4 <= medium.flash_hz <= 0.8
    assert dict(cfg.tier_priority) == {"critical": "high", "action": "medium", "advisory": "low"}
    assert dict(cfg.technical_priority) == {
        "device_link_lost": "medium",
        "no_device_data": "medium",
        "unreadable_data": "low",
    }
    assert cfg.no_device_data_after_s == 30


def test_raise_from_breach(mgr: AlarmManager, limits: VitalLimits) -> None:
    events = mgr.update(CHAIR, breaches(limits, sbp=205), at(0))
    assert kinds(events) == [("raised", "high")]
    ev = events[0]
    assert (ev.chair, ev.alarm_kind, ev.user, ev.at) == (CHAIR, "physiological", None, at(0))
    assert ev.text == "SBP 205 mmHg above critical limit 200"
    alarm = mgr.highest_active(CHAIR)
    assert alarm is not None and alarm.id == ev.alarm_id and alarm.state == "active"
    shown = mgr.state(CHAIR, at(0)).highest
    assert shown is not None
    assert (shown.colour, shown.flash_hz, shown.marker, shown.symbol) == ("red", 2.0, "***", "⚠")
    assert shown.label == "*** ♥ SBP 205 mmHg above critical limit 200"
    assert mgr.audio_priority(CHAIR, at(0)) == "high"
    # The same condition again raises nothing new.
    assert mgr.update(CHAIR, breaches(limits, sbp=210), at(10)) == []
    assert mgr.highest_active(CHAIR).id == alarm.id
    assert mgr.highest_active(CHAIR).text == "SBP 210 mmHg above critical limit 200"


def test_tier_to_priority(mgr: AlarmManager, limits: VitalLimits) -> None:
    events = mgr.update(CHAIR, breaches(limits, sbp=185, spo2=94, hr=151), at(0))
    assert sorted(kinds(events)) == [("raised", "high"), ("raised", "low"), ("raised", "medium")]
    assert [a.priority for a in mgr.alarms(CHAIR)] == ["high", "medium", "low"]
    assert mgr.highest_active(CHAIR).source == "hr"


def test_high_latches_until_acknowledged(mgr: AlarmManager, limits: VitalLimits) -> None:
    (raised,) = mgr.update(CHAIR, breaches(limits, spo2=88), at(0))
    events = mgr.update(CHAIR, breaches(limits, spo2=97), at(30))
    assert kinds(events) == [("condition_ended", "high")]
    alarm = mgr.highest_active(CHAIR)
    assert alarm is not None and alarm.state == "latched" and alarm.condition_ended_at == at(30)
    assert mgr.audio_on(CHAIR, at(31))  # signals continue after the condition cleared
    events = mgr.acknowledge(CHAIR, raised.alarm_id, "rn.ana", at(40))
    assert [(e.kind, e.user, e.at) for e in events] == [
        ("acknowledged", "rn.ana", at(40)),
        ("cleared", "rn.ana", at(40)),
    ]
    assert mgr.highest_active(CHAIR) is None
    assert not mgr.audio_on(CHAIR, at(41))


def test_acknowledge_while_active_silences_then_clears_with_condition(
    mgr: AlarmManager, limits: VitalLimits
) -> None:
    (raised,) = mgr.update(CHAIR, breaches(limits, spo2=88), at(0))
    mgr.acknowledge(CHAIR, raised.alarm_id, "rn.ana", at(5))
    alarm = mgr.highest_active(CHAIR)
    assert alarm.state == "acknowledged" and alarm.acknowledged_by == "rn.ana"
    assert not mgr.audio_on(CHAIR, at(6))
    assert mgr.state(CHAIR, at(6)).highest.flash_hz == 2.0  # visual stays on
    assert mgr.acknowledge(CHAIR, raised.alarm_id, "rn.ana", at(7)) == []  # already
    events = mgr.update(CHAIR, breaches(limits, spo2=98), at(20))
    assert kinds(events) == [("cleared", "high")]
    assert mgr.alarms(CHAIR) == []


def test_low_and_medium_clear_by_themselves(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, hr=105, rr=26), at(0))
    assert sorted(a.priority for a in mgr.alarms(CHAIR)) == ["low", "medium"]
    events = mgr.update(CHAIR, breaches(limits, hr=80, rr=14), at(30))
    assert sorted(kinds(events)) == [("cleared", "low"), ("cleared", "medium")]
    assert mgr.alarms(CHAIR) == []


def test_priority_rise_is_a_new_alarm(mgr: AlarmManager, limits: VitalLimits) -> None:
    (medium,) = mgr.update(CHAIR, breaches(limits, sbp=185), at(0))
    events = mgr.update(CHAIR, breaches(limits, sbp=205), at(60))
    assert kinds(events) == [("cleared", "medium"), ("raised", "high")]
    assert events[1].alarm_id != medium.alarm_id
    # Back down to the action tier: the high alarm latches, a medium one is raised beside it.
    events = mgr.update(CHAIR, breaches(limits, sbp=185), at(120))
    assert kinds(events) == [("condition_ended", "high"), ("raised", "medium")]
    assert [(a.priority, a.state) for a in mgr.alarms(CHAIR)] == [
        ("high", "latched"),
        ("medium", "active"),
    ]


def test_unmeasured_parameters_are_left_alone(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, spo2=91), at(0))
    # A BP-only reading says nothing about SpO2.
    values = {"sbp": 120, "dbp": 80}
    events = mgr.update(
        CHAIR, evaluate(values, None, limits), at(60), checked=checked_params(values)
    )
    assert events == []
    assert [a.source for a in mgr.alarms(CHAIR)] == ["spo2"]
    # Without `checked` the reading is taken as complete.
    assert kinds(mgr.update(CHAIR, [], at(90))) == [("cleared", "medium")]


def test_audio_pause_countdown_and_expiry(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    assert mgr.audio_on(CHAIR, at(0))
    ev = mgr.pause_audio(CHAIR, "rn.ana", at(10))
    assert (ev.kind, ev.user, ev.at, ev.text) == (
        "audio_paused",
        "rn.ana",
        at(10),
        "Alarm audio paused for 120 s",
    )
    assert mgr.audio_paused_remaining(CHAIR, at(10)) == 120
    assert mgr.audio_paused_remaining(CHAIR, at(70)) == 60
    assert mgr.audio_paused_remaining(CHAIR, at(129)) == 1
    assert not mgr.audio_on(CHAIR, at(129))
    state = mgr.state(CHAIR, at(60))
    assert state.highest.flash_hz == 0.0  # solid, still visible
    assert state.audio_paused_remaining_s == 70 and not state.audio_on
    # Pause over, condition persists: the tone is back.
    assert mgr.audio_paused_remaining(CHAIR, at(130)) == 0
    assert mgr.audio_on(CHAIR, at(130))
    assert mgr.tick(at(129)) == []
    (resumed,) = mgr.tick(at(131))
    assert (resumed.kind, resumed.at) == ("audio_resumed", at(130))
    assert "tone resumes" in resumed.text


def test_pause_expiry_with_condition_gone_is_silent(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    mgr.pause_audio(CHAIR, "rn.ana", at(0))
    mgr.update(CHAIR, breaches(limits, hr=80), at(30))  # medium does not latch
    (resumed,) = mgr.tick(at(120))
    assert resumed.text == "Alarm audio pause ended; no alarm sounding"
    assert not mgr.audio_on(CHAIR, at(121))


def test_higher_priority_new_alarm_breaks_through(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, hr=125), at(0))  # medium
    mgr.pause_audio(CHAIR, "rn.ana", at(5))
    # Equal or lower priority raised during the pause stays silent.
    events = mgr.update(CHAIR, breaches(limits, hr=125, rr=26, spo2=94), at(20))
    assert sorted(kinds(events)) == [("raised", "low"), ("raised", "medium")]
    assert not mgr.audio_on(CHAIR, at(20))
    # A new high alarm breaks through and ends the pause.
    events = mgr.update(CHAIR, breaches(limits, hr=125, rr=26, spo2=89), at(40))
    assert kinds(events) == [("cleared", "low"), ("raised", "high"), ("breakthrough", "high")]
    assert mgr.audio_priority(CHAIR, at(40)) == "high"
    assert mgr.audio_paused_remaining(CHAIR, at(40)) == 0


def test_pause_with_no_alarms_lets_any_new_alarm_through(
    mgr: AlarmManager, limits: VitalLimits
) -> None:
    mgr.pause_audio(CHAIR, "rn.ana", at(0))
    events = mgr.update(CHAIR, breaches(limits, spo2=94), at(10))
    assert kinds(events) == [("raised", "low"), ("breakthrough", "low")]


def test_pause_is_per_chair_and_can_be_resumed(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update("1", breaches(limits, hr=125), at(0))
    mgr.update("2", breaches(limits, hr=125), at(0))
    mgr.pause_audio("1", "rn.ana", at(0))
    assert not mgr.audio_on("1", at(1)) and mgr.audio_on("2", at(1))
    ev = mgr.resume_audio("1", "rn.ana", at(30))
    assert ev is not None and ev.kind == "audio_resumed"
    assert mgr.audio_on("1", at(30))
    assert mgr.resume_audio("1", "rn.ana", at(31)) is None


def test_technical_alarms_kept_apart(mgr: AlarmManager, limits: VitalLimits) -> None:
    events = mgr.raise_technical(CHAIR, "device_link_lost", "Monitor link lost (COM3)", at(0))
    assert [(e.kind, e.priority, e.alarm_kind) for e in events] == [
        ("raised", "medium", "technical")
    ]
    assert mgr.raise_technical(CHAIR, "device_link_lost", "Monitor link lost (COM3)", at(5)) == []
    mgr.update(CHAIR, breaches(limits, spo2=94), at(10))
    # A physiological update with no breaches never touches the technical alarm.
    assert kinds(mgr.update(CHAIR, [], at(20))) == [("cleared", "low")]
    (tech,) = mgr.alarms(CHAIR)
    assert (tech.kind, tech.source) == ("technical", "device_link_lost")
    assert mgr.highest_active(CHAIR, kind="physiological") is None
    assert mgr.state(CHAIR, at(20)).highest.label == "** ⚙ Monitor link lost (COM3)"
    assert kinds(mgr.clear_technical(CHAIR, "device_link_lost", at(30))) == [("cleared", "medium")]
    assert mgr.alarms(CHAIR) == []


def test_technical_priority_and_unknown_code(mgr: AlarmManager) -> None:
    (ev,) = mgr.raise_technical(CHAIR, "unreadable_data", "Garbled frame", at(0))
    assert ev.priority == "low"
    (ev,) = mgr.raise_technical(CHAIR, "cuff_error", "NIBP cuff error", at(0), priority="medium")
    assert ev.priority == "medium"
    with pytest.raises(DomainError) as err:
        mgr.raise_technical(CHAIR, "cuff_error2", "?", at(0))
    assert err.value.code == "bad_input"


def test_escalation_once_when_not_acknowledged(mgr: AlarmManager, limits: VitalLimits) -> None:
    (high,) = mgr.update(CHAIR, breaches(limits, spo2=88), at(0))
    mgr.update(CHAIR, breaches(limits, spo2=88, hr=105), at(0))  # + low: never escalates
    assert mgr.tick(at(59)) == []
    (esc,) = mgr.tick(at(60))
    assert (esc.kind, esc.alarm_id, esc.priority) == ("escalated", high.alarm_id, "high")
    assert esc.text == "Not acknowledged within 60 s: SpO2 88 % below critical limit 90"
    assert mgr.tick(at(61)) == []
    assert mgr.get(CHAIR, high.alarm_id).escalated_at == at(60)


def test_acknowledged_alarm_does_not_escalate(mgr: AlarmManager, limits: VitalLimits) -> None:
    (medium,) = mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    mgr.acknowledge(CHAIR, medium.alarm_id, "rn.ana", at(100))
    assert mgr.tick(at(600)) == []


def test_acknowledge_errors(mgr: AlarmManager, limits: VitalLimits) -> None:
    (ev,) = mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    with pytest.raises(DomainError) as err:
        mgr.acknowledge(CHAIR, "nope", "rn.ana", at(1))
    assert err.value.code == "not_found"
    with pytest.raises(DomainError) as err:
        mgr.acknowledge(CHAIR, ev.alarm_id, "", at(1))
    assert err.value.code == "bad_input"


def test_acknowledge_all(mgr: AlarmManager, limits: VitalLimits) -> None:
    mgr.update(CHAIR, breaches(limits, hr=125, spo2=88), at(0))
    mgr.update(CHAIR, breaches(limits, hr=125), at(10))  # spo2 high alarm now latched
    events = mgr.acknowledge_all(CHAIR, "cn.ben", at(20))
    assert sorted(kinds(events)) == [
        ("acknowledged", "high"),
        ("acknowledged", "medium"),
        ("cleared", "high"),
    ]
    assert [(a.priority, a.state) for a in mgr.alarms(CHAIR)] == [("medium", "acknowledged")]


def test_highest_active_is_most_recent_of_equal_priority(
    mgr: AlarmManager, limits: VitalLimits
) -> None:
    mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    mgr.update(CHAIR, breaches(limits, hr=125, rr=26), at(30))
    assert mgr.highest_active(CHAIR).source == "rr"


def test_custom_ids_and_naive_time_refused(limits: VitalLimits) -> None:
    mgr = AlarmManager(AlarmConfig.from_settings(load_defaults()), id_factory=lambda c: f"X{c}")
    (ev,) = mgr.update(CHAIR, breaches(limits, hr=125), at(0))
    assert ev.alarm_id == "X1"
    with pytest.raises(ValueError):
        mgr.update(CHAIR, [], datetime(2026, 3, 2, 14, 0))


def test_device_data_stale() -> None:
    assert device_data_stale(None, at(0), 30)
    assert not device_data_stale(at(0), at(30), 30)
    assert device_data_stale(at(0), at(31), 30)


def test_end_session_clears_the_patients_alarms_and_keeps_the_devices(
    mgr: AlarmManager, limits: VitalLimits
) -> None:
    mgr.update(CHAIR, breaches(limits, spo2=86), at(0))
    mgr.update(CHAIR, [], at(10), checked=checked_params({"spo2": 97}))  # high: latched
    mgr.raise_technical(CHAIR, "device_link_lost", "Monitor link lost", at(11))
    mgr.raise_technical(CHAIR, "dose_complete", "Stop the pump", at(12), priority="medium")
    mgr.update("2", breaches(limits, spo2=86), at(13))
    mgr.pause_audio(CHAIR, "rn.ana", at(14))
    events = mgr.end_session(CHAIR, at(20), user="rn.ana", codes=("dose_complete",))
    # Most urgent first, as the chair lists them: the latched high SpO2, then the medium one.
    assert [(e.kind, e.source) for e in events] == [
        ("cleared", "spo2"),
        ("cleared", "dose_complete"),
        ("audio_resumed", None),
    ]
    assert all(e.user == "rn.ana" and e.at == at(20) for e in events)
    assert events[0].text.endswith("(cleared: session ended)")
    assert [a.source for a in mgr.alarms(CHAIR)] == ["device_link_lost"]
    assert mgr.audio_paused_remaining(CHAIR, at(21)) == 0
    assert [a.source for a in mgr.alarms("2")] == ["spo2"]  # another chair: untouched


def test_end_session_leaves_an_expired_pause_to_tick(
    mgr: AlarmManager, limits: VitalLimits
) -> None:
    mgr.update(CHAIR, breaches(limits, spo2=86), at(0))
    mgr.pause_audio(CHAIR, "rn.ana", at(0))
    events = mgr.end_session(CHAIR, at(mgr.config.audio_pause_s + 5))
    assert [e.kind for e in events] == ["cleared"]
    assert [e.kind for e in mgr.tick(at(mgr.config.audio_pause_s + 6))] == ["audio_resumed"]
