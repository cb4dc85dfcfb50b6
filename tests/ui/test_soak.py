"""The short shift soak (issue 13, "Stays up"): `scripts/soak.py --minutes 3` in its own process.

The real main window on a demo station with simulated monitors, used as a nurse would for three
minutes; the script checks memory, GUI stalls, references to None and that every monitor reading
is stored, and ends with one line of figures. A process that dies (e.g. "none_dealloc") prints no
line and exits non-zero: both are checked here. The hour-long run is on demand (README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import EARLY_STARTED

ROOT = Path(__file__).resolve().parents[2]
MINUTES = 3.0
# Start-up (demo seed, sign-in) and shut-down on a loaded 2-core machine take a minute or two.
TIMEOUT_S = MINUTES * 60 + 420


def _figures(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


class SoakRun:
    """`scripts/soak.py --minutes MINUTES` in its own process, working in `workdir`, its output
    in files there (a pipe nobody reads while the rest of the suite runs could fill up)."""

    def __init__(self, workdir: Path) -> None:
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.started = time.monotonic()
        with open(workdir / "stdout.txt", "w") as out, open(workdir / "stderr.txt", "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "soak.py"), "--minutes", str(MINUTES)],
                stdout=out,
                stderr=err,
                env=env,
                cwd=workdir,
            )

    def finish(self) -> tuple[int, str, str]:
        """Wait for the run (at most TIMEOUT_S from its start): (exit status, stdout, stderr)."""
        try:
            self.proc.wait(timeout=max(1.0, TIMEOUT_S - (time.monotonic() - self.started)))
        finally:
            self.stop()
        out = (self.workdir / "stdout.txt").read_text()
        return self.proc.returncode, out, (self.workdir / "stderr.txt").read_text()

    def stop(self) -> None:
        """End the run if it is still going (a timeout, or the session ended early)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 60)
def test_three_minute_shift_soak_passes(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # The run is the soak's three minutes of real time with little CPU: tests/conftest.py starts
    # it when collection ends (see `start_early` below), so it runs beside the rest of the suite
    # on the second core, and this test waits for its verdict. The figures line records the
    # machine's load. When nothing started it early (run alone, --collect-only,
    # NURSESTATION_EARLY_START=0), it starts here.
    run = request.config.stash.get(EARLY_STARTED, {}).pop(request.node.nodeid, None)
    rc, stdout, stderr = (run or SoakRun(tmp_path)).finish()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("soak: minutes=")]
    tail = stderr[-4000:]
    assert len(lines) == 1, f"no figures line (exit {rc}); stderr:\n{tail}"
    fig = _figures(lines[0])
    print(lines[0])  # the figures, shown with -rP (passed) and in every failure report
    assert rc == 0 and fig["result"] == "PASS", f"{lines[0]}\n{tail}"
    # The figures say what was exercised: not a run that did nothing.
    assert int(fig["readings_sent"]) > 0 and fig["readings_sent"] == fig["readings_stored"]
    # Every chair visited raised its alarm; each was acknowledged (the run may end in between).
    assert int(fig["alarms"]) >= 3 and int(fig["acks"]) >= int(fig["alarms"]) - 1
    assert fig["notes_signed"] == "1"
    assert float(fig["max_stall_ms"]) < 250


test_three_minute_shift_soak_passes.start_early = SoakRun  # type: ignore[attr-defined]


def _load_soak():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import soak
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return soak


def _judged(soak, **changes):  # type: ignore[no-untyped-def]
    """The verdict of a finished run whose figures are all healthy except `changes`."""
    from PySide6.QtWidgets import QApplication

    hook = sys.excepthook
    try:
        s = soak.Soak(QApplication.instance(), 3.0, "pw", "nurse")
    finally:
        sys.excepthook = hook
    s.started = 0.0
    s.warm_at = 60.0
    s.stalls = [3.0] * 1000 + [changes.get("stall", 120.0)]
    s.open_stalls = [changes.get("open", 300.0)]
    s.signin_stalls = [changes.get("signin", 400.0)]
    s.rss = [(60.0 + i * 5, 300.0) for i in range(25)]
    s.rss[-1] = (180.0, 300.0 + changes.get("rss_growth", 1.0))
    s.none_refs = [(60.0, 10_000), (180.0, 10_000 - changes.get("none_fall", 40))]
    sent = 5000
    s.final_readings = (sent, 0, sent - changes.get("lost", 0))
    s.final_frames = (1800, 1800, {})
    s.counts.update(alarms=18, acks=18, vitals_entered=36, notes_signed=1, cycles=6)
    line, ok = s.report()
    return ok, _figures(line)


def test_soak_verdict_at_the_thresholds(qapp) -> None:  # type: ignore[no-untyped-def]
    soak = _load_soak()
    ok, fig = _judged(soak)
    assert ok and fig["result"] == "PASS" and fig["max_stall_ms"] == "120"
    # GUI stall: just inside / at the limit.
    assert _judged(soak, stall=soak.MAX_STALL_MS - 1)[0]
    assert not _judged(soak, stall=soak.MAX_STALL_MS)[0]
    # Opening a chair and signing in, each against its own limit.
    assert _judged(soak, open=soak.MAX_OPEN_MS - 1)[0]
    assert not _judged(soak, open=soak.MAX_OPEN_MS)[0]
    ok, fig = _judged(soak, signin=soak.MAX_OPEN_MS + 100)
    assert ok and fig["max_signin_ms"] == "600" and fig["max_open_ms"] == "300"
    assert not _judged(soak, signin=soak.MAX_SIGNIN_MS)[0]
    # One monitor reading not stored.
    ok, fig = _judged(soak, lost=1)
    assert not ok and fig["readings_stored"] == "4999" and fig["result"] == "FAIL"
    # References to None falling (the PySide6 6.12.0 bug) beyond the tolerance.
    assert _judged(soak, none_fall=soak.MAX_NONE_REFS_FALL)[0]
    assert not _judged(soak, none_fall=soak.MAX_NONE_REFS_FALL + 1)[0]
    # Memory: two minutes after warm-up may add the step allowance plus the hourly rate pro rata.
    allowed = soak.RSS_STEP_MIB + soak.MAX_RSS_GROWTH_MIB_PER_H * 120 / 3600
    assert _judged(soak, rss_growth=allowed - 0.5)[0]
    assert not _judged(soak, rss_growth=allowed + 0.5)[0]


def test_soak_helpers() -> None:
    soak = _load_soak()
    assert soak.percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert soak.percentile([], 99) == 0.0
    assert soak.slope_per_hour([(0.0, 100.0), (1800.0, 110.0), (3600.0, 120.0)]) == 20.0
    assert soak.rss_bytes() > 0
