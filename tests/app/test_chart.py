"""The patient chart (issue 16): edits with their history, structured allergies and contact
details, today's weight at check-in with the clinic's change limit, the course plan, the course
session by session and the last visit offered to check-in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from support import CHECKLIST_OK, T0

from nursestation.app import course_plan, patients, sessions
from nursestation.db.models import AuditEvent, PatientChange, PatientWeight
from nursestation.dosing import Protocol
from nursestation.errors import DomainError

PROTO = Protocol(0.5, 40, 1.0)


def _refused(fn, *a, **kw) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*a, **kw)
    return e.value


def _jane(ctx, nurse, **kw):
    return patients.register_patient(
        ctx, nurse, mrn="K-7", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=80, **kw
    )


def _visit(ctx, nurse, clock, **kw) -> int:
    """A check-in, then the session ended not treated (frees the chair for the next visit)."""
    s = sessions.check_in(
        ctx, nurse, mrn="K-7", chair="2", protocol=PROTO, checklist=CHECKLIST_OK, **kw
    )
    sessions.end_not_treated(ctx, nurse, s.id, "patient_left")
    clock.advance(days=7)
    return int(s.id)


def patients_chain_ok(ctx, people) -> bool:
    from nursestation.app.audit import check_chain

    return bool(check_chain(ctx, people["admin"]).ok)


# ---------------------------------------------------------------- edits with history


def test_edit_keeps_the_old_value_in_the_history_with_who_when_and_why(ctx, people, clock):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    clock.advance(minutes=5)
    p = patients.edit_patient(
        ctx, nurse, "K-7", {"dob": date(1985, 4, 12)}, "Typo at registration: ID card checked"
    )
    assert p.dob == date(1985, 4, 12)
    (change,) = patients.chart_history(ctx, nurse, "K-7")
    assert (change.field, change.old, change.new) == ("dob", "1985-04-02", "1985-04-12")
    assert change.by_name == "Ana Ruiz, RN" and change.at == clock.now()
    assert change.reason == "Typo at registration: ID card checked"
    with ctx.tx() as s:
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "patient.edit")
        ).scalar_one()
        assert audit.before == {"dob": "1985-04-02"}
        assert audit.after["dob"] == "1985-04-12" and audit.after["reason"].startswith("Typo")
    assert patients_chain_ok(ctx, people)


def test_history_rows_cannot_be_changed(ctx, people):
    _jane(ctx, people["nurse"])
    patients.edit_patient(ctx, people["nurse"], "K-7", {"name": "Doe, Janet"}, "Name changed")
    with pytest.raises(Exception, match="append-only"), ctx.tx() as s:
        s.execute(text("UPDATE patient_changes SET reason = 'x'"))
    with ctx.tx() as s:
        assert s.execute(select(PatientChange.reason)).scalar_one() == "Name changed"


def test_only_changed_fields_are_kept_and_nothing_changed_is_refused(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse, sex="female")
    patients.edit_patient(
        ctx, nurse, "K-7", {"sex": "female", "contact.phone": "555-0101"}, "Phone given"
    )
    assert [c.field for c in patients.chart_history(ctx, nurse, "K-7")] == ["contact.phone"]
    e = _refused(patients.edit_patient, ctx, nurse, "K-7", {"sex": "female"}, "Nothing new")
    assert e.code == "bad_input" and "Nothing was changed" in e.message


@pytest.mark.parametrize(
    ("changes", "reason", "field", "words"),
    [
        ({"name": "Doe, J"}, "", "reason", "Reason for the change is required"),
        ({"name": "Doe, J"}, "typo", "reason", "at least 5 characters"),
        ({"dob": "1985-13-01"}, "ID checked", "dob", "not a date"),
        ({"dob": date(2026, 3, 3)}, "ID checked", "dob", "in the future: allowed up to 2026-03-02"),
        ({"sex": "f"}, "ID checked", "sex", "not one of female, male, other"),
        ({"mrn": "K-8"}, "ID checked", "mrn", "not a field of the chart"),
        ({"contact.phone": "5\x1b5"}, "ID checked", "contact.phone", "Phone contains a control"),
        (
            {"allergies": [{"substance": "latex", "severity": "fatal"}]},
            "Allergy reviewed",
            "allergies",
            "Allergy 1: severity 'fatal' is not one of mild, moderate, severe",
        ),
        (
            {"allergies": [{"reaction": "rash"}]},
            "Allergy reviewed",
            "allergies",
            "Allergy 1: substance is required",
        ),
    ],
)
def test_a_bad_edit_is_refused_naming_the_field_and_nothing_is_stored(
    ctx, people, changes, reason, field, words
):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    e = _refused(patients.edit_patient, ctx, nurse, "K-7", changes, reason)
    assert e.field == field and words in e.message
    assert patients.chart_history(ctx, nurse, "K-7") == []
    assert patients.get_patient(ctx, nurse, "K-7").dob == date(1985, 4, 2)


def test_dob_today_is_allowed_the_day_after_is_not(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    today = T0.date()
    assert patients.edit_patient(ctx, nurse, "K-7", {"dob": today}, "Boundary").dob == today
    e = _refused(
        patients.edit_patient, ctx, nurse, "K-7", {"dob": today + timedelta(days=1)}, "Boundary"
    )
    assert e.code == "out_of_range"


def test_allergies_with_reaction_and_severity_feed_the_dose_checks(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse, allergies=["sulfa"])
    assert patients.get_patient(ctx, nurse, "K-7").allergy_details == (patients.Allergy("sulfa"),)
    p = patients.edit_patient(
        ctx,
        nurse,
        "K-7",
        {
            "allergies": [
                {"substance": "sulfa", "reaction": "rash", "severity": "moderate"},
                {"substance": "Ondansetron", "reaction": "anaphylaxis", "severity": "severe"},
            ]
        },
        "Allergy history taken",
    )
    assert p.allergies == ("sulfa", "Ondansetron")  # what the dose checks read
    assert [a.text() for a in p.allergy_details] == [
        "sulfa (rash, moderate)",
        "Ondansetron (anaphylaxis, severe)",
    ]
    (change,) = patients.chart_history(ctx, nurse, "K-7")
    assert change.old == [{"substance": "sulfa", "reaction": None, "severity": None}]
    e = _refused(
        patients.edit_patient,
        ctx,
        nurse,
        "K-7",
        {"allergies": [{"substance": "latex"}, {"substance": "Latex"}]},
        "Allergy history taken",
    )
    assert e.code == "duplicate" and "Latex" in e.message


def test_contact_details_are_kept_and_emptied_with_history(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    patients.edit_patient(
        ctx,
        nurse,
        "K-7",
        {"contact.phone": "555-0101", "contact.emergency_name": "John Doe"},
        "Contact form filled",
    )
    p = patients.edit_patient(ctx, nurse, "K-7", {"contact.phone": ""}, "Number disconnected")
    assert dict(p.contact) == {"emergency_name": "John Doe"}
    last = patients.chart_history(ctx, nurse, "K-7")[-1]
    assert (last.field, last.old, last.new) == ("contact.phone", "555-0101", None)


def test_the_administrator_cannot_edit_the_chart(ctx, people):
    _jane(ctx, people["nurse"])
    e = _refused(
        patients.edit_patient, ctx, people["admin"], "K-7", {"name": "X, Y"}, "Not allowed"
    )
    assert e.code == "not_permitted"
    assert _refused(patients.chart_history, ctx, people["admin"], "K-7").code == "not_permitted"


# ---------------------------------------------------------------- today's weight


def test_the_dose_uses_todays_weight_and_the_history_keeps_it(ctx, people, clock):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    first = _visit(ctx, nurse, clock, weight_kg=80)
    s = sessions.check_in(
        ctx, nurse, mrn="K-7", chair="2", protocol=PROTO, checklist=CHECKLIST_OK, weight_kg=82
    )
    assert s.dose.weight_kg == 82 and s.dose.total_mg == 41
    assert patients.get_patient(ctx, nurse, "K-7").weight_kg == 82
    history = patients.weight_history(ctx, nurse, "K-7")
    assert [(w.weight_kg, w.session_id, w.previous_kg) for w in history] == [
        (80, first, 80),
        (82, s.id, 80),
    ]
    assert history[1].change_pct == 2.5 and history[1].confirmed_by is None


@pytest.mark.parametrize(("kg", "asks"), [(84.0, False), (84.08, True), (76.0, False), (75.9, True)])
def test_a_change_over_the_clinic_limit_asks_for_confirmation(ctx, people, clock, kg, asks):
    """5 % of 80 kg: 84 kg and 76 kg are at the limit (no question), 84.08 (5.1 %) and 75.9
    (-5.1 %) are over it."""
    nurse = people["nurse"]
    _jane(ctx, nurse)
    _visit(ctx, nurse, clock, weight_kg=80)
    check = patients.check_weight(ctx, nurse, "K-7", kg)
    assert check.needs_confirmation is asks
    kw = {"mrn": "K-7", "chair": "2", "protocol": PROTO, "checklist": CHECKLIST_OK}
    if asks:
        e = _refused(sessions.check_in, ctx, nurse, **kw, weight_kg=kg)
        assert e.code == "confirmation_required" and e.field == "weight_kg"
        assert "last visit (80 kg on 2026-03-02)" in e.message and "clinic's 5 %" in e.message
        assert patients.get_patient(ctx, nurse, "K-7").weight_kg == 80  # nothing stored
        s = sessions.check_in(ctx, nurse, **kw, weight_kg=kg, confirm_weight_change=True)
        assert patients.weight_history(ctx, nurse, "K-7")[-1].confirmed_by == "Ana Ruiz, RN"
    else:
        s = sessions.check_in(ctx, nurse, **kw, weight_kg=kg)
    assert s.dose.weight_kg == kg


def test_the_first_visit_compares_with_the_registered_weight(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    e = _refused(
        sessions.check_in,
        ctx,
        nurse,
        mrn="K-7",
        chair="2",
        protocol=PROTO,
        checklist=CHECKLIST_OK,
        weight_kg=90,
    )
    assert e.code == "confirmation_required" and "12.5 % more" in e.message


def test_an_impossible_weight_at_check_in_is_refused_naming_the_range(ctx, people):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    e = _refused(
        sessions.check_in,
        ctx,
        nurse,
        mrn="K-7",
        chair="2",
        protocol=PROTO,
        checklist=CHECKLIST_OK,
        weight_kg=351,
        confirm_weight_change=True,
    )
    assert e.field == "weight_kg" and "allowed 20–350 kg" in e.message
    with ctx.tx() as s:
        assert s.execute(select(PatientWeight.id)).first() is None


# ---------------------------------------------------------------- the course


def test_course_plan_counts_sessions_done_against_planned(ctx, people, clock):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    plan = course_plan.set_course_plan(ctx, nurse, "K-7", phase="induction")
    assert (plan.sessions_planned, plan.sessions_done) == (6, 0)  # clinic default, none yet
    s = sessions.check_in(
        ctx, nurse, mrn="K-7", chair="2", protocol=PROTO, checklist=CHECKLIST_OK
    )
    assert course_plan.course_plan(ctx, nurse, "K-7").sessions_done == 1  # today's counts
    sessions.end_not_treated(ctx, nurse, s.id, "patient_left")
    assert course_plan.course_plan(ctx, nurse, "K-7").sessions_done == 0  # not a treatment
    nxt = clock.now() + timedelta(days=2, hours=1)
    plan = course_plan.set_course_plan(
        ctx, nurse, "K-7", phase="maintenance", sessions_planned=4, next_appointment=nxt
    )
    assert plan.line(T0.tzinfo) == (
        "Maintenance: 0 of 4 sessions · next appointment 2026-03-04 15:00"
    )
    e = _refused(course_plan.set_course_plan, ctx, nurse, "K-7", phase="booster")
    assert e.field == "sessions_planned"
    e = _refused(
        course_plan.set_course_plan, ctx, nurse, "K-7", phase="booster", sessions_planned=53
    )
    assert e.code == "out_of_range" and "allowed 1–52" in e.message
    assert course_plan.set_course_plan(
        ctx, nurse, "K-7", phase="booster", sessions_planned=52
    ).sessions_planned == 52
    e = _refused(
        course_plan.set_course_plan,
        ctx,
        nurse,
        "K-7",
        phase="booster",
        sessions_planned=1,
        next_appointment=clock.now(),
    )
    assert e.field == "next_appointment"


def test_course_lists_every_session_with_adverse_events_and_medications(ctx, people, infusing):
    nurse = people["nurse"]
    sessions.pause_infusion(ctx, nurse, infusing, "adverse event: dizziness")
    (one,) = course_plan.course_sessions(ctx, nurse, "K-1001")
    assert one.session_id == infusing and one.session_number == 1
    assert one.protocol == "IV ketamine: 0.5 mg/kg over 40 min at 1 mg/mL"
    assert one.dose == "35 mg" and one.weight_kg == 70
    assert one.adverse_events == ("adverse event: dizziness",)
    assert one.notes == ()


def test_last_visit_offers_the_order_escort_and_iv_details(ctx, people, clock):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    assert course_plan.last_visit(ctx, nurse, "K-7") is None
    sid = _visit(ctx, nurse, clock)
    last = course_plan.last_visit(ctx, nurse, "K-7")
    assert last is not None and last.session_id == sid
    assert (last.dose_mg_per_kg, last.duration_min, last.concentration_mg_per_ml) == (0.5, 40, 1)
    assert last.values == {
        "escort_name": "John Doe",
        "escort_phone": "555-0100",
        "iv_site": "left forearm",
        "iv_gauge": 22,
    }


def test_check_in_audits_the_fields_confirmed_from_the_last_visit(ctx, people, clock):
    nurse = people["nurse"]
    _jane(ctx, nurse)
    _visit(ctx, nurse, clock)
    s = sessions.check_in(
        ctx,
        nurse,
        mrn="K-7",
        chair="2",
        protocol=PROTO,
        checklist=CHECKLIST_OK,
        carried_over=["escort_name", "protocol"],
    )
    with ctx.tx() as db:
        audit = db.execute(
            select(AuditEvent.after)
            .where(AuditEvent.action == "session.check_in", AuditEvent.entity_id == str(s.id))
        ).scalar_one()
    assert audit["carried_over_confirmed"] == ["escort_name", "protocol"]


def test_board_card_and_note_show_the_course_plan(ctx, people, checked_in, clock):
    from nursestation.app import board, notes

    nurse = people["nurse"]
    assert "Course plan" not in notes.preview_text(ctx, nurse, checked_in)
    (card,) = [c for c in board.board_cards(ctx, nurse) if c.chair == "1"]
    assert card.course_plan is None
    course_plan.set_course_plan(
        ctx,
        nurse,
        "K-1001",
        phase="induction",
        next_appointment=clock.now() + timedelta(days=3),
    )
    (card,) = [c for c in board.board_cards(ctx, nurse) if c.chair == "1"]
    assert card.course_plan.progress() == "Induction series: 1 of 6 sessions"
    text = notes.preview_text(ctx, nurse, checked_in)
    assert "Course plan: Induction series: 1 of 6 sessions · next appointment 2026-03-05" in text


def test_an_earlier_sessions_record_keeps_the_day_its_weight_was_measured(ctx, people, clock):
    """The note's infusion record prints "70 kg (weighed …)" from the record's weight_date."""
    from nursestation.app.record import get_record

    nurse = people["nurse"]
    _jane(ctx, nurse)
    first = _visit(ctx, nurse, clock, weight_kg=80)  # 2026-03-02, then a week passes
    sessions.check_in(
        ctx, nurse, mrn="K-7", chair="2", protocol=PROTO, checklist=CHECKLIST_OK, weight_kg=81
    )
    assert get_record(ctx, nurse, first).patient.weight_date == date(2026, 3, 2)
    assert patients.get_patient(ctx, nurse, "K-7").weight_date == date(2026, 3, 9)


def test_an_allergy_severity_changed_outside_the_app_fails_the_trail_check(ctx, people):
    """The chart's allergy details are sealed like the allergies (db/seals.py): an edit made
    through the app passes `check`, the same change made with plain SQL does not."""
    import io

    from trail_support import Raw

    from nursestation.app.checks import run_checks

    def fails() -> list[str]:
        out = io.StringIO()
        run_checks(ctx.config, out, headless=True)
        return [line for line in out.getvalue().splitlines() if line.startswith("FAIL")]

    nurse = people["nurse"]
    _jane(ctx, nurse)
    patients.edit_patient(
        ctx,
        nurse,
        "K-7",
        {"allergies": [{"substance": "latex", "reaction": "hives", "severity": "severe"}]},
        "Allergy history taken",
    )
    assert fails() == []
    Raw(ctx).run(
        "UPDATE patients SET allergy_details = "
        "'[{\"substance\": \"latex\", \"reaction\": \"hives\", \"severity\": \"mild\"}]'"
    )
    assert any("patients" in line for line in fails())
