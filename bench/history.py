"""Costs that must not grow with a session's history: board refresh, session open and the ingest
of one monitor second for all chairs, at 1 h and at 4 h of 1 Hz data (12 chairs, half infusing,
half in observation; see bench/history_data.py). The 1 h station is the baseline of the same run.

Usage: PYTHONPATH=. .venv/bin/python bench/history.py [--hours 1,4] [--repeat 15]
Last line: `history: … ratio R (goal 1.5)`, R the worst 4 h / 1 h ratio of the three costs.

- board refresh: app.board.board_cards (what ui/board.py runs every second), 12 chairs;
- session open: the use-case reads the session view makes on open (summary, discharge status,
  flowsheet and trend data of the vitals tab) for one chair in observation, also shown split in
  its two parts; the widgets' own cost is the flowsheet bench's;
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from history_data import CHAIRS, PORT, PROTOCOL, Clinic, build

from nursestation.app import board, devices, discharge, sessions
from nursestation.app import vitals as vitals_service
from nursestation.devices.reading import VALID, make_reading

GOAL = 1.5


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


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


def session_open(c: Clinic, sid: int) -> None:
    session_header(c, sid)
    vitals_tab(c, sid)


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
    flowsheet_since(c.ctx, c.nurse, sid, 0)
    vitals_service.chart_markers(c.ctx, c.nurse, sid)


def measure(hours: float, repeat: int, open_repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        c = build(tmp, hours)
        made = time.perf_counter() - t0
        sid = c.sessions["2"]  # in observation: the discharge-readiness check runs for it
        res = {
            "board refresh": timed(lambda: board.board_cards(c.ctx, c.nurse), repeat),
            "session open": timed(lambda: session_open(c, sid), open_repeat),
            "  of which summary + discharge status": timed(lambda: session_header(c, sid), repeat),
            "  of which Vitals tab reads": timed(lambda: vitals_tab(c, sid), open_repeat),
            "ingest 12 chairs": timed(lambda: ingest_second(c), repeat),
        }
        c.ctx.close()
    print(
        f"{hours:g} h of 1 Hz data × 12 chairs (built in {made:.1f} s): "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in res.items()),
        flush=True,
    )
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", default="1,4", help="baseline,compared (hours of history)")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--open-repeat", type=int, default=3)
    args = ap.parse_args()
    base_h, cmp_h = (float(h) for h in args.hours.split(","))
    base = measure(base_h, args.repeat, args.open_repeat)
    comp = measure(cmp_h, args.repeat, args.open_repeat)
    ratios = {k: comp[k] / base[k] for k in base if not k.startswith(" ")}
    for k in base:
        r = comp[k] / base[k]
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
