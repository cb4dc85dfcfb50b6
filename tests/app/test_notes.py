"""Signed session note: content from the stored session, PAdES sign + countersign verified with
pypdf and pyHanko against the clinic CA, addenda, append-only rows, and `nursestation verify`."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pg_support import cli_db_args, missing_station_config, raw_connection, raw_errors
from pypdf import PdfReader
from sqlalchemy import select, text
from support import CHECKLIST_OK as CHECKLIST

from nursestation.app import discharge as dc
from nursestation.app import medications as meds
from nursestation.app import notes, patients, sessions, users, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.clock import FakeClock
from nursestation.db.models import AuditEvent, Note, NoteDocument, NoteSignature
from nursestation.dosing import Protocol
from nursestation.errors import DomainError
from nursestation.report.verify import verify_pdf

ROOT = Path(__file__).resolve().parents[2]
NURSE_PW = "Nurse-pass-2026"
CHARGE_PW = "Charge-pass-2026"
GOOD_ANSWERS = {
    "alert_oriented": True,
    "steady_gait": False,
    "nausea_controlled": True,
    "iv_removed": True,
    "escort_present": True,
    "escort_relationship": "husband",
    "instructions_given": True,
    "on_room_air": True,
    "suicide_screen_positive": False,
    "next_appointment": "2026-03-05 09:00",
}
ALDRETE = {
    "activity": 2,
    "respiration": 2,
    "circulation": "confirm",
    "consciousness": 2,
    "o2_saturation": "confirm",
}
GAIT_REASON = "Uses a walking frame at baseline; husband assists her at home."
LABETALOL_REASON = "BP 172/104 despite rest; prescriber ordered 30 mg by phone."


@dataclass
class World:
    ctx: AppContext
    clock: FakeClock
    nurse: Actor
    charge: Actor
    sid: int


def _people(ctx: AppContext) -> tuple[Actor, Actor]:
    users.provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=NURSE_PW
    )
    users.provision_user(
        ctx, username="cn.ben", full_name="Ben Ode, RN", roles={"charge_nurse"}, password=CHARGE_PW
    )
    return users.authenticate(ctx, "rn.ana", NURSE_PW), users.authenticate(ctx, "cn.ben", CHARGE_PW)


def minimal_session(ctx: AppContext, clock: FakeClock) -> World:
    """Check-in, baseline, a 40-min infusion, stop. No medications, no discharge data."""
    nurse, charge = _people(ctx)
    patients.register_patient(
        ctx, nurse, mrn="K-1001", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
        sex="male",
    )  # fmt: skip
    s = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST,
        ketamine_lot="KET-24-118",
    )  # fmt: skip
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, s.id)
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, s.id, "completed")
    return World(ctx, clock, nurse, charge, s.id)


def realistic_session(ctx: AppContext, clock: FakeClock) -> World:
    """A 2-hour session: baseline, start, a pause for nausea with ondansetron, a BP rise treated
    with labetalol above the usual maximum (confirmed with a reason), recovery vitals every
    15 min, a discharge assessment with a charge-nurse override of one criterion."""
    nurse, charge = _people(ctx)
    patients.register_patient(
        ctx, nurse, mrn="K-1001", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
        sex="male", allergies=["sulfa"],
    )  # fmt: skip
    t0 = clock.now()
    s = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="3", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST,
        ketamine_lot="KET-24-118", prescriber="Dr. Mira Patel, MD",
    )  # fmt: skip
    sid = s.id

    def at(minute: int) -> None:
        clock.set(t0 + timedelta(minutes=minute))

    def v(minute: int, **values: Any) -> Any:
        at(minute)
        return vitals.record_vitals(ctx, nurse, sid, values, soft_confirmed=True)

    v(3, sbp=124, dbp=80, hr=74, spo2=98, rr=14, sedation_scale="moaas", sedation_score=5)
    at(5)
    sessions.start_infusion(ctx, nurse, sid)
    v(15, sbp=134, dbp=84, hr=78, spo2=97, rr=14, sedation_scale="moaas", sedation_score=4)
    at(20)
    sessions.pause_infusion(ctx, nurse, sid, "nausea, retching")
    ond = meds.give_medication(
        ctx, nurse, sid, drug="ondansetron", dose=4, unit="mg", route="IV", indication="nausea"
    )
    at(25)
    sessions.resume_infusion(ctx, nurse, sid)
    v(30, sbp=148, dbp=92, hr=82, spo2=96, rr=13)
    at(35)
    meds.record_response(ctx, nurse, ond.id, text="nausea settled, no vomiting")
    trigger = v(40, sbp=172, dbp=104, hr=88, spo2=96, rr=13, sedation_scale="moaas",
                sedation_score=3)  # fmt: skip
    lab = meds.give_medication(
        ctx, nurse, sid, drug="labetalol", dose=30, unit="mg", route="IV",
        indication="bp_above_limit", confirm_reason=LABETALOL_REASON, trigger_vital_id=trigger.id,
    )  # fmt: skip
    at(45)
    meds.record_response(ctx, nurse, lab.id, vitals={"sbp": 158, "dbp": 96, "hr": 80})
    at(50)
    meds.record_response(ctx, nurse, lab.id, vitals={"sbp": 146, "dbp": 90, "hr": 78})
    at(50)
    sessions.stop_infusion(ctx, nurse, sid, "completed")
    for minute, sbp, dbp in ((65, 140, 88), (80, 134, 84), (95, 130, 82), (110, 128, 80)):
        v(minute, sbp=sbp, dbp=dbp, hr=76, spo2=98, rr=14, sedation_scale="moaas",
          sedation_score=5)  # fmt: skip
    at(112)
    dc.record_assessment(
        ctx, nurse, sid, scores={"aldrete": ALDRETE}, answers=GOOD_ANSWERS,
        sedation=("moaas", 5), dissociation_resolved=True,
    )  # fmt: skip
    at(115)
    dc.override_criterion(ctx, charge, sid, "steady_gait", GAIT_REASON)
    at(118)
    return World(ctx, clock, nurse, charge, sid)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)


def stored(ctx: AppContext) -> tuple[list[Note], list[NoteDocument], list[NoteSignature]]:
    with ctx.tx() as s:
        return (
            list(s.execute(select(Note).order_by(Note.id)).scalars()),
            list(s.execute(select(NoteDocument).order_by(NoteDocument.id)).scalars()),
            list(s.execute(select(NoteSignature).order_by(NoteSignature.id)).scalars()),
        )


def ca_pem(ctx: AppContext) -> bytes:
    from nursestation.app.pki import ca_certificate_pem

    return ca_certificate_pem(ctx)


def _realistic_values(ctx: AppContext, clock: FakeClock) -> dict[str, Any]:
    w = realistic_session(ctx, clock)
    return {"nurse": w.nurse, "charge": w.charge, "sid": w.sid}


# `world` is built once per test session and copied per test (tests/conftest.py).
COPIED_WORLDS = {"world": _realistic_values}


@pytest.fixture
def world(ctx: AppContext, clock: FakeClock, _standard_world: dict[str, Any]) -> World:
    if "sid" not in _standard_world:
        return realistic_session(ctx, clock)
    v = _standard_world
    return World(ctx, clock, v["nurse"], v["charge"], v["sid"])


# ---------------------------------------------------------------- content


def test_content_from_the_stored_session(world: World) -> None:
    with world.ctx.tx() as s:
        c = notes.build_note_content(world.ctx, s, world.sid, world.clock.now(), 1)
    h = c.header
    assert (h.patient_name, h.mrn, h.dob, h.chair, h.session_number) == (
        "Doe, Jane", "K-1001", date(1985, 4, 2), "3", 1,
    )  # fmt: skip
    assert h.prescriber == "Dr. Mira Patel, MD" and h.allergies == "sulfa"
    assert "0.5 mg/kg over 40 min" in h.protocol and h.nurse == "Ana Ruiz, RN"
    inf = c.infusion
    assert inf is not None and inf.lot == "KET-24-118"
    assert [e.kind for e in inf.events] == ["started", "paused", "resumed", "stopped"]
    assert inf.events[1].reason == "nausea, retching"
    assert (inf.minutes_infused, inf.delivered_mg) == (40.0, 35.0)  # 45 min less a 5-min pause
    assert inf.dose.total_mg == 35 and inf.dose.rate_ml_per_h == 52.5
    # Flowsheet: 172/104 is flagged against the clinic limits; the baseline is the pre-start set.
    assert c.baseline_vitals is not None and c.baseline_vitals.sbp == 124
    high = next(r for r in c.vitals if r.sbp == 172)
    assert "HIGH" in high.flags["sbp"] and "HIGH" in high.flags["dbp"]
    assert high.sedation is not None and high.sedation.startswith("MOAA/S 3")
    assert all(not r.flags for r in c.vitals if r.sbp == 124)
    assert {r.source for r in c.vitals} == {"manual"}
    # Medications with indication, pre-dose vitals, response and the soft-max reason.
    ond, lab = c.medications
    assert (ond.drug, ond.dose, ond.route) == ("Ondansetron", 4, "IV")
    assert "nausea settled" in ond.response
    assert lab.override_reason == LABETALOL_REASON
    assert "172/104" in lab.pre_vitals and "146/90" in lab.response
    # Discharge: the Aldrete sheet, criteria and the charge nurse's override.
    d = c.discharge
    assert d is not None and d.scale_name == "Modified Aldrete" and d.total == 10
    assert any(o.reason == GAIT_REASON and o.by == "Ben Ode, RN" for o in d.overrides)
    assert d.approved_by is None
    assert {s.chart for s in c.chart_series} == {"bp", "hr_spo2"}
    assert [m.label for m in c.chart_markers][:3] == ["start", "ondansetron", "paused"] or any(
        m.label == "labetalol" for m in c.chart_markers
    )
    assert c.note_id == notes.note_label(world.sid) and c.version == 1


def test_note_without_medications_or_discharge_says_none_recorded(
    ctx: AppContext, clock: FakeClock
) -> None:
    w = minimal_session(ctx, clock)
    pdf = notes.preview_note(ctx, w.nurse, w.sid)
    body = pdf_text(pdf)
    assert "No PRN medications given." in body
    assert "Discharge not yet assessed." in body
    assert "No alarms." in body
    with ctx.tx() as s:
        c = notes.build_note_content(ctx, s, w.sid, clock.now(), 1)
    assert c.medications == () and c.discharge is None and c.alarms == ()


# ---------------------------------------------------------------- sign, countersign, verify


def test_sign_and_countersign_two_trusted_signatures(world: World, tmp_path: Path) -> None:
    ctx = world.ctx
    info = notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    assert (info.version, info.stage, info.signed_by) == (1, "signed", "Ana Ruiz, RN")
    note_rows, docs, sigs = stored(ctx)
    assert len(note_rows) == 1 and [d.seq for d in docs] == [1] and len(sigs) == 1
    assert docs[0].sha256 == hashlib.sha256(docs[0].pdf).hexdigest()
    assert (sigs[0].meaning, sigs[0].field_name) == ("Documented by", "NurseSignature")

    world.clock.advance(minutes=5)
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    note_rows, docs, sigs = stored(ctx)
    assert [(d.seq, d.stage) for d in docs] == [(1, "signed"), (2, "countersigned")]
    assert [(x.field_name, x.meaning, x.signer_name) for x in sigs] == [
        ("NurseSignature", "Documented by", "Ana Ruiz, RN"),
        ("ChargeNurseSignature", "Approved for discharge", "Ben Ode, RN"),
    ]
    final = bytes(docs[1].pdf)
    assert final.startswith(bytes(docs[0].pdf))  # an incremental update of the signed bytes
    latest = notes.latest_note(ctx, world.nurse, world.sid)
    assert latest is not None and latest.stage == "countersigned"
    assert latest.countersigned_by == "Ben Ode, RN"

    # pypdf: every section's text is there, on the signed file.
    body = pdf_text(final)
    for heading in (
        "IV Ketamine Infusion — Session Note", "Pre-procedure checklist and baseline",
        "Infusion record", "Intra-procedure and recovery flowsheet", "Trends", "PRN medications",
        "Assessments and scores", "Alarms and responses", "Recovery and discharge", "Overrides",
        "Signatures",
    ):  # fmt: skip
        assert heading in body, heading
    for fact in (
        "Doe, Jane", "K-1001", "1985-04-02", "KET-24-118", "Ondansetron", "Labetalol",
        LABETALOL_REASON[:30], GAIT_REASON[:30], "Modified Aldrete", "nausea, retching",
        "Ana Ruiz, RN", "Ben Ode, RN", "Approved for discharge", "Documented by",
    ):  # fmt: skip
        assert fact in body.replace("\n", " "), fact
    fields = PdfReader(BytesIO(final)).get_fields() or {}
    assert {"NurseSignature", "ChargeNurseSignature"} <= set(fields)

    # pyHanko: two signatures, both intact and trusted against the clinic CA.
    result = verify_pdf(final, ca_pem(ctx))
    assert result.ok, result
    assert [c.field_name for c in result.signatures] == ["NurseSignature", "ChargeNurseSignature"]
    assert all(c.intact and c.trusted and c.bottom_line for c in result.signatures)
    assert result.signatures[0].coverage == "ENTIRE_REVISION"
    assert result.signatures[0].modification_level == "FORM_FILLING"
    assert result.signatures[1].coverage == "ENTIRE_FILE"

    # A CA that is not the clinic's does not trust them.
    from nursestation.report.pki import create_ca

    other = create_ca(tmp_path / "other", "Elsewhere", world.clock.now())
    assert not verify_pdf(final, other.cert_pem).ok
    check = notes.verify_note(ctx, world.nurse, latest.note_id)
    assert check.ok and len(check.lines) == 2


def test_wrong_password_is_refused_and_audited(world: World) -> None:
    with pytest.raises(DomainError) as exc:
        notes.sign_note(world.ctx, world.nurse, world.sid, "not-my-password")
    assert exc.value.code == "bad_password"
    assert stored(world.ctx) == ([], [], [])
    with world.ctx.tx() as s:
        failed = s.execute(
            select(AuditEvent).where(AuditEvent.action == "signature.failed")
        ).scalar_one()
        assert failed.username == "rn.ana"
        assert not s.execute(select(AuditEvent).where(AuditEvent.action == "note.sign")).first()
    notes.sign_note(world.ctx, world.nurse, world.sid, NURSE_PW)
    with world.ctx.tx() as s:
        row = s.execute(select(AuditEvent).where(AuditEvent.action == "note.sign")).scalar_one()
        assert row.after is not None and row.after["version"] == 1


def test_only_clinical_roles_sign_and_only_once(world: World) -> None:
    admin_pw = "Admin-pass-2026"
    users.provision_user(
        world.ctx, username="ad.dana", full_name="Dana", roles={"administrator"}, password=admin_pw
    )
    admin = users.authenticate(world.ctx, "ad.dana", admin_pw)
    with pytest.raises(DomainError) as exc:
        notes.sign_note(world.ctx, admin, world.sid, admin_pw)
    assert exc.value.code == "not_permitted"
    notes.sign_note(world.ctx, world.nurse, world.sid, NURSE_PW)
    with pytest.raises(DomainError) as exc:
        notes.sign_note(world.ctx, world.nurse, world.sid, NURSE_PW)
    assert exc.value.code == "invalid_state" and "addendum" in exc.value.message


def test_signing_refused_while_infusing(ctx: AppContext, clock: FakeClock) -> None:
    nurse, _ = _people(ctx)
    patients.register_patient(
        ctx, nurse, mrn="K-2", name="Roe, Max", dob=date(1990, 1, 1), weight_kg=80, sex="male"
    )
    s = sessions.check_in(
        ctx, nurse, mrn="K-2", chair="2", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
    sessions.start_infusion(ctx, nurse, s.id)
    with pytest.raises(DomainError) as exc:
        notes.sign_note(ctx, nurse, s.id, NURSE_PW)
    assert exc.value.code == "invalid_state"


def test_signed_note_rows_cannot_be_changed_at_database_level(world: World) -> None:
    notes.sign_note(world.ctx, world.nurse, world.sid, NURSE_PW)
    # Plain SQL outside the app, as someone with the database file (or password) would try it.
    con = raw_connection(world.ctx.config)
    blob = "x'00'" if world.ctx.config.sqlite_path else "'\\x00'::bytea"
    try:
        for stmt in (
            "UPDATE notes SET addendum_reason = 'edited'",
            "DELETE FROM notes",
            f"UPDATE note_documents SET pdf = {blob}, sha256 = 'x'",
            "DELETE FROM note_documents",
            "UPDATE note_signatures SET signer_name = 'Someone Else'",
            "DELETE FROM note_signatures",
        ):
            with pytest.raises(raw_errors(), match="append-only"):
                con.execute(stmt)
    finally:
        con.close()
    with world.ctx.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE note_documents SET stage = 'draft'"))
    _, docs, sigs = stored(world.ctx)
    assert docs[0].stage == "signed" and sigs[0].signer_name == "Ana Ruiz, RN"


# ---------------------------------------------------------------- approval binds to the final record


def _approval_state(ctx: AppContext, sid: int) -> tuple[int, bool, list[str]]:
    from nursestation.db.models import DischargeApproval, InfusionSession

    with ctx.tx() as s:
        approvals = len(list(s.execute(select(DischargeApproval)).scalars()))
        ended = s.get(InfusionSession, sid).ended_at is not None
        stages = [d.stage for d in s.execute(select(NoteDocument)).scalars()]
    return approvals, ended, stages


def _after_signing(world: World, kind: str) -> None:
    """Record one thing of `kind` through its use case, as happens at the chair after signing."""
    ctx, nurse, sid = world.ctx, world.nurse, world.sid
    if kind == "vitals":
        vitals.record_vitals(
            ctx, nurse, sid, {"sbp": 126, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14}
        )
    elif kind == "correction":
        last = vitals.list_vitals(ctx, nurse, sid)[-1]
        vitals.correct_vitals(ctx, nurse, last.id, {"hr": 75}, "typo: HR was 75")
    elif kind == "medication":
        meds.give_medication(
            ctx, nurse, sid, drug="metoclopramide", dose=10, unit="mg", route="IV",
            indication="nausea",
        )  # fmt: skip
    elif kind == "assessment":
        dc.record_assessment(ctx, nurse, sid, answers={"next_appointment": "2026-03-06 09:00"})
    elif kind == "alarm_ack":
        from nursestation.app import alarms

        alarms.acknowledge_alarm(ctx, nurse, "3")
    else:  # pragma: no cover - a typo in the parameter list
        raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("vitals", "vital signs"),
        ("correction", "vital signs"),
        ("medication", "medications"),
        ("assessment", "assessments"),
        ("alarm_ack", "alarms or alarm acknowledgements"),
    ],
)
def test_approval_refused_when_something_was_recorded_after_signing(
    world: World, kind: str, named: str
) -> None:
    ctx = world.ctx
    if kind == "alarm_ack":  # a latched critical alarm still to acknowledge when the nurse signs
        v = {"sbp": 126, "dbp": 80, "hr": 80, "spo2": 84, "rr": 14}
        vitals.record_vitals(ctx, world.nurse, world.sid, v, soft_confirmed=True)
        vitals.record_vitals(
            ctx, world.nurse, world.sid, {"sbp": 126, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14}
        )
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    world.clock.advance(minutes=2)
    before = _approval_state(ctx, world.sid)
    _after_signing(world, kind)
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    assert exc.value.code == "note_stale"
    assert named in exc.value.message and "addendum" in exc.value.message
    assert _approval_state(ctx, world.sid) == before == (0, False, ["signed"])


def test_approval_allowed_after_the_nurse_signs_an_addendum_containing_it(world: World) -> None:
    ctx = world.ctx
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    world.clock.advance(minutes=2)
    _after_signing(world, "vitals")
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    assert exc.value.code == "note_stale"
    world.clock.advance(minutes=1)
    v2 = notes.add_addendum(
        ctx, world.nurse, world.sid, "Late entry", "Recovery vitals at 120 min.", NURSE_PW
    )
    world.clock.advance(minutes=1)
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    latest = notes.latest_note(ctx, world.nurse, world.sid)
    assert latest is not None and (latest.version, latest.stage) == (v2.version, "countersigned")
    assert _approval_state(ctx, world.sid) == (1, True, ["signed", "signed", "countersigned"])


def test_nobody_approves_a_note_they_signed(ctx: AppContext, clock: FakeClock) -> None:
    w = realistic_session(ctx, clock)
    users.provision_user(
        ctx, username="cn.cat", full_name="Cat Lowe, RN", roles={"nurse", "charge_nurse"},
        password="Cat-pass-2026",
    )  # fmt: skip
    cat = users.authenticate(ctx, "cn.cat", "Cat-pass-2026")
    notes.sign_note(ctx, cat, w.sid, "Cat-pass-2026")
    clock.advance(minutes=2)
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(ctx, cat, w.sid, "Cat-pass-2026")
    assert exc.value.code == "self_approval" and "Cat Lowe, RN" in exc.value.message
    assert _approval_state(ctx, w.sid) == (0, False, ["signed"])
    dc.approve_discharge(ctx, w.charge, w.sid, CHARGE_PW)  # another charge nurse may
    assert _approval_state(ctx, w.sid) == (1, True, ["signed", "countersigned"])


def test_approved_note_shows_who_approved_when_and_meaning(world: World) -> None:
    from pdf_support import visible_text

    ctx = world.ctx
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    _, docs, _ = stored(ctx)
    signed_text = " ".join(visible_text(bytes(docs[0].pdf)).split())
    assert "not yet approved" not in pdf_text(bytes(docs[0].pdf))
    assert "Not approved: filled in when a charge nurse approves" in signed_text
    world.clock.advance(minutes=5)
    approved_at = world.clock.now()
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    _, docs, _ = stored(ctx)
    final = bytes(docs[-1].pdf)
    from nursestation.report.signing import approval_record, format_signing_time

    record = approval_record(final)
    assert record is not None
    when = format_signing_time(approved_at, notes.display_tz_name(ctx))
    text = " ".join(visible_text(final).split())
    for words in (
        "Approved for discharge by Ben Ode, RN",
        when,
        "Meaning: reviewed the session record and approved the patient for discharge",
        f"version 1 as signed by the nurse (SHA-256 {docs[0].sha256[:16]}",
    ):
        assert words in record and words in text, words
    assert "Not approved" not in text
    assert PdfReader(BytesIO(final)).get_form_text_fields()["ApprovalRecord"] == record
    result = verify_pdf(final, ca_pem(ctx))
    assert result.ok and result.signatures[0].modification_level == "FORM_FILLING"


# ---------------------------------------------------------------- addendum


def test_addendum_is_a_new_signed_version_and_the_original_stays(world: World) -> None:
    ctx = world.ctx
    first = notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    world.clock.advance(minutes=5)
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    _, docs_before, _ = stored(ctx)
    world.clock.advance(minutes=30)
    with pytest.raises(DomainError) as exc:
        notes.add_addendum(ctx, world.nurse, world.sid, "", "text", NURSE_PW)
    assert (exc.value.code, exc.value.field) == ("bad_input", "reason")
    with pytest.raises(DomainError) as exc:
        notes.add_addendum(ctx, world.nurse, world.sid, "Late entry", "x", "wrong")
    assert exc.value.code == "bad_password"
    add = notes.add_addendum(
        ctx, world.nurse, world.sid, "Late entry",
        "Patient phoned at 13:10: mild headache, resolved with rest.", NURSE_PW,
    )  # fmt: skip
    assert (add.version, add.supersedes_id, add.addendum_reason) == (2, first.note_id, "Late entry")
    note_rows, docs, sigs = stored(ctx)
    assert [n.version for n in note_rows] == [1, 2]
    assert note_rows[1].addendum_text.startswith("Patient phoned")
    # The original version's documents are unchanged, byte for byte.
    assert [d.sha256 for d in docs[:2]] == [d.sha256 for d in docs_before]
    body = pdf_text(bytes(docs[2].pdf)).replace("\n", " ")
    assert "ADDENDUM" in body and "version 2 supersedes note" in body
    assert "Patient phoned at 13:10" in body and "Late entry" in body
    assert "Countersigned on version 1" in body
    assert sigs[-1].meaning == "Addendum documented by"
    assert verify_pdf(bytes(docs[2].pdf), ca_pem(ctx)).ok
    assert [n.version for n in notes.list_notes(ctx, world.nurse, world.sid)] == [1, 2]
    # A second addendum carries the first one's text too.
    world.clock.advance(minutes=10)
    notes.add_addendum(
        ctx, world.nurse, world.sid, "Correction", "Escort was her brother.", NURSE_PW
    )
    _, docs, _ = stored(ctx)
    body3 = pdf_text(bytes(docs[-1].pdf)).replace("\n", " ")
    assert "Escort was her brother" in body3 and "mild headache" in body3


def test_addendum_needs_a_signed_note(ctx: AppContext, clock: FakeClock) -> None:
    w = minimal_session(ctx, clock)
    with pytest.raises(DomainError) as exc:
        notes.add_addendum(ctx, w.nurse, w.sid, "Late entry", "text", NURSE_PW)
    assert exc.value.code == "invalid_state"


# ---------------------------------------------------------------- verify CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nursestation", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def _flip(data: bytes) -> bytes:
    """Flip one byte inside the first content stream (covered by both signatures)."""
    at = data.index(b"stream", data.index(b"/Contents")) + 40
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.slow
def test_verify_cli_ok_then_one_flipped_byte_fails(world: World, tmp_path: Path) -> None:
    ctx = world.ctx
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    world.clock.advance(minutes=5)
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    _, docs, _ = stored(ctx)
    good = tmp_path / "note.pdf"
    good.write_bytes(bytes(docs[-1].pdf))
    data_dir = str(ctx.config.data_dir)
    db = cli_db_args(ctx.config)
    r = _cli("verify", "--data-dir", data_dir, *db, str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("OK ") == 2
    assert f"matches stored note {notes.note_label(world.sid)} version 1" in r.stdout

    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(_flip(good.read_bytes()))
    r = _cli("verify", "--data-dir", data_dir, *db, str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "DIFFERS from stored note" in r.stdout

    r = _cli("verify", "--data-dir", data_dir, str(tmp_path / "missing.pdf"))
    assert r.returncode == 2
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"this is not a pdf")
    assert _cli("verify", "--data-dir", data_dir, str(junk)).returncode == 2


def test_verify_files_without_database_and_with_explicit_ca(world: World, tmp_path: Path) -> None:
    ctx = world.ctx
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    _, docs, _ = stored(ctx)
    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(bytes(docs[0].pdf))
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem(ctx))
    elsewhere = missing_station_config(tmp_path / "auditor")
    out = BytesIO()
    import io

    buf = io.StringIO()
    assert notes.verify_files(elsewhere, [str(pdf)], str(ca), buf) == 0
    assert "no database" in buf.getvalue() and "VERIFIED" in buf.getvalue()
    assert not (tmp_path / "auditor").exists()  # verifying never creates a data directory
    buf = io.StringIO()
    assert notes.verify_files(elsewhere, [str(pdf)], str(tmp_path / "nope.pem"), buf) == 2
    del out


# ---------------------------------------------------------------- scenario


@pytest.mark.slow
def test_scenario_signs_countersigns_and_adds_an_addendum(
    tmp_path: Path, example_runs: Any
) -> None:
    # The session's one run of the scenario with its --out folder (tests/example_runs.py).
    run = example_runs("signed_note")
    out = run.out_dir
    assert run.rc == 0, run.lines
    assert all(x["ok"] or x.get("expectation") is None for x in run.lines)
    files = sorted(p.name for p in out.glob("*.pdf"))
    assert files == [
        "2026-03-02_K-1001_session1_v1.pdf",
        "2026-03-02_K-1001_session1_v2.pdf",
    ]
    r = _cli("verify", "--data-dir", str(tmp_path / "none"), "--ca", str(out / "ca.pem"),
             *(str(out / f) for f in files))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def _monitor_second(world: World, spo2: float, pulse: float) -> None:
    from nursestation.app import devices
    from nursestation.devices.reading import VALID, make_reading

    at = world.clock.now()
    devices.ingest_readings(world.ctx, "3", "/dev/ttyUSB0", "masimo-ascii", [
        make_reading("masimo-ascii", "spo2", spo2, VALID, None, None, at, "SN1"),
        make_reading("masimo-ascii", "pulse_rate", pulse, VALID, None, None, at, "SN1"),
    ])  # fmt: skip


def test_a_monitor_still_streaming_normal_values_does_not_stale_the_signed_note(
    world: World,
) -> None:
    # The oximeter stays on the patient until discharge: its normal seconds after the signature
    # are not something the note must contain (a reading that crosses a limit raises an alarm,
    # and alarms do make it stale, below). Before: every approval of a monitored chair was
    # refused as note_stale ("vital signs"), and signing itself re-rendered on each reading.
    ctx = world.ctx
    _monitor_second(world, 97, 72)
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    for _ in range(5):
        world.clock.advance(seconds=1)
        _monitor_second(world, 97, 72)
    world.clock.advance(minutes=1)
    dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    assert _approval_state(ctx, world.sid) == (1, True, ["signed", "countersigned"])


def test_a_monitor_reading_that_raises_an_alarm_after_signing_stales_the_note(
    world: World,
) -> None:
    ctx = world.ctx
    notes.sign_note(ctx, world.nurse, world.sid, NURSE_PW)
    world.clock.advance(seconds=30)
    _monitor_second(world, 84, 72)  # SpO2 84: below the limit, an alarm is raised
    world.clock.advance(seconds=1)
    _monitor_second(world, 97, 72)  # back in range: the discharge criteria hold again
    world.clock.advance(minutes=1)
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(ctx, world.charge, world.sid, CHARGE_PW)
    assert exc.value.code == "note_stale" and "alarms" in exc.value.message
