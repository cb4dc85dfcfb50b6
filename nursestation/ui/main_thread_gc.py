"""Python's cyclic garbage collector may run in whichever thread happens to allocate; if it frees a
Qt object there (a dialog from a worker's closure, say) Qt crashes. So the GUI turns automatic
collection off and collects on a timer in the GUI thread — the pattern of pyqtgraph's
GarbageCollector, written here so start-up does not import pyqtgraph/numpy."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

# Often enough that a young generation filled by a worker thread (thousands of ORM rows a
# second while a note is built) is collected in slices of a few ms, not one 100 ms+ pause.
INTERVAL_MS = 100


class MainThreadGC(QObject):
    """Owns the timer; create once per QApplication."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(INTERVAL_MS)

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds."""
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            gc.collect(0)
            if c1 > self.threshold[1]:
                gc.collect(1)
                if c2 > self.threshold[2]:
                    gc.collect(2)
