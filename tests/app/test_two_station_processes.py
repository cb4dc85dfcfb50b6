"""Two station PROCESSES on one PostgreSQL database (issue 15, "Must show"): each is its own
Python process with its own AppContext (tests/station_process.py), as two workstations are.

- both record vital signs for different chairs at the same time: nothing is lost;
- both change one session on the same version: exactly one wins, the other gets the clear
  "changed at another station" refusal naming who, where and when;
- a station sees the other's change within 2 seconds, as its screens would;
- an alarm raised at A is shown and acknowledged at B, and the acknowledgement survives B's
  restart;
- a note signed at A verifies at B and is in B's administrator export.

Each station has its own data directory: the clinic CA and the users' keys come from the
database. A new check is a command in tests/station_process.py COMMANDS and a test here.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select
from stations import sync_pg_url  # noqa: F401 - the fixture is used by name
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import AppContext
from nursestation.clock import SystemClock
from nursestation.config import StationConfig
from nursestation.db.models import AlarmEvent, AuditEvent, VitalReading
from nursestation.dosing import Protocol

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
ANSWER_TIMEOUT_S = 120.0
ENTRIES = 25  # vital-sign entries per station, stored concurrently


class StationProcess:
    """A running tests/station_process.py: `ask(cmd, **args)` sends one command and returns
    its answer (the process answers in order)."""

    def __init__(self, url: str, name: str, data_dir: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "station_process.py"), url, name, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        ready = self.answer()
        assert ready == {"ok": True, "ready": name}, ready

    def send(self, cmd: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], ANSWER_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"station {self.name} gave no answer: {err[-3000:]}")
        out = json.loads(line)
        assert out.get("code") != "crash", out
        return out

    def ask(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.send(cmd, **args)
        return self.answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _seed(url: str, data_dir: Path) -> dict[str, Any]:
    """Users, and two patients each in a chair with the infusion running (real clock: the
    station processes use it too)."""
    ctx = AppContext.open(StationConfig(data_dir, url, "set-up"), clock=SystemClock())
    try:
        for username, name, role in (
            ("rn.ana", "Ana Ruiz, RN", "nurse"),
            ("cn.ben", "Ben Ode, RN", "charge_nurse"),
            ("ad.dana", "Dana Admin", "administrator"),
        ):
            users.provision_user(
                ctx, username=username, full_name=name, roles={role}, password=PASSWORD
            )
        nurse = users.authenticate(ctx, "rn.ana", PASSWORD)
        sids = {}
        for chair, mrn, name in (("1", "K-1", "Doe, Jane"), ("2", "K-2", "Roe, Rick")):
            patients.register_patient(
                ctx, nurse, mrn=mrn, name=name, dob=date(1985, 4, 2), weight_kg=70
            )
            sid = sessions.check_in(
                ctx, nurse, mrn=mrn, chair=chair, protocol=Protocol(0.5, 40, 1.0),
                checklist=CHECKLIST_OK,
            ).id  # fmt: skip
            vitals.record_vitals(
                ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
            )
            sessions.start_infusion(ctx, nurse, sid)
            sids[chair] = sid
        return sids
    finally:
        ctx.close()


@pytest.fixture
def stations(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Stations A (nurse Ana) and B (charge nurse Ben) as processes on one fresh database."""
    url = request.getfixturevalue("sync_pg_url")
    # A data directory per station, as on two machines: the clinic CA (made by the set-up)
    # and the users' signing keys are read from the database.
    sids = _seed(url, tmp_path / "set-up")
    data = tmp_path / "data"  # the checker's
    a = StationProcess(url, "station-A", tmp_path / "a")
    b = StationProcess(url, "station-B", tmp_path / "b")
    try:
        assert a.ask("sign_in", username="rn.ana", password=PASSWORD)["ok"]
        assert b.ask("sign_in", username="cn.ben", password=PASSWORD)["ok"]
        yield {"a": a, "b": b, "sids": sids, "url": url, "data": data, "tmp": tmp_path}
    finally:
        a.close()
        b.close()


def _reading(i: int) -> dict[str, Any]:
    return {"sbp": 110 + i % 20, "dbp": 70 + i % 10, "hr": 60 + i % 30, "spo2": 95 + i % 5}


def test_both_stations_record_vitals_at_once_and_nothing_is_lost(stations) -> None:
    a, b, sids = stations["a"], stations["b"], stations["sids"]
    readings = [_reading(i) for i in range(ENTRIES)]
    # Both commands are sent before either answer is read: the two processes store at once.
    a.send("record_vitals", session_id=sids["1"], readings=readings)
    b.send("record_vitals", session_id=sids["2"], readings=readings)
    got_a, got_b = a.answer(), b.answer()
    assert got_a["ok"] and got_b["ok"], (got_a, got_b)
    assert len(set(got_a["ids"])) == len(set(got_b["ids"])) == ENTRIES
    ctx = AppContext.open(StationConfig(stations["data"], stations["url"], "checker"))
    try:
        with ctx.read_tx() as s:
            for chair, ids in (("1", got_a["ids"]), ("2", got_b["ids"])):
                stored = list(
                    s.execute(
                        sql_select(VitalReading.id, VitalReading.sbp, VitalReading.hr)
                        .where(VitalReading.session_id == sids[chair])
                        .order_by(VitalReading.id)
                    )
                )
                assert len(stored) == ENTRIES + 1  # the baseline and every entry
                entered = [(r.sbp, r.hr) for r in stored if r.id in set(ids)]
                assert entered == [(r["sbp"], r["hr"]) for r in readings]
            by_station = dict(
                s.execute(
                    sql_select(AuditEvent.station, func.count(AuditEvent.id))
                    .where(AuditEvent.action.like("vitals.%"))
                    .group_by(AuditEvent.station)
                ).all()
            )
    finally:
        ctx.close()
    assert by_station.get("station-A") == ENTRIES and by_station.get("station-B") == ENTRIES
    assert stations  # both processes still answer
    assert (
        a.ask("summary", session_id=sids["1"])["ok"]
        and b.ask("summary", session_id=sids["2"])["ok"]
    )


def test_both_stations_change_one_session_and_exactly_one_wins(stations) -> None:
    a, b, sids = stations["a"], stations["b"], stations["sids"]
    sid = sids["1"]
    va = a.ask("summary", session_id=sid)["version"]
    vb = b.ask("summary", session_id=sid)["version"]
    assert va == vb
    a.send("change_rate", session_id=sid, rate=45, reason="nausea", expected_version=va)
    b.send("change_rate", session_id=sid, rate=40, reason="titration", expected_version=vb)
    answers = {"A": a.answer(), "B": b.answer()}
    winners = [k for k, v in answers.items() if v["ok"]]
    assert len(winners) == 1, answers
    winner, loser = winners[0], "B" if winners[0] == "A" else "A"
    refused = answers[loser]
    assert refused["code"] == "changed_elsewhere"
    who = "Ana Ruiz, RN" if winner == "A" else "Ben Ode, RN"
    assert f"at another station (station-{winner})" in refused["message"], refused
    assert f"{who} changed the rate at " in refused["message"]
    assert "What you entered is kept" in refused["message"]
    rate = {"A": 45, "B": 40}[winner]
    for station in (a, b):
        assert station.ask("summary", session_id=sid)["rate"] == pytest.approx(rate)


def test_a_station_sees_the_others_change_within_two_seconds(stations) -> None:
    a, b, sids = stations["a"], stations["b"], stations["sids"]
    a.send("wait_change", timeout_s=5.0)
    import time

    time.sleep(1.0)  # A is looking
    assert b.ask("record_vitals", session_id=sids["2"], readings=[_reading(1)])["ok"]
    seen = a.answer()["seen_after_s"]
    assert seen is not None and seen - 1.0 <= 2.0, seen


def test_alarm_raised_at_a_is_acknowledged_at_b_and_survives_b_restart(stations) -> None:
    """Issue 15 Must show: SBP 215 entered at A raises the alarms at B too; B acknowledges;
    A shows B's acknowledgement; B restarted (a new process) still shows it."""
    a, b, sids = stations["a"], stations["b"], stations["sids"]
    assert b.ask("chair_alarms", chair="1")["alarms"] == []
    high_bp = {"sbp": 215, "dbp": 100, "hr": 76, "spo2": 98, "rr": 14}
    assert a.ask("record_confirmed", session_id=sids["1"], reading=high_bp)["ok"]
    at_a = a.ask("chair_alarms", chair="1")
    ids = {x["id"] for x in at_a["alarms"]}
    assert {x["priority"] for x in at_a["alarms"]} == {"high", "medium", "low"}
    at_b = b.ask("chair_alarms", chair="1")
    assert {x["id"] for x in at_b["alarms"]} == ids and at_b["audio_on"]
    assert set(b.ask("acknowledge_alarm", chair="1")["acknowledged"]) == ids
    at_a = a.ask("chair_alarms", chair="1")
    assert {x["acknowledged_by"] for x in at_a["alarms"]} == {"cn.ben"} and not at_a["audio_on"]
    b.close()
    b2 = StationProcess(stations["url"], "station-B", stations["tmp"] / "b")
    try:
        assert b2.ask("sign_in", username="cn.ben", password=PASSWORD)["ok"]
        again = b2.ask("chair_alarms", chair="1")
        assert {x["id"] for x in again["alarms"]} == ids
        assert {x["acknowledged_by"] for x in again["alarms"]} == {"cn.ben"}
        assert not again["audio_on"]
        after = a.ask("chair_alarms", chair="1")  # A, running all along, agrees
        assert {x["id"] for x in after["alarms"]} == ids
        assert {x["acknowledged_by"] for x in after["alarms"]} == {"cn.ben"}
    finally:
        b2.close()
    ctx = AppContext.open(StationConfig(stations["data"], stations["url"], "checker"))
    try:
        with ctx.read_tx() as s:
            rows = [tuple(r) for r in s.execute(sql_select(AlarmEvent.event, AlarmEvent.alarm_key))]
    finally:
        ctx.close()
    for key in ids:  # one raise and one acknowledgement each, whichever station looked
        assert rows.count(("raised", key)) == 1 and rows.count(("acknowledged", key)) == 1


def test_a_note_signed_at_a_verifies_and_exports_at_b(stations) -> None:
    """Issue 15 Must show: Ana signs chair 1's note at A with her key from the database; B,
    with its own data directory, trusts the same clinic CA, verifies the note and its
    administrator's export includes it (it dropped it as "NOT trusted" when each station made
    its own CA)."""
    a, b, sids, tmp = stations["a"], stations["b"], stations["sids"], stations["tmp"]
    sid = sids["1"]
    assert a.ask("stop_infusion", session_id=sid, reason="completed")["ok"]
    signed = a.ask("sign_note", session_id=sid, password=PASSWORD)
    assert signed["ok"] and signed["version"] == 1, signed
    assert b.ask("ca_pem")["pem"] == a.ask("ca_pem")["pem"]
    assert not (tmp / "b" / "pki").exists() and not (tmp / "a" / "pki").exists()
    assert b.ask("sign_in", username="ad.dana", password=PASSWORD)["ok"]
    check = b.ask("verify_note", note_id=signed["note_id"])
    assert check["ok"] and check["verified"], check
    assert not any("NOT trusted" in line for line in check["lines"]), check
    today = date.today()
    out = tmp / "export-at-b"
    result = b.ask(
        "export_notes", out_dir=str(out), date_from=str(today - timedelta(days=1)),
        date_to=str(today + timedelta(days=1)),
    )  # fmt: skip
    assert result["ok"] and result["all_verified"], result
    assert result["exported"] == [signed["note_id"]] and not result["failed"], result
    assert len(list(out.rglob("*.pdf"))) == 1
    assert (out / "ca.pem").read_text() == a.ask("ca_pem")["pem"]
