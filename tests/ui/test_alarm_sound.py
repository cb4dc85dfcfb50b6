"""Alarms that are heard (issue 18), through the real main window with a recording audio sink
and the FakeClock: an alarm on chair 3 plays the high-priority burst while the board or chair 1
is on screen; audio pause silences it for 2 minutes with its countdown; acknowledgement silences
it at once; escalation after the clinic's time shows on every screen; a station with no audio
device says so."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select
from support import CHECKLIST_OK

from nursestation.app import alarms, patients, sessions, vitals
from nursestation.db.models import AlarmEvent
from nursestation.dosing import Protocol
from nursestation.ui.alarm_sound import NO_DEVICE, RecordingSink
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
LOW_SPO2 = {**NORMAL, "spo2": 84}  # critical: one high alarm (SpO2), nothing else


def seat_chair_3(ctx: Any, nurse: Any, clock: Any) -> int:
    patients.register_patient(
        ctx, nurse, mrn="K-3003", name="Roe, Ann", dob=date(1979, 1, 5), weight_kg=64, sex="female"
    )
    sid = sessions.check_in(
        ctx, nurse, mrn="K-3003", chair="3", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    vitals.record_vitals(ctx, nurse, sid, NORMAL)
    clock.advance(minutes=1)
    sessions.start_infusion(ctx, nurse, sid)
    clock.advance(minutes=1)
    return int(sid)


def make_window(qtbot: Any, ctx: Any, actor: Any, sink: RecordingSink) -> MainWindow:
    station = Station(ctx)
    station.set_actor(actor)
    w = MainWindow(station, audio_sink=sink)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def scene(qtbot: Any, ctx: Any, people: dict[str, Any], infusing: Any, clock: Any) -> Any:
    """Jane infusing in chair 1 (the standard world), Ann infusing in chair 3, the window on the
    board, nothing alarming yet."""
    sid3 = seat_chair_3(ctx, people["nurse"], clock)
    sink = RecordingSink(clock)
    w = make_window(qtbot, ctx, people["nurse"], sink)
    w.alarm_sound.step_now()
    assert sink.played == []
    assert not w.alarm_banner.isVisible()  # nothing to say
    return w, sink, sid3


def bursts(sink: RecordingSink) -> list[tuple[str, int, Any]]:
    return [(p.priority, p.pulses, p.at) for p in sink.played]


def test_chair_3_alarm_plays_high_burst_on_the_board_and_in_chair_1(
    qtbot: Any, scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    w, sink, sid3 = scene
    assert w.stack.currentWidget() is w.board
    vitals.record_vitals(ctx, people["nurse"], sid3, LOW_SPO2, soft_confirmed=True)
    t0 = clock.now()
    # The window's own timer (every 250 ms) finds the alarm: no test call needed.
    qtbot.waitUntil(lambda: len(sink.played) == 1, timeout=2000)
    assert bursts(sink) == [("high", 10, t0)]
    assert sink.played[0].pcm_bytes > 0

    w.open_chair("1")  # chair 1's session on screen: chair 3 still heard
    assert w.stack.currentWidget() is w.session_view
    assert w.session_view.summary.chair == "1"
    clock.advance(seconds=9.75)
    w.alarm_sound.step_now()
    assert len(sink.played) == 1  # just inside the 10 s repeat
    clock.advance(seconds=0.25)
    w.alarm_sound.step_now()
    assert bursts(sink)[1] == ("high", 10, t0 + timedelta(seconds=10))
    # Only the window plays: the open session's strip makes no second sound (it has no sink).
    assert not hasattr(w.session_view.alarm_strip, "_maybe_beep")


def test_audio_pause_silences_chair_3_for_two_minutes_with_countdown(
    qtbot: Any, scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    w, sink, sid3 = scene
    vitals.record_vitals(ctx, people["nurse"], sid3, LOW_SPO2, soft_confirmed=True)
    w.alarm_sound.step_now()
    assert len(sink.played) == 1
    w.open_chair("3")
    strip = w.session_view.alarm_strip
    qtbot.waitUntil(lambda: strip.chair == "3" and strip.pause_btn.isEnabled(), timeout=2000)
    qtbot.mouseClick(strip.pause_btn, Qt.MouseButton.LeftButton)
    paused_at = clock.now()
    w.alarm_sound.step_now()
    assert sink.stops and sink.stops[-1] == paused_at  # cut off at once
    w.show_board()  # the pause holds on every screen
    for _ in range(11):  # 110 s, a step every 10 s
        clock.advance(seconds=10)
        w.alarm_sound.step_now()
    assert len(sink.played) == 1
    w.alarm_sound.step_now()
    assert "Chair 3: audio paused, tone returns in 10 s" in w.alarm_banner.full_text()
    qtbot.waitUntil(w.alarm_banner.isVisible, timeout=1000)  # the toolbar lays it out
    clock.advance(seconds=9.75)
    w.alarm_sound.step_now()
    assert len(sink.played) == 1  # 119.75 s: still paused
    clock.advance(seconds=0.25)
    w.alarm_sound.step_now()
    assert bursts(sink)[-1] == ("high", 10, paused_at + timedelta(seconds=120))
    assert "audio paused" not in w.alarm_banner.full_text()


def test_acknowledgement_silences_at_once_and_for_good(
    scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    w, sink, sid3 = scene
    vitals.record_vitals(ctx, people["nurse"], sid3, LOW_SPO2, soft_confirmed=True)
    w.alarm_sound.step_now()
    clock.advance(seconds=3)
    alarms.acknowledge_alarm(ctx, people["charge"], "3")  # e.g. at the charge nurse's desk
    w.alarm_sound.step_now()
    assert sink.stops == [clock.now()]
    clock.advance(seconds=60)
    w.alarm_sound.step_now()
    assert len(sink.played) == 1


def test_medium_alarm_plays_three_pulses_every_25_s(
    scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    w, sink, sid3 = scene
    vitals.record_vitals(ctx, people["nurse"], sid3, {**NORMAL, "sbp": 185, "dbp": 100})  # medium
    assert alarms.chair_alarms(ctx, "3").audio_priority == "medium"
    w.alarm_sound.step_now()
    clock.advance(seconds=24)
    w.alarm_sound.step_now()
    clock.advance(seconds=1)
    w.alarm_sound.step_now()
    assert [(p, n) for p, n, _ in bursts(sink)] == [("medium", 3), ("medium", 3)]
    assert sink.played[1].at - sink.played[0].at == timedelta(seconds=25)


def test_unacknowledged_high_alarm_escalates_on_every_screen_after_the_clinic_time(
    qtbot: Any, scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    w, _sink, sid3 = scene
    after = ctx.settings.get("alarms.priorities.high.escalate_after_s")
    assert after == 60
    vitals.record_vitals(ctx, people["nurse"], sid3, LOW_SPO2, soft_confirmed=True)
    w.open_chair("1")
    clock.advance(seconds=after - 1)
    w.alarm_sound.step_now()
    assert "ESCALATED" not in w.alarm_banner.full_text()
    clock.advance(seconds=1)
    w.alarm_sound.step_now()
    text = w.alarm_banner.full_text()
    assert text.startswith("*** ESCALATED chair 3: SpO2 84") and "charge nurse, respond" in text
    qtbot.waitUntil(w.alarm_banner.isVisible, timeout=1000)
    assert w.stack.currentWidget() is w.session_view
    w.show_board()
    w.alarm_sound.step_now()
    assert "ESCALATED chair 3" in w.alarm_banner.full_text()
    with ctx.tx() as s:
        rows = s.execute(select(AlarmEvent).where(AlarmEvent.event == "escalated")).scalars()
        assert [(r.chair, r.priority, r.source) for r in rows] == [("3", "high", "spo2")]
    # Acknowledged: the escalation banner goes.
    alarms.acknowledge_alarm(ctx, people["charge"], "3")
    w.alarm_sound.step_now()
    assert "ESCALATED" not in w.alarm_banner.full_text()


def test_station_without_audio_device_says_so(
    qtbot: Any, ctx: Any, people: dict[str, Any], infusing: Any, clock: Any
) -> None:
    sink = RecordingSink(clock, problem=NO_DEVICE)
    w = make_window(qtbot, ctx, people["nurse"], sink)
    qtbot.waitUntil(w.alarm_banner.isVisible, timeout=1000)
    assert w.alarm_banner.full_text() == f"⚙ TECHNICAL: {NO_DEVICE}"
    assert w.alarm_banner.toolTip() == w.alarm_banner.full_text()
    w.open_chair("1")
    qtbot.waitUntil(w.alarm_banner.isVisible, timeout=1000)  # on every screen


def test_alarm_state_that_cannot_be_read_is_a_technical_warning(
    qtbot: Any, scene: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, _sink, _sid3 = scene

    def broken(_ctx: Any) -> Any:
        raise OSError("database file unreadable")

    monkeypatch.setattr(alarms, "station_alarms", broken)
    w.alarm_sound.step()  # the timer's path: read on the reader thread
    qtbot.waitUntil(
        lambda: "Alarm state could not be read" in w.alarm_banner.full_text(), timeout=2000
    )
    assert "database file unreadable" in w.alarm_banner.full_text()
    qtbot.waitUntil(w.alarm_banner.isVisible, timeout=1000)


def test_acknowledgement_at_another_station_silences_this_one(
    qtbot: Any, scene: Any, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    """Station B (its own AppContext on the same database) acknowledges chair 3: this window's
    tone stops on its next read, its strip shows who acknowledged."""
    from dataclasses import replace

    from nursestation.app.context import AppContext

    w, sink, sid3 = scene
    vitals.record_vitals(ctx, people["nurse"], sid3, LOW_SPO2, soft_confirmed=True)
    qtbot.waitUntil(lambda: len(sink.played) == 1, timeout=2000)
    w.open_chair("3")
    b = AppContext.open(replace(ctx.config, station="station-B"), clock=clock)
    try:
        alarms.acknowledge_alarm(b, people["charge"], "3")
    finally:
        b.close()
    qtbot.waitUntil(lambda: bool(sink.stops), timeout=2000)  # the timer's read found it
    strip = w.session_view.alarm_strip
    qtbot.waitUntil(lambda: "acknowledged by cn.ben" in " ".join(strip.alarm_lines()), timeout=2000)
    clock.advance(seconds=30)
    w.alarm_sound.step_now()
    assert len(sink.played) == 1
