"""Session use cases: check-in, checklist gate, pump events, derived state, permissions, audit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from support import CHECKLIST_OK, T0

from nursestation.app import board, patients, sessions, vitals
from nursestation.db.models import AuditEvent, InfusionEvent
from nursestation.dosing import Protocol
from nursestation.errors import DomainError


def test_check_in_stores_the_dose_calculation(ctx, people, checked_in) -> None:
    s = sessions.get_summary(ctx, people["nurse"], checked_in)
    assert (s.dose.total_mg, s.dose.volume_ml, s.dose.rate_mg_per_h, s.dose.rate_ml_per_h) == (
        35.0,
        35.0,
        52.5,
        52.5,
    )
    assert s.state.phase == "checked_in"
    assert s.session_number == 1


def test_duplicate_mrn_and_impossible_values_are_refused(ctx, people) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="A1", name="Doe, J", dob=date(1980, 1, 1), weight_kg=70
    )
    with pytest.raises(DomainError) as e:
        patients.register_patient(
            ctx, nurse, mrn="A1", name="X, Y", dob=date(1980, 1, 1), weight_kg=70
        )
    assert e.value.code == "duplicate" and "A1" in e.value.message
    with pytest.raises(DomainError) as e:
        patients.register_patient(
            ctx, nurse, mrn="A2", name="X, Y", dob=date(1980, 1, 1), weight_kg=19
        )
    assert e.value.code == "out_of_range" and "20–350 kg" in e.value.message
    with pytest.raises(DomainError) as e:
        patients.register_patient(
            ctx, nurse, mrn="A3", name="X, Y", dob=date(2030, 1, 1), weight_kg=70
        )
    assert e.value.field == "dob"


def test_search_by_mrn_or_name(ctx, people) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-77", name="Okafor, Chidi", dob=date(1979, 1, 1), weight_kg=80
    )
    patients.register_patient(
        ctx, nurse, mrn="Z-1", name="Doe, Jane", dob=date(1985, 1, 1), weight_kg=60
    )
    assert [p.mrn for p in patients.find_patients(ctx, nurse, "K-7")] == ["K-77"]
    assert [p.mrn for p in patients.find_patients(ctx, nurse, "jane")] == ["Z-1"]


def test_start_without_baseline_vitals_is_refused(ctx, people, checked_in) -> None:
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, people["nurse"], checked_in)
    assert e.value.code == "checklist_incomplete"
    assert "Baseline" in e.value.message


def test_missing_checklist_item_blocks_start(ctx, people, clock) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="M1", name="Roe, R", dob=date(1980, 1, 1), weight_kg=70
    )
    answers = {k: v for k, v in CHECKLIST_OK.items() if k != "escort_phone"}
    s = sessions.check_in(
        ctx, nurse, mrn="M1", chair="2", protocol=Protocol(0.5, 40, 1), checklist=answers
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, nurse, s.id)
    assert e.value.code == "checklist_incomplete"
    assert e.value.field == "escort"


def test_hard_stop_needs_a_charge_nurse_override_with_reason(ctx, people, checked_in) -> None:
    nurse, charge = people["nurse"], people["charge"]
    vitals.record_vitals(
        ctx,
        nurse,
        checked_in,
        {"sbp": 186, "dbp": 96, "hr": 80, "spo2": 98, "rr": 14},
        soft_confirmed=True,
    )
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, nurse, checked_in)
    assert e.value.code == "criteria_not_met"
    with pytest.raises(DomainError) as e:
        sessions.override_checklist(ctx, nurse, checked_in, "prescriber reviewed and agreed")
    assert e.value.code == "not_permitted"
    with pytest.raises(DomainError) as e:
        sessions.override_checklist(ctx, charge, checked_in, "ok")
    assert e.value.code == "bad_input"
    sessions.override_checklist(ctx, charge, checked_in, "Prescriber Dr Lee reviewed BP, proceed")
    s = sessions.start_infusion(ctx, nurse, checked_in)
    assert s.state.phase == "infusing"
    assert any(it["overridden"] for it in s.checklist_result["items"])
    with ctx.tx() as db:
        actions = db.execute(select(AuditEvent.action)).scalars().all()
    assert "session.checklist_override" in actions


def test_pause_resume_stop_derive_minutes_and_mg(ctx, people, infusing, clock) -> None:
    nurse = people["nurse"]
    clock.set(T0 + timedelta(minutes=15))  # 10 min running
    sessions.pause_infusion(ctx, nurse, infusing, "nausea")
    clock.set(T0 + timedelta(minutes=20))  # 5 min paused
    sessions.resume_infusion(ctx, nurse, infusing)
    clock.set(T0 + timedelta(minutes=50))  # 30 min more
    s = sessions.stop_infusion(ctx, nurse, infusing, "completed")
    assert s.state.phase == "observation"
    assert s.state.infused_s == 40 * 60
    assert s.state.delivered_mg == pytest.approx(35.0)
    assert s.state.paused_s == 5 * 60
    clock.set(T0 + timedelta(minutes=80))
    s = sessions.get_summary(ctx, nurse, infusing)
    assert s.state.observation_remaining_s == 30 * 60  # 60-min default minimum


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (lambda ctx, a, sid: sessions.resume_infusion(ctx, a, sid), "invalid_state"),
        (lambda ctx, a, sid: sessions.start_infusion(ctx, a, sid), "invalid_state"),
    ],
)
def test_impossible_transitions_are_refused(ctx, people, infusing, action, code) -> None:
    with pytest.raises(DomainError) as e:
        action(ctx, people["nurse"], infusing)
    assert e.value.code == code


def test_stop_twice_is_refused_and_nothing_is_stored(ctx, people, infusing, clock) -> None:
    nurse = people["nurse"]
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, infusing, "completed")
    with pytest.raises(DomainError) as e:
        sessions.stop_infusion(ctx, nurse, infusing, "completed")
    assert e.value.code == "invalid_state"
    with ctx.tx() as db:
        kinds = db.execute(select(InfusionEvent.kind).order_by(InfusionEvent.id)).scalars().all()
    assert kinds == ["start", "stop"]


def test_administrator_cannot_chart(ctx, people, checked_in) -> None:
    with pytest.raises(DomainError) as e:
        vitals.record_vitals(ctx, people["admin"], checked_in, {"sbp": 120, "dbp": 80})
    assert e.value.code == "not_permitted"


def test_occupied_chair_and_double_check_in_refused(ctx, people, checked_in) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="B2", name="Roe, R", dob=date(1980, 1, 1), weight_kg=70
    )
    with pytest.raises(DomainError) as e:
        sessions.check_in(ctx, nurse, mrn="B2", chair="1", protocol=Protocol(0.5, 40, 1))
    assert "occupied" in e.value.message
    with pytest.raises(DomainError) as e:
        sessions.check_in(ctx, nurse, mrn="K-1001", chair="2", protocol=Protocol(0.5, 40, 1))
    assert "already checked in" in e.value.message


def test_board_shows_each_chair_phase_and_vitals_due(ctx, people, infusing, clock) -> None:
    clock.set(T0 + timedelta(minutes=16))
    cards = {c.chair: c for c in board.board_cards(ctx, people["nurse"])}
    assert cards["1"].phase == "infusing"
    assert cards["2"].phase == "empty"
    # infusion started at +5, baseline at +3 does not count: first reading was due at the start
    assert cards["1"].vitals_due is not None and cards["1"].vitals_due.status == "overdue"
    vitals.record_vitals(
        ctx, people["nurse"], infusing, {"sbp": 130, "dbp": 84, "hr": 78, "spo2": 98, "rr": 14}
    )
    cards = {c.chair: c for c in board.board_cards(ctx, people["nurse"])}
    assert cards["1"].vitals_due.status == "ok"
    assert cards["1"].latest is not None and cards["1"].latest.sbp == 130


def test_board_keeps_the_last_bp_when_a_monitor_streams_spo2(ctx, people, infusing, clock) -> None:
    nurse = people["nurse"]
    clock.set(T0 + timedelta(minutes=10))
    vitals.record_vitals(
        ctx, nurse, infusing, {"sbp": 142, "dbp": 88, "hr": 80, "spo2": 97, "rr": 14}
    )
    clock.set(T0 + timedelta(minutes=11))
    vitals.record_vitals(ctx, nurse, infusing, {"spo2": 95, "hr": 84})
    card = {c.chair: c for c in board.board_cards(ctx, nurse)}["1"]
    assert card.latest is not None
    assert (card.latest.sbp, card.latest.dbp, card.latest.spo2, card.latest.hr, card.latest.rr) == (
        142,
        88,
        95,
        84,
        14,
    )
    assert card.latest.bp_at == T0 + timedelta(minutes=10)
    assert card.latest.observed_at == T0 + timedelta(minutes=11)


# ---------------------------------------------------------------- doses stay within the order


def _events(ctx) -> list[tuple[str, float | None, str | None]]:
    with ctx.tx() as db:
        rows = db.execute(select(InfusionEvent).order_by(InfusionEvent.id)).scalars().all()
        return [(r.kind, r.rate_mg_per_h, r.reason) for r in rows]


def _audit_count(ctx) -> int:
    with ctx.tx() as db:
        return len(db.execute(select(AuditEvent.id)).scalars().all())


def test_a_tenfold_rate_is_refused_and_changes_nothing(ctx, people, infusing, clock) -> None:
    nurse = people["nurse"]
    clock.set(T0 + timedelta(minutes=15))
    before_events, before_audit = _events(ctx), _audit_count(ctx)
    for rate in (525.0, 105.1):  # the 10× typo, and just above the clinic maximum
        with pytest.raises(DomainError) as e:
            sessions.change_rate(ctx, nurse, infusing, rate, confirm_reason="prescriber said so")
        assert e.value.code == "dose_above_max"
        assert "1 mg/kg per session" in e.value.message
    with pytest.raises(DomainError) as e:
        sessions.change_rate(ctx, nurse, infusing, 525.0, unit="mL/h")
    assert e.value.code == "dose_above_max"
    assert _events(ctx) == before_events and _audit_count(ctx) == before_audit
    s = sessions.get_summary(ctx, nurse, infusing)
    assert s.state.phase == "infusing" and s.state.set_rate_mg_per_h == 52.5


@pytest.mark.parametrize(
    ("value", "unit", "field"),
    [
        (0, "mg/h", "rate_mg_per_h"),
        (-10, "mL/h", "rate_ml_per_h"),
        (float("nan"), "mg/h", "rate_mg_per_h"),
        (float("inf"), "mL/h", "rate_ml_per_h"),
        (10500.1, "mg/h", "rate_mg_per_h"),
    ],
)
def test_absurd_rates_are_refused_naming_the_field_and_range(
    ctx, people, infusing, clock, value, unit, field
) -> None:
    clock.set(T0 + timedelta(minutes=10))
    with pytest.raises(DomainError) as e:
        sessions.change_rate(ctx, people["nurse"], infusing, value, unit=unit)
    assert (e.value.code, e.value.field) == ("out_of_range", field)
    assert f"allowed 0.1–10500 {unit}" in e.value.message
    assert [k for k, _r, _t in _events(ctx)] == ["start"]


def test_a_rate_above_the_order_needs_a_reason_and_time_left_follows_it(
    ctx, people, infusing, clock
) -> None:
    nurse = people["nurse"]
    clock.set(T0 + timedelta(minutes=15))  # 10 min at 52.5 mg/h: 8.75 mg in, 26.25 mg owed
    with pytest.raises(DomainError) as e:
        sessions.change_rate(ctx, nurse, infusing, 78.75, "BP fine", unit="mL/h")
    assert e.value.code == "confirmation_required"
    assert [k for k, _r, _t in _events(ctx)] == ["start"]
    # exactly the ordered rate needs nothing
    sessions.change_rate(ctx, nurse, infusing, 52.5, "pump re-programmed")
    s = sessions.change_rate(
        ctx, nurse, infusing, 78.75, "BP fine", unit="mL/h", confirm_reason="prescriber: speed up"
    )
    assert s.state.set_rate_mg_per_h == 78.75 and s.state.current_rate_ml_per_h == 78.75
    assert s.state.remaining_min == pytest.approx(20.0)  # 26.25 mg at 78.75 mg/h
    kind, rate, reason = _events(ctx)[-1]
    assert (kind, rate) == ("rate_change", 78.75)
    assert reason == "BP fine · above the order, confirmed: prescriber: speed up"
    with ctx.tx() as db:
        audit = (
            db.execute(select(AuditEvent).where(AuditEvent.action == "infusion.rate_change"))
            .scalars()
            .all()[-1]
        )
    assert audit.after["rate_entered"] == "78.75 mL/h"
    assert audit.after["above_order_confirmed"] is True
    # a slower rate lengthens the time left
    s = sessions.change_rate(ctx, nurse, infusing, 26.25)
    assert s.state.remaining_min == pytest.approx(60.0)


def test_dose_complete_leaves_infusing_caps_the_dose_and_asks_to_stop(
    ctx, people, infusing, clock
) -> None:
    from nursestation.app import alarms

    nurse = people["nurse"]
    clock.set(T0 + timedelta(minutes=15))  # 8.75 mg in
    sessions.change_rate(ctx, nurse, infusing, 105.0, confirm_reason="prescriber order")
    clock.set(T0 + timedelta(minutes=29, seconds=59))
    assert sessions.get_summary(ctx, nurse, infusing).state.phase == "infusing"
    clock.set(T0 + timedelta(minutes=40))  # complete at +30: 8.75 + 105 mg/h × 15 min = 35 mg
    s = sessions.get_summary(ctx, nurse, infusing)
    assert s.state.phase == "dose_complete"
    assert s.state.dose_complete_at == T0 + timedelta(minutes=30)
    assert s.state.delivered_mg == 35.0 and s.state.remaining_mg == 0.0
    card = {c.chair: c for c in board.board_cards(ctx, nurse)}["1"]
    assert card.phase == "dose_complete" and card.phase_label.startswith("Dose complete")
    texts = [a.alarm.text for a in alarms.chair_alarms(ctx, "1").alarms]
    assert any("delivered — stop the pump" in t for t in texts)
    for action in (
        lambda: sessions.change_rate(ctx, nurse, infusing, 52.5),
        lambda: sessions.pause_infusion(ctx, nurse, infusing, "nausea"),
    ):
        with pytest.raises(DomainError) as e:
            action()
        assert e.value.code == "invalid_state" and "has been delivered" in e.value.message
    s = sessions.stop_infusion(ctx, nurse, infusing, "completed")
    assert s.state.phase == "observation" and s.state.delivered_mg == 35.0
    # the note tells when the ordered dose was complete, and the total never exceeds the order
    from nursestation.app.notes import build_note_content

    with ctx.tx() as db:
        note = build_note_content(ctx, db, infusing, ctx.now(), 1)
    assert note.infusion is not None and note.infusion.delivered_mg == 35.0
    done = [e for e in note.infusion.events if e.kind == "ordered dose complete"]
    assert [e.at for e in done] == [T0 + timedelta(minutes=30)]
    assert not any(
        "stop the pump" in a.alarm.text and a.alarm.condition_active
        for a in alarms.chair_alarms(ctx, "1").alarms
    )


def test_stop_needs_a_reason_nothing_is_assumed(ctx, people, infusing, clock) -> None:
    clock.set(T0 + timedelta(minutes=20))
    for reason in ("", "   "):
        with pytest.raises(DomainError) as e:
            sessions.stop_infusion(ctx, people["nurse"], infusing, reason)
        assert (e.value.code, e.value.field) == ("bad_input", "reason")
        assert "completed, patient request, adverse event, other" in e.value.message
    assert [k for k, _r, _t in _events(ctx)] == ["start"]


# ---------------------------------------------------------------- no trap: not treated


def test_stuck_chair_ends_not_treated_and_frees_chair_and_patient(
    ctx, people, checked_in, clock
) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    from nursestation.app import notes

    nurse = people["nurse"]
    clock.advance(minutes=3)
    vitals.record_vitals(
        ctx,
        nurse,
        checked_in,
        {"sbp": 190, "dbp": 105, "hr": 80, "spo2": 98, "rr": 14},
        soft_confirmed=True,
    )
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, nurse, checked_in)
    assert e.value.code == "criteria_not_met"
    with pytest.raises(DomainError) as e:
        sessions.end_not_treated(ctx, people["admin"], checked_in, "start_refused_at_baseline")
    assert e.value.code == "not_permitted"
    with pytest.raises(DomainError) as e:
        sessions.end_not_treated(ctx, nurse, checked_in, "other")
    assert (e.value.code, e.value.field) == ("bad_input", "reason")
    assert {c.chair: c for c in board.board_cards(ctx, nurse)}["1"].phase == "checked_in"

    clock.advance(minutes=2)
    s = sessions.end_not_treated(
        ctx, nurse, checked_in, "start_refused_at_baseline", "BP 190/105 on recheck"
    )
    assert s.state.phase == "not_treated" and s.not_treated
    assert s.end_detail == "start refused at baseline: BP 190/105 on recheck"
    assert {c.chair: c for c in board.board_cards(ctx, nurse)}["1"].phase == "empty"
    # the record stays, readable, and cannot be ended twice
    assert sessions.get_summary(ctx, nurse, checked_in).ended_at == T0 + timedelta(minutes=5)
    with pytest.raises(DomainError) as e:
        sessions.end_not_treated(ctx, nurse, checked_in, "patient_left")
    assert e.value.code == "invalid_state"
    with pytest.raises(DomainError) as e:
        sessions.update_checklist(ctx, nurse, checked_in, {"iv_gauge": 20})
    assert e.value.code == "invalid_state"
    with ctx.tx() as db:
        actions = db.execute(select(AuditEvent.action)).scalars().all()
    assert "session.not_treated" in actions
    # the note says NOT TREATED with the reason
    pdf = PdfReader(BytesIO(notes.preview_note(ctx, nurse, checked_in)))
    text = " ".join((p.extract_text() or "") for p in pdf.pages)
    assert "NOT TREATED" in text and "start refused at baseline: BP 190/105 on recheck" in text
    # the patient is free too: seated again, and this visit is still session #1 of the series
    again = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    )
    assert again.id != checked_in and again.session_number == 1


def test_not_treated_is_refused_once_the_infusion_started(ctx, people, infusing) -> None:
    with pytest.raises(DomainError) as e:
        sessions.end_not_treated(ctx, people["nurse"], infusing, "patient_left")
    assert e.value.code == "invalid_state"


def test_checklist_completed_at_the_chair_then_start(ctx, people, clock) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="M2", name="Roe, R", dob=date(1980, 1, 1), weight_kg=70
    )
    answers = {k: v for k, v in CHECKLIST_OK.items() if k not in ("escort_phone", "iv_patent")}
    s = sessions.check_in(
        ctx, nurse, mrn="M2", chair="2", protocol=Protocol(0.5, 40, 1), checklist=answers
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, nurse, s.id)
    assert e.value.code == "checklist_incomplete"
    sessions.update_checklist(ctx, nurse, s.id, {"escort_phone": "555-0100", "iv_patent": True})
    assert sessions.start_infusion(ctx, nurse, s.id).state.phase == "infusing"


def test_not_treated_scenario_signed_note_and_export_say_so(tmp_path, example_runs) -> None:
    """End to end: the example scenario (refused at baseline → not treated → signed), then the
    administrator's export in every default format."""
    import csv
    import json

    from pg_support import station_config
    from pypdf import PdfReader

    from nursestation.app import export, users
    from nursestation.app.context import AppContext

    # The session's one run of the scenario, copied: the export below writes to the station.
    assert example_runs("not_treated").rc == 0, example_runs("not_treated").lines
    data = example_runs.copy_data("not_treated", tmp_path / "data")
    ctx = AppContext.open(station_config(data))
    try:
        users.provision_user(
            ctx,
            username="ad.dana",
            full_name="Dana",
            roles={"administrator"},
            password="Ad-pw-2026",
        )
        admin = users.authenticate(ctx, "ad.dana", "Ad-pw-2026")
        dest = tmp_path / "export"
        flt = export.ExportFilter.from_strings("2026-03-01", "2026-03-31")
        result = export.export_notes(ctx, admin, flt, dest, ("pdf", "csv", "fhir"))
        assert result.ok and result.sessions == 1
    finally:
        ctx.close()
    pdf = next((dest / "pdf").iterdir())
    text = " ".join(p.extract_text() or "" for p in PdfReader(pdf).pages)
    assert "NOT TREATED" in text and "start refused at baseline: BP 192/104" in text
    csv_file = next(dest.rglob("*.csv"))
    rows = list(csv.DictReader(csv_file.open(encoding="utf-8")))
    assert any(
        "NOT TREATED: start refused at baseline: BP 192/104 twice" in v
        for row in rows
        for v in row.values()
    )
    bundles = [json.loads(p.read_text()) for p in dest.rglob("*.json") if p.name != "manifest.json"]
    encounters = [
        e["resource"]
        for b in bundles
        for e in b.get("entry", [])
        if e["resource"]["resourceType"] == "Encounter"
    ]
    assert [e["status"] for e in encounters] == ["cancelled"]
    assert "NOT TREATED: start refused at baseline" in encounters[0]["type"][1]["text"]
