"""Kill the running app with SIGKILL mid-infusion, start it again: the timer, the phase and the
delivered dose are exactly right, because they are derived from the stored events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import sessions
from nursestation.app.context import AppContext
from nursestation.app.users import authenticate
from nursestation.clock import FakeClock
from nursestation.config import resolve_config
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from datetime import date
    from PySide6.QtCore import QTimer
    from nursestation.app import patients, sessions, vitals
    from nursestation.app.context import AppContext
    from nursestation.app.users import authenticate, provision_user
    from nursestation.config import resolve_config
    from nursestation.dosing import Protocol
    from nursestation.ui.launch import build_window

    config = resolve_config(sys.argv[1], None)
    checklist = json.loads(sys.argv[2])
    password = sys.argv[3]
    ctx = AppContext.open(config)
    provision_user(ctx, username="rn.ana", full_name="Ana", roles={"nurse"}, password=password)
    nurse = authenticate(ctx, "rn.ana", password)
    patients.register_patient(ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2),
                              weight_kg=70, sex="female", reproductive_potential=True)
    s = sessions.check_in(ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0),
                          checklist=checklist)
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
    sessions.start_infusion(ctx, nurse, s.id)
    time.sleep(0.3)
    sessions.pause_infusion(ctx, nurse, s.id, "nausea")
    time.sleep(0.2)
    sessions.change_rate(ctx, nurse, s.id, 30.0, "slower after nausea")
    sessions.resume_infusion(ctx, nurse, s.id)
    ctx.close()
    app, window = build_window(config, auto_actor=lambda c: authenticate(c, "rn.ana", password))
    window.show()
    window.open_session(s.id)
    def announce():
        print(json.dumps({"session": s.id}), flush=True)
    QTimer.singleShot(300, announce)
    app.exec()
    """
)


@pytest.mark.slow
def test_sigkill_mid_infusion_then_restart_shows_the_same_state(qtbot, tmp_path: Path) -> None:
    data = tmp_path / "station"
    errlog = (tmp_path / "app-stderr.txt").open("w")  # a file, not a pipe: a full pipe would block Qt
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), json.dumps(CHECKLIST_OK), PASSWORD],
        stdout=subprocess.PIPE,
        stderr=errlog,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:  # the app died before showing its window: say why
        proc.kill()
        proc.wait(timeout=10)
        errlog.close()
        raise AssertionError("the app did not start: " + (tmp_path / "app-stderr.txt").read_text()[-2000:])
    session_id = json.loads(line)["session"]
    os.kill(proc.pid, signal.SIGKILL)  # mid-infusion, window open, timers running
    proc.wait(timeout=10)
    errlog.close()

    config = resolve_config(str(data), None)
    probe = AppContext.open(config)
    nurse = authenticate(probe, "rn.ana", PASSWORD)
    events = sessions.get_summary(probe, nurse, session_id).events
    probe.close()
    start, pause, _rate, resume = events
    assert [e.kind for e in events] == ["start", "pause", "rate_change", "resume"]

    # Independent arithmetic from the stored event times, at a chosen instant after the restart.
    check_at = resume.at + timedelta(minutes=7, seconds=30)
    running_s = (pause.at - start.at).total_seconds() + (check_at - resume.at).total_seconds()
    expected_mg = 52.5 * (pause.at - start.at).total_seconds() / 3600 + 30.0 * (
        check_at - resume.at
    ).total_seconds() / 3600

    clock = FakeClock(check_at)
    ctx = AppContext.open(config, clock=clock)
    station = Station(ctx)
    station.set_actor(authenticate(ctx, "rn.ana", PASSWORD))
    window = MainWindow(station)
    qtbot.addWidget(window)
    window.open_session(session_id)
    state = sessions.get_summary(ctx, station.actor, session_id).state
    assert state.phase == "infusing"
    assert state.infused_s == pytest.approx(running_s, abs=1e-6)
    assert state.delivered_mg == pytest.approx(expected_mg, abs=1e-9)
    shown = window.session_view.big.text()
    mm, ss = divmod(int(running_s), 60)
    assert shown.startswith(f"{mm} min {ss:02d} s infused")
    assert window.session_view.phase.text() == "INFUSING"
    assert f"Delivered {expected_mg:.1f} of 35 mg" in window.session_view.detail.text()
    with ctx.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    ctx.close()
    assert isinstance(start.at, datetime)
