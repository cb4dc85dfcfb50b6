"""Discharge service: pre-fill from recorded vitals, repeat assessments, readiness with reasons,
charge-nurse overrides and approval (password, note, chair freed), instruction sheet, note data,
and the discharge example scenarios."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from discharge_support import (
    ALDRETE_ALL_2,
    CHARGE_PW,
    GOOD_ANSWERS,
    NURSE_PW,
    World,
    complete_assessment,
    make_world,
    recovery_vitals,
    stand_in_for_note,
    world_of,
    world_values,
)
from pypdf import PdfReader
from sqlalchemy import select

from nursestation.app import discharge as dc
from nursestation.app import sessions
from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.db.models import (
    Assessment,
    AuditEvent,
    DischargeApproval,
    DischargeOverride,
    InfusionSession,
    MedicationAdministration,
)
from nursestation.errors import DomainError

# `w` is built once per test session and copied per test (tests/conftest.py).
COPIED_WORLDS = {"w": world_values}


@pytest.fixture
def w(
    ctx: AppContext,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    _standard_world: dict[str, Any],
) -> World:
    stand_in_for_note(monkeypatch)
    return world_of(ctx, clock, _standard_world)


def codes(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DomainError) as exc:
        fn(*args, **kwargs)
    return exc.value.code


# ---------------------------------------------------------------- pre-fill


def sheet(view: dc.DischargeView, scale: str) -> dc.SheetView:
    return next(s for s in view.sheets if s.scale == scale)


def item(sh: dc.SheetView, item_id: str) -> dc.ItemView:
    return next(i for i in sh.items if i.id == item_id)


def test_prefill_from_recorded_vitals_against_session_baseline(w: World) -> None:
    w.clock.advance(minutes=10)
    recovery_vitals(w, sbp=151, dbp=88, hr=96, spo2=95)  # SBP +23 mmHg, HR +26 %
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    aldrete = sheet(view, "aldrete")
    assert aldrete.required and aldrete.threshold == 9
    circ = item(aldrete, "circulation")
    assert circ.prefilled == 1  # 20-50 mmHg from the pre-infusion 128, not the 160 mid-infusion
    assert circ.prefill_evidence == "SBP 151 vs baseline 128 mmHg (+23 mmHg)"
    assert circ.wording[0] == "BP ± 20 mmHg of pre-anaesthetic level"
    spo2 = item(aldrete, "o2_saturation")
    assert (spo2.prefilled, spo2.prefill_evidence) == (1, "SpO2 95 % O2 status not recorded")
    assert item(aldrete, "activity").prefilled is None  # only a nurse can score this
    padss = sheet(view, "padss")
    vs = item(padss, "vital_signs")
    assert vs.prefilled == 1  # worst is HR: 96 vs 76 = 26.3 %, in the 20-40 % band
    assert "HR 96 vs 76 (26.3 %)" in vs.prefill_evidence
    assert item(padss, "surgical_bleeding").prefilled == 2
    assert item(sheet(view, "modified_padss"), "vital_signs").prefilled == 1


def test_prefill_follows_new_readings_and_room_air_answer(w: World) -> None:
    recovery_vitals(w, sbp=140)
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    assert item(sheet(view, "aldrete"), "circulation").prefilled == 2
    assert item(sheet(view, "padss"), "vital_signs").prefilled == 2
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"on_room_air": True})
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    o2 = item(sheet(view, "aldrete"), "o2_saturation")
    assert (o2.prefilled, o2.prefill_evidence) == (2, "SpO2 98 % on room air")


def test_no_prefill_from_readings_before_the_stop(w: World) -> None:
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    # the only post-start reading is the 160 mmHg one during the infusion: evidence, but the
    # criterion rejects it as taken before the stop
    crit = {c.id: c for c in view.status.criteria}
    assert not crit["vitals_near_baseline"].met
    assert "were taken before the infusion stop" in crit["vitals_near_baseline"].reason


def test_assessment_stores_prefill_and_entry_and_repeats_are_kept(w: World) -> None:
    recovery_vitals(w, sbp=151)
    dc.record_assessment(
        w.ctx,
        w.nurse,
        w.sid,
        scores={"aldrete": {**ALDRETE_ALL_2, "circulation": 2, "activity": 1}},
    )
    w.clock.advance(minutes=30)
    recovery_vitals(w)
    status = dc.record_assessment(w.ctx, w.nurse, w.sid, scores={"aldrete": ALDRETE_ALL_2})
    with w.ctx.tx() as s:
        rows = list(
            s.execute(
                select(Assessment).where(Assessment.kind == "aldrete").order_by(Assessment.id)
            ).scalars()
        )
    assert [r.score for r in rows] == [8, 9]  # SpO2 scores 1 until room air is recorded
    first = {i["id"]: i for i in rows[0].items["items"]}
    assert first["circulation"] == {
        **first["circulation"],
        "prefilled": 1,
        "entered": 2,
        "origin": "changed",
        "entered_by": "rn.ana",
    }
    assert {i["id"]: i for i in rows[1].items["items"]}["circulation"]["origin"] == "confirmed"
    assert "score" not in status.failing_ids
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    assert [h.kind for h in view.history] == ["aldrete", "aldrete"]
    assert sheet(view, "aldrete").total == 9


def test_assessment_refusals_store_nothing(w: World) -> None:
    bad = {**ALDRETE_ALL_2, "activity": 3}
    assert codes(dc.record_assessment, w.ctx, w.nurse, w.sid, scores={"aldrete": bad}) == (
        "out_of_range"
    )
    assert codes(
        dc.record_assessment, w.ctx, w.nurse, w.sid, answers={"iv_removed": "yes please"}
    ) == ("bad_input")
    assert codes(dc.record_assessment, w.ctx, w.nurse, w.sid, answers={"vibes": True}) == (
        "bad_input"
    )
    assert codes(dc.record_assessment, w.ctx, w.nurse, w.sid, sedation=("moaas", 7)) == (
        "out_of_range"
    )
    with w.ctx.tx() as s:
        assert s.execute(select(Assessment)).first() is None


def test_scores_refused_before_the_infusion_stops(ctx: AppContext, clock: FakeClock) -> None:
    w = make_world(ctx, clock, stop=False)
    err = codes(dc.record_assessment, w.ctx, w.nurse, w.sid, scores={"aldrete": ALDRETE_ALL_2})
    assert err == "invalid_state"


# ---------------------------------------------------------------- readiness


def test_not_ready_before_observation_time_then_ready(w: World) -> None:
    status = complete_assessment(w)
    assert not status.ready
    assert status.failing_ids == ("observation_time",)
    obs = status.failing[0]
    assert "will have elapsed at 15:42" in obs.reason  # stop 14:42 UTC + 60 min
    assert status.observation_remaining_min == 60
    assert codes(dc.require_ready, w.ctx, w.nurse, w.sid) == "observation_incomplete"
    assert sessions.get_summary(w.ctx, w.nurse, w.sid).state.phase == "observation"
    w.clock.advance(minutes=60)
    assert dc.require_ready(w.ctx, w.nurse, w.sid).ready
    assert sessions.get_summary(w.ctx, w.nurse, w.sid).state.phase == "ready_for_discharge"


def test_every_failing_criterion_is_named(w: World) -> None:
    w.clock.advance(minutes=61)
    recovery_vitals(w, sbp=152)
    status = dc.record_assessment(
        w.ctx,
        w.nurse,
        w.sid,
        scores={"aldrete": ALDRETE_ALL_2},
        answers={**GOOD_ANSWERS, "nausea_controlled": False, "escort_present": False},
        sedation=("rass", -1),
    )
    assert status.failing_ids == (
        "vitals_near_baseline",
        "sedation_resolved",
        "dissociation_resolved",
        "nausea_controlled",
        "escort_present",
    )
    reasons = {c.id: c.reason for c in status.failing}
    assert reasons["escort_present"] == "The escort John Doe is not recorded as present."
    assert reasons["sedation_resolved"].startswith("Latest RASS is -1; sedation is resolved at")
    assert reasons["vitals_near_baseline"] == (
        "BP not ± 20 mmHg of baseline: SBP 152 vs baseline 128 mmHg (+24 mmHg)."
    )
    with pytest.raises(DomainError) as exc:
        dc.require_ready(w.ctx, w.nurse, w.sid)
    assert exc.value.code == "criteria_not_met"
    assert "Nausea or vomiting controlled: Nausea or vomiting is not controlled." in str(exc.value)


def test_iv_labetalol_requires_upright_posture(w: World) -> None:
    w.clock.advance(minutes=61)
    complete_assessment(w)
    assert dc.get_status(w.ctx, w.nurse, w.sid).ready
    with w.ctx.tx() as s:
        s.add(
            MedicationAdministration(
                session_id=w.sid,
                drug="labetalol",
                dose=10,
                unit="mg",
                route="IV",
                indication="bp_above_limit",
                given_at=w.clock.now(),
                recorded_at=w.clock.now(),
                given_by=w.nurse.user_id,
            )
        )
    status = dc.get_status(w.ctx, w.nurse, w.sid)
    assert status.failing_ids == ("steady_gait",)
    assert "must tolerate upright posture" in status.failing[0].reason
    assert dc.get_discharge(w.ctx, w.nurse, w.sid).upright_required_by == ("Labetalol IV",)
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"upright_tolerated": True})
    assert dc.get_status(w.ctx, w.nurse, w.sid).ready


# ---------------------------------------------------------------- overrides


def test_override_rules_and_record(w: World) -> None:
    recovery_vitals(w)
    dc.record_assessment(
        w.ctx,
        w.nurse,
        w.sid,
        scores={"aldrete": ALDRETE_ALL_2},
        answers={**GOOD_ANSWERS, "steady_gait": False},
        sedation=("moaas", 5),
        dissociation_resolved=True,
    )
    reason = "Uses a wheelchair at baseline; husband assists at home."
    assert codes(dc.override_criterion, w.ctx, w.nurse, w.sid, "steady_gait", reason) == (
        "not_permitted"
    )
    assert codes(dc.override_criterion, w.ctx, w.charge, w.sid, "steady_gait", "ok") == "bad_input"
    assert codes(dc.override_criterion, w.ctx, w.charge, w.sid, "observation_time", reason) == (
        "observation_incomplete"
    )
    assert codes(dc.override_criterion, w.ctx, w.charge, w.sid, "iv_removed", reason) == (
        "invalid_state"
    )
    assert codes(dc.override_criterion, w.ctx, w.charge, w.sid, "moon_phase", reason) == (
        "bad_input"
    )
    status = dc.override_criterion(w.ctx, w.charge, w.sid, "steady_gait", reason)
    assert status.failing_ids == ("observation_time",)
    gait = next(c for c in status.criteria if c.id == "steady_gait")
    assert (gait.met, gait.satisfied) == (False, True)
    assert gait.override is not None and gait.override.by == "Ben Ode, RN"
    with w.ctx.tx() as s:
        o = s.execute(select(DischargeOverride)).scalar_one()
        assert (o.criterion, o.reason, o.by_user) == ("steady_gait", reason, w.charge.user_id)
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "discharge.override")
        ).scalar_one()
        assert audit.username == "cn.ben"
    with w.ctx.tx() as s:
        note = dc.discharge_for_note(w.ctx, s, w.sid)
    assert [(o.criterion, o.reason, o.by) for o in note.overrides] == [
        ("steady_gait", reason, "Ben Ode, RN")
    ]
    info = note.to_note_info()
    assert info.overrides[0].reason == reason
    [gait_row] = [c for c in info.criteria if "Overridden by Ben Ode, RN" in c.evidence]
    assert gait_row.met is False  # the note says it was not met, and who accepted it


# ---------------------------------------------------------------- approval


def approval_rows(w: World) -> list[DischargeApproval]:
    with w.ctx.tx() as s:
        return list(s.execute(select(DischargeApproval)).scalars())


def test_approval_only_by_charge_nurse_after_observation(w: World) -> None:
    complete_assessment(w)
    assert codes(dc.approve_discharge, w.ctx, w.nurse, w.sid, NURSE_PW) == "not_permitted"
    assert codes(dc.approve_discharge, w.ctx, w.charge, w.sid, CHARGE_PW) == (
        "observation_incomplete"
    )
    w.clock.advance(minutes=60)
    assert codes(dc.approve_discharge, w.ctx, w.charge, w.sid, "wrong-password") == "bad_password"
    assert approval_rows(w) == []
    status = dc.approve_discharge(w.ctx, w.charge, w.sid, CHARGE_PW)
    assert status.approval == dc.ApprovalView(
        "Ben Ode, RN", w.clock.now(), "Approved for discharge"
    )
    assert status.ended
    [row] = approval_rows(w)
    assert (row.by_user, row.meaning) == (w.charge.user_id, "Approved for discharge")
    assert row.criteria["ready"] is True
    with w.ctx.tx() as s:
        sess = s.get(InfusionSession, w.sid)
        assert (sess.ended_at, sess.end_reason) == (w.clock.now(), "discharged")
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "discharge.approve")
        ).scalar_one()
        assert audit.after["meaning"] == "Approved for discharge"
    summary = sessions.get_summary(w.ctx, w.nurse, w.sid)
    assert summary.state.phase == "discharged" and summary.approved
    assert codes(sessions.session_id_for_chair, w.ctx, "1") == "invalid_state"  # chair is free
    assert codes(dc.approve_discharge, w.ctx, w.charge, w.sid, CHARGE_PW) == "invalid_state"


def test_approval_refused_with_criteria_not_met(w: World) -> None:
    w.clock.advance(minutes=61)
    recovery_vitals(w)
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers=GOOD_ANSWERS)
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(w.ctx, w.charge, w.sid, CHARGE_PW)
    assert exc.value.code == "criteria_not_met"
    assert "Sedation resolved" in exc.value.message
    assert approval_rows(w) == []


def test_approval_needs_signed_note(ctx: AppContext, clock: FakeClock) -> None:
    notes = pytest.importorskip("nursestation.app.notes", reason="notes module not present")
    w = make_world(ctx, clock)
    complete_assessment(w)
    w.clock.advance(minutes=60)
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(w.ctx, w.charge, w.sid, CHARGE_PW)
    assert (exc.value.code, exc.value.message) == (
        "invalid_state",
        "The nurse must sign the session note before discharge approval.",
    )
    with w.ctx.tx() as s:
        assert not notes.has_signed_note(s, w.sid)
    assert approval_rows(w) == []


def test_approval_countersigns_the_signed_note(ctx: AppContext, clock: FakeClock) -> None:
    notes = pytest.importorskip("nursestation.app.notes", reason="notes module not present")
    from nursestation.db.models import NoteSignature

    w = make_world(ctx, clock)
    complete_assessment(w)
    w.clock.advance(minutes=60)
    notes.sign_note(w.ctx, w.nurse, w.sid, NURSE_PW)
    status = dc.approve_discharge(w.ctx, w.charge, w.sid, CHARGE_PW)
    assert status.approval is not None and status.ended
    with w.ctx.tx() as s:
        meanings = sorted(m for (m,) in s.execute(select(NoteSignature.meaning)))
    assert "Approved for discharge" in meanings and len(meanings) == 2


# ---------------------------------------------------------------- vitals near baseline: HR, RR


def _near(w: World) -> dc.CriterionView:
    status = dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"on_room_air": True})
    return next(c for c in status.criteria if c.id == "vitals_near_baseline")


def test_heart_rate_far_from_baseline_refuses_discharge(w: World) -> None:
    """The reported case: HR 128 against a baseline of 72, BP back to baseline."""
    complete_assessment(w)
    w.clock.advance(minutes=60)
    assert dc.require_ready(w.ctx, w.nurse, w.sid).ready
    recovery_vitals(w, hr=128)
    crit = _near(w)
    assert not crit.met
    assert crit.reason == "HR not within 20 % of baseline: HR 128 vs baseline 76 (+68.4 %)."
    assert codes(dc.require_ready, w.ctx, w.nurse, w.sid) == "criteria_not_met"
    assert codes(dc.approve_discharge, w.ctx, w.charge, w.sid, CHARGE_PW) == "criteria_not_met"


@pytest.mark.parametrize(
    ("param", "inside", "outside"),
    [("hr", 91, 92), ("hr", 61, 60), ("rr", 16, 17)],  # baseline HR 76, RR 14: 20 % inclusive
)
def test_hr_and_rr_within_20_percent_of_baseline(
    w: World, param: str, inside: int, outside: int
) -> None:
    complete_assessment(w)
    w.clock.advance(minutes=60)
    recovery_vitals(w, **{param: inside})
    assert _near(w).met
    assert dc.require_ready(w.ctx, w.nurse, w.sid).ready
    recovery_vitals(w, **{param: outside})
    crit = _near(w)
    assert not crit.met and crit.reason.startswith(f"{param.upper()} not within 20 %")


def test_oximeter_pulse_rate_counts_as_heart_rate(w: World) -> None:
    from nursestation.app import devices
    from nursestation.devices.reading import VALID, make_reading

    complete_assessment(w)  # manual HR 80
    w.clock.advance(minutes=60)
    assert _near(w).met
    later = w.clock.now()
    batch = [
        make_reading("masimo-ascii", "spo2", 97, VALID, None, None, later, "SN1"),
        make_reading("masimo-ascii", "pulse_rate", 128, VALID, None, None, later, "SN1"),
    ]
    devices.ingest_readings(w.ctx, "1", "/dev/ttyUSB0", "masimo-ascii", batch)
    crit = _near(w)
    assert not crit.met
    assert "HR 128 vs baseline 76" in crit.reason


# ---------------------------------------------------------------- sheet and note


def test_instruction_sheet_pdf_carries_clinic_text(w: World) -> None:
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"escort_relationship": "husband"})
    pdf = dc.instruction_sheet_pdf(w.ctx, w.nurse, w.sid)
    text = " ".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    assert "Doe, Jane" in flat
    assert "John Doe (husband)" in flat
    assert "call or text 988" in flat
    assert "Do not drink alcohol or use cannabis for 24 hours." in flat


def test_discharge_for_note_dtos(w: World) -> None:
    complete_assessment(w)
    w.clock.advance(minutes=60)
    dc.approve_discharge(w.ctx, w.charge, w.sid, CHARGE_PW)
    w.clock.advance(minutes=30)  # the note shows the criteria as approved, not as of later
    with w.ctx.tx() as s:
        note = dc.discharge_for_note(w.ctx, s, w.sid)
    assert note.ready and note.evaluated_at == w.clock.now() - timedelta(minutes=30)
    assert [a.kind for a in note.assessments] == [
        "aldrete",
        "discharge_checklist",
        "sedation",
        "dissociation",
    ]
    aldrete = note.assessments[0]
    assert (aldrete.score, aldrete.by, aldrete.threshold) == (10, "Ana Ruiz, RN", 9)
    circ = next(i for i in aldrete.items if i.id == "circulation")
    assert (circ.score, circ.origin, circ.wording) == (
        2,
        "confirmed",
        "BP ± 20 mmHg of pre-anaesthetic level",
    )
    assert note.assessments[2].detail == "MOAA/S 5 – responds readily to name in a normal tone"
    assert all(c.satisfied for c in note.criteria if c.required)
    assert note.approval is not None and note.approval.meaning == "Approved for discharge"
    assert note.escort == "John Doe (husband)" and note.instructions_given
    info = note.to_note_info()
    assert (info.scale_name, info.total, info.approved_by) == (
        "Modified Aldrete",
        10,
        "Ben Ode, RN",
    )


# ---------------------------------------------------------------- example scenarios


@pytest.mark.parametrize("name", ["early_discharge_refused", "discharge_override"])
def test_example_scenarios_exit_0(name: str, example_runs: Any) -> None:
    # The session's one run of the scenario (tests/example_runs.py); the command line that runs
    # it is covered by tests/test_examples.py and tests/app/test_notes.py.
    run = example_runs(name)
    assert run.rc == 0, run.lines
    assert any(x["ok"] is False and x.get("error") == "observation_incomplete" for x in run.lines)
