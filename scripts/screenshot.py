"""Take screenshots of the real app on demo data (for the README and for review).

Usage: QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py OUT_DIR
(or under xvfb-run with QT_QPA_PLATFORM=xcb for a real X window).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out: Path) -> None:
    from PySide6.QtCore import QTimer

    from nursestation.app.context import AppContext
    from nursestation.app.demo import DEMO_PASSWORD, seed_demo
    from nursestation.app.users import authenticate
    from nursestation.clock import SystemClock
    from nursestation.config import resolve_config
    from nursestation.ui.launch import build_window

    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ns-shot-")
    config = resolve_config(tmp, None)
    ctx = AppContext.open(config)
    names = seed_demo(ctx, SystemClock())
    ctx.close()
    app, window = build_window(
        config, auto_actor=lambda c: authenticate(c, names.nurse, DEMO_PASSWORD)
    )
    assert window is not None
    window.resize(1280, 800)
    window.show()
    from nursestation.ui.device_bridge import start_demo_monitors

    window.demo_monitors = start_demo_monitors(window.station, bridge=window.device_bridge, speed=1.0)

    def board() -> None:
        window.grab().save(str(out / "board.png"))
        window.open_chair("2")
        QTimer.singleShot(1500, session)

    def session() -> None:
        window.grab().save(str(out / "session.png"))
        for i, name in enumerate(("medications", "discharge", "note"), start=1):
            window.session_view.tabs.setCurrentIndex(i)
            app.processEvents()
            window.grab().save(str(out / f"session-{name}.png"))
        window.close()
        app.quit()

    QTimer.singleShot(6000, board)  # let the simulated monitors deliver a few frames
    app.exec()
    print(f"saved {out / 'board.png'} and {out / 'session.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
