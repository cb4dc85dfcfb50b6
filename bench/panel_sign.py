"""Signing a session's note from the real NotePanel as a nurse does, for the GUI benches.

The "Sign note…" button is clicked on the event loop, the password dialog is answered by the
bench (the nurse types the password), and the event loop runs until the panel's "sign" job and
every job it started after it (the signed pages shown, the signatures verified) have finished,
then `settle_ms` more. Used by bench/note_gui.py and bench/stream.py (not a benchmark itself).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import PASSWORD  # tests/ on the path first: the benches' nurse


def answer_password(password: str = PASSWORD) -> None:
    """From now on the panel's password dialog is answered with `password` (not shown)."""
    from nursestation.ui import note_panel

    note_panel.ask_password = lambda *a, **k: password


def sign_from_panel(
    panel: Any, settle_ms: int = 1000, timeout_ms: int = 300_000
) -> tuple[float, float]:
    """Click the panel's Sign button and run the event loop until its jobs are done, then
    `settle_ms` more. Returns (seconds from the click until every job had finished, seconds
    in all). Raises SystemExit when the button is disabled or nothing was signed and verified."""
    from PySide6.QtCore import QEventLoop, QTimer

    if not panel.sign_btn.isEnabled():
        raise SystemExit(f"Sign note is disabled: {panel.status.text()}")
    answer_password()
    finished: list[str] = []
    panel.job_finished.connect(finished.append)
    loop = QEventLoop()
    settled: list[float] = []

    def check_done() -> None:
        # Then `settle_ms` more: the signed pages are put on screen a few per turn.
        if "sign" in finished and not panel._jobs and not settled:
            settled.append(time.perf_counter())
            QTimer.singleShot(settle_ms, loop.quit)

    poll = QTimer()
    poll.timeout.connect(check_done)
    t0 = time.perf_counter()
    poll.start(20)
    QTimer.singleShot(0, panel.sign_btn.click)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    poll.stop()
    panel.job_finished.disconnect(finished.append)
    end = time.perf_counter()
    if panel.latest is None or "Verified" not in panel.verify_label.text():
        raise SystemExit(f"the note was not signed and verified: {panel.status.text()}")
    return (settled[0] if settled else end) - t0, end - t0
