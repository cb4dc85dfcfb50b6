"""A nurse runs a Spravato session through the real widgets (issue 17): check-in with the
Spravato dose and no IV fields, the REMS questions, devices with their lots (one too early is
refused with the time it is allowed), the 40-minute BP reminder in the session view and on the
chair card, the nurse's form fields. Offscreen; screenshots go to build/screenshots/."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from nursestation.app import board, patients, spravato, vitals
from nursestation.ui.board import timer_lines
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def window(qtbot, ctx, people):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    patients.register_patient(
        ctx, people["nurse"], mrn="S-1", name="Roe, Sam", dob=date(1979, 6, 14), weight_kg=82
    )
    spravato.record_enrolment(
        ctx, people["nurse"], "S-1", rems_patient_id="RP-1", enrolled_on="2026-02-20"
    )
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.resize(1400, 1000)
    w.show()
    return w


def _check_in(qtbot, w: MainWindow) -> int:
    dlg = CheckInDialog(w.station, "2", w)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.keyClicks(dlg.search, "S-1")
    dlg.results.setCurrentRow(0)
    dlg._pick()
    dlg.session_type.setCurrentIndex(dlg.session_type.findData("spravato"))
    # Spravato: no mg/kg, no rate, no IV questions on screen
    assert not dlg.dose.isVisible() and not dlg.iv_site.isVisible() and dlg.spravato_dose.isVisible()
    dlg.spravato_dose.setCurrentIndex(dlg.spravato_dose.findData(84))
    dlg.consent.setChecked(True)
    dlg.identity.setChecked(True)
    qtbot.keyClicks(dlg.solids, "06:30")
    qtbot.keyClicks(dlg.liquids, "12:00")
    qtbot.keyClicks(dlg.escort_name, "Kim Roe")
    qtbot.keyClicks(dlg.escort_phone, "555-0142")
    dlg.pregnancy.setCurrentIndex(dlg.pregnancy.findData("not_applicable"))  # shown in words
    dlg.contra_screened.setChecked(True)
    dlg.inter_screened.setChecked(True)
    dlg.on_check_in()
    assert dlg.session_id is not None
    return dlg.session_id


def test_spravato_session_through_the_widgets(qtbot, window, ctx, people, clock) -> None:
    nurse = people["nurse"]
    sid = _check_in(qtbot, window)
    window.open_session(sid)
    view = window.session_view
    panel = view.spravato_panel
    assert view.spravato_area.isVisible() and not view.start_btn.isVisible()
    assert "84 mg" in panel.status.text() and "RP-1" in panel.status.text()
    # the questions first
    for box in panel.conmeds.values():
        box.setCurrentIndex(box.findData(False))
    qtbot.mouseClick(panel.conmed_btn, Qt.MouseButton.LeftButton)
    assert panel.error.text() == ""
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    view.refresh()
    qtbot.mouseClick(panel.device_btn, Qt.MouseButton.LeftButton)  # no lot
    assert "lot number" in panel.error.text()
    qtbot.keyClicks(panel.lot, "SPR-2403A")
    qtbot.mouseClick(panel.device_btn, Qt.MouseButton.LeftButton)
    assert panel.error.text() == "" and "Device 1" in panel.devices.text()
    clock.advance(minutes=3)
    qtbot.mouseClick(panel.device_btn, Qt.MouseButton.LeftButton)
    assert "allowed from" in panel.error.text() and panel.lot.text() == "SPR-2403A"
    for _ in range(2):
        clock.advance(minutes=5)
        qtbot.mouseClick(panel.device_btn, Qt.MouseButton.LeftButton)
        assert panel.error.text() == ""
    assert not panel.device_btn.isEnabled()
    qtbot.waitUntil(lambda: view.big.text().startswith("Observation"), timeout=3000)
    assert "first device" in view.detail.text()
    clock.advance(minutes=22)  # 35 min after the first device
    view.refresh()
    assert "BP due about 40 min" in panel.reminder.text()
    assert "BP due about 40 min" in view.dose.text()  # beside the timer too
    card = next(c for c in board.board_cards(ctx, nurse) if c.chair == "2")
    assert any("BP due about 40 min" in line for line in card.spravato_reminders)
    assert timer_lines(card)[0] == "Spravato 84 mg · monitoring from the first device"
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "spravato_session.png"))
    window.show_board()
    window.board.refresh()
    window.grab().save(str(SHOTS / "spravato_board.png"))
    window.open_session(sid)
    # the nurse's form fields: a refusal names the field, the rest is kept
    panel.form_fields["ready_to_leave_at"].setText("25:99")
    panel.form_fields["sedation_event"].setCurrentIndex(1)
    qtbot.mouseClick(panel.form_btn, Qt.MouseButton.LeftButton)
    assert "When would the patient have been ready to leave?" in panel.error.text()
    assert panel.form_fields["sedation_event"].currentText() == "No"
    panel.form_fields["ready_to_leave_at"].setText("11:05")
    qtbot.mouseClick(panel.form_btn, Qt.MouseButton.LeftButton)
    assert panel.error.text() == ""
    v = spravato.get_spravato(ctx, nurse, sid)
    assert v.form_answers["sedation_event"] is False
    assert v.form.value("ready_to_leave_at") == "11:05"
    assert timedelta(0) < clock.now() - v.first_device_at
