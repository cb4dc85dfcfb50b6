"""Start-up benchmark: process start → main window shown, against a bare PySide6 window measured
in the same run. Target: ratio ≤ 2×.

Usage: .venv/bin/python bench/startup.py [--runs 7]
Both sides run offscreen in fresh processes; the app side opens a prepared data directory (users
and demo sessions exist, migrations at head) and signs in without the dialog. The Argon2id password
check (~0.3–0.4 s, memory-hard by design) is left out: at a real station it runs after the nurse
has typed the password, not during start-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BARE = """
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1280, 800); w.show(); app.processEvents()
print("shown", flush=True)
"""

APP = """
import sys
from sqlalchemy import select
from nursestation.app.users import actor_of
from nursestation.config import resolve_config
from nursestation.db.models import User
from nursestation.ui.launch import build_window

def signed_in(ctx):
    with ctx.tx() as s:
        return actor_of(s.execute(select(User).where(User.username == "demo.nurse")).scalar_one())

config = resolve_config(sys.argv[1], None)
app, w = build_window(config, auto_actor=signed_in)
w.show(); app.processEvents()
print("shown", flush=True)
heavy = [m for m in ("reportlab", "pyhanko", "pyqtgraph", "numpy") if m in sys.modules]
print("heavy modules loaded at start:", ", ".join(heavy) or "none", file=sys.stderr)
"""

PREPARE = """
import sys
from nursestation.app.context import AppContext
from nursestation.app.demo import seed_demo
from nursestation.clock import SystemClock
from nursestation.config import resolve_config
ctx = AppContext.open(resolve_config(sys.argv[1], None))
seed_demo(ctx, SystemClock())
ctx.close()
"""


def _time(code: str, *args: str) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    elapsed = time.perf_counter() - t0
    if "shown" not in proc.stdout:
        raise RuntimeError(proc.stderr)
    return elapsed, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as data:
        subprocess.run([sys.executable, "-c", PREPARE, data], check=True)
        _time(BARE)  # warm the file cache for both sides
        _time(APP, data)
        bare, app, note = [], [], ""
        for _ in range(runs):
            bare.append(_time(BARE)[0])
            elapsed, note = _time(APP, data)
            app.append(elapsed)
    b, a = statistics.median(bare), statistics.median(app)
    print(f"bare PySide6 window : median {b * 1000:7.1f} ms  (min {min(bare) * 1000:.1f})")
    print(f"NurseStation window : median {a * 1000:7.1f} ms  (min {min(app) * 1000:.1f})")
    print(f"ratio               : {a / b:.2f}x  (target <= 2.0x)")
    print(note)


if __name__ == "__main__":
    main()
