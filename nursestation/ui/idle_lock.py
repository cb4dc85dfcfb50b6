"""Automatic screen lock (HIPAA 164.312(a)(2)(iii) automatic logoff; Part 11 §11.200 continuous
session): after `general.idle_lock_min` without keyboard or mouse input the station locks.

While locked: the chair board stays on screen with `hide_patient=True` so alarms stay visible and
audible with nothing but the chair; every other page and open form or dialog is covered, never
closed or cleared, and comes back as it was on unlock. Unlock needs the same user's password
(audited "screen.unlock"; a wrong one is audited and counts toward lockout) or a switch of user.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import access
from nursestation.app.context import Actor
from nursestation.errors import DomainError
from nursestation.ui.station import Station

_log = logging.getLogger(__name__)
ACCOUNT_CHECK_MS = 5_000  # how soon an open window notices that its user was disabled

# Input that counts as "someone is at the station". Timer, paint and device events do not.
ACTIVITY_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
        QEvent.Type.TabletPress,
    }
)


class IdleLock(QObject):
    """Application-wide event filter: every key or mouse event restarts a single-shot timer;
    when it runs out while someone is signed in and the screen is unlocked, `idle` fires."""

    idle = Signal()

    def __init__(
        self, station: Station, parent: QObject | None = None, *, interval_ms: int | None = None
    ) -> None:
        super().__init__(parent)
        self.station = station
        minutes = float(station.ctx.settings.get("general.idle_lock_min"))
        self.idle_min = minutes
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms if interval_ms is not None else int(minutes * 60_000))
        self.timer.timeout.connect(self._on_timeout)
        self.resets = 0  # how many input events restarted the timer (for tests and diagnostics)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        station.locked_changed.connect(self._on_locked)
        station.actor_changed.connect(self.restart)
        self.restart()

    def restart(self) -> None:
        """Start counting idle time from now (unless locked)."""
        if not self.station.locked:
            self.timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY_EVENTS and not self.station.locked:
            self.timer.start()
            self.resets += 1
        return False  # never swallow input

    def _on_locked(self, locked: bool) -> None:
        if locked:
            self.timer.stop()
        else:
            self.timer.start()

    def _on_timeout(self) -> None:
        if self.station.signed_in is not None and not self.station.locked:
            self.idle.emit()


class _Cover(QFrame):
    """An opaque sheet over an open form or dialog: hides its content, keeps it intact."""

    def __init__(self, target: QWidget) -> None:
        super().__init__(target)
        self.setObjectName("lock-cover")
        self.setAutoFillBackground(True)
        self.setStyleSheet("#lock-cover { background: #37474f; }")
        lay = QVBoxLayout(self)
        label = QLabel("Screen locked.\nThis form is kept as it was and returns on unlock.")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("color: white; font-size: 12pt;")
        lay.addWidget(label)
        target.installEventFilter(self)
        self.setGeometry(target.rect())
        self.raise_()
        self.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        parent = self.parentWidget()
        if parent is not None and watched is parent and event.type() == QEvent.Type.Resize:
            self.setGeometry(parent.rect())
            self.raise_()
        return False


class LockDialog(QDialog):
    """The lock screen: the signed-in user's password or "Switch user". It cannot be closed
    any other way (Esc and the window's close button do nothing)."""

    def __init__(
        self,
        locker: ScreenLocker,
        actor: Actor,
        parent: QWidget | None = None,
        reason: str = "manual",
    ) -> None:
        super().__init__(parent)
        self.locker = locker
        self.actor = actor
        self._done = False
        self.setObjectName("lock-dialog")
        self.setWindowTitle("NurseStation — screen locked")
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setMinimumWidth(380)
        lay = QVBoxLayout(self)
        title = QLabel("Screen locked")
        title.setStyleSheet("font-size: 16pt; font-weight: bold;")
        lay.addWidget(title)
        who = QLabel(
            f"Signed in: {actor.full_name} ({actor.username}).\n"
            "Patient details are hidden; the chair board and alarms stay on."
        )
        who.setWordWrap(True)
        lay.addWidget(who)
        disabled = reason == "account_disabled"
        if disabled:
            who.setText(
                f"The account of {actor.full_name} ({actor.username}) has been disabled: it is "
                "signed out. Open forms are kept; another user must sign in to continue."
            )
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(f"Password of {actor.username}")
        self.password.returnPressed.connect(self.try_unlock)
        lay.addWidget(self.password)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        row = QHBoxLayout()
        self.unlock_btn = QPushButton("Unlock")
        self.unlock_btn.setDefault(True)
        self.unlock_btn.clicked.connect(self.try_unlock)
        self.switch_btn = QPushButton("Switch user…")
        self.switch_btn.clicked.connect(self.switch_user)
        row.addWidget(self.unlock_btn)
        row.addWidget(self.switch_btn)
        lay.addLayout(row)
        self.password.setFocus()
        if disabled:
            self.password.setEnabled(False)
            self.unlock_btn.setEnabled(False)
            self.switch_btn.setDefault(True)
            self.switch_btn.setFocus()

    def try_unlock(self) -> None:
        """Unlock with the same user's password; a refusal says why and clears the field."""
        try:
            actor = access.unlock_screen(self.locker.station.ctx, self.actor, self.password.text())
        except DomainError as exc:
            self.error.setText(exc.message)
            self.password.clear()
            return
        self.locker.finish_unlock(actor, switched=False)

    def switch_user(self) -> None:
        """Another user signs in here; the previous user's open forms stay as they were."""
        from nursestation.ui.login import LoginDialog

        dlg = LoginDialog(self.locker.station.ctx, self, title="Switch user")
        if dlg.exec() and dlg.actor is not None:
            access.record_switch(self.locker.station.ctx, self.actor, dlg.actor, while_locked=True)
            self.locker.finish_unlock(dlg.actor, switched=True)

    def finish(self) -> None:
        """Close for good (only the locker calls this, after an unlock)."""
        self._done = True
        self.accept()

    def reject(self) -> None:
        if self._done:
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._done:
            super().closeEvent(event)
        else:
            event.ignore()


class ScreenLocker(QObject):
    """Locks and unlocks one station window. `stack`/`board`: while locked the stack shows the
    board (patient details hidden by the board itself) and goes back to the page it showed."""

    locked = Signal(bool)

    def __init__(
        self,
        station: Station,
        window: QWidget,
        *,
        stack: QStackedWidget | None = None,
        board: QWidget | None = None,
        interval_ms: int | None = None,
    ) -> None:
        super().__init__(window)
        self.station = station
        self.window = window
        self.stack = stack
        self.board = board
        self.idle = IdleLock(station, self, interval_ms=interval_ms)
        self.idle.idle.connect(lambda: self.lock("idle"))
        # A disabled account is signed out of this window within a few seconds, even with no
        # one touching it: the lock screen covers every open form (nothing typed is lost) and
        # only another user can switch in (the disabled user's password is refused).
        self.account_timer = QTimer(self)
        self.account_timer.setInterval(ACCOUNT_CHECK_MS)
        self.account_timer.timeout.connect(self.check_account)
        self.account_timer.start()
        self.dialog: LockDialog | None = None
        self._covers: list[_Cover] = []
        self._page: QWidget | None = None

    def lock(self, reason: str = "manual") -> None:
        """Lock now: audit, hide patient data, cover open forms, show the lock screen."""
        actor = self.station.signed_in
        if actor is None or self.station.locked:
            return
        try:
            access.lock_screen(
                self.station.ctx, actor, reason, self.idle.idle_min if reason == "idle" else None
            )
        except Exception:
            # Hiding patient data matters more than the audit row: lock anyway, say why.
            _log.exception("screen lock could not be audited")
        self._cover_windows()
        if self.stack is not None and self.board is not None:
            self._page = self.stack.currentWidget()
            self.stack.setCurrentWidget(self.board)
        self.station.set_locked(True)
        self.dialog = LockDialog(self, actor, self.window, reason)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        self.locked.emit(True)

    def check_account(self) -> None:
        """Lock (reason "account_disabled") when the signed-in account has been disabled."""
        actor = self.station.signed_in
        if actor is None or self.station.locked:
            return
        try:
            active = access.account_active(self.station.ctx, actor)
        except Exception:  # a database hiccup must not sign anyone out; the next tick retries
            _log.exception("account check failed")
            return
        if not active:
            self.lock("account_disabled")

    def finish_unlock(self, actor: Actor, *, switched: bool) -> None:
        """Everything back as it was; a switched-in user becomes the station's user."""
        for cover in self._covers:
            cover.deleteLater()
            cover.hide()
        self._covers.clear()
        if self.stack is not None and self._page is not None:
            self.stack.setCurrentWidget(self._page)
        self._page = None
        self.station.set_locked(False)
        if switched:
            self.station.set_actor(actor)
        if self.dialog is not None:
            self.dialog.finish()
            self.dialog.deleteLater()
            self.dialog = None
        self.idle.restart()
        self.locked.emit(False)

    def _cover_windows(self) -> None:
        for w in QApplication.topLevelWidgets():
            if w is self.window or not w.isVisible() or not w.isWindow():
                continue
            if w.windowType() in (Qt.WindowType.Popup, Qt.WindowType.ToolTip):
                continue  # menus and tips close by themselves
            if isinstance(w, LockDialog):
                continue
            self._covers.append(_Cover(w))
