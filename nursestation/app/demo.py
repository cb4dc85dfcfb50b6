"""Demo data for `nursestation demo`: users, patients and sessions in different phases, written
through the same use cases as the app (backdated with a simulated clock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import Actor, AppContext, ensure_clinic_ca
from nursestation.clock import Clock, FakeClock
from nursestation.dosing import DosingLimits

DEMO_PASSWORD = "Demo-pass-2026"
# The clinic CA passphrase of a demo data directory (and of the benchmarks' throw-away ones): the
# demo is a set-up process with nobody to ask; its records are not a clinic's.
DEMO_CA_PASSPHRASE = "Demo-CA-pass-2026"
BENCH_CA_PASSPHRASE = "Bench-CA-pass-2026"


@dataclass(frozen=True)
class DemoUsers:
    """The demo accounts (all with DEMO_PASSWORD)."""

    admin: str = "demo.admin"
    nurse: str = "demo.nurse"
    charge: str = "demo.charge"


CHECKLIST_OK = {
    "consent_confirmed": True,
    "identity_two_identifiers": True,
    "escort_name": "Sam Rivera",
    "escort_phone": "555-0142",
    "pregnancy_screen": "not_applicable",
    "contraindications_screened": True,
    "contraindications": [],
    "interacting_medications_screened": True,
    "interacting_medications": [],
    "iv_site": "left forearm",
    "iv_gauge": 22,
    "iv_patent": True,
}


def _checklist(ctx: AppContext) -> dict[str, object]:
    now = ctx.now()
    return {
        **CHECKLIST_OK,
        "last_solids_at": (now - timedelta(hours=8)).isoformat(),
        "last_clear_liquids_at": (now - timedelta(hours=3)).isoformat(),
    }


def seed_demo(ctx: AppContext, real_clock: Clock) -> DemoUsers:
    """Fill an empty database with demo users, patients and three live sessions."""
    names = DemoUsers()
    if ctx.ca_passphrase is None:
        ctx.ca_passphrase = DEMO_CA_PASSPHRASE
        ensure_clinic_ca(ctx)  # created under the demo's passphrase when there is none yet
    now = real_clock.now()
    fake = FakeClock(now - timedelta(minutes=90))
    ctx.clock = fake
    try:
        for username, full, roles in (
            (names.admin, "Dana Admin", {"administrator"}),
            (names.nurse, "Ana Ruiz, RN", {"nurse"}),
            (names.charge, "Ben Ode, RN (charge)", {"charge_nurse"}),
        ):
            users.provision_user(
                ctx, username=username, full_name=full, roles=roles, password=DEMO_PASSWORD
            )
        nurse: Actor = users.authenticate(ctx, names.nurse, DEMO_PASSWORD)
        people: tuple[tuple[str, str, date, float, list[str]], ...] = (
            ("K-1001", "Doe, Jane", date(1985, 4, 2), 70.0, ["latex"]),
            ("K-1002", "Okafor, Chidi", date(1979, 11, 20), 82.5, []),
            ("K-1003", "Lindqvist, Maja", date(1992, 6, 14), 61.0, ["sulfa"]),
            ("K-1004", "Tanaka, Hiro", date(1968, 1, 30), 77.0, []),
        )
        for mrn, name, dob, kg, allergies in people:
            patients.register_patient(
                ctx,
                nurse,
                mrn=mrn,
                name=name,
                dob=dob,
                weight_kg=kg,
                allergies=allergies,
                reproductive_potential=False,
            )
        proto = DosingLimits.from_settings(ctx.settings).default_protocol
        # Chair 1: infusion finished 50 min ago -> observation.
        s1 = sessions.check_in(
            ctx,
            nurse,
            mrn="K-1001",
            chair="1",
            protocol=proto,
            checklist=_checklist(ctx),
            ketamine_lot="KET-24-118",
        )
        fake.advance(minutes=3)
        vitals.record_vitals(
            ctx, nurse, s1.id, {"sbp": 124, "dbp": 78, "hr": 72, "spo2": 98, "rr": 14}
        )
        fake.advance(minutes=2)
        sessions.start_infusion(ctx, nurse, s1.id)
        for i, (sbp, dbp, hr) in enumerate(
            ((132, 82, 76), (141, 88, 80), (146, 90, 82), (138, 86, 78))
        ):
            fake.advance(minutes=10)
            vitals.record_vitals(
                ctx, nurse, s1.id, {"sbp": sbp, "dbp": dbp, "hr": hr, "spo2": 98 - i % 2, "rr": 14}
            )
        sessions.stop_infusion(ctx, nurse, s1.id, "completed")
        # Chair 2: started 25 min ago, paused once -> infusing.
        fake.set(now - timedelta(minutes=32))
        s2 = sessions.check_in(
            ctx,
            nurse,
            mrn="K-1002",
            chair="2",
            protocol=proto,
            checklist=_checklist(ctx),
            ketamine_lot="KET-24-118",
        )
        fake.advance(minutes=4)
        vitals.record_vitals(
            ctx, nurse, s2.id, {"sbp": 128, "dbp": 80, "hr": 70, "spo2": 99, "rr": 12}
        )
        fake.advance(minutes=3)
        sessions.start_infusion(ctx, nurse, s2.id)
        fake.advance(minutes=10)
        vitals.record_vitals(
            ctx, nurse, s2.id, {"sbp": 136, "dbp": 84, "hr": 74, "spo2": 98, "rr": 13}
        )
        fake.advance(minutes=2)
        sessions.pause_infusion(ctx, nurse, s2.id, "patient anxious, reassured")
        fake.advance(minutes=3)
        sessions.resume_infusion(ctx, nurse, s2.id)
        # Chair 3: just checked in, waiting for baseline vitals.
        fake.set(now - timedelta(minutes=2))
        sessions.check_in(
            ctx, nurse, mrn="K-1003", chair="3", protocol=proto, checklist=_checklist(ctx)
        )
    finally:
        ctx.clock = real_clock
    return names
