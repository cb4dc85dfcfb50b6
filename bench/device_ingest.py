"""Cost of storing one monitor batch (app.devices.ingest_readings; the capture bridge runs it on its
writer thread, a monitor second of all chairs per transaction), as a session's device history grows.

Usage: .venv/bin/python bench/device_ingest.py [--hours 0,1,2,4] [--batches 200]
One infusing session on a fresh SQLite file (synchronous=FULL, WAL, like the app); the history is
N hours of 1 Hz Masimo frames (SpO2, pulse rate, PI) stored through the same service. For each
history size it times `--batches` further Masimo batches (one frame each: 3 device_readings rows,
one vital_readings row, the alarm evaluation) and an HL7 batch with NIBP (9 values).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import CHECKLIST_OK, PASSWORD

from nursestation.app import devices, patients, sessions, users, vitals
from nursestation.app.context import AppContext
from nursestation.app.demo import BENCH_CA_PASSPHRASE
from nursestation.clock import FakeClock
from nursestation.config import resolve_config
from nursestation.devices.reading import VALID, make_reading
from nursestation.dosing import Protocol

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def masimo(host: datetime) -> list:
    return [
        make_reading("masimo-ascii", p, v, VALID, None, host.replace(tzinfo=None), host, "SN1")
        for p, v in (("spo2", 97), ("pulse_rate", 74), ("pi", 3.2))
    ]


def hl7(host: datetime, measured: datetime) -> list:
    out = [
        make_reading("hl7-mllp", p, v, VALID, None, host, host, "EQ1")
        for p, v in (("hr", 74), ("spo2", 98), ("pulse_rate", 74), ("rr", 14), ("etco2", 37))
    ]
    out += [
        make_reading("hl7-mllp", p, v, VALID, None, measured, host, "EQ1")
        for p, v in (("sbp", 128), ("dbp", 80), ("map", 96))
    ]
    return out


def setup(tmp: str) -> tuple[AppContext, FakeClock, int]:
    clock = FakeClock(T0)
    ctx = AppContext.open(resolve_config(tmp, None), clock=clock, ca_passphrase=BENCH_CA_PASSPHRASE)
    users.provision_user(ctx, username="rn", full_name="RN", roles={"nurse"}, password=PASSWORD)
    nurse = users.authenticate(ctx, "rn", PASSWORD)
    patients.register_patient(
        ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="female"
    )
    sid = sessions.check_in(
        ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    clock.advance(minutes=3)
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, sid)
    return ctx, clock, sid


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", default="0,1,2,4")
    ap.add_argument("--batches", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx, clock, _sid = setup(tmp)
        stored_s = 0
        for hours in (float(h) for h in args.hours.split(",")):
            while stored_s < hours * 3600:
                clock.advance(seconds=1)
                devices.ingest_readings(
                    ctx, "1", "/dev/ttyUSB0", "masimo-ascii", masimo(clock.now())
                )
                stored_s += 1
            times = []
            for _ in range(args.batches):
                clock.advance(seconds=1)
                stored_s += 1
                t0 = time.perf_counter()
                devices.ingest_readings(
                    ctx, "1", "/dev/ttyUSB0", "masimo-ascii", masimo(clock.now())
                )
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            devices.ingest_readings(
                ctx,
                "1",
                "/dev/ttyUSB1",
                "hl7-mllp",
                hl7(clock.now(), clock.now() - timedelta(seconds=30)),
            )
            nibp_ms = (time.perf_counter() - t0) * 1000
            times.sort()
            print(
                f"history {hours:g} h ({stored_s} frames): Masimo batch median "
                f"{statistics.median(times) * 1000:.1f} ms, p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms, "
                f"max {times[-1] * 1000:.1f} ms; HL7+NIBP batch {nibp_ms:.1f} ms",
                flush=True,
            )
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
