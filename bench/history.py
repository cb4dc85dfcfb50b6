"""Costs that must not grow with a session's history: board refresh, session open and the ingest
of one monitor second for all chairs, at 1 h and at 4 h of 1 Hz data (12 chairs, half infusing,
half in observation; see bench/history_data.py). The 1 h station is the baseline of the same run:
both stations are built first, then every cost is measured on them in alternation (1 h, 4 h,
1 h, …; medians), as the issue measured its ratios, so the load of a shared machine moves both.

Usage: PYTHONPATH=. .venv/bin/python bench/history.py [--hours 1,4] [--repeat 15]
Last line: `history: … ratio R (goal 1.5)`, R the worst 4 h / 1 h ratio of the three costs.

- board refresh: app.board.board_cards (what ui/board.py runs every second), 12 chairs;
- session open: what the GUI does when a nurse opens a chair, on the real widgets (offscreen):
  `SessionView.set_session` (the header and every tab's reads and rendering: Vitals, Medications,
  Discharge, Session note) then one `processEvents()`, which lays out and paints the view with
  the Vitals tab on top (flowsheet table and trend chart), alternating between two chairs in
  observation (the discharge-readiness check runs for them), wall and CPU time; shown beside
  it, the use-case reads alone (summary + discharge status; the Vitals tab's first read) and
  the trend's older part that the Vitals tab reads after the open, a page per event-loop turn
  (total and longest page);
- ingest: one monitor second for all 12 chairs (app.devices.ingest_batches when present, else
  12 calls of ingest_readings), through the real path with the alarm evaluation.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from history_data import CHAIRS, PORT, PROTOCOL, Clinic, build

from nursestation.app import board, devices, discharge, sessions
from nursestation.app import vitals as vitals_service
from nursestation.devices.reading import VALID, make_reading

GOAL = 1.5


def monitor_second(c: Clinic) -> list[tuple[str, str, str, list]]:
    host = c.clock.now()
    out = []
    for chair in CHAIRS:
        readings = [
            make_reading(PROTOCOL, p, v, VALID, None, host, host, f"EQ{chair}")
            for p, v in (("hr", 75), ("spo2", 97), ("pulse_rate", 75), ("rr", 14))
        ]
        out.append((chair, PORT, PROTOCOL, readings))
    return out


def ingest_second(c: Clinic) -> None:
    c.clock.advance(seconds=1)
    batches = monitor_second(c)
    if hasattr(devices, "ingest_batches"):
        devices.ingest_batches(c.ctx, batches)
    else:
        for chair, port, protocol, readings in batches:
            devices.ingest_readings(c.ctx, chair, port, protocol, readings)


class Gui:
    """The real session view of a signed-in nurse, on screen (offscreen platform)."""

    def __init__(self, c: Clinic) -> None:
        from PySide6.QtWidgets import QApplication

        from nursestation.ui.session_view import SessionView
        from nursestation.ui.station import Station

        self.app = QApplication.instance() or QApplication([])
        self.station = Station(c.ctx)
        self.station.set_actor(c.nurse)
        self.view = SessionView(self.station)
        self._turn = [c.sessions["2"], c.sessions["4"]]  # both in observation
        self.view.resize(1400, 1000)
        self.view.show()
        self.app.processEvents()

    def turn(self) -> int:
        """The next chair to open: the two chairs in observation in turn."""
        self._turn.reverse()
        return self._turn[0]

    def open(self, sid: int) -> None:
        """What opening a chair costs until the view is painted."""
        self.view.set_session(sid)
        self.app.processEvents()

    def history(self) -> tuple[float, float, int]:
        """Run the Vitals tab's pending trend-history pages now (what its timer would do after
        the open): total seconds, longest page, pages."""
        panel: Any = self.view.panels["Vitals"]
        pages = []
        while getattr(panel, "history_pending", False):
            t0 = time.perf_counter()
            panel._history_step(panel._generation)
            pages.append(time.perf_counter() - t0)
        return sum(pages), max(pages, default=0.0), len(pages)

    def close(self) -> None:
        self.view.set_session(None)
        self.view.deleteLater()
        self.app.processEvents()


def session_header(c: Clinic, sid: int) -> None:
    sessions.get_summary(c.ctx, c.nurse, sid)
    discharge.get_status(c.ctx, c.nurse, sid)


def vitals_tab(c: Clinic, sid: int) -> None:
    try:  # the Vitals tab's reads since the flowsheet model (ui/vitals_panel.py)
        from nursestation.app.flowsheet import flowsheet_since
    except ImportError:  # before it: the whole flowsheet and the trend data
        vitals_service.flowsheet(c.ctx, c.nurse, sid)
        vitals_service.trend_data(c.ctx, c.nurse, sid)
        return
    try:  # since the bounded first open: the newest half hour only
        from nursestation.app.flowsheet import flowsheet_open
    except ImportError:
        flowsheet_since(c.ctx, c.nurse, sid, 0)
    else:
        flowsheet_open(c.ctx, c.nurse, sid)
    vitals_service.chart_markers(c.ctx, c.nurse, sid)


def paired_opens(guis: list[Gui], repeat: int) -> list[tuple[float, float]]:
    """Session opens of each station in alternation (1 h, 4 h, 1 h, 4 h, …), as the issue
    measured its ratios, so a change in the machine's load touches both alike: per station the
    median wall and CPU seconds of `repeat` opens (each switches between its two chairs; the
    other station's view is hidden meanwhile, so its timers read nothing)."""
    walls: list[list[float]] = [[] for _ in guis]
    cpus: list[list[float]] = [[] for _ in guis]
    for round_ in range(repeat + 1):  # the first round warms up
        for k, gui in enumerate(guis):
            gui.view.show()
            gui.app.processEvents()
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            gui.open(gui.turn())
            w1, c1 = time.perf_counter(), time.process_time()
            gui.view.hide()
            if round_:
                walls[k].append(w1 - w0)
                cpus[k].append(c1 - c0)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def paired(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median wall seconds of `repeat` calls of each function, called in alternation (one
    warm-up round first), so the machine's load moves all of them alike."""
    out: list[list[float]] = [[] for _ in fns]
    for round_ in range(repeat + 1):
        for k, fn in enumerate(fns):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            if round_:
                out[k].append(time.perf_counter() - t0)
    return [statistics.median(x) for x in out]


def measure(
    clinics: list[Clinic], guis: list[Gui], repeat: int, open_repeat: int
) -> tuple[list[dict[str, float]], list[int]]:
    """Every figure of both stations, each cost measured in alternating pairs; and how many
    pages each station's trend history took."""
    sids = [c.sessions["2"] for c in clinics]  # in observation: the readiness check runs
    opened = paired_opens(guis, open_repeat)
    res: list[dict[str, float]] = [{} for _ in clinics]

    def put(name: str, values: list[float]) -> None:
        for r, v in zip(res, values, strict=True):
            r[name] = v

    both = list(zip(clinics, sids, strict=True))
    put("board refresh", paired([_bind(board.board_cards, c) for c in clinics], repeat))
    put("session open", [o[0] for o in opened])
    put("  session open, CPU", [o[1] for o in opened])
    put(
        "  use cases: summary + discharge status",
        paired([_bind(session_header, c, sid) for c, sid in both], repeat),
    )
    put(
        "  use cases: Vitals tab first read",
        paired([_bind(vitals_tab, c, sid) for c, sid in both], open_repeat),
    )
    pages_of: list[int] = []
    for r, gui, sid in zip(res, guis, sids, strict=True):
        gui.view.show()
        gui.open(sid)
        total, longest, pages = gui.history()
        gui.view.hide()
        r["  after the open: trend history, all pages"] = total
        r["  after the open: trend history, longest page"] = longest
        pages_of.append(pages)
    put("ingest 12 chairs", paired([_bind(ingest_second, c) for c in clinics], repeat))
    return res, pages_of


def _bind(fn: Callable[..., object], c: Clinic, *args: object) -> Callable[[], object]:
    if fn is board.board_cards:
        return lambda: fn(c.ctx, c.nurse)
    return lambda: fn(c, *args)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", default="1,4", help="baseline,compared (hours of history)")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--open-repeat", type=int, default=9)
    args = ap.parse_args()
    base_h, cmp_h = (float(h) for h in args.hours.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        clinics, made = [], []
        for h in (base_h, cmp_h):
            t0 = time.perf_counter()
            clinics.append(build(str(Path(tmp) / f"{h:g}h"), h))
            made.append(time.perf_counter() - t0)
        guis = [Gui(c) for c in clinics]
        (base, comp), pages_of = measure(clinics, guis, args.repeat, args.open_repeat)
        for gui, c in zip(guis, clinics, strict=True):
            gui.close()
            c.ctx.close()
    for h, m, r, pages in zip((base_h, cmp_h), made, (base, comp), pages_of, strict=True):
        print(
            f"{h:g} h of 1 Hz data × 12 chairs (built in {m:.1f} s): "
            + ", ".join(f"{k.strip()} {v * 1000:.1f} ms" for k, v in r.items())
            + f" (trend history in {pages} pages)",
            flush=True,
        )
    ratios = {k: comp[k] / base[k] for k in base if not k.startswith(" ")}
    for k in base:
        r = comp[k] / base[k] if base[k] else float("inf")
        print(
            f"  {k}: {comp[k] * 1000:.1f} ms at {cmp_h:g} h / {base[k] * 1000:.1f} ms at "
            f"{base_h:g} h = {r:.2f}×"
        )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1/5/15 min)"
    )
    worst = max(ratios, key=lambda k: ratios[k])
    print(
        f"history: board refresh {comp['board refresh'] * 1000:.1f} ms, session open "
        f"{comp['session open'] * 1000:.0f} ms, ingest {comp['ingest 12 chairs'] * 1000:.1f} ms "
        f"at {cmp_h:g} h; worst {cmp_h:g}h/{base_h:g}h ({worst}) ratio {ratios[worst]:.2f} "
        f"(goal {GOAL})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
