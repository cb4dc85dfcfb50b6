"""A clinic's day of monitor data, made fast: 12 chairs, each a real session (check-in, baseline,
start, for half of them stop) through the use cases, and N hours of 1 Hz device data per chair
written as rows directly (vital_readings + device_readings, the same columns ingest_readings
fills: SpO2 / pulse rate / HR / RR every second, an NIBP measurement every 2 minutes).

Used by bench/history.py and bench/stream.py (not a benchmark itself).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sqlalchemy import insert
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.demo import BENCH_CA_PASSPHRASE
from nursestation.clinic import load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import resolve_config
from nursestation.db.models import DeviceReading, VitalReading
from nursestation.dosing import Protocol

CHAIRS = [str(i) for i in range(1, 13)]
NIBP_EVERY_S = 120
PORT = "/dev/ttyUSB0"
PROTOCOL = "hl7-mllp"


@dataclass
class Clinic:
    """A prepared station: context, its clock, the nurse and the session of each chair."""

    ctx: AppContext
    clock: FakeClock
    nurse: Actor
    sessions: dict[str, int]
    end: datetime


def settings_12_chairs():  # type: ignore[no-untyped-def]
    """The clinic defaults with 12 chairs."""
    return load_clinic_settings().with_overrides({"general": {"chairs": CHAIRS}}, "bench")


def build(data_dir: str, hours: float, end: datetime | None = None) -> Clinic:
    """Open a fresh station in `data_dir` with 12 chairs and `hours` of 1 Hz history each,
    ending at `end` (default: now). Odd chairs are infusing at the end, even chairs are in
    observation (stopped 20 minutes before the end)."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=hours)
    clock = FakeClock(start)
    ctx = AppContext.open(
        resolve_config(data_dir, None),
        clock=clock,
        settings=settings_12_chairs(),
        ca_passphrase=BENCH_CA_PASSPHRASE,
    )
    users.provision_user(ctx, username="rn", full_name="RN", roles={"nurse"}, password=PASSWORD)
    users.provision_user(
        ctx, username="charge", full_name="Charge", roles={"charge_nurse"}, password=PASSWORD
    )
    nurse = users.authenticate(ctx, "rn", PASSWORD)
    sids: dict[str, int] = {}
    for i, chair in enumerate(CHAIRS):
        mrn = f"K-{i + 1}"
        patients.register_patient(
            ctx,
            nurse,
            mrn=mrn,
            name=f"Doe, Pat{i}",
            dob=date(1980, 1, 1 + i),
            weight_kg=70,
            sex="female",
        )
        sids[chair] = sessions.check_in(
            ctx,
            nurse,
            mrn=mrn,
            chair=chair,
            protocol=Protocol(0.5, 40, 1.0),
            checklist=CHECKLIST_OK,
        ).id
    clock.advance(minutes=2)
    for chair in CHAIRS:
        vitals.record_vitals(
            ctx, nurse, sids[chair], {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
        )
    # (time, chair, action) in time order
    plan: list[tuple[datetime, str, str]] = []
    for i, chair in enumerate(CHAIRS):
        if i % 2 == 0:  # odd chair label: infusing at the end
            plan.append((end - timedelta(minutes=30), chair, "start"))
        else:
            plan.append((start + timedelta(minutes=3), chair, "start"))
            plan.append(
                (max(end - timedelta(minutes=20), start + timedelta(minutes=4)), chair, "stop")
            )
    for at, chair, action in sorted(plan):
        if at > clock.now():
            clock.set(at)
        if action == "start":
            sessions.start_infusion(ctx, nurse, sids[chair])
        else:
            sessions.stop_infusion(ctx, nurse, sids[chair], "completed")
    write_stream(ctx, sids, start + timedelta(minutes=2, seconds=1), end)
    clock.set(end)
    return Clinic(ctx, clock, nurse, sids, end)


def write_stream(ctx: AppContext, sids: dict[str, int], t0: datetime, t1: datetime) -> None:
    """1 Hz device rows for every chair from t0 to t1 (exclusive), written directly."""
    seconds = int((t1 - t0).total_seconds())
    vt = VitalReading.__table__
    dt = DeviceReading.__table__
    with ctx.engine.begin() as conn:
        for k, (chair, sid) in enumerate(sids.items()):
            vrows: list[dict] = []
            drows: list[dict] = []
            for s in range(seconds):
                at = t0 + timedelta(seconds=s)
                wobble = (s + k * 7) % 11 - 5
                row = {
                    "session_id": sid,
                    "observed_at": at,
                    "recorded_at": at,
                    "source": "device",
                    "device_port": PORT,
                    "device_protocol": PROTOCOL,
                    "device_id": f"EQ{chair}",
                    "spo2": 97.0 + (wobble % 3 == 0),
                    "pulse_rate": 74.0 + wobble,
                    "hr": 74.0 + wobble,
                    "rr": 14.0 + (wobble > 3),
                    "sbp": None,
                    "dbp": None,
                    "map": None,
                }
                params = [
                    ("hr", row["hr"], "/min"),
                    ("spo2", row["spo2"], "%"),
                    ("pulse_rate", row["pulse_rate"], "/min"),
                    ("rr", row["rr"], "/min"),
                ]
                if s % NIBP_EVERY_S == 0:
                    row.update(sbp=122.0 + wobble, dbp=78.0, map=93.0)
                    params += [
                        ("sbp", row["sbp"], "mm[Hg]"),
                        ("dbp", 78.0, "mm[Hg]"),
                        ("map", 93.0, "mm[Hg]"),
                    ]
                vrows.append(row)
                for p, v, unit in params:
                    drows.append(
                        {
                            "session_id": sid,
                            "chair": chair,
                            "port": PORT,
                            "protocol": PROTOCOL,
                            "device_id": f"EQ{chair}",
                            "param": p,
                            "value": v,
                            "unit": unit,
                            "quality": "valid",
                            "reason": None,
                            "device_time": at.replace(tzinfo=None).isoformat(),
                            "host_time": at,
                        }
                    )
            conn.execute(insert(vt), vrows)
            conn.execute(insert(dt), drows)
