"""When views refresh (issue 19): at most once per turn of the event loop however many timers
and change signals asked, and never while hidden inside a shown window (another page of the main
window, a tab not selected); a hidden view refreshes once when it is shown again.

A widget whose window was never shown (a test, a widget being built) is not "hidden": it
refreshes as asked, so headless use stays synchronous.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


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
