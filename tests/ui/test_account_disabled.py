"""A nurse disabled while her session view is open: her next action is refused with nothing
stored and the form kept, and the window signs her out (lock screen, only a switch of user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import func, select

from nursestation.app import users
from nursestation.db.models import AuditEvent, VitalReading
from nursestation.ui.idle_lock import LockDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station
from nursestation.ui.vitals_entry import VitalsEntryForm

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def window(qtbot, ctx, people, infusing):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.show()
    return w


def _readings(ctx) -> int:
    with ctx.tx() as s:
        return s.execute(select(func.count(VitalReading.id))).scalar_one()


def test_disabled_nurse_open_session_is_refused_and_signed_out(
    qtbot, window, ctx, people, infusing, monkeypatch
) -> None:
    warned: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda p, t, text, *a, **k: warned.append(text))
    )
    station = window.station
    window.open_session(infusing)
    assert "Doe, Jane" in window.session_view.header.text()
    form = VitalsEntryForm(station, session_id=infusing)
    qtbot.addWidget(form)
    form.show()
    for name, text in {"sbp": "126", "dbp": "80", "hr": "72", "spo2": "98", "rr": "14"}.items():
        qtbot.keyClicks(form.edits[name], text)

    users.set_disabled(ctx, people["admin"], "rn.ana", True)  # at the administrator's desk
    before = _readings(ctx)
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert _readings(ctx) == before, "nothing is stored for a disabled account"
    assert warned and "has been disabled" in warned[-1]
    assert form.edits["sbp"].text() == "126" and form.edits["rr"].text() == "14"

    # The window notices on its own (the real timer, shortened) and signs her out.
    window.locker.account_timer.setInterval(50)
    qtbot.waitUntil(lambda: station.locked, timeout=5000)
    lock = window.locker.dialog
    assert isinstance(lock, LockDialog) and lock.isVisible()
    assert not lock.unlock_btn.isEnabled() and not lock.password.isEnabled()
    assert lock.switch_btn.isEnabled()
    assert not window.session_view.isVisible()
    assert form.isVisible() and form.edits["sbp"].text() == "126"  # covered, not lost
    with ctx.tx() as s:
        locks = list(
            s.execute(select(AuditEvent).where(AuditEvent.action == "screen.lock")).scalars()
        )
    assert locks[-1].after == {"reason": "account_disabled"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    lock.grab().save(str(SHOTS / "account_disabled_lock.png"))


def test_an_active_account_is_not_signed_out(qtbot, window, ctx, people, infusing) -> None:
    window.locker.check_account()
    assert not window.station.locked and window.locker.dialog is None
