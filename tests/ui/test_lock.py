"""Automatic lock: real input resets the idle timer; on timeout patient names leave the screen,
the board and its alarms stay, open forms are covered and come back intact on unlock."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QWidget
from sqlalchemy import select
from support import PASSWORD

from nursestation.app import vitals
from nursestation.db.models import AuditEvent
from nursestation.ui import login
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.idle_lock import ACTIVITY_EVENTS, LockDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def window(qtbot, ctx, people, infusing):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.show()
    return w


def _visible_texts(*roots: QWidget) -> str:
    """Every text a person can see in these windows right now."""
    out = []
    for root in roots:
        for lab in root.findChildren(QLabel):
            if lab.isVisible() and not _covered(lab) and lab.text() not in out:
                out.append(lab.text())
    return "\n".join(out)


def _covered(w: QWidget) -> bool:
    """True when a lock cover lies over `w` (a cover is a direct child of the covered window)."""
    top = w.window()
    for cover in top.findChildren(QWidget, "lock-cover"):
        if cover.parentWidget() is top and cover.isVisible() and not cover.isAncestorOf(w):
            return True
    return False


def _actions(ctx) -> list[tuple[str, str | None]]:
    with ctx.tx() as s:
        return [
            (r.action, r.username)
            for r in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]


def test_real_key_and_mouse_events_reset_the_idle_timer(qtbot, window) -> None:
    idle = window.locker.idle
    assert idle.timer.interval() == 5 * 60_000  # general.idle_lock_min default
    idle.timer.stop()
    before = idle.resets
    qtbot.keyClick(window.board, Qt.Key.Key_Shift)
    assert idle.timer.isActive() and idle.resets > before
    idle.timer.stop()
    qtbot.mouseClick(window.board, Qt.MouseButton.LeftButton, pos=window.board.rect().center())
    assert idle.timer.isActive()
    # A timer tick or a repaint is not a person at the station.
    assert QEvent.Type.Timer not in ACTIVITY_EVENTS and QEvent.Type.Paint not in ACTIVITY_EVENTS


def test_idle_lock_hides_patients_keeps_alarms_and_forms(
    qtbot, window, ctx, people, infusing, monkeypatch
) -> None:
    station = window.station
    nurse = people["nurse"]
    # A critical blood pressure: the board must keep showing this alarm while locked.
    vitals.record_vitals(
        ctx, nurse, infusing, {"sbp": 190, "dbp": 100, "hr": 80, "spo2": 97, "rr": 14}
    )
    window.open_session(infusing)
    assert "Doe, Jane" in window.session_view.header.text()
    window.board.refresh()
    card = window.board.card("1")
    assert "Doe, Jane" in card.patient.text()
    alarm_before = card.alarm_text()
    assert alarm_before, "a critical SBP raises an alarm on the board"

    # A half-filled check-in form for chair 2, open beside the session.
    form = CheckInDialog(station, "2", window)
    qtbot.addWidget(form)
    form.show()
    qtbot.keyClicks(form.mrn, "K-2002")
    qtbot.keyClicks(form.name, "Roe, Rick")
    qtbot.keyClicks(form.escort_name, "Mary Roe")

    # Idle: the real timer, shortened, runs out with no input.
    window.locker.idle.timer.setInterval(50)
    window.locker.idle.restart()
    qtbot.waitUntil(lambda: station.locked, timeout=5000)

    lock = window.locker.dialog
    assert isinstance(lock, LockDialog) and lock.isVisible()
    assert window.stack.currentWidget() is window.board
    assert not window.session_view.isVisible()
    assert card.patient.text() == "(locked)"
    assert card.alarm_text() == alarm_before  # alarms stay visible
    assert card.timers.text() == "" and card.vitals.text() == ""
    seen = _visible_texts(window, form, lock)
    assert "Doe" not in seen and "K-1001" not in seen and "Roe" not in seen
    assert "Chair 1" in seen
    cover = form.findChild(QWidget, "lock-cover")
    assert cover is not None and cover.isVisible() and cover.geometry() == form.rect()
    assert form.isVisible(), "the form is covered, never closed"
    assert ("screen.lock", "rn.ana") in _actions(ctx)
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "locked_board.png"))
    lock.grab().save(str(SHOTS / "lock_dialog.png"))
    form.grab().save(str(SHOTS / "locked_form.png"))

    # While locked nothing can be done in the nurse's name, and input does not restart the timer.
    assert not station.can("record_vitals")
    qtbot.keyClick(lock.password, Qt.Key.Key_Shift)
    assert not window.locker.idle.timer.isActive()
    lock.reject()  # Esc does not unlock
    assert lock.isVisible() and station.locked

    # Wrong password: refused, audited, still locked.
    qtbot.keyClicks(lock.password, "not-the-password")
    qtbot.mouseClick(lock.unlock_btn, Qt.MouseButton.LeftButton)
    assert station.locked and "not correct" in lock.error.text()
    assert lock.password.text() == ""
    assert ("unlock.failed", "rn.ana") in _actions(ctx)

    # Right password: everything back as it was.
    qtbot.keyClicks(lock.password, PASSWORD)
    qtbot.keyClick(lock.password, Qt.Key.Key_Return)
    assert not station.locked
    assert window.locker.dialog is None
    assert station.actor == nurse
    assert window.stack.currentWidget() is window.session_view
    window.session_view.refresh()
    assert "Doe, Jane" in window.session_view.header.text()
    assert "Doe, Jane" in card.patient.text()
    assert (form.mrn.text(), form.name.text(), form.escort_name.text()) == (
        "K-2002",
        "Roe, Rick",
        "Mary Roe",
    )
    assert (
        form.findChild(QWidget, "lock-cover") is None
        or not form.findChild(QWidget, "lock-cover").isVisible()
    )
    assert window.locker.idle.timer.isActive()
    tail = _actions(ctx)[-3:]
    assert tail == [
        ("unlock.failed", "rn.ana"),
        ("unlock.ok", "rn.ana"),
        ("screen.unlock", "rn.ana"),
    ]


def test_switch_user_from_the_lock_screen(
    qtbot, window, ctx, people, infusing, monkeypatch
) -> None:
    def sign_in_as_charge(self) -> int:  # the LoginDialog, filled in as Ben would
        self.username.setText("cn.ben")
        self.password.setText(PASSWORD)
        self.try_sign_in()
        return self.result()

    monkeypatch.setattr(login.LoginDialog, "exec", sign_in_as_charge)
    window.open_session(infusing)
    window.lock_action.trigger()
    assert window.station.locked
    assert window.stack.currentWidget() is window.board
    qtbot.mouseClick(window.locker.dialog.switch_btn, Qt.MouseButton.LeftButton)
    assert not window.station.locked
    assert window.station.actor == people["charge"]
    assert "Ben Ode" in window.user_label.text()
    assert window.stack.currentWidget() is window.session_view  # Ben finds the page as it was
    acts = _actions(ctx)
    assert ("screen.lock", "rn.ana") in acts
    assert acts[-2:] == [("user.switch", "cn.ben"), ("screen.unlock", "cn.ben")]


def test_switch_user_action_is_audited_and_admin_tools_follow_the_role(
    qtbot, window, ctx, people, monkeypatch
) -> None:
    assert not window.users_action.isVisible() and not window.audit_action.isVisible()

    def sign_in_as_admin(self) -> int:
        self.username.setText("ad.dana")
        self.password.setText(PASSWORD)
        self.try_sign_in()
        return self.result()

    monkeypatch.setattr(login.LoginDialog, "exec", sign_in_as_admin)
    window.switch_action.trigger()
    assert window.station.actor == people["admin"]
    assert window.users_action.isVisible() and window.audit_action.isVisible()
    with ctx.tx() as s:
        row = s.execute(select(AuditEvent).where(AuditEvent.action == "user.switch")).scalar_one()
        assert (row.username, row.before, row.after) == (
            "ad.dana",
            {"username": "rn.ana"},
            {"username": "ad.dana", "while_locked": False},
        )


def test_a_dialog_waiting_in_exec_is_covered_not_ended(qtbot, window) -> None:
    """A modal form open when the lock comes keeps running: its exec() does not return."""
    from PySide6.QtCore import QTimer

    form = CheckInDialog(window.station, "2", window)
    qtbot.addWidget(form)
    seen: dict[str, object] = {}

    def while_open() -> None:
        qtbot.keyClicks(form.name, "Roe, Rick")
        window.locker.lock("idle")
        cover = form.findChild(QWidget, "lock-cover")
        seen["covered"] = cover is not None and cover.isVisible()
        seen["still_open"] = form.isVisible()
        lock = window.locker.dialog
        lock.password.setText(PASSWORD)
        lock.try_unlock()
        seen["unlocked"] = not window.station.locked
        seen["name"] = form.name.text()
        form.reject()  # the nurse closes the form herself

    QTimer.singleShot(0, while_open)
    form.exec()
    assert seen == {"covered": True, "still_open": True, "unlocked": True, "name": "Roe, Rick"}
