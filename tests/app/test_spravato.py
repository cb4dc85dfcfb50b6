"""Spravato sessions under the SPRAVATO REMS (issue 17), through the real use cases: enrolment
hard stop, pre-dose BP and the prescriber's decision, concomitant medications, devices 5 min
apart, BP reminders, the observation minimum (REMS 120 min or the clinic's longer one), the
Patient Monitoring Form, its PDF, the export and the 7-day tracker. Each limit is tested just
inside and just outside."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from support import PASSWORD

from nursestation.app import discharge as dc
from nursestation.app import export, notes, patients, sessions, spravato, vitals
from nursestation.clock import FakeClock
from nursestation.db.models import AuditEvent, InfusionEvent
from nursestation.dosing import Protocol
from nursestation.errors import DomainError

CHECKLIST = {  # the IV checklist's answers without any IV question
    "consent_confirmed": True,
    "identity_two_identifiers": True,
    "last_solids_at": "2026-03-02T04:00:00+00:00",
    "last_clear_liquids_at": "2026-03-02T10:00:00+00:00",
    "escort_name": "Kim Roe",
    "escort_phone": "555-0142",
    "pregnancy_screen": "not_applicable",
    "contraindications_screened": True,
    "contraindications": [],
    "interacting_medications_screened": True,
    "interacting_medications": [],
}
NO_CONMEDS = {
    "benzodiazepines": False,
    "non_benzodiazepine_hypnotics": False,
    "psychostimulants": False,
    "maois": False,
    "opioids": False,
}
FORM_ANSWERS = {
    "setting_rems_id": "HCS-1",
    "ready_to_leave_at": "2026-03-02T16:10:00+00:00",
    "vitals_acceptable_pre": True,
    "vitals_acceptable_end": True,
    "sedation_event": False,
    "dissociation_event": False,
    "respiratory_depression_event": False,
    "serious_adverse_event": False,
}
BP_OK = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def code(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DomainError) as e:
        fn(*args, **kwargs)
    return e.value.code


def register(ctx: Any, nurse: Any, mrn: str = "S-1", *, enrol: bool = True) -> None:
    patients.register_patient(
        ctx, nurse, mrn=mrn, name="Roe, Sam", dob=date(1979, 6, 14), weight_kg=82
    )
    if enrol:
        spravato.record_enrolment(
            ctx, nurse, mrn, rems_patient_id="RP-1", enrolled_on=date(2026, 2, 20)
        )


def seat(ctx: Any, nurse: Any, dose: int = 84, chair: str = "2", **kw: Any) -> int:
    kw.setdefault("conmeds", NO_CONMEDS)
    return spravato.check_in(
        ctx, nurse, mrn="S-1", chair=chair, dose_mg=dose, checklist=CHECKLIST, **kw
    ).id


def dosed(ctx: Any, people: dict[str, Any], clock: FakeClock, dose: int = 56) -> int:
    """Checked in, pre-dose BP, every device 5 min apart; the clock at the last device."""
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse, dose)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    clock.advance(minutes=2)
    for i in range(dose // 28):
        if i:
            clock.advance(minutes=5)
        spravato.give_device(ctx, nurse, sid, lot=f"LOT-{i}")
    return sid


# ---------------------------------------------------------------- enrolment and check-in


def test_unenrolled_patient_is_refused_at_check_in_and_then_enrolled(ctx, people) -> None:
    nurse, charge = people["nurse"], people["charge"]
    register(ctx, nurse, enrol=False)
    for who in (nurse, charge):
        assert code(seat, ctx, who) == "rems_not_enrolled"
    assert code(spravato.record_enrolment, ctx, nurse, "S-1", rems_patient_id=" ",
                enrolled_on="2026-02-20") == "bad_input"  # fmt: skip
    spravato.record_enrolment(ctx, nurse, "S-1", rems_patient_id="RP-9", enrolled_on="2026-02-20")
    e = spravato.enrolment_of(ctx, nurse, "S-1")
    assert e is not None and e.rems_patient_id == "RP-9"
    sid = seat(ctx, nurse)
    v = spravato.get_spravato(ctx, nurse, sid)
    assert (v.dose_mg, v.planned_devices, v.enrolment.rems_patient_id) == (84, 3, "RP-9")


def test_enrolment_date_in_the_future_is_refused(ctx, people, clock) -> None:
    nurse = people["nurse"]
    register(ctx, nurse, enrol=False)
    tomorrow = (clock.now() + timedelta(days=1)).date()
    with pytest.raises(DomainError) as e:
        spravato.record_enrolment(ctx, nurse, "S-1", rems_patient_id="R", enrolled_on=tomorrow)
    assert e.value.field == "enrolled_on"


@pytest.mark.parametrize(("dose", "devices"), [(56, 2), (84, 3)])
def test_doses_are_two_or_three_28_mg_devices(ctx, people, dose: int, devices: int) -> None:
    register(ctx, people["nurse"])
    sid = seat(ctx, people["nurse"], dose)
    v = spravato.get_spravato(ctx, people["nurse"], sid)
    assert v.planned_devices == devices
    s = sessions.get_summary(ctx, people["nurse"], sid)
    # no mg/kg, no pump rate
    assert (s.dose.dose_mg_per_kg, s.dose.rate_mg_per_h, s.dose.total_mg) == (0, 0, dose)


@pytest.mark.parametrize("dose", [28, 70, 112, "84"])
def test_other_doses_are_refused_naming_the_field(ctx, people, dose: Any) -> None:
    register(ctx, people["nurse"])
    with pytest.raises(DomainError) as e:
        seat(ctx, people["nurse"], dose)
    assert (e.value.code, e.value.field) == ("bad_input", "dose_mg")
    assert "56 mg, 84 mg" in e.value.message


def test_iv_check_in_and_pump_use_cases_refuse_spravato(ctx, people, clock) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    assert code(sessions.check_in, ctx, nurse, mrn="S-1", chair="2",
                protocol=Protocol(0.5, 40, 1), session_type="spravato") == "bad_input"  # fmt: skip
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    assert code(sessions.start_infusion, ctx, nurse, sid) == "invalid_state"
    spravato.give_device(ctx, nurse, sid, lot="L1")
    assert code(sessions.stop_infusion, ctx, nurse, sid, "completed") == "invalid_state"


# ---------------------------------------------------------------- before the first device


def test_no_iv_question_and_no_iv_hard_stop(ctx, people) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    items = {i["id"] for i in sessions.preview_checklist(ctx, nurse, sid)}
    assert "iv_access" not in items and "baseline_vitals" in items
    spravato.give_device(ctx, nurse, sid, lot="L1")  # no IV recorded, and allowed


def test_first_device_needs_a_pre_dose_bp(ctx, people) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    with pytest.raises(DomainError) as e:
        spravato.give_device(ctx, nurse, sid, lot="L1")
    assert (e.value.code, e.value.field) == ("checklist_incomplete", "predose_bp")


@pytest.mark.parametrize(
    ("sbp", "dbp", "needs_decision"),
    [(140, 90, False), (141, 90, True), (140, 91, True)],
)
def test_pre_dose_bp_limit_boundary(ctx, people, sbp: int, dbp: int, needs_decision: bool) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": sbp, "dbp": dbp})
    if not needs_decision:
        spravato.give_device(ctx, nurse, sid, lot="L1")
        assert code(spravato.record_bp_decision, ctx, nurse, sid, decision="proceed",
                    prescriber="Dr V", reason="r") == "invalid_state"  # fmt: skip
        return
    assert code(spravato.give_device, ctx, nurse, sid, lot="L1") == "prescriber_decision_required"
    spravato.record_bp_decision(ctx, nurse, sid, decision="proceed", prescriber="Dr V",
                                reason="white-coat pattern")  # fmt: skip
    v = spravato.give_device(ctx, nurse, sid, lot="L1")
    assert len(v.devices) == 1 and v.decision is not None and v.decision.decision == "proceed"


def test_prescriber_delay_refuses_and_bad_decisions_name_the_field(ctx, people) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": 162, "dbp": 98})
    with pytest.raises(DomainError) as e:
        spravato.record_bp_decision(ctx, nurse, sid, decision="maybe", prescriber="Dr V",
                                    reason="r")  # fmt: skip
    assert e.value.field == "decision"
    with pytest.raises(DomainError) as e:
        spravato.record_bp_decision(ctx, nurse, sid, decision="delay", prescriber=" ", reason="r")
    assert e.value.field == "prescriber"
    spravato.record_bp_decision(ctx, nurse, sid, decision="delay", prescriber="Dr V",
                                reason="recheck next week")  # fmt: skip
    with pytest.raises(DomainError) as e:
        spravato.give_device(ctx, nurse, sid, lot="L1")
    assert e.value.code == "invalid_state" and "delay" in e.value.message


def test_concomitant_medication_questions_must_all_be_answered(ctx, people) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse, conmeds={"benzodiazepines": True})
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    with pytest.raises(DomainError) as e:
        spravato.give_device(ctx, nurse, sid, lot="L1")
    assert e.value.code == "checklist_incomplete" and "Opioids" in e.value.message
    with pytest.raises(DomainError) as e:
        spravato.answer_conmeds(ctx, nurse, sid, {"opioids": "no"})
    assert (e.value.code, e.value.field) == ("bad_input", "opioids")
    with pytest.raises(DomainError) as e:
        spravato.answer_conmeds(ctx, nurse, sid, {"ssri": False})
    assert e.value.field == "ssri"
    rest = {k: v for k, v in NO_CONMEDS.items() if k != "benzodiazepines"}
    v = spravato.answer_conmeds(ctx, nurse, sid, rest)
    assert v.unanswered_conmeds == () and v.conmeds["benzodiazepines"] is True
    spravato.give_device(ctx, nurse, sid, lot="L1")


# ---------------------------------------------------------------- devices


def test_devices_at_least_5_minutes_apart(ctx, people, clock) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    spravato.give_device(ctx, nurse, sid, lot="L1")
    first = clock.now()
    clock.advance(minutes=4, seconds=59)
    with pytest.raises(DomainError) as e:
        spravato.give_device(ctx, nurse, sid, lot="L1")
    assert e.value.code == "interval_too_short"
    assert "allowed from 14:05" in e.value.message  # T0 14:00 UTC; the clinic shows its zone
    clock.set(first + timedelta(minutes=5))
    spravato.give_device(ctx, nurse, sid, lot="L2")
    assert code(spravato.give_device, ctx, nurse, sid, lot=" ") == "bad_input"
    clock.advance(minutes=5)
    v = spravato.give_device(ctx, nurse, sid, lot="L3")
    assert [(d.number, d.lot) for d in v.devices] == [(1, "L1"), (2, "L2"), (3, "L3")]
    assert v.dosing_complete and v.next_device_at is None
    clock.advance(minutes=5)
    assert code(spravato.give_device, ctx, nurse, sid, lot="L4") == "invalid_state"


def test_first_device_starts_the_observation_and_is_audited(ctx, people, clock) -> None:
    sid = dosed(ctx, people, clock, 56)
    s = sessions.get_summary(ctx, people["nurse"], sid)
    assert s.state.phase == "observation"
    assert s.state.stopped_at == s.state.started_at  # both at the first device
    with ctx.tx() as db:
        kinds = [e.kind for e in db.scalars(select(InfusionEvent).where(
            InfusionEvent.session_id == sid))]  # fmt: skip
        actions = [a.action for a in db.scalars(select(AuditEvent))]
    assert kinds == ["start", "stop"]
    assert actions.count("spravato.device") == 2 and "rems.enrolment" in actions


# ---------------------------------------------------------------- BP reminders and timepoints


def test_bp_reminders_around_40_minutes_and_at_completion(ctx, people, clock) -> None:
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    spravato.give_device(ctx, nurse, sid, lot="L1")
    first = clock.now()

    def keys() -> list[str]:
        return [r.key for r in spravato.get_spravato(ctx, nurse, sid).reminders]

    clock.set(first + timedelta(minutes=29, seconds=59))
    assert keys() == []
    clock.set(first + timedelta(minutes=30))
    assert keys() == ["bp_40"]
    clock.set(first + timedelta(minutes=50, seconds=1))
    (r,) = spravato.get_spravato(ctx, nurse, sid).reminders
    assert r.overdue
    clock.set(first + timedelta(minutes=45))
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": 142, "dbp": 88},
                         observed_at=first + timedelta(minutes=41))  # fmt: skip
    assert keys() == []
    clock.set(first + timedelta(minutes=109, seconds=59))
    assert keys() == []
    clock.set(first + timedelta(minutes=110))
    assert keys() == ["bp_end"]
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": 124, "dbp": 80})
    v = spravato.get_spravato(ctx, nurse, sid)
    assert keys() == []
    assert (v.bp.pre.sbp, v.bp.after_40.sbp, v.bp.end.sbp) == (128, 142, 124)


# ---------------------------------------------------------------- observation minimum


def _ready_for_discharge(ctx: Any, nurse: Any, sid: int) -> None:
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": 124, "dbp": 80})
    dc.record_assessment(
        ctx,
        nurse,
        sid,
        answers={
            "alert_oriented": True,
            "escort_present": True,
            "escort_name": "Kim Roe",
            "instructions_given": True,
            "on_room_air": True,
            "suicide_screen_positive": False,
        },
        sedation=("moaas", 5),
        dissociation_resolved=True,
    )


@pytest.mark.parametrize(("clinic_min", "required"), [(60, 120), (150, 150)])
def test_observation_is_the_rems_120_min_or_the_clinics_longer_minimum(
    ctx, people, clock, clinic_min: int, required: int
) -> None:
    ctx.settings = ctx.settings.with_overrides({"min_observation_min": clinic_min}, "test")
    nurse = people["nurse"]
    register(ctx, nurse)
    sid = seat(ctx, nurse)
    vitals.record_vitals(ctx, nurse, sid, BP_OK)
    spravato.give_device(ctx, nurse, sid, lot="L1")
    first = clock.now()
    clock.set(first + timedelta(minutes=required - 1))
    _ready_for_discharge(ctx, nurse, sid)
    with pytest.raises(DomainError) as e:
        dc.require_ready(ctx, nurse, sid)
    assert e.value.code == "observation_incomplete"
    assert f"{required} min of observation" in e.value.message
    assert "first Spravato device" in e.value.message
    clock.set(first + timedelta(minutes=required))
    assert dc.require_ready(ctx, nurse, sid).ready


def test_spravato_discharge_does_not_ask_for_iv_removal_or_a_score(ctx, people, clock) -> None:
    sid = dosed(ctx, people, clock, 56)
    clock.advance(minutes=121)
    _ready_for_discharge(ctx, people["nurse"], sid)
    st = dc.get_status(ctx, people["nurse"], sid)
    required = {c.id for c in st.criteria if c.required}
    assert "iv_removed" not in required and "score" not in required
    assert {"observation_time", "sedation_resolved", "dissociation_resolved",
            "escort_present", "instructions_given"} <= required  # fmt: skip
    assert st.ready


# ---------------------------------------------------------------- the form, the note, export


def _through_discharge(ctx: Any, people: dict[str, Any], clock: FakeClock) -> int:
    nurse = people["nurse"]
    sid = dosed(ctx, people, clock, 84)
    clock.advance(minutes=30)  # 40 min after the first device
    vitals.record_vitals(ctx, nurse, sid, {**BP_OK, "sbp": 140, "dbp": 88})
    clock.advance(minutes=80)  # 120 min after the first device
    _ready_for_discharge(ctx, nurse, sid)
    return sid


def test_form_is_filled_from_the_session_and_completed_by_the_nurse(ctx, people, clock) -> None:
    nurse = people["nurse"]
    sid = _through_discharge(ctx, people, clock)
    v = spravato.get_spravato(ctx, nurse, sid)
    f = v.form
    assert f.total_monitored_min == 120
    assert f.value("rems_patient_id") == "RP-1"
    assert f.value("dose_mg") == "84 mg (3 × 28 mg devices)"
    assert "lot LOT-2" in f.value("devices")
    assert f.value("conmed_opioids") == "No"
    assert f.value("bp_pre").startswith("128/82") and f.value("bp_40").startswith("140/88")
    assert f.value("bp_end").startswith("124/80")
    missing = {x.key for x in f.missing}
    assert missing == {"setting_rems_id", "ready_to_leave_at", "vitals_acceptable_pre",
                       "vitals_acceptable_end", "sedation_event", "dissociation_event",
                       "respiratory_depression_event", "serious_adverse_event",
                       "serious_adverse_event_text"}  # fmt: skip
    with pytest.raises(DomainError) as e:
        spravato.complete_form(ctx, nurse, sid, {"sedation_event": "no"})
    assert e.value.field == "sedation_event"
    with pytest.raises(DomainError) as e:
        spravato.complete_form(ctx, nurse, sid, {"bp_pre": "120/80"})  # a session field
    assert e.value.field == "bp_pre"
    with pytest.raises(DomainError) as e:
        spravato.complete_form(ctx, nurse, sid, {"ready_to_leave_at": "2026-03-02T16:10"})
    assert e.value.field == "ready_to_leave_at"
    v = spravato.complete_form(ctx, nurse, sid, {**FORM_ANSWERS, "serious_adverse_event": True})
    assert [x.key for x in v.form.missing] == ["serious_adverse_event_text"]
    v = spravato.complete_form(ctx, nurse, sid, {"serious_adverse_event": False})
    assert v.form.complete and v.form_answers["setting_rems_id"] == "HCS-1"


def test_form_pdf_note_and_export_carry_the_form(ctx, people, clock, tmp_path: Path) -> None:
    nurse, charge, admin = people["nurse"], people["charge"], people["admin"]
    sid = _through_discharge(ctx, people, clock)
    spravato.complete_form(ctx, nurse, sid, FORM_ANSWERS)
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(spravato.form_pdf(ctx, nurse, sid))).pages
    )
    assert "Patient Monitoring Form" in text and "RP-1" in text and "120 min" in text
    assert "MISSING" not in text
    notes.sign_note(ctx, nurse, sid, PASSWORD)
    clock.advance(minutes=1)
    dc.approve_discharge(ctx, charge, sid, PASSWORD)
    note = notes.list_notes(ctx, nurse, sid)[-1]
    pdf = notes.note_pdf(ctx, nurse, note.note_id)
    note_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "SPRAVATO REMS Patient Monitoring Form" in note_text
    assert "Total monitored time" in note_text and "LOT-1" in note_text
    assert "mg/kg" not in note_text
    res = export.export_notes(
        ctx, admin, export.ExportFilter.from_strings("2026-03-01", "2026-03-03"),
        tmp_path / "out", ("pdf", "csv"),
    )  # fmt: skip
    assert res.ok
    rows = list(csv.DictReader((tmp_path / "out" / export.REMS_CSV_FILE).open(
        encoding="utf-8-sig")))  # fmt: skip
    assert len(rows) == 1 and rows[0]["total_monitored_min"] == "120 min"
    assert rows[0]["form_complete"] == "yes" and rows[0]["due_date"] == "2026-03-09"
    sess = next(csv.DictReader((tmp_path / "out" / export.CSV_FILE).open(encoding="utf-8-sig")))
    assert (sess["mg_delivered"], sess["ketamine_lot"]) == ("84", "LOT-0; LOT-1; LOT-2")


# ---------------------------------------------------------------- the 7-day tracker


def test_tracker_due_date_days_left_overdue_and_submission(ctx, people, clock) -> None:
    nurse, charge, admin = people["nurse"], people["charge"], people["admin"]
    sid = _through_discharge(ctx, people, clock)  # session date 2026-03-02
    assert code(spravato.tracker, ctx, nurse) == "not_permitted"
    (row,) = spravato.tracker(ctx, charge)
    assert (row.due_date, row.days_left, row.overdue) == (date(2026, 3, 9), 7, False)
    clock.set(clock.now().replace(day=9, hour=20))  # the due date itself: 0 days left
    (row,) = spravato.tracker(ctx, admin)
    assert (row.days_left, row.overdue) == (0, False)
    clock.set(clock.now().replace(day=10, hour=15))
    (row,) = spravato.tracker(ctx, admin)
    assert (row.days_left, row.overdue) == (-1, True)
    # the form must be complete before a submission is recorded
    assert code(spravato.record_submission, ctx, charge, sid, submitted_on="2026-03-10",
                method="online", confirmation="C-1") == "invalid_state"  # fmt: skip
    spravato.complete_form(ctx, nurse, sid, FORM_ANSWERS)
    for kwargs, field in (
        ({"submitted_on": "2026-03-11", "method": "online", "confirmation": "C"}, "submitted_on"),
        ({"submitted_on": "2026-03-01", "method": "online", "confirmation": "C"}, "submitted_on"),
        ({"submitted_on": "2026-03-10", "method": "email", "confirmation": "C"}, "method"),
        ({"submitted_on": "2026-03-10", "method": "fax", "confirmation": " "}, "confirmation"),
    ):
        with pytest.raises(DomainError) as e:
            spravato.record_submission(ctx, charge, sid, **kwargs)
        assert (e.value.code, e.value.field) == ("bad_input", field)
    row = spravato.record_submission(
        ctx, charge, sid, submitted_on="2026-03-10", method="fax", confirmation="FAX-77"
    )
    assert row.submission is not None and not row.overdue
    (row,) = spravato.tracker(ctx, admin)
    assert row.submission.confirmation == "FAX-77" and not row.overdue
    assert spravato.tracker(ctx, admin, include_submitted=False) == ()
    with ctx.tx() as db:
        audit = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "rems.submission")
        ).one()
    assert audit.after["confirmation"] == "FAX-77" and audit.user_id == charge.user_id
