"""Bench: cost of re-evaluating a chair's alarms after each stored reading, late in a long session
(3,600 device rows already stored, SpO2/pulse only, so some parameters are never found).

Run: .venv/bin/python bench/alarm_eval.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from nursestation.app import alarms, sessions, vitals
from nursestation.app.context import AppContext
from nursestation.app.demo import BENCH_CA_PASSPHRASE
from nursestation.app.patients import register_patient
from nursestation.app.users import authenticate, provision_user
from nursestation.clock import FakeClock
from nursestation.config import resolve_config
from nursestation.db.models import VitalReading
from nursestation.dosing import Protocol


def main() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as d:
        ctx = AppContext.open(
            resolve_config(d, None), clock=clock, ca_passphrase=BENCH_CA_PASSPHRASE
        )
        provision_user(
            ctx, username="rn", full_name="RN", roles={"nurse"}, password="Bench-pass-42"
        )
        rn = authenticate(ctx, "rn", "Bench-pass-42")
        register_patient(ctx, rn, mrn="B-1", name="Bench, B", dob=date(1980, 1, 1), weight_kg=70)
        sid = sessions.check_in(ctx, rn, mrn="B-1", chair="1", protocol=Protocol(0.5, 40, 1.0)).id
        vitals.record_vitals(ctx, rn, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
        with ctx.tx() as s:
            for i in range(3600):
                t = clock.now() + timedelta(seconds=i)
                s.add(
                    VitalReading(
                        session_id=sid,
                        observed_at=t,
                        recorded_at=t,
                        spo2=97,
                        pulse_rate=80,
                        source="device",
                        device_port="loop://",
                        device_protocol="masimo-ascii",
                    )
                )
        clock.advance(hours=1)
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            with ctx.tx() as s:
                alarms.on_reading_stored(ctx, s, sid)
        per = (time.perf_counter() - t0) / n * 1000
        t0 = time.perf_counter()
        for _ in range(n):
            alarms.highest_alarm(ctx, "1")
        badge = (time.perf_counter() - t0) / n * 1000
        print(f"on_reading_stored with 3,601 rows: {per:.2f} ms per reading")
        print(f"highest_alarm (board, per chair per second): {badge:.3f} ms")
        ctx.close()


if __name__ == "__main__":
    main()
