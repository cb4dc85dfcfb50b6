"""A session with a 1 Hz bedside monitor, for the flowsheet tests and bench/note_sign.py.

`monitored_session` checks a patient in, takes a manual baseline, starts the infusion and then
stores one device reading a second (SpO2 and the oximeter's pulse rate, no ECG HR; an NIBP
measurement every 5 minutes) for `hours`, with manual readings every 15 minutes, a 20-second
desaturation below the SpO2 limits and an NIBP that crosses the SBP advisory limit, and stops
the infusion after 40 minutes. Device rows are written in one transaction as `ingest_readings`
would store them (source device, observed at the host time), without the alarm evaluation: that
is the setup, not what is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from support import CHECKLIST_OK, PASSWORD

from nursestation.app import patients, sessions, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.users import authenticate, provision_user
from nursestation.clock import FakeClock
from nursestation.db.models import VitalReading
from nursestation.dosing import Protocol

DESAT_START_S = 1830  # 30.5 min after start: 20 s of SpO2 88 %
DESAT_SECONDS = 20
HIGH_NIBP_MIN = (25, 30)  # NIBP minutes (after start) with SBP 152: above the advisory 140


@dataclass(frozen=True)
class MonitoredSession:
    session_id: int
    nurse: Actor
    device_rows: int
    manual_rows: int
    flagged_device_rows: int


def nurse_of(ctx: AppContext) -> Actor:
    """A nurse (provisioned once per data directory)."""
    from nursestation.errors import DomainError

    try:
        return authenticate(ctx, "rn.ana", PASSWORD)
    except DomainError:
        provision_user(
            ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PASSWORD
        )
        return authenticate(ctx, "rn.ana", PASSWORD)


def monitored_session(
    ctx: AppContext, clock: FakeClock, *, hours: float = 2, chair: str = "1", mrn: str = "K-1"
) -> MonitoredSession:
    """The session described in the module docstring; the clock ends at its last reading."""
    nurse = nurse_of(ctx)
    patients.register_patient(
        ctx, nurse, mrn=mrn, name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    sid = sessions.check_in(
        ctx, nurse, mrn=mrn, chair=chair, protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 124, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    start = clock.now()
    sessions.start_infusion(ctx, nurse, sid)
    total = int(hours * 3600)
    flagged = 0
    manual = 1
    rows: list[VitalReading] = []
    for second in range(1, total + 1):
        minute = second / 60
        spo2 = (
            88.0 if DESAT_START_S <= second < DESAT_START_S + DESAT_SECONDS else 97.0 + second % 3
        )
        pulse = 74.0 + (6.0 if 10 <= minute < 50 else 0.0) + second % 4
        values: dict[str, float] = {"spo2": spo2, "pulse_rate": pulse}
        if second % 300 == 0:
            sbp = 152.0 if int(minute) in HIGH_NIBP_MIN else 128.0
            values |= {"sbp": sbp, "dbp": 82.0, "map": round((sbp + 164) / 3)}
        if spo2 < 90 or values.get("sbp", 0) > 140:
            flagged += 1
        at = start + timedelta(seconds=second)
        rows.append(
            VitalReading(
                session_id=sid,
                observed_at=at,
                recorded_at=at,
                source="device",
                device_port="/dev/ttyUSB0",
                device_protocol="masimo-ascii",
                device_id="0000056661",
                **values,
            )
        )
    with ctx.tx() as s:
        s.add_all(rows)
    for minute in range(15, int(hours * 60) + 1, 15):
        clock.set(start + timedelta(minutes=minute, seconds=30))
        if minute == 45:
            sessions.stop_infusion(ctx, nurse, sid, "completed")
        vitals.record_vitals(
            ctx, nurse, sid, {"sbp": 130, "dbp": 82, "hr": 78, "spo2": 98, "rr": 14}
        )
        manual += 1
    clock.set(start + timedelta(seconds=total + 1))
    return MonitoredSession(sid, nurse, total, manual, flagged)
