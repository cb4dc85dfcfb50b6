"""Discharge test set-up shared by tests/app/test_discharge.py and tests/ui/test_discharge_ui.py:
a nurse and a charge nurse, a patient whose 40 min infusion has just stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support import CHECKLIST_OK as CHECKLIST

from nursestation.app import discharge as dc
from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.clock import FakeClock
from nursestation.dosing import Protocol

ROOT = Path(__file__).resolve().parents[1]
NURSE_PW = "Nurse-pass-2026"
CHARGE_PW = "Charge-pass-2026"
BASELINE = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
GOOD_ANSWERS = {
    "alert_oriented": True,
    "steady_gait": True,
    "nausea_controlled": True,
    "iv_removed": True,
    "escort_present": True,
    "escort_relationship": "husband",
    "instructions_given": True,
    "on_room_air": True,
    "suicide_screen_positive": False,
}
ALDRETE_ALL_2 = {
    "activity": 2,
    "respiration": 2,
    "circulation": "confirm",
    "consciousness": 2,
    "o2_saturation": "confirm",
}


@dataclass
class World:
    ctx: AppContext
    clock: FakeClock
    nurse: Actor
    charge: Actor
    sid: int


def make_world(ctx: AppContext, clock: FakeClock, *, stop: bool = True) -> World:
    """Nurse and charge nurse, a patient in chair 1 with baseline vitals, 40 min infusion."""
    users.provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=NURSE_PW
    )
    users.provision_user(
        ctx,
        username="cn.ben",
        full_name="Ben Ode, RN",
        roles={"charge_nurse"},
        password=CHARGE_PW,
    )
    nurse = users.authenticate(ctx, "rn.ana", NURSE_PW)
    charge = users.authenticate(ctx, "cn.ben", CHARGE_PW)
    patients.register_patient(
        ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    s = sessions.check_in(
        ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST
    )
    vitals.record_vitals(ctx, nurse, s.id, BASELINE)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, s.id)
    clock.advance(minutes=20)
    # A mid-infusion rise must not become the baseline.
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 160, "dbp": 95, "hr": 90, "spo2": 97})
    clock.advance(minutes=20)
    if stop:
        sessions.stop_infusion(ctx, nurse, s.id, "completed")
    return World(ctx, clock, nurse, charge, s.id)


def world_values(ctx: AppContext, clock: FakeClock) -> dict[str, Any]:
    """`make_world` as plain values, for a world built once and copied (tests/conftest.py)."""
    w = make_world(ctx, clock)
    return {"nurse": w.nurse, "charge": w.charge, "sid": w.sid}


def world_of(ctx: AppContext, clock: FakeClock, copied: dict[str, Any]) -> World:
    """The copied `make_world` world, or one built now when nothing was copied."""
    if "sid" not in copied:
        return make_world(ctx, clock)
    return World(ctx, clock, copied["nurse"], copied["charge"], copied["sid"])


def recovery_vitals(w: World, **over: Any) -> None:
    vitals.record_vitals(w.ctx, w.nurse, w.sid, {**BASELINE, "sbp": 132, "hr": 80, **over})


def complete_assessment(w: World) -> dc.DischargeStatus:
    recovery_vitals(w)
    return dc.record_assessment(
        w.ctx,
        w.nurse,
        w.sid,
        scores={"aldrete": ALDRETE_ALL_2},
        answers=GOOD_ANSWERS,
        sedation=("moaas", 5),
        dissociation_resolved=True,
    )


def stand_in_for_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """Approval requires a signed note (app.note_store); tests about discharge itself stand in
    for it (the real note is covered by its own tests)."""
    from nursestation.app import note_store

    monkeypatch.setattr(note_store, "require_approvable", lambda ctx, s, sid, actor: None)
    monkeypatch.setattr(note_store, "countersign_for_approval", lambda *a, **k: None)
