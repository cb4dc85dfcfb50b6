"""Session medications through the service layer: every dose check at its exact boundary (at the
limit accepted, one unit past refused), what is stored, the audit rows, reassessment timers, the
note rows, the formulary edit, and the example scenarios."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support import CHECKLIST_OK as CHECKLIST
from support import PASSWORD

from nursestation.app import medications as meds
from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.notes import build_note_content
from nursestation.clock import FakeClock
from nursestation.db.models import AuditEvent, MedicationAdministration, MedicationResponse
from nursestation.dosing import Protocol
from nursestation.errors import DomainError

REPO = Path(__file__).resolve().parents[2]
# The example scenarios this area adds; each must run to exit 0.
MY_SCENARIOS = ("labetalol_titration.json",)


def _user(ctx: AppContext, username: str, roles: set[str], name: str) -> Actor:
    users.provision_user(ctx, username=username, full_name=name, roles=roles, password=PASSWORD)
    return users.authenticate(ctx, username, PASSWORD)


def start_session(
    ctx: AppContext, clock: FakeClock, allergies: tuple[str, ...] = ()
) -> tuple[Actor, int]:
    """A nurse, a patient checked in to chair 1 with baseline vitals and the infusion running."""
    nurse = _user(ctx, "rn.ana", {"nurse"}, "Ana Ruiz, RN")
    patients.register_patient(
        ctx,
        nurse,
        mrn="K-1001",
        name="Doe, Jane",
        dob=date(1985, 4, 2),
        weight_kg=70,
        allergies=list(allergies),
        sex="female",
        reproductive_potential=True,
    )
    s = sessions.check_in(
        ctx,
        nurse,
        mrn="K-1001",
        chair="1",
        protocol=Protocol(0.5, 40, 1),
        checklist=CHECKLIST,
        ketamine_lot="KET-24-118",
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, s.id)
    clock.advance(minutes=10)
    return nurse, s.id


def high_bp(ctx: AppContext, nurse: Actor, sid: int, sbp: int = 186, dbp: int = 104) -> int:
    rec = vitals.record_vitals(
        ctx, nurse, sid, {"sbp": sbp, "dbp": dbp, "hr": 84, "spo2": 97}, soft_confirmed=True
    )
    return rec.id


def give(ctx: AppContext, nurse: Actor, sid: int, drug: str, dose: float, **kw: Any):
    defaults = {
        "ondansetron": ("IV", "nausea"),
        "labetalol": ("IV", "bp_above_limit"),
        "midazolam": ("IV", "anxiety"),
        "clonidine": ("PO", "bp_above_limit"),
    }[drug]
    kw.setdefault("unit", "mg")
    kw.setdefault("route", defaults[0])
    kw.setdefault("indication", defaults[1])
    return meds.give_medication(ctx, nurse, sid, drug=drug, dose=dose, **kw)


def refused(fn, *args: Any, **kw: Any) -> DomainError:
    with pytest.raises(DomainError) as err:
        fn(*args, **kw)
    return err.value


def admin_count(ctx: AppContext) -> int:
    with ctx.tx() as s:
        return s.execute(select(func.count(MedicationAdministration.id))).scalar_one()


def audits(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.tx() as s:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).scalars()
        return [r for r in rows]


# `nurse_sid` is built once per test session and copied per test (tests/conftest.py).
COPIED_WORLDS = {"nurse_sid": lambda ctx, clock: {"nurse_sid": start_session(ctx, clock)}}


@pytest.fixture
def nurse_sid(
    ctx: AppContext, clock: FakeClock, _standard_world: dict[str, Any]
) -> tuple[Actor, int]:
    if "nurse_sid" not in _standard_world:
        return start_session(ctx, clock)
    return _standard_world["nurse_sid"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the happy path


def test_ondansetron_is_stored_with_nurse_time_indication_and_vitals(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    rec = give(ctx, nurse, sid, "ondansetron", 4)
    assert (rec.drug_name, rec.dose, rec.unit, rec.route) == ("Ondansetron", 4.0, "mg", "IV")
    assert rec.given_by_name == "Ana Ruiz, RN"
    assert rec.given_at == clock.now()
    assert rec.indication_label == "Nausea"
    assert rec.pre_vitals_text.startswith("BP 128/82, HR 76")  # the baseline is the latest
    with ctx.tx() as s:
        row = s.get(MedicationAdministration, rec.id)
        assert row.given_by == nurse.user_id and row.drug == "ondansetron"
        assert row.triggering_vital_id is not None and row.soft_max_reason is None
    (a,) = audits(ctx, "medication.give")
    assert a.entity_id == str(rec.id) and a.username == "rn.ana"
    assert a.after["dose"] == 4.0 and a.after["session_total_after"] == 4.0


def test_labetalol_links_the_latest_bp_not_a_later_spo2_only_reading(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    bp_id = high_bp(ctx, nurse, sid)
    spo2_only = vitals.record_vitals(ctx, nurse, sid, {"spo2": 96}).id
    lab = give(ctx, nurse, sid, "labetalol", 20)
    assert lab.trigger_vital_id == bp_id
    assert "BP 186/104" in lab.pre_vitals_text and "above action limit 180" in lab.pre_vitals_text
    ond = give(ctx, nurse, sid, "ondansetron", 4)
    assert ond.trigger_vital_id == spo2_only


def test_indication_is_required_and_must_be_the_drugs(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    e = refused(give, ctx, nurse, sid, "ondansetron", 4, indication="  ")
    assert (e.code, e.field) == ("bad_input", "indication")
    e = refused(give, ctx, nurse, sid, "ondansetron", 4, indication="bp_above_limit")
    assert (e.code, e.field) == ("bad_input", "indication")
    assert "Nausea, Vomiting" in e.message
    assert admin_count(ctx) == 0


def test_ketamine_is_not_a_prn_dose(ctx: AppContext, nurse_sid: tuple[Actor, int]) -> None:
    nurse, sid = nurse_sid
    e = refused(
        meds.give_medication,
        ctx,
        nurse,
        sid,
        drug="ketamine",
        dose=0.5,
        unit="mg/kg",
        route="IV",
        indication="mood_disorder",
    )
    assert e.code == "bad_input" and e.field == "drug"


def test_only_clinical_roles_give_medication(ctx: AppContext, nurse_sid: tuple[Actor, int]) -> None:
    _, sid = nurse_sid
    admin = _user(ctx, "it.ida", {"administrator"}, "Ida IT")
    e = refused(give, ctx, admin, sid, "ondansetron", 4)
    assert e.code == "not_permitted"
    assert admin_count(ctx) == 0


# ---------------------------------------------------------------- each check at its boundary


def test_soft_max_at_limit_accepted_one_unit_past_needs_a_reason(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    e = refused(give, ctx, nurse, sid, "ondansetron", 8.001)  # soft max is 8 mg
    assert e.code == "confirmation_required" and "usual maximum single dose of 8 mg" in e.message
    assert admin_count(ctx) == 0
    assert audits(ctx, "medication.refused") == []  # a question, not a refusal
    e = refused(give, ctx, nurse, sid, "ondansetron", 8.001, confirm_reason="   ")
    assert e.code == "confirmation_required"
    rec = give(ctx, nurse, sid, "ondansetron", 8)
    assert rec.soft_max_reason is None and rec.session_total == 8.0


def test_soft_band_dose_is_stored_with_its_reason(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)
    rec = give(ctx, nurse, sid, "labetalol", 20.001, confirm_reason="persistent SBP > 180")
    assert rec.soft_max_reason == "persistent SBP > 180"
    with ctx.tx() as s:
        assert s.get(MedicationAdministration, rec.id).soft_max_reason == "persistent SBP > 180"
    (a,) = audits(ctx, "medication.give")
    assert a.after["soft_max_reason"] == "persistent SBP > 180"


def test_hard_max_at_limit_accepted_one_unit_past_refused(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    e = refused(give, ctx, nurse, sid, "ondansetron", 16.001, confirm_reason="order")
    assert e.code == "dose_above_max" and "maximum single dose of 16 mg" in e.message
    assert admin_count(ctx) == 0
    (a,) = audits(ctx, "medication.refused")
    assert a.after["code"] == "dose_above_max" and a.after["dose"] == 16.001
    assert a.entity_id == str(sid) and a.username == "rn.ana"
    rec = give(ctx, nurse, sid, "ondansetron", 16, confirm_reason="order")
    assert rec.dose == 16.0 and rec.soft_max_reason == "order"


def test_interval_at_limit_accepted_one_second_short_refused(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)
    first = give(ctx, nurse, sid, "labetalol", 20)
    clock.advance(minutes=9, seconds=59)
    e = refused(give, ctx, nurse, sid, "labetalol", 20)
    assert e.code == "interval_too_short" and e.field == "given_at"
    assert "minimum interval is 10 min" in e.message
    clock.advance(seconds=1)
    second = give(ctx, nurse, sid, "labetalol", 20)
    assert second.given_at - first.given_at == timedelta(minutes=10)
    assert [a.after["code"] for a in audits(ctx, "medication.refused")] == ["interval_too_short"]


def test_cumulative_max_at_limit_accepted_one_unit_past_refused(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    why = "SBP still above 180"
    for dose in (20, 80, 80, 80):  # 260 mg
        high_bp(ctx, nurse, sid)
        give(ctx, nurse, sid, "labetalol", dose, confirm_reason=why if dose > 20 else None)
        clock.advance(minutes=10)
    high_bp(ctx, nurse, sid)
    e = refused(give, ctx, nurse, sid, "labetalol", 40.001, confirm_reason=why)
    assert e.code == "cumulative_max"
    assert "above the maximum of 300 mg (260 mg given so far)" in e.message
    rec = give(ctx, nurse, sid, "labetalol", 40, confirm_reason=why)
    assert rec.session_total == 300.0 and rec.cumulative_max == 300.0
    assert admin_count(ctx) == 5


def test_documented_allergy_refused_other_drugs_accepted(ctx: AppContext, clock: FakeClock) -> None:
    nurse, sid = start_session(ctx, clock, allergies=("Beta-blockers (wheeze)",))
    high_bp(ctx, nurse, sid)
    e = refused(give, ctx, nurse, sid, "labetalol", 20)
    assert e.code == "allergy" and "Beta-blockers (wheeze)" in e.message
    assert admin_count(ctx) == 0
    assert audits(ctx, "medication.refused")[0].after["code"] == "allergy"
    assert give(ctx, nurse, sid, "ondansetron", 4).drug_key == "ondansetron"


def test_route_not_allowed_refused_allowed_route_accepted(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    e = refused(give, ctx, nurse, sid, "ondansetron", 4, route="IM")
    assert (e.code, e.field) == ("route_not_allowed", "route")
    assert "allowed routes are IV, PO, ODT" in e.message
    assert give(ctx, nurse, sid, "ondansetron", 4, route="odt").route == "ODT"


def test_antihypertensive_needs_a_bp_on_record(ctx: AppContext, clock: FakeClock) -> None:
    nurse = _user(ctx, "rn.ana", {"nurse"}, "Ana Ruiz, RN")
    patients.register_patient(
        ctx, nurse, mrn="K-2", name="Roe, Rick", dob=date(1980, 1, 1), weight_kg=80
    )
    sid = sessions.check_in(ctx, nurse, mrn="K-2", chair="2", protocol=Protocol(0.5, 40, 1)).id
    e = refused(give, ctx, nurse, sid, "labetalol", 20)
    assert e.code == "indication_not_met" and "there is no BP in this session" in e.message
    assert admin_count(ctx) == 0


# ---------------------------------------------------------------- indication naming a vital


def test_labetalol_refused_with_a_normal_bp(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    """Issue 13: labetalol was given with the latest BP at 126/80."""
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)  # an earlier high BP does not count: the newest one is normal
    clock.advance(minutes=2)
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 126, "dbp": 80, "hr": 74})
    for drug in ("labetalol", "clonidine"):
        e = refused(give, ctx, nurse, sid, drug, 20 if drug == "labetalol" else 0.1)
        assert e.code == "indication_not_met" and e.field == "indication"
        assert "BP 126/80, within limits" in e.message
        assert "charge nurse may override" in e.message
    assert admin_count(ctx) == 0
    codes = [a.after["code"] for a in audits(ctx, "medication.refused")]
    assert codes == ["indication_not_met", "indication_not_met"]


def test_labetalol_allowed_with_a_high_bp_inside_the_window(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    window = float(ctx.settings.get("formulary.indication_reading_max_age_min"))
    assert window == 10
    bp_id = high_bp(ctx, nurse, sid)
    clock.advance(minutes=window)  # exactly at the limit: still current
    rec = give(ctx, nurse, sid, "labetalol", 20)
    assert rec.trigger_vital_id == bp_id and rec.indication_override_reason is None
    assert "BP 186/104" in rec.pre_vitals_text
    with ctx.tx() as s:
        row = s.get(MedicationAdministration, rec.id)
        assert row.indication_override_reason is None and row.indication_override_by is None


def test_labetalol_refused_when_the_high_bp_is_older_than_the_window(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)
    clock.advance(minutes=10, seconds=1)
    e = refused(give, ctx, nurse, sid, "labetalol", 20)
    assert e.code == "indication_not_met"
    assert "the latest BP (BP 186/104) is from" in e.message and "10 min before" in e.message
    assert "at most 10 min before the dose" in e.message
    assert admin_count(ctx) == 0


def test_charge_nurse_overrides_with_a_reason_and_the_note_says_so(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    charge = _user(ctx, "cn.ben", {"charge_nurse"}, "Ben Ode, RN")
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 126, "dbp": 80})
    why = "symptomatic: severe headache, cuff reading unreliable, arterial line 190/110"
    e = refused(give, ctx, charge, sid, "labetalol", 20, indication_override_reason="   ")
    assert e.code == "bad_input" and e.field == "indication_override_reason"
    rec = give(ctx, charge, sid, "labetalol", 20, indication_override_reason=why)
    assert rec.indication_override_reason == why
    assert rec.indication_override_by_name == "Ben Ode, RN"
    with ctx.tx() as s:
        row = s.get(MedicationAdministration, rec.id)
        assert (
            row.indication_override_reason == why and row.indication_override_by == charge.user_id
        )
    (a,) = audits(ctx, "medication.give")
    assert a.after["indication_override_reason"] == why
    assert "within limits" in a.after["indication_not_met"]
    with ctx.tx() as s:
        (row_text,) = [
            r.indication for r in build_note_content(ctx, s, sid, ctx.now(), 1).medications
        ]
    assert row_text == f"BP above limit (not met by the readings; override by Ben Ode, RN: {why})"


def test_an_override_that_was_not_needed_is_not_recorded(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    charge = _user(ctx, "cn.ben", {"charge_nurse"}, "Ben Ode, RN")
    high_bp(ctx, nurse, sid)
    rec = give(ctx, charge, sid, "labetalol", 20, indication_override_reason="just in case")
    assert rec.indication_override_reason is None


def test_a_nurse_cannot_override_the_indication(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 126, "dbp": 80})
    before = len(audits(ctx, "medication.refused"))
    e = refused(give, ctx, nurse, sid, "labetalol", 20, indication_override_reason="I think so")
    assert e.code == "not_permitted" and "Charge nurse" in e.message
    assert admin_count(ctx) == 0 and len(audits(ctx, "medication.refused")) == before


# ---------------------------------------------------------------- responses and timers


def test_reassessment_timer_due_overdue_and_completed_by_a_response(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)
    lab = give(ctx, nurse, sid, "labetalol", 20)
    (r,) = meds.reassessments_for_chair(ctx, sid)
    assert (r.status, r.offset_min, r.drug) == ("upcoming", 5, "Labetalol")
    assert r.text == "Labetalol 20 mg IV: BP check in 5:00"
    clock.advance(minutes=2)
    # An early response is kept but does not replace the BP due at 5 min [S48].
    meds.record_response(ctx, nurse, lab.id, text="feels fine")
    (r,) = meds.reassessments_for_chair(ctx, sid)
    assert (r.status, r.offset_min) == ("upcoming", 5)
    clock.advance(minutes=3)
    (r,) = meds.reassessments_for_chair(ctx, sid)
    assert r.status == "due" and "BP check DUE now" in r.text
    clock.advance(minutes=5)  # overdue_after 5 min: still due at the boundary
    assert meds.reassessments_for_chair(ctx, sid)[0].status == "due"
    clock.advance(seconds=1)
    (r,) = meds.reassessments_for_chair(ctx, sid)
    assert (r.status, r.offset_min) == ("overdue", 5)
    resp = meds.record_response(ctx, nurse, lab.id, vitals={"sbp": 168, "dbp": 96, "hr": 78})
    assert resp.measure == "bp" and resp.vital_text == "BP 168/96, HR 78"
    # The 5-min check is done; the 10-min one fell due at the same moment.
    (r,) = meds.reassessments_for_chair(ctx, sid)
    assert (r.status, r.offset_min) == ("due", 10)
    meds.record_response(ctx, nurse, lab.id, vitals={"sbp": 150, "dbp": 90}, text="settled")
    assert meds.reassessments_for_chair(ctx, sid) == []
    with ctx.tx() as s:
        rows = s.execute(select(MedicationResponse).order_by(MedicationResponse.id)).scalars()
        stored = [(x.administration_id, x.measure, x.text, x.vital_id is not None) for x in rows]
    assert stored == [
        (lab.id, "bp", "feels fine", False),
        (lab.id, "bp", "", True),
        (lab.id, "bp", "settled", True),
    ]
    assert len(audits(ctx, "medication.response")) == 3


def test_response_needs_text_or_vitals_and_an_existing_dose(
    ctx: AppContext, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    rec = give(ctx, nurse, sid, "ondansetron", 4)
    e = refused(meds.record_response, ctx, nurse, rec.id, text="  ")
    assert (e.code, e.field) == ("bad_input", "text")
    e = refused(meds.record_response, ctx, nurse, 999, text="x")
    assert e.code == "not_found"
    assert meds.latest_administration_id(ctx, nurse, sid, "Zofran") == rec.id


def test_medication_list_has_ketamine_first_then_doses_with_responses(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    rec = give(ctx, nurse, sid, "ondansetron", 4)
    clock.advance(minutes=15)
    meds.record_response(ctx, nurse, rec.id, text="nausea resolved")
    ml = meds.medication_list(ctx, nurse, sid)
    k = ml.ketamine
    assert (k.lot, k.ordered_mg, k.concentration_mg_per_ml) == ("KET-24-118", 35.0, 1.0)
    # started 25 min ago at 0.5 mg/kg over 40 min for 70 kg: 35 * 25/40 = 21.875 mg
    assert k.delivered_mg == pytest.approx(21.875)
    assert "35 mg ordered, 21.9 mg delivered" in k.text
    (a,) = ml.administrations
    assert a.responses[0].text == "nausea resolved"
    assert ml.totals[0].total == 4.0
    assert [r.offset_min for r in ml.reassessments] == [30]


def test_medications_for_note_rows(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    high_bp(ctx, nurse, sid)
    lab = give(ctx, nurse, sid, "labetalol", 30, confirm_reason="SBP 186")
    clock.advance(minutes=5)
    meds.record_response(ctx, nurse, lab.id, vitals={"sbp": 160, "dbp": 92}, text="no dizziness")
    with ctx.tx() as s:
        (row,) = build_note_content(ctx, s, sid, ctx.now(), 1).medications
    assert (row.drug, row.dose, row.unit, row.route) == ("Labetalol", 30.0, "mg", "IV")
    assert row.indication == "BP above limit"
    assert row.pre_vitals.startswith("BP 186/104, HR 84")
    assert row.response.endswith("BP 160/92, no dizziness")
    assert row.nurse == "Ana Ruiz, RN" and row.override_reason == "SBP 186"


def test_drug_choices_filter_by_indication_and_prefill(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    assert meds.prn_indications(ctx)[:3] == ["nausea", "vomiting", "bp_above_limit"]
    assert "mood_disorder" not in meds.prn_indications(ctx)
    bp = meds.drug_choices(ctx, nurse, sid, "bp_above_limit")
    assert [c.drug.key for c in bp] == ["labetalol", "clonidine", "hydralazine"]
    high_bp(ctx, nurse, sid)
    give(ctx, nurse, sid, "labetalol", 20)
    lab = meds.drug_choices(ctx, nurse, sid, "bp_above_limit")[0]
    assert (lab.drug.usual_dose, lab.drug.routes, lab.given_so_far) == (20.0, ("IV",), 20.0)
    assert lab.next_allowed_at == clock.now() + timedelta(minutes=10)


# ---------------------------------------------------------------- formulary edits


def _stored_overrides(ctx: AppContext) -> dict[str, Any]:
    from nursestation.app.clinic_settings import current_overrides

    with ctx.read_tx() as s:
        return current_overrides(s)


def test_administrator_edits_the_formulary_audited_and_applied(
    ctx: AppContext, clock: FakeClock, nurse_sid: tuple[Actor, int]
) -> None:
    nurse, sid = nurse_sid
    admin = _user(ctx, "it.ida", {"administrator"}, "Ida IT")
    e = refused(meds.update_formulary_drug, ctx, nurse, "labetalol", {"cumulative_max": 200})
    assert e.code == "not_permitted"
    change = meds.update_formulary_drug(ctx, admin, "Labetalol", {"cumulative_max": 100})
    assert (change.before, change.after) == ({"cumulative_max": 300.0}, {"cumulative_max": 100.0})
    stored = _stored_overrides(ctx)  # the clinic's settings, for every station
    assert stored == {"formulary": {"drugs": {"labetalol": {"cumulative_max": 100}}}}
    assert not ctx.config.clinic_file.exists()  # no station file any more
    (a,) = audits(ctx, "formulary.update")
    assert (a.entity_id, a.username) == ("labetalol", "it.ida")
    assert a.before == {"cumulative_max": 300.0} and a.after == {"cumulative_max": 100.0}
    # the running station uses the new maximum at once
    high_bp(ctx, nurse, sid)
    give(ctx, nurse, sid, "labetalol", 80, confirm_reason="order")
    clock.advance(minutes=10)
    e = refused(give, ctx, nurse, sid, "labetalol", 20.001, confirm_reason="order")
    assert e.code == "cumulative_max" and "maximum of 100 mg" in e.message
    # a second edit keeps the first one in the stored settings
    meds.update_formulary_drug(ctx, admin, "labetalol", {"min_interval_min": 15})
    assert _stored_overrides(ctx)["formulary"]["drugs"]["labetalol"] == {
        "cumulative_max": 100,
        "min_interval_min": 15,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"soft_max_single": 90}, "soft_max_single"),  # above the 80 mg hard max
        ({"min_interval_min": -1}, "min_interval_min"),  # below the allowed range
        ({"cumulative_max": "lots"}, "cumulative_max"),  # not a number
        ({"strength": 5}, "strength"),  # not a formulary field
    ],
)
def test_bad_formulary_edit_is_refused_and_changes_nothing(
    ctx: AppContext, changes: dict[str, Any], field: str
) -> None:
    admin = _user(ctx, "it.ida", {"administrator"}, "Ida IT")
    e = refused(meds.update_formulary_drug, ctx, admin, "labetalol", changes)
    assert e.code == "out_of_range" and e.field == field
    assert _stored_overrides(ctx) == {}  # no version stored
    assert audits(ctx, "formulary.update") == []
    assert meds.formulary(ctx).get("labetalol").soft_max_single == 20.0


# ---------------------------------------------------------------- example scenarios


@pytest.mark.parametrize("name", MY_SCENARIOS)
def test_example_scenario_exits_zero(name: str, example_runs: Any) -> None:
    run = example_runs(name.removesuffix(".json"))  # the session's one run of it
    assert run.rc == 0, run.lines
    assert len(run.lines) == len(run.spec["steps"])
