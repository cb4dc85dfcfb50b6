"""The running station's housekeeping: the daily backup and the audit trail's witness
(app/backup.DailyBackup), driven by a timer. A failed backup is shown in the status bar and
logged; it never interrupts the nurse."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from nursestation.app.backup import DailyBackup

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

    from nursestation.app.context import AppContext

TICK_MS = 10 * 60 * 1000  # a backup is due once a day; looking every 10 min is plenty
FIRST_TICK_MS = 2 * 60 * 1000  # not while the station is starting up


class Maintenance(QObject):
    """Starts the daily backup when due (in a background thread) and reports failures."""

    def __init__(self, ctx: AppContext, window: QMainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.daily = DailyBackup(ctx)
        self._reported: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        QTimer.singleShot(FIRST_TICK_MS, self.tick)

    def tick(self) -> None:
        """Start a due backup; show the previous one's failure once."""
        error = self.daily.last_error
        if error and error != self._reported:
            self._reported = error
            self._window.statusBar().showMessage(
                f"The automatic backup failed: {error} Tell the clinic's IT."
            )
        self.daily.tick()
