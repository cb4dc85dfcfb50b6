"""The whole permission table: every role x every use case, through the real service functions.

A refused call must raise not_permitted and write nothing; an allowed call must get past the role
check (it may still be refused for another reason, e.g. invalid_state, never not_permitted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_support import station_config
from sqlalchemy import func, select
from support import CHECKLIST_OK, PASSWORD, T0

from nursestation import permissions
from nursestation.app import (
    alarms,
    audit,
    board,
    clinic_settings,
    discharge,
    export,
    medications,
    notes,
    patients,
    pki,
    sessions,
    spravato,
    users,
    vitals,
)
from nursestation.app.context import Actor, AppContext
from nursestation.clock import FakeClock
from nursestation.db.models import AuditEvent
from nursestation.dosing import Protocol
from nursestation.errors import NOT_PERMITTED, DomainError
from nursestation.permissions import PERMISSIONS, ROLES

try:  # the device service is being written alongside this test
    from nursestation.app import devices
except ModuleNotFoundError:  # pragma: no cover - depends on the tree
    devices = None  # type: ignore[assignment]

APP_DIR = Path(permissions.__file__).parent / "app"


@dataclass
class World:
    """One clinic with a patient infusing on chair 1 and one account per role."""

    ctx: AppContext
    clock: FakeClock
    actors: dict[str, Actor]
    session_id: int
    reading_id: int
    counter: int = 0

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    config = station_config(tmp_path_factory.mktemp("perm") / "data")
    clock = FakeClock(T0)
    ctx = AppContext.open(config, clock=clock)
    actors: dict[str, Actor] = {}
    for role in ROLES:
        username = f"u.{role.replace('_', '')}"
        users.provision_user(
            ctx, username=username, full_name=f"User {role}", roles={role}, password=PASSWORD
        )
        actors[role] = users.authenticate(ctx, username, PASSWORD)
    nurse = actors["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    s = sessions.check_in(
        ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    )
    clock.advance(minutes=3)
    rec = vitals.record_vitals(
        ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
    )
    clock.set(T0 + timedelta(minutes=5))
    sessions.start_infusion(ctx, nurse, s.id)
    yield World(ctx, clock, actors, s.id, rec.id)
    ctx.close()


Call = Callable[[World, Actor], Any]

# use case -> the service calls that check it. Each entry names every public service that
# guards itself with that use case, so a role change in the table shows up here.
SERVICES: dict[str, list[Call]] = {
    "view_board": [lambda w, a: board.board_cards(w.ctx, a)],
    "view_session": [
        lambda w, a: sessions.get_summary(w.ctx, a, w.session_id),
        lambda w, a: sessions.preview_checklist(w.ctx, a, w.session_id),
        lambda w, a: vitals.list_vitals(w.ctx, a, w.session_id),
        lambda w, a: vitals.flowsheet(w.ctx, a, w.session_id),
        lambda w, a: vitals.trend_data(w.ctx, a, w.session_id),
        lambda w, a: patients.find_patients(w.ctx, a, "Doe"),
        lambda w, a: patients.get_patient(w.ctx, a, "K-1"),
        lambda w, a: medications.medication_list(w.ctx, a, w.session_id),
        lambda w, a: medications.drug_choices(w.ctx, a, w.session_id),
        lambda w, a: alarms.alarm_log(w.ctx, a, w.session_id),
        lambda w, a: discharge.get_status(w.ctx, a, w.session_id),
        lambda w, a: discharge.get_discharge(w.ctx, a, w.session_id),
    ],
    "register_patient": [
        lambda w, a: patients.register_patient(
            w.ctx, a, mrn=w.unique("P-"), name="Roe, Rick", dob=date(1980, 1, 1), weight_kg=80
        )
    ],
    "edit_patient": [lambda w, a: patients.update_weight(w.ctx, a, "K-1", 71)],
    "check_in": [
        lambda w, a: sessions.check_in(
            w.ctx, a, mrn="K-1", chair="2", protocol=Protocol(0.5, 40, 1.0), checklist={}
        ),
        lambda w, a: sessions.update_checklist(w.ctx, a, w.session_id, {"iv_gauge": 22}),
    ],
    "override_checklist": [
        lambda w, a: sessions.override_checklist(w.ctx, a, w.session_id, "test reason")
    ],
    "start_infusion": [lambda w, a: sessions.start_infusion(w.ctx, a, w.session_id)],
    "pause_infusion": [lambda w, a: sessions.pause_infusion(w.ctx, a, w.session_id, "nausea")],
    "resume_infusion": [lambda w, a: sessions.resume_infusion(w.ctx, a, w.session_id)],
    "change_rate": [lambda w, a: sessions.change_rate(w.ctx, a, w.session_id, 50.0, "test")],
    # Run last (see ORDER) so the other pump use cases meet a running infusion; the second
    # allowed role then gets invalid_state, which still proves the role check let it through.
    "stop_infusion": [lambda w, a: sessions.stop_infusion(w.ctx, a, w.session_id, "completed")],
    # the world's session has started: an allowed role gets invalid_state after the role check
    "end_not_treated": [
        lambda w, a: sessions.end_not_treated(w.ctx, a, w.session_id, "patient_left")
    ],
    "record_vitals": [
        lambda w, a: vitals.record_vitals(
            w.ctx, a, w.session_id, {"sbp": 126, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14}
        )
    ],
    "correct_vitals": [
        lambda w, a: vitals.correct_vitals(
            w.ctx, a, w.reading_id, {"sbp": 127, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}, "typo"
        )
    ],
    "record_assessment": [
        lambda w, a: vitals.record_assessment(w.ctx, a, w.session_id, "rass", score=0)
    ],
    "acknowledge_alarm": [lambda w, a: alarms.acknowledge_alarm(w.ctx, a, "1")],
    "pause_alarm_audio": [
        lambda w, a: alarms.pause_alarm_audio(w.ctx, a, "1"),
        lambda w, a: alarms.resume_alarm_audio(w.ctx, a, "1"),
    ],
    "give_medication": [
        lambda w, a: medications.give_medication(
            w.ctx,
            a,
            w.session_id,
            drug="ondansetron",
            dose=4,
            unit="mg",
            route="IV",
            indication="nausea",
        )
    ],
    "override_prn_indication": [
        lambda w, a: medications.give_medication(
            w.ctx,
            a,
            w.session_id,
            drug="labetalol",
            dose=20,
            unit="mg",
            route="IV",
            indication="bp_above_limit",
            indication_override_reason="test reason",
        )
    ],
    "record_response": [lambda w, a: medications.record_response(w.ctx, a, 10**6, text="settled")],
    "discharge_assessment": [
        lambda w, a: discharge.record_assessment(w.ctx, a, w.session_id, answers={})
    ],
    "override_discharge": [
        lambda w, a: discharge.override_criterion(w.ctx, a, w.session_id, "aldrete", "test")
    ],
    "approve_discharge": [
        lambda w, a: discharge.approve_discharge(w.ctx, a, w.session_id, PASSWORD)
    ],
    "sign_note": [lambda w, a: notes.sign_note(w.ctx, a, w.session_id, PASSWORD)],
    "add_addendum": [
        lambda w, a: notes.add_addendum(w.ctx, a, w.session_id, "late entry", "text", PASSWORD)
    ],
    "view_note": [
        lambda w, a: notes.list_notes(w.ctx, a, w.session_id),
        lambda w, a: notes.latest_note(w.ctx, a, w.session_id),
        lambda w, a: notes.note_pdf(w.ctx, a, 10**6),
    ],
    "verify_note": [lambda w, a: notes.verify_note(w.ctx, a, 10**6)],
    "change_limits": [lambda w, a: vitals.update_limits(w.ctx, a, {"no.such.limit": 1.0}, "test")],
    "edit_formulary": [lambda w, a: medications.update_formulary_drug(w.ctx, a, "ondansetron", {})],
    "change_settings": [
        lambda w, a: clinic_settings.change_clinic_settings(w.ctx, a, {"no.such": 1}, "test"),
        lambda w, a: clinic_settings.settings_history(w.ctx, a),
    ],
    "manage_users": [
        lambda w, a: users.list_users(w.ctx, a),
        lambda w, a: users.set_disabled(w.ctx, a, "nobody.here", True),
        lambda w, a: users.set_roles(w.ctx, a, "nobody.here", {"nurse"}),
        lambda w, a: pki.renew_certificate(w.ctx, a, "nobody.here", "Wrong-passphrase-1"),
        lambda w, a: users.reset_password(w.ctx, a, "nobody.here", "Fresh-Pass-2026"),
        lambda w, a: pki.change_ca_passphrase(w.ctx, a, "Wrong-passphrase-1", "short"),
        # Valid input: create_user validates before its role check, so bad input would answer
        # bad_input even to a nurse.
        lambda w, a: users.create_user(
            w.ctx,
            a,
            username=w.unique("new.user"),
            full_name="New User",
            roles={"administrator"},
            password="Fresh-Pass-2026",
        ),
    ],
    "export_notes": [
        lambda w, a: export.export_notes(
            w.ctx,
            a,
            export.ExportFilter(date(2026, 3, 2), date(2026, 3, 2)),
            w.ctx.config.data_dir / w.unique("export-"),
            ("csv",),
        )
    ],
    "record_rems_enrolment": [
        lambda w, a: spravato.record_enrolment(
            w.ctx, a, "K-1", rems_patient_id="RP-1", enrolled_on=date(2026, 3, 1)
        )
    ],
    "give_spravato_device": [lambda w, a: spravato.give_device(w.ctx, a, w.session_id, lot="L")],
    "complete_rems_form": [lambda w, a: spravato.complete_form(w.ctx, a, w.session_id, {})],
    "rems_tracker": [
        lambda w, a: spravato.tracker(w.ctx, a),
        lambda w, a: spravato.record_submission(
            w.ctx, a, w.session_id, submitted_on="2026-03-02", method="fax", confirmation="C"
        ),
    ],
    "view_audit": [
        lambda w, a: audit.list_audit(w.ctx, a),
        lambda w, a: audit.audit_usernames(w.ctx, a),
        lambda w, a: audit.check_chain(w.ctx, a),
    ],
}

# Use cases whose service is not written yet: checked on `permissions.require` directly.
# When a service lands (ctx.require(actor, "<use case>") appears in nursestation/app/),
# test_no_service_is_left_untested fails until it is added to SERVICES above.
REQUIRE_ONLY = {"cancel_session"}
if devices is not None:
    SERVICES["bind_device"] = [
        lambda w, a: devices.bind_device(w.ctx, a, "9", "no-such-protocol", "loop://", 9600),
        lambda w, a: devices.unbind_device(w.ctx, a, "9"),
    ]
else:  # pragma: no cover
    REQUIRE_ONLY.add("bind_device")


def _audit_rows(w: World) -> int:
    with w.ctx.tx() as s:
        return s.execute(select(func.count(AuditEvent.id))).scalar_one()


def _outcome(call: Call, w: World, actor: Actor) -> str:
    try:
        call(w, actor)
    except DomainError as exc:
        return exc.code
    return "ok"


def test_every_use_case_in_the_table_is_exercised() -> None:
    covered = set(SERVICES) | REQUIRE_ONLY
    assert not set(SERVICES) & REQUIRE_ONLY
    assert covered == set(PERMISSIONS), (
        f"not covered: {sorted(set(PERMISSIONS) - covered)}; "
        f"not in the table: {sorted(covered - set(PERMISSIONS))}"
    )


def test_no_service_is_left_untested() -> None:
    guarded: set[str] = set()
    for path in APP_DIR.glob("*.py"):
        guarded |= set(re.findall(r'require\(\s*actor,\s*"([a-z_]+)"', path.read_text("utf-8")))
    assert guarded <= set(PERMISSIONS), f"unknown use cases: {guarded - set(PERMISSIONS)}"
    landed = guarded & REQUIRE_ONLY
    assert not landed, f"services now exist for {sorted(landed)}: add them to SERVICES"


# Order matters only for allowed calls that change state; refused calls change nothing.
# Use cases with no service yet are checked by test_require_only_use_cases instead.
ORDER = [uc for uc in PERMISSIONS if uc not in REQUIRE_ONLY and uc != "stop_infusion"] + [
    "stop_infusion"
]


@pytest.mark.parametrize("use_case", ORDER)
def test_each_role_through_the_services(world: World, use_case: str) -> None:
    for role in ROLES:
        actor = world.actors[role]
        expected_allowed = role in PERMISSIONS[use_case]
        for i, call in enumerate(SERVICES[use_case]):
            before = _audit_rows(world)
            code = _outcome(call, world, actor)
            where = f"{use_case} call #{i} as {role}"
            if expected_allowed:
                assert code != NOT_PERMITTED, f"{where}: refused but the table allows it"
            else:
                assert code == NOT_PERMITTED, f"{where}: got {code}, the table forbids it"
                assert _audit_rows(world) == before, f"{where}: a refused call wrote audit rows"


@pytest.mark.parametrize("use_case", sorted(REQUIRE_ONLY))
def test_require_only_use_cases(use_case: str) -> None:
    for role in ROLES:
        if role in PERMISSIONS[use_case]:
            permissions.require({role}, use_case)
        else:
            with pytest.raises(DomainError) as e:
                permissions.require({role}, use_case)
            assert e.value.code == NOT_PERMITTED


def test_table_shape_matches_the_roles_design() -> None:
    """Spot checks from clinical.md §6.1: administrators never chart or sign; only charge nurses
    approve discharge; only administrators manage users, read the audit trail and export."""
    clinical = [uc for uc, roles in PERMISSIONS.items() if "administrator" not in roles]
    assert {"check_in", "record_vitals", "give_medication", "sign_note"} <= set(clinical)
    assert PERMISSIONS["approve_discharge"] == {"charge_nurse"}
    for uc in ("manage_users", "view_audit", "export_notes"):
        assert PERMISSIONS[uc] == {"administrator"}


# ---------------------------------------------------------------- accounts: disabled, roles, last admin


def _vitals_rows(ctx: AppContext) -> int:
    from nursestation.db.models import VitalReading

    with ctx.tx() as s:
        return s.execute(select(func.count(VitalReading.id))).scalar_one()


NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def test_a_disabled_nurse_is_refused_at_her_next_action(
    ctx: AppContext, people: dict[str, Actor], infusing: int
) -> None:
    """Her Actor (the open session view's) is still held; the account is read on every use case."""
    from nursestation.app import access

    nurse, admin = people["nurse"], people["admin"]
    vitals.record_vitals(ctx, nurse, infusing, NORMAL)
    before = _vitals_rows(ctx)
    users.set_disabled(ctx, admin, "rn.ana", True)
    for call in (
        lambda: vitals.record_vitals(ctx, nurse, infusing, NORMAL),
        lambda: sessions.stop_infusion(ctx, nurse, infusing, "completed"),
        lambda: board.board_cards(ctx, nurse),
        lambda: notes.latest_note(ctx, nurse, infusing),
    ):
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == "account_disabled" and "rn.ana" in exc.value.message
    assert _vitals_rows(ctx) == before
    assert not access.account_active(ctx, nurse)
    with pytest.raises(DomainError) as exc:
        access.sign_in(ctx, "rn.ana", PASSWORD)
    assert exc.value.code == NOT_PERMITTED and "disabled" in exc.value.message
    # Enabled again: the same held Actor works again (nothing else was changed).
    users.set_disabled(ctx, admin, "rn.ana", False)
    assert access.account_active(ctx, nurse)
    vitals.record_vitals(ctx, nurse, infusing, NORMAL)
    assert _vitals_rows(ctx) == before + 1


def test_a_removed_role_is_refused_at_once(
    ctx: AppContext, people: dict[str, Actor], infusing: int
) -> None:
    nurse, admin = people["nurse"], people["admin"]
    users.set_roles(ctx, admin, "rn.ana", {"administrator"})
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(ctx, nurse, infusing, NORMAL)
    assert exc.value.code == NOT_PERMITTED
    # A role added since sign-in is not taken on trust either: the held Actor's roles still
    # limit what she may do until she signs in again.
    with pytest.raises(DomainError) as exc:
        users.list_users(ctx, nurse)
    assert exc.value.code == NOT_PERMITTED
    with pytest.raises(DomainError) as exc:
        users.set_roles(ctx, admin, "rn.ana", {"nurse", "surgeon"})
    assert (exc.value.code, exc.value.field) == ("bad_input", "roles")
    with pytest.raises(DomainError) as exc:
        users.set_roles(ctx, admin, "rn.ana", set())
    assert (exc.value.code, exc.value.field) == ("bad_input", "roles")


def test_the_last_active_administrator_stays(ctx: AppContext, people: dict[str, Actor]) -> None:
    admin = people["admin"]
    for call in (
        lambda: users.set_disabled(ctx, admin, "ad.dana", True),
        lambda: users.set_roles(ctx, admin, "ad.dana", {"nurse"}),
    ):
        with pytest.raises(DomainError) as exc:
            call()
        assert (
            exc.value.code == "invalid_state" and "last active administrator" in exc.value.message
        )
    users.create_user(
        ctx, admin, username="ad.eli", full_name="Eli Admin", roles={"administrator"},
        password=PASSWORD,
    )  # fmt: skip
    # A disabled administrator does not count: with Eli disabled, Dana is the last again.
    users.set_disabled(ctx, admin, "ad.eli", True)
    with pytest.raises(DomainError) as exc:
        users.set_disabled(ctx, admin, "ad.dana", True)
    assert exc.value.code == "invalid_state"
    users.set_disabled(ctx, admin, "ad.eli", False)
    # Two active administrators: one may lose the role, then the other is the last.
    users.set_roles(ctx, admin, "ad.eli", {"nurse"})
    with pytest.raises(DomainError) as exc:
        users.set_roles(ctx, admin, "ad.dana", {"charge_nurse"})
    assert exc.value.code == "invalid_state"
    users.set_roles(ctx, admin, "ad.eli", {"nurse", "administrator"})
    users.set_disabled(ctx, admin, "ad.dana", True)  # allowed now; Dana is signed out at once
    with pytest.raises(DomainError) as exc:
        users.list_users(ctx, admin)
    assert exc.value.code == "account_disabled"
    eli = users.authenticate(ctx, "ad.eli", PASSWORD)
    assert {u.username: u.disabled for u in users.list_users(ctx, eli)}["ad.dana"] is True
    with ctx.tx() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action)) if a.startswith("user.")]
    assert actions.count("user.roles") == 2 and actions.count("user.disable") == 2
