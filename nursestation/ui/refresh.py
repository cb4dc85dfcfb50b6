"""When views refresh (issue 19): at most once per turn of the event loop however many timers
and change signals asked, and never while hidden inside a shown window (another page of the main
window, a tab not selected); a hidden view refreshes once when it is shown again.

A widget whose window was never shown (a test, a widget being built) is not "hidden": it
refreshes as asked, so headless use stays synchronous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from nursestation.ui.station import Station


def hidden_in_shown_window(widget: QWidget) -> bool:
    """True when the widget's window is on screen but the widget itself is not."""
    return widget.window().isVisible() and not widget.isVisible()


class _ShowHook(QObject):
    """Runs the deferred refresh of a widget once, on its next Show event."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.pending: Callable[[], None] | None = None
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and self.pending is not None:
            refresh, self.pending = self.pending, None
            QTimer.singleShot(0, refresh)  # after the show completes: the page paints first
        return False


def defer_while_hidden(widget: QWidget, refresh: Callable[[], None]) -> bool:
    """Call at the top of a view's refresh: True when the view is hidden in a shown window, in
    which case `refresh` runs once when the view is shown again (the caller returns at once)."""
    if not hidden_in_shown_window(widget):
        return False
    hook = widget.findChild(_ShowHook)
    if hook is None:
        hook = _ShowHook(widget)
    hook.pending = refresh
    return True


class Coalescer(QObject):
    """`request()` from any number of timers and signals runs `fn` once on the next turn of the
    event loop (a board tick and a change notice arriving together cost one refresh)."""

    def __init__(self, parent: QObject, fn: Callable[[], None]) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(fn)

    def request(self, *_args: object) -> None:
        """Ask for one run soon (extra arguments of the connected signal are ignored)."""
        if not self._timer.isActive():
            self._timer.start()

    def cancel(self) -> None:
        """A full refresh has just run: what was asked is done."""
        self._timer.stop()


# How often the GUI looks for other stations' commits (issue 15: a change shows within 2 s).
# One look costs a few microseconds when nothing changed (db/changes.py).
CHANGE_POLL_MS = 500


class ChangeListener(QObject):
    """Every CHANGE_POLL_MS, looks for commits by other stations (AppContext.poll_changes) and
    emits the station's `changed` when something beyond the monitor stream was committed since
    the last emission, wherever it was seen (a transaction's start sees it too). The views then
    re-read as after this station's own writes; monitor-stream rows need no notice, the views
    that show them read every second."""

    def __init__(self, station: Station, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self._seen = station.ctx.changes_seen
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(CHANGE_POLL_MS)

    def check(self) -> bool:
        """Look now; True when `changed` was emitted."""
        ctx = self.station.ctx
        ctx.poll_changes()
        if ctx.changes_seen == self._seen:
            return False
        self._seen = ctx.changes_seen
        self.station.changed.emit()
        return True

    def stop(self) -> None:
        """Stop looking (the window is closing)."""
        self._timer.stop()
