"""CPU of an idle station: the real main window signed in on the demo data (three live
sessions, no monitor), nobody touching it, for --seconds after a warm-up. What it costs to sit
there: the board's 1 s tick, the session timers, and (issue 15) the change listener looking for
other stations' commits twice a second and every transaction's look at its start.

Usage: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/idle_station.py [--seconds 30] [--runs 3]
Compare trees by the package on the path, e.g. before/after a change:
  PYTHONPATH=/work/main   .venv/bin/python bench/idle_station.py
  PYTHONPATH=/work/wt-sync .venv/bin/python bench/idle_station.py

Prints one line per run: CPU seconds of the process over the window and as % of one core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUN = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from nursestation.app.context import AppContext
from nursestation.app.demo import DEMO_PASSWORD, DemoUsers
from nursestation.app.users import authenticate
from nursestation.config import resolve_config
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

data_dir, warm, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
app = QApplication(sys.argv[:1])
config = resolve_config(data_dir, f"sqlite:///{data_dir}/demo.sqlite3")
ctx = AppContext.open(config)
st = Station(ctx)
st.set_actor(authenticate(ctx, DemoUsers().nurse, DEMO_PASSWORD))
w = MainWindow(st)
w.show()
marks = {}
def start():
    marks["cpu"], marks["wall"] = time.process_time(), time.monotonic()
def stop():
    cpu, wall = time.process_time() - marks["cpu"], time.monotonic() - marks["wall"]
    print(f"cpu_s={cpu:.3f} wall_s={wall:.1f} cpu_pct={100 * cpu / wall:.2f}", flush=True)
    app.quit()
QTimer.singleShot(int(warm * 1000), start)
QTimer.singleShot(int((warm + seconds) * 1000), stop)
app.exec()
"""


def seed(data_dir: Path) -> None:
    from nursestation.app.context import AppContext
    from nursestation.app.demo import seed_demo
    from nursestation.clock import SystemClock
    from nursestation.config import resolve_config

    ctx = AppContext.open(resolve_config(str(data_dir), f"sqlite:///{data_dir}/demo.sqlite3"))
    seed_demo(ctx, SystemClock())
    ctx.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warm", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import nursestation

    print(f"package: {Path(nursestation.__file__).parent}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nursestation-idle-") as tmp:
        data = Path(tmp) / "data"
        seed(data)
        for _ in range(args.runs):
            subprocess.run(
                [sys.executable, "-c", RUN, str(data), str(args.warm), str(args.seconds)],
                check=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
