"""A nurse runs a session through the real widgets: check-in, start, pause, resume, stop, and the
observation timer; the screen and the database are both checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select
from support import T0

from nursestation.app import vitals
from nursestation.db.models import InfusionEvent, InfusionSession, Patient
from nursestation.ui import session_view
from nursestation.ui.checkin_dialog import CheckInDialog
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
    dlg.pregnancy.setCurrentText("negative")
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
    monkeypatch.setattr(session_view, "ask_text", lambda *_a: "patient nauseated")
    qtbot.mouseClick(view.pause_btn, Qt.MouseButton.LeftButton)
    assert view.phase.text() == "PAUSED"
    assert "patient nauseated" in view.detail.text()
    assert "10:00 infused" in view.big.text()

    clock.set(T0 + timedelta(minutes=20))
    qtbot.mouseClick(view.resume_btn, Qt.MouseButton.LeftButton)
    clock.set(T0 + timedelta(minutes=50))
    view.refresh()
    assert view.big.text().startswith("40:00 infused · 0:00 left")

    monkeypatch.setattr(session_view, "ask_text", lambda *_a: "completed")
    qtbot.mouseClick(view.stop_btn, Qt.MouseButton.LeftButton)
    clock.set(T0 + timedelta(minutes=62, seconds=30))
    qtbot.waitUntil(lambda: view.big.text() == "Observation 12:30", timeout=3000)
    assert "47:30 until the 60-min minimum" in view.detail.text()
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
        assert events[1].reason == "patient nauseated"

    window.show_board()
    card = window.board.card("2")
    assert "Doe, Jane" in card.patient.text()
    assert card.phase.text() == "OBSERVATION"
    assert "Observation 12:30 · min. left 47:30" in card.timers.text()


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
