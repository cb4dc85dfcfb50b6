"""Screenshots of every view of the real app on demo data, at one screen size (issue 18).

Usage:
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py OUT_DIR --size 1366x768
(or under `xvfb-run -a` with QT_QPA_PLATFORM=xcb for a real X window).

The demo database (nursestation/app/demo.py) gets one more chair with five alarms and a
flowsheet of a dozen readings, so the session view is shot in its fullest state. Each view is
laid out at the given window size; a view whose minimum size is larger than the window is
reported (the window would then be larger than the screen).

Files: board.png, session-vitals.png, session-medications.png, session-discharge.png,
session-note.png (after "Preview note"), session-note-reading.png (the note's reading view), then one
PNG per dialog (dialog-*.png). A line per file on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ALARM_CHAIR = "4"


def _parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def _seed_alarm_chair(ctx: object, nurse_name: str, password: str) -> int:
    """Chair 4: infusing for 30 min, a reading every 2.5 min, the last one with five values past
    their alarm limits (SBP, DBP, HR, SpO2, RR)."""
    from nursestation.app import sessions, users, vitals
    from nursestation.app.context import AppContext
    from nursestation.app.demo import _checklist
    from nursestation.clock import FakeClock
    from nursestation.dosing import DosingLimits

    assert isinstance(ctx, AppContext)
    real = ctx.clock
    now = real.now()
    fake = FakeClock(now - timedelta(minutes=36))
    ctx.clock = fake
    try:
        nurse = users.authenticate(ctx, nurse_name, password)
        proto = DosingLimits.from_settings(ctx.settings).default_protocol
        s = sessions.check_in(
            ctx,
            nurse,
            mrn="K-1004",
            chair=ALARM_CHAIR,
            protocol=proto,
            checklist=_checklist(ctx),
            ketamine_lot="KET-24-118",
        )
        fake.advance(minutes=3)
        vitals.record_vitals(
            ctx, nurse, s.id, {"sbp": 126, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14}
        )
        fake.advance(minutes=2)
        sessions.start_infusion(ctx, nurse, s.id)
        for i in range(11):
            fake.advance(minutes=2, seconds=30)
            vitals.record_vitals(
                ctx,
                nurse,
                s.id,
                {"sbp": 128 + i, "dbp": 80 + i % 3, "hr": 74 + i % 4, "spo2": 98 - i % 2, "rr": 14},
            )
        fake.set(now - timedelta(seconds=20))
        vitals.record_vitals(
            ctx,
            nurse,
            s.id,
            {"sbp": 212, "dbp": 124, "hr": 142, "spo2": 84, "rr": 6},
            soft_confirmed=True,
        )
        return s.id
    finally:
        ctx.clock = real


def _preview_note(panel: object, settle: Callable[[int], None]) -> None:
    """Press "Preview note" as the nurse would and wait for its pages (rendered on a worker
    thread), so the note tab is shot with a real page in it, not an empty view."""
    from nursestation.ui.note_panel import NotePanel

    assert isinstance(panel, NotePanel)
    done: list[str] = []
    panel.job_finished.connect(done.append)
    panel.preview_btn.click()
    for _ in range(600):  # up to a minute
        if "preview" in done and len(panel.page_view.page_labels()) == len(
            panel.page_view.images()
        ):
            break
        settle(100)
    else:
        raise SystemExit("the note preview did not finish within a minute")


def main(argv: list[str] | None = None) -> int:
    """Shoot every view at the size asked; returns 1 when a view does not fit it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/screenshots"))
    parser.add_argument("--size", default="1366x768", help="window size WxH (default 1366x768)")
    args = parser.parse_args(argv)
    width, height = _parse_size(args.size)

    from PySide6.QtWidgets import QDialog, QWidget

    from nursestation.app.context import AppContext
    from nursestation.app.demo import DEMO_PASSWORD, seed_demo
    from nursestation.app.users import authenticate
    from nursestation.clock import SystemClock
    from nursestation.config import resolve_config
    from nursestation.ui.launch import build_window

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ns-shot-")
    config = resolve_config(tmp, None)
    ctx = AppContext.open(config)
    names = seed_demo(ctx, SystemClock())
    alarm_session = _seed_alarm_chair(ctx, names.nurse, DEMO_PASSWORD)
    ctx.close()
    app, window = build_window(
        config, auto_actor=lambda c: authenticate(c, names.nurse, DEMO_PASSWORD)
    )
    assert window is not None
    too_big: list[str] = []

    def settle(ms: int = 300) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(widget: QWidget, name: str) -> None:
        hint = widget.minimumSizeHint()
        if hint.width() > width or hint.height() > height:
            too_big.append(f"{name}: needs {hint.width()}×{hint.height()}")
        settle()
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        print(
            f"{path}  ({widget.width()}×{widget.height()}, minimum {hint.width()}×{hint.height()})"
        )

    window.resize(width, height)
    window.show()
    settle(1500)
    window.board.refresh()
    shot(window, "board")
    window.open_session(alarm_session)
    view = window.session_view
    for i in range(view.tabs.count()):
        view.tabs.setCurrentIndex(i)
        name = view.tabs.tabText(i).replace("&", "").split()[-1].lower()
        if view.tabs.currentWidget() is view.panels["Session note"]:
            _preview_note(view.panels["Session note"], settle)
        shot(window, f"session-{name}")
        if view.tabs.currentWidget() is view.panels["Session note"]:
            # The note at full height (the reading view under the alarm band), then back.
            note = view.panels["Session note"]
            note.read_btn.click()  # type: ignore[attr-defined]
            shot(window, f"session-{name}-reading")
            note.close_reader()  # type: ignore[attr-defined]
    view.tabs.setCurrentIndex(0)

    def dialog(d: QDialog, name: str) -> None:
        d.show()
        # A dialog opens at its size hint, bounded by the screen (what Qt does on a desktop).
        hint = d.sizeHint()
        d.resize(min(hint.width(), width), min(hint.height(), height))
        shot(d, f"dialog-{name}")
        d.reject()
        d.deleteLater()

    from nursestation.ui.checkin_dialog import CheckInDialog
    from nursestation.ui.vitals_entry import VitalsEntryDialog

    dialog(CheckInDialog(window.station, "5", window), "checkin")
    dialog(VitalsEntryDialog(window.station, alarm_session, window), "vitals")
    view.on_stop()
    assert view.dialog is not None
    dialog(view.dialog, "stop")
    view.on_rate()
    assert view.dialog is not None
    dialog(view.dialog, "rate")
    from nursestation.app.users import authenticate as auth

    admin = auth(window.station.ctx, names.admin, DEMO_PASSWORD)
    window.station.set_actor(admin)
    from nursestation.ui.audit_viewer import AuditViewer
    from nursestation.ui.devices_dialog import DevicesDialog
    from nursestation.ui.export_dialog import ExportDialog
    from nursestation.ui.users_dialog import UsersDialog

    dialog(UsersDialog(window.station, window), "users")
    dialog(AuditViewer(window.station, window), "audit")
    dialog(ExportDialog(window.station, window), "export")
    dialog(DevicesDialog(window.station, window), "monitors")
    window.close()
    app.processEvents()
    if too_big:
        print("Views larger than the window:\n  " + "\n  ".join(too_big))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
