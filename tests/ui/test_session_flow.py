"""A nurse runs a session through the real widgets: check-in, start, pause, resume, stop, and the
observation timer; the screen and the database are both checked."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select
from support import T0

from nursestation.app import vitals
from nursestation.db.models import AuditEvent, InfusionEvent, InfusionSession, Patient
from nursestation.ui import session_view
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.infusion_dialogs import ChecklistDialog, RateDialog, ReasonDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station


@pytest.fixture
def window(qtbot, ctx, people):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.show()
    return w


def _answer(qtbot, view, key: str, text: str = "") -> None:
    """Choose a reason in the open prompt (a click on its radio button) and press OK."""
    dlg = view.dialog
    assert isinstance(dlg, ReasonDialog) and dlg.isVisible()
    assert dlg.chosen() is None  # nothing preselected
    dlg.radios[key].click()
    if text:
        qtbot.keyClicks(dlg.text, text)
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.error.text() == "" and view.dialog is None


def _fill_check_in(qtbot, dlg: CheckInDialog) -> None:
    qtbot.keyClicks(dlg.mrn, "K-2001")
    qtbot.keyClicks(dlg.name, "Doe, Jane")
    qtbot.keyClicks(dlg.dob, "1985-04-02")
    qtbot.keyClicks(dlg.weight, "70")
    qtbot.mouseClick(dlg.register_btn, Qt.MouseButton.LeftButton)
    dlg.consent.setChecked(True)
    dlg.identity.setChecked(True)
    qtbot.keyClicks(dlg.escort_name, "John Doe")
    qtbot.keyClicks(dlg.escort_phone, "555-0100")
    dlg.pregnancy.setCurrentText("Negative")
    dlg.contra_screened.setChecked(True)
    dlg.inter_screened.setChecked(True)
    qtbot.keyClicks(dlg.iv_site, "left forearm")
    dlg.iv_gauge.setCurrentIndex(dlg.iv_gauge.findData(22))
    dlg.iv_patent.setChecked(True)
    now = dlg.station.ctx.now().astimezone()
    qtbot.keyClicks(dlg.solids, (now - timedelta(hours=10)).strftime("%Y-%m-%d %H:%M"))
    qtbot.keyClicks(dlg.liquids, (now - timedelta(hours=4)).strftime("%Y-%m-%d %H:%M"))


def test_nurse_runs_a_session_through_the_widgets(
    qtbot, window, ctx, people, clock, monkeypatch
) -> None:
    refusals: list[str] = []
    monkeypatch.setattr(
        session_view, "show_refusal", lambda _p, exc, title="": refusals.append(exc.message)
    )
    dlg = CheckInDialog(window.station, "2", window)
    qtbot.addWidget(dlg)
    _fill_check_in(qtbot, dlg)
    assert "35.0 mg" in dlg.calc.text() and "52.5 mL/h" in dlg.calc.text()
    dlg.on_check_in()
    assert dlg.session_id is not None
    sid = dlg.session_id
    window.open_session(sid)
    view = window.session_view
    assert "Doe, Jane" in view.header.text()
    assert view.phase.text() == "CHECKED IN"
    assert view.start_btn.isEnabled()  # the service decides on the checklist

    # Start without baseline vitals: refused with the reason, nothing stored
    qtbot.mouseClick(view.start_btn, Qt.MouseButton.LeftButton)
    assert refusals and "Baseline" in refusals[-1]
    vitals.record_vitals(
        ctx, people["nurse"], sid, {"sbp": 124, "dbp": 80, "hr": 72, "spo2": 98, "rr": 14}
    )

    clock.set(T0 + timedelta(minutes=5))
    qtbot.mouseClick(view.start_btn, Qt.MouseButton.LeftButton)
    assert view.phase.text() == "INFUSING"
    assert view.pause_btn.isEnabled() and not view.start_btn.isEnabled()

    clock.set(T0 + timedelta(minutes=15))
    qtbot.mouseClick(view.pause_btn, Qt.MouseButton.LeftButton)
    _answer(qtbot, view, "nausea_vomiting", "patient nauseated")
    assert view.phase.text() == "PAUSED"
    assert "nausea or vomiting: patient nauseated" in view.detail.text()
    assert "10 min 00 s infused" in view.big.text()

    clock.set(T0 + timedelta(minutes=20))
    qtbot.mouseClick(view.resume_btn, Qt.MouseButton.LeftButton)
    clock.set(T0 + timedelta(minutes=50))
    view.refresh()
    # the ordered 35 mg is in: the session leaves "infusing" and asks for the pump to be stopped
    assert view.phase.text() == "DOSE COMPLETE — STOP PUMP"
    assert view.big.text() == "40 min 00 s infused · DOSE COMPLETE"
    assert "Delivered 35.0 of 35 mg" in view.detail.text()
    assert view.stop_btn.isEnabled()
    assert not (view.pause_btn.isEnabled() or view.rate_btn.isEnabled())
    view.alarm_strip.refresh()
    assert any("stop the pump" in line for line in view.alarm_strip.alarm_lines())

    qtbot.mouseClick(view.stop_btn, Qt.MouseButton.LeftButton)
    _answer(qtbot, view, "completed")
    clock.set(T0 + timedelta(minutes=62, seconds=30))
    qtbot.waitUntil(lambda: view.big.text() == "Observation 12 min 30 s", timeout=3000)
    assert "47 min 30 s until the 60-min minimum (at 15:50)" in view.detail.text()
    assert "delivered 35.0 mg" in view.detail.text()
    assert not any(
        b.isEnabled() for b in (view.start_btn, view.pause_btn, view.resume_btn, view.stop_btn)
    )

    with ctx.tx() as s:
        session = s.execute(select(InfusionSession).where(InfusionSession.id == sid)).scalar_one()
        assert s.get(Patient, session.patient_id).mrn == "K-2001"
        events = s.execute(select(InfusionEvent).order_by(InfusionEvent.id)).scalars().all()
        assert [(e.kind, e.at) for e in events] == [
            ("start", T0 + timedelta(minutes=5)),
            ("pause", T0 + timedelta(minutes=15)),
            ("resume", T0 + timedelta(minutes=20)),
            ("stop", T0 + timedelta(minutes=50)),
        ]
        assert events[1].reason == "nausea or vomiting: patient nauseated"
        assert events[3].reason == "completed"

    window.show_board()
    card = window.board.card("2")
    assert "Doe, Jane" in card.patient.text()
    assert card.phase.text() == "OBSERVATION"
    assert "Observation 12 min · minimum in 48 min" in card.timers.text()


def test_refused_check_in_keeps_what_was_typed(qtbot, window, monkeypatch) -> None:
    shown: list[str] = []
    from nursestation.ui import checkin_dialog

    monkeypatch.setattr(
        checkin_dialog, "show_refusal", lambda _p, exc, title="": shown.append(exc.message)
    )
    dlg = CheckInDialog(window.station, "3", window)
    qtbot.addWidget(dlg)
    qtbot.keyClicks(dlg.mrn, "K-9")
    qtbot.keyClicks(dlg.name, "Roe, Rita")
    qtbot.keyClicks(dlg.dob, "1990-05-06")
    qtbot.keyClicks(dlg.weight, "400")
    qtbot.keyClicks(dlg.escort_name, "Sam")
    qtbot.mouseClick(dlg.register_btn, Qt.MouseButton.LeftButton)
    assert shown and "Weight 400 kg is impossible: allowed 20–350 kg" in shown[-1]
    assert (dlg.mrn.text(), dlg.name.text(), dlg.escort_name.text()) == ("K-9", "Roe, Rita", "Sam")
    assert dlg.isVisible() or dlg.result() == 0


def test_board_shows_three_chairs_in_different_phases(
    qtbot, window, ctx, people, infusing, clock
) -> None:
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-2", name="Roe, Rita", dob=date(1990, 1, 1), weight_kg=60
    )
    sessions.check_in(
        ctx, nurse, mrn="K-2", chair="2", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    )
    clock.set(T0 + timedelta(minutes=20))
    sessions.pause_infusion(ctx, nurse, infusing, "patient anxious")
    window.board.refresh()
    assert window.board.card("1").phase.text() == "PAUSED"
    assert "PAUSED: patient anxious" in window.board.card("1").timers.text()
    assert window.board.card("2").phase.text() == "CHECKED IN"
    assert window.board.card("3").phase.text() == "EMPTY"


# ---------------------------------------------------------------- the infusion prompts

SCREENSHOTS = os.environ.get("NURSESTATION_SCREENSHOTS")  # a folder: save what the nurse sees


def _shot(widget, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        assert widget.grab().save(str(Path(SCREENSHOTS) / name))


def _db_snapshot(ctx) -> tuple[list[tuple[str, object]], int, list[tuple[object, object]]]:
    with ctx.tx() as s:
        events = [(e.kind, e.at) for e in s.execute(select(InfusionEvent)).scalars()]
        audit = len(s.execute(select(AuditEvent.id)).scalars().all())
        ended = [(r.ended_at, r.end_reason) for r in s.execute(select(InfusionSession)).scalars()]
    return events, audit, ended


@pytest.fixture
def view_infusing(window, infusing, clock):
    clock.set(T0 + timedelta(minutes=15))
    window.open_session(infusing)
    return window.session_view


@pytest.mark.parametrize("button", ["stop_btn", "pause_btn"])
def test_cancel_in_the_stop_and_pause_prompts_changes_nothing(
    qtbot, ctx, view_infusing, button
) -> None:
    view = view_infusing
    assert view.phase.text() == "INFUSING"
    before = _db_snapshot(ctx)
    qtbot.mouseClick(getattr(view, button), Qt.MouseButton.LeftButton)
    dlg = view.dialog
    assert isinstance(dlg, ReasonDialog) and dlg.isVisible() and dlg.chosen() is None
    # OK with nothing chosen: refused inside the prompt, nothing stored, the prompt stays
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "needs a reason" in dlg.error.text() and dlg.isVisible()
    # 'other' without words: refused, the choice is kept
    dlg.radios["other"].click()
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "written out" in dlg.error.text() and dlg.chosen() == "other"
    # a reason chosen and typed, then Cancel: nothing happens at all
    qtbot.keyClicks(dlg.text, "changed my mind")
    qtbot.mouseClick(dlg.cancel_btn, Qt.MouseButton.LeftButton)
    assert not dlg.isVisible() and view.dialog is None
    assert _db_snapshot(ctx) == before
    view.refresh()
    assert view.phase.text() == "INFUSING"
    # Escape is a cancel too
    qtbot.mouseClick(getattr(view, button), Qt.MouseButton.LeftButton)
    view.dialog.radios["patient_request"].click()
    qtbot.keyClick(view.dialog, Qt.Key.Key_Escape)
    assert view.dialog is None and _db_snapshot(ctx) == before


def test_rate_change_through_the_dialog_in_ml_per_h(qtbot, ctx, people, view_infusing) -> None:
    view = view_infusing
    assert "52.5 mg/h (52.5 mL/h)" in view.detail.text()
    assert view.big.text() == "10 min 00 s infused · 30 min 00 s left"
    _shot(view, "rate_before.png")
    before = _db_snapshot(ctx)
    qtbot.mouseClick(view.rate_btn, Qt.MouseButton.LeftButton)
    dlg = view.dialog
    assert isinstance(dlg, RateDialog) and dlg.unit.currentText() == "mL/h"
    # the 10× typo: refused with the clinic maximum, the dialog keeps what was typed
    qtbot.keyClicks(dlg.value, "525")
    assert "FASTER THAN THE ORDER" in dlg.converted.text()
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "1 mg/kg per session" in dlg.error.text() and dlg.last_error.code == "dose_above_max"
    assert dlg.value.text() == "525" and dlg.isVisible()
    # absurd: zero, and not a number at all
    dlg.value.setText("0")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "Rate 0 mL/h is out of range: allowed 0.1–10500 mL/h" in dlg.error.text()
    dlg.value.setText("fast")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "New rate must be a number in mL/h" in dlg.error.text()
    # faster than the order: needs the written confirmation
    dlg.value.setText("78.75")
    assert dlg.converted.text() == "= 78.8 mg/h = 78.8 mL/h · 20 min left · FASTER THAN THE ORDER"
    qtbot.keyClicks(dlg.reason, "tolerating well")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.last_error.code == "confirmation_required" and dlg.isVisible()
    assert _db_snapshot(ctx) == before
    qtbot.keyClicks(dlg.confirm_reason, "prescriber Dr Lee: finish in 20 min")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert view.dialog is None
    assert "78.8 mg/h (78.8 mL/h)" in view.detail.text()
    assert view.big.text() == "10 min 00 s infused · 20 min 00 s left"  # time left follows the new rate
    _shot(view, "rate_after.png")
    with ctx.tx() as s:
        last = s.execute(select(InfusionEvent).order_by(InfusionEvent.id.desc())).scalars().first()
        assert (last.kind, last.rate_mg_per_h) == ("rate_change", 78.75)
        assert "prescriber Dr Lee" in last.reason


def test_stuck_chair_is_ended_not_treated_at_the_chair(
    qtbot, window, ctx, people, checked_in, clock, monkeypatch
) -> None:
    refusals: list[str] = []
    monkeypatch.setattr(
        session_view, "show_refusal", lambda _p, exc, title="": refusals.append(exc.message)
    )
    clock.advance(minutes=3)
    vitals.record_vitals(
        ctx,
        people["nurse"],
        checked_in,
        {"sbp": 192, "dbp": 104, "hr": 84, "spo2": 98, "rr": 16},
        soft_confirmed=True,
    )
    window.open_session(checked_in)
    view = window.session_view
    assert any("SBP 192" in line for line in view.alarm_strip.alarm_lines())
    qtbot.mouseClick(view.start_btn, Qt.MouseButton.LeftButton)
    assert refusals and view.phase.text() == "CHECKED IN"
    assert view.not_treated_btn.isEnabled()
    # Cancel first: the patient stays in the chair
    qtbot.mouseClick(view.not_treated_btn, Qt.MouseButton.LeftButton)
    before = _db_snapshot(ctx)
    qtbot.mouseClick(view.dialog.cancel_btn, Qt.MouseButton.LeftButton)
    assert _db_snapshot(ctx) == before
    qtbot.mouseClick(view.not_treated_btn, Qt.MouseButton.LeftButton)
    dlg = view.dialog
    dlg.radios["start_refused_at_baseline"].click()
    qtbot.keyClicks(dlg.text, "BP 192/104 twice, prescriber informed")
    _shot(dlg, "not_treated_prompt.png")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert view.dialog is None
    assert view.phase.text() == "NOT TREATED"
    assert "start refused at baseline: BP 192/104 twice" in view.detail.text()
    assert not any(
        b.isEnabled() for b in (view.start_btn, view.not_treated_btn, view.checklist_btn)
    )
    # the patient's alarms ended with the session: not in the view, not on the card
    # the band stays in its place (nothing below it moves), saying there is no alarm
    assert view.alarm_strip.alarm_lines() == [] and view.alarm_strip.empty.isVisible()
    _shot(view, "not_treated.png")
    window.show_board()
    window.board.refresh()
    assert window.board.card("1").phase.text() == "EMPTY"
    assert window.board.card("1").alarm_text() == ""


def test_checklist_completed_at_the_chair(qtbot, window, ctx, people, clock) -> None:
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-5", name="Roe, Rita", dob=date(1990, 1, 1), weight_kg=60
    )
    answers = {k: v for k, v in CHECKLIST_OK.items() if k not in ("escort_phone", "iv_gauge")}
    s = sessions.check_in(
        ctx, nurse, mrn="K-5", chair="2", protocol=Protocol(0.5, 40, 1), checklist=answers
    )
    window.open_session(s.id)
    view = window.session_view
    assert view.checklist_btn.isEnabled()
    qtbot.mouseClick(view.checklist_btn, Qt.MouseButton.LeftButton)
    dlg = view.dialog
    assert isinstance(dlg, ChecklistDialog)
    # unanswered stays unanswered: the gauge reads "not answered", the phone is blank
    assert dlg.widgets["iv_gauge"].text() == "not answered"
    assert dlg.widgets["escort_phone"].text() == ""
    assert dlg.widgets["escort_name"].text() == "John Doe"
    qtbot.keyClicks(dlg.widgets["escort_phone"], "555-0199")
    dlg.widgets["iv_gauge"].setValue(20)
    dlg.widgets["last_solids_at"].setText("yesterday")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "Last solids must be written as YYYY-MM-DD HH:MM" in dlg.error.text()
    assert dlg.widgets["escort_phone"].text() == "555-0199"  # the rest of the form kept
    before = sessions.get_summary(ctx, nurse, s.id).checklist
    dlg.widgets["last_solids_at"].setText(dlg.initial["last_solids_at"])
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert view.dialog is None
    after = sessions.get_summary(ctx, nurse, s.id).checklist
    assert {k: v for k, v in after.items() if before.get(k) != v} == {
        "escort_phone": "555-0199",
        "iv_gauge": 20,
    }


def test_an_ended_session_view_does_not_show_the_next_patients_alarms(
    qtbot, window, ctx, people, checked_in, clock
) -> None:
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    sessions.end_not_treated(ctx, nurse, checked_in, "patient_left")
    patients.register_patient(
        ctx, nurse, mrn="K-2", name="Roe, Rita", dob=date(1990, 1, 1), weight_kg=60
    )
    nxt = sessions.check_in(
        ctx, nurse, mrn="K-2", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    )
    clock.advance(minutes=2)
    vitals.record_vitals(
        ctx,
        nurse,
        nxt.id,
        {"sbp": 200, "dbp": 90, "hr": 80, "spo2": 98, "rr": 14},
        soft_confirmed=True,
    )
    window.open_session(nxt.id)  # the chair's current patient: her alarm is shown
    assert any("SBP 200" in line for line in window.session_view.alarm_strip.alarm_lines())
    window.open_session(checked_in)  # the ended session of the same chair: not its alarm
    view = window.session_view
    assert view.phase.text() == "NOT TREATED"
    # the band stays in its place (nothing below it moves), saying there is no alarm
    assert view.alarm_strip.alarm_lines() == [] and view.alarm_strip.empty.isVisible()
