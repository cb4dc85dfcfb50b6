"""The vitals panel, entry form, trend chart and alarm strip driven as a nurse would: typing,
clicking Save, answering the confirmation, acknowledging and pausing alarm audio, with the
FakeClock advanced for the 2-minute pause. Assertions cover the screen and the database."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select
from support import CHECKLIST_OK as CHECKLIST
from support import PASSWORD

from nursestation.app import alarms, sessions, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import register_patient
from nursestation.app.users import authenticate, provision_user
from nursestation.db.models import AlarmEvent, VitalReading
from nursestation.dosing import Protocol
from nursestation.ui.alarm_strip import AlarmStrip
from nursestation.ui.station import Station
from nursestation.ui.vitals_entry import VitalsEntryForm
from nursestation.ui.vitals_panel import VitalsPanel

NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def _user(ctx: AppContext) -> Actor:
    provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PASSWORD
    )
    return authenticate(ctx, "rn.ana", PASSWORD)


def _infusing(ctx, clock) -> dict:
    ana = _user(ctx)
    register_patient(
        ctx, ana, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    sid = sessions.check_in(
        ctx, ana, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST
    ).id
    vitals.record_vitals(ctx, ana, sid, NORMAL)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, ana, sid)
    clock.advance(minutes=5)
    return {"ana": ana, "sid": sid}


# The world behind `ui` is built once per test session and copied per test (tests/conftest.py).
COPIED_WORLDS = {"ui": _infusing}


@pytest.fixture
def ui(ctx, clock, qtbot, _standard_world):
    """A signed-in station with a patient checked in at chair 1, baseline taken, infusing."""
    built = _standard_world if "sid" in _standard_world else _infusing(ctx, clock)
    station = Station(ctx)
    station.set_actor(built["ana"])
    return station, built["sid"]


@pytest.fixture
def questions(monkeypatch):
    """Record QMessageBox questions and warnings; answer questions with `answer[0]`."""
    asked: list[str] = []
    warned: list[str] = []
    answer = [QMessageBox.StandardButton.Yes]

    def question(parent, title, text, *a, **k):
        asked.append(text)
        return answer[0]

    def warning(parent, title, text, *a, **k):
        warned.append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    return asked, warned, answer


def readings(ctx) -> list[VitalReading]:
    with ctx.tx() as s:
        out = list(s.execute(select(VitalReading).order_by(VitalReading.id)).scalars())
        s.expunge_all()
        return out


def type_values(qtbot, form: VitalsEntryForm, **values: str) -> None:
    for name, text in values.items():
        edit = form.edits[name]
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_impossible_value_shows_message_blocks_save_and_keeps_form(ui, qtbot, questions) -> None:
    station, sid = ui
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    type_values(qtbot, form, sbp="300", dbp="80", hr="72", spo2="97", rr="14")
    msg = form.message_for("sbp")
    assert "SBP" in msg and "40–280" in msg and "impossible" in msg
    assert not form.save_btn.isEnabled()
    assert form.edits["dbp"].text() == "80" and form.edits["hr"].text() == "72"
    # Fix the one field: the rest is still there, Save comes back, MAP shows live.
    type_values(qtbot, form, sbp="130")
    assert form.message_for("sbp") == ""
    assert form.save_btn.isEnabled()
    assert form.map_value.text() == "MAP 96.7 mmHg"
    n = len(readings(station.ctx))
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert len(readings(station.ctx)) == n + 1 and readings(station.ctx)[-1].sbp == 130


def test_text_and_pulse_pressure_problems_are_named(ui, qtbot) -> None:
    station, sid = ui
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    type_values(qtbot, form, hr="7x")
    assert "HR '7x' is not a number" in form.message_for("hr")
    type_values(qtbot, form, hr="70", sbp="90", dbp="85")
    assert "SBP must exceed DBP" in form.message_for("sbp")
    assert not form.save_btn.isEnabled()


def test_concerning_value_asks_for_confirmation(ui, qtbot, questions) -> None:
    station, sid = ui
    asked, _warned, answer = questions
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    type_values(qtbot, form, sbp="205", dbp="100", hr="88", spo2="97", rr="16")
    assert form.message_for("sbp").startswith("⚠ SBP 205")
    assert form.save_btn.isEnabled()
    n = len(readings(station.ctx))
    answer[0] = QMessageBox.StandardButton.No
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert asked and "SBP 205 mmHg is outside 80–200" in asked[0]
    assert len(readings(station.ctx)) == n  # not saved
    assert form.edits["sbp"].text() == "205"  # kept
    answer[0] = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    stored = readings(station.ctx)[-1]
    assert stored.sbp == 205 and stored.soft_confirmed
    assert form.edits["sbp"].text() == ""  # cleared for the next reading


def test_observed_time_editable_and_late_marked(ui, qtbot, clock) -> None:
    station, sid = ui
    clock.advance(minutes=40)  # 30 min back must still be after the check-in
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    type_values(qtbot, form, sbp="120", dbp="80")
    form.observed.setDateTime(form.observed.dateTime().addSecs(-30 * 60))
    assert form.late_label.text().startswith("Late entry")
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    stored = readings(station.ctx)[-1]
    assert stored.late
    assert abs((clock.now() - stored.observed_at) - timedelta(minutes=30)) < timedelta(minutes=1)


def test_observed_time_follows_the_clock_until_the_nurse_changes_it(ui, qtbot, clock) -> None:
    """Issue 13: a reading typed at 15:02 in a form opened at 14:52 was stored as 14:52."""
    station, sid = ui
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    opened = clock.now()
    clock.advance(minutes=10)
    # The shown time moves with the clock (the timer runs follow_clock).
    qtbot.waitUntil(lambda: form.observed_at() > opened + timedelta(minutes=9), timeout=3000)
    assert not form.time_edited
    type_values(qtbot, form, sbp="120", dbp="80")
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    first = readings(station.ctx)[-1]
    assert first.observed_at == clock.now() and not first.late

    # The nurse steps the minutes back by five with the keyboard: that time stays.
    clock.advance(minutes=1)
    form.follow_clock()
    form.observed.setFocus()
    form.observed.setCurrentSection(form.observed.Section.MinuteSection)
    for _ in range(5):
        qtbot.keyClick(form.observed, Qt.Key.Key_Down)
    assert form.time_edited
    chosen = form.observed_at()
    assert timedelta(minutes=4) < clock.now() - chosen <= timedelta(minutes=5)
    clock.advance(minutes=2)
    form.follow_clock()
    assert form.observed_at() == chosen  # kept, not pulled back to the clock
    type_values(qtbot, form, sbp="122", dbp="78")
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    second = readings(station.ctx)[-1]
    assert second.observed_at == chosen
    # After a save the form is cleared and follows the clock again.
    assert not form.time_edited


def test_observed_time_before_check_in_is_refused_and_form_kept(
    ui, qtbot, clock, questions
) -> None:
    from nursestation.db.models import InfusionSession

    station, sid = ui
    _asked, warned, _answer = questions
    with station.ctx.tx() as s:
        checked_in_at = s.get(InfusionSession, sid).checked_in_at
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    type_values(qtbot, form, sbp="120", dbp="80", hr="70")
    form.observed.setDateTime(form.observed.dateTime().addSecs(-60 * 60))
    n = len(readings(station.ctx))
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert len(readings(station.ctx)) == n
    local = checked_in_at.astimezone().strftime("%H:%M")
    assert warned and f"before the check-in at {local}" in warned[-1]
    assert "before the check-in" in form.late_label.text()
    assert form.edits["sbp"].text() == "120" and form.edits["hr"].text() == "70"
    type_values(qtbot, form, spo2="97")  # typing elsewhere keeps the message beside the time
    assert "before the check-in" in form.late_label.text()
    form.reset_time()  # "Now": the message goes, the reading saves
    assert form.late_label.text() == ""
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert len(readings(station.ctx)) == n + 1


def test_critical_reading_raises_visible_high_alarm_then_ack_and_pause(
    ui, qtbot, questions, clock
) -> None:
    station, sid = ui
    strip = AlarmStrip(station, "1")
    qtbot.addWidget(strip)
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    assert strip.alarm_lines() == []
    type_values(qtbot, form, sbp="150", dbp="88", hr="80", spo2="85", rr="14")
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)  # SpO2 85: soft -> confirmed
    qtbot.waitUntil(lambda: bool(strip.alarm_lines()), timeout=1000)
    top = strip.alarm_lines()[0]
    assert top.startswith("***") and "SpO2 85" in top and "critical" in top
    assert strip._labels[0][0].property("priority") == "high"
    assert strip.ack_btn.isEnabled() and strip.pause_btn.text() == "Pause audio 2 min"

    # The chair board card shows it too (the lead's board).
    from nursestation.ui.board import ChairBoard

    board = ChairBoard(station)
    qtbot.addWidget(board)
    qtbot.waitUntil(lambda: "SpO2 85" in board.card("1").alarm_text(), timeout=1000)
    assert board.card("1").alarm_text().startswith("***")

    # Pause audio: countdown follows the FakeClock; visual stays.
    qtbot.mouseClick(strip.pause_btn, Qt.MouseButton.LeftButton)
    assert strip.pause_btn.text() == "Audio paused 2 min 00 s" and not strip.pause_btn.isEnabled()
    clock.advance(seconds=75)
    strip.refresh()
    assert strip.pause_btn.text() == "Audio paused 45 s"
    assert "Tone returns in 45 s" in strip.countdown.text()
    assert strip.alarm_lines()[0].startswith("***")
    clock.advance(seconds=46)
    strip.refresh()
    assert strip.pause_btn.text() == "Pause audio 2 min"
    assert alarms.chair_alarms(station.ctx, "1").audio_on

    # Acknowledge: stops the tone; the condition persists so the alarm stays listed.
    qtbot.mouseClick(strip.ack_btn, Qt.MouseButton.LeftButton)
    assert "acknowledged by rn.ana" in strip.alarm_lines()[0]
    assert not strip.ack_btn.isEnabled()
    assert not alarms.chair_alarms(station.ctx, "1").audio_on
    with station.ctx.tx() as s:
        kinds = [e for e in s.execute(select(AlarmEvent.event).order_by(AlarmEvent.id)).scalars()]
    assert kinds.count("audio_paused") == 1 and "audio_resumed" in kinds
    assert "acknowledged" in kinds


def test_pause_broken_through_by_higher_alarm(ui, qtbot, clock) -> None:
    station, sid = ui
    strip = AlarmStrip(station, "1")
    qtbot.addWidget(strip)
    ana = station.actor
    vitals.record_vitals(station.ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 100})
    strip.refresh()
    assert strip.alarm_lines()[0].startswith("** ")
    qtbot.mouseClick(strip.pause_btn, Qt.MouseButton.LeftButton)
    assert strip.pause_btn.text().startswith("Audio paused")
    clock.advance(seconds=20)
    station.write(
        vitals.record_vitals,
        sid,
        {**NORMAL, "sbp": 185, "dbp": 100, "spo2": 84},
        soft_confirmed=True,
    )
    qtbot.waitUntil(lambda: strip.pause_btn.text() == "Pause audio 2 min", timeout=1000)
    assert strip.alarm_lines()[0].startswith("***")


def test_panel_flowsheet_flags_corrections_and_chart(ui, qtbot, questions, clock, monkeypatch):
    station, sid = ui
    panel = VitalsPanel(station)
    qtbot.addWidget(panel)
    panel.set_session(sid)
    ana = station.actor
    clock.advance(minutes=5)
    rec = vitals.record_vitals(station.ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 95})
    clock.advance(minutes=5)
    vitals.correct_vitals(station.ctx, ana, rec.id, {"sbp": 158}, "cuff re-read")
    panel.refresh()
    # newest first: the correction, then the struck original
    assert panel.cell_text(0, "SBP") == "158 ▲ADVISORY"
    assert "corrects #" in panel.cell_text(0, "Notes")
    assert panel.cell_text(1, "SBP") == "185 ▲ACTION"
    assert panel.cell_text(1, "Notes") == f"corrected by #{rec.id + 1}"
    struck = panel.model.data(panel.model.index(1, 2), Qt.ItemDataRole.FontRole)
    assert struck is not None and struck.strikeOut()
    assert panel.cell_text(0, "Source") == "manual, Ana Ruiz, RN"
    qtbot.waitUntil(
        lambda: panel.chart.data is not None and len(panel.chart.data.times) == 2, timeout=3000
    )
    _xs, ys = panel.chart.curves["sbp"].getData()
    assert list(ys) == [128.0, 158.0]  # the corrected original is not charted
    assert panel.chart.marker_labels() == ["Infusion start"]


def _simulate_hour(station: Station, clock) -> int:
    """60 minutes, readings every 5 min, BP rising at 30-40 min, labetalol at 40 min."""
    from nursestation.db.models import MedicationAdministration

    ctx = station.ctx
    ana = station.actor
    register_patient(
        ctx, ana, mrn="K-9", name="Roe, Sam", dob=date(1979, 1, 5), weight_kg=82, sex="male"
    )
    sid = sessions.check_in(
        ctx, ana, mrn="K-9", chair="2", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST
    ).id
    bp = {
        0: (124, 80),
        5: (126, 81),
        10: (130, 82),
        15: (134, 84),
        20: (136, 85),
        25: (140, 86),
        30: (168, 98),
        35: (192, 112),
        40: (204, 118),
        45: (176, 102),
        50: (152, 92),
        55: (140, 88),
        60: (132, 84),
    }
    hr = {
        0: 74,
        5: 75,
        10: 78,
        15: 80,
        20: 82,
        25: 84,
        30: 92,
        35: 98,
        40: 101,
        45: 94,
        50: 86,
        55: 80,
        60: 77,
    }
    start = clock.now()
    for minute in range(0, 61, 5):
        clock.set(start + timedelta(minutes=minute))
        if minute == 5:
            sessions.start_infusion(ctx, ana, sid)
        s_, d_ = bp[minute]
        vitals.record_vitals(
            ctx,
            ana,
            sid,
            {"sbp": s_, "dbp": d_, "hr": hr[minute], "spo2": 97 if minute != 35 else 94, "rr": 14},
            soft_confirmed=True,
        )
        if minute == 40:
            with ctx.tx() as s:
                s.add(
                    MedicationAdministration(
                        session_id=sid,
                        drug="labetalol",
                        dose=10,
                        unit="mg",
                        route="IV",
                        indication="hypertension",
                        given_at=clock.now(),
                        recorded_at=clock.now(),
                        given_by=ana.user_id,
                    )
                )
        if minute == 45:
            sessions.stop_infusion(ctx, ana, sid, "completed")
    return sid


def test_sixty_minute_session_screenshot(ui, qtbot, clock, tmp_path) -> None:
    station, _ = ui
    sid = _simulate_hour(station, clock)
    panel = VitalsPanel(station, with_alarm_strip=True)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.set_session(sid)
    panel.show()
    qtbot.waitUntil(
        lambda: panel.chart.data is not None and len(panel.chart.data.times) == 13, timeout=3000
    )
    _, ys = panel.chart.curves["sbp"].getData()
    assert max(ys) == 204 and list(ys).index(204) == 8  # the rise peaks at 40 min
    assert panel.chart.marker_labels() == ["Infusion start", "labetalol 10 mg IV", "Infusion stop"]
    assert panel.model.rowCount() == 13
    assert panel.cell_text(4, "SBP") == "204 ▲CRITICAL"
    assert panel.alarm_strip is not None and panel.alarm_strip.alarm_lines()
    out = os.environ.get("VITALS_SCREENSHOT", str(tmp_path / "vitals_panel.png"))
    qtbot.wait(50)
    panel.alarm_strip.refresh()  # flash phase "on" for the picture
    assert panel.grab().save(out)
