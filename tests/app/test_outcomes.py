"""Outcome measures, safety routing and the course trend through the use cases (issue 16)."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any

import pytest
from support import CHECKLIST_OK, T0

from nursestation.app import discharge, outcomes, sessions, vitals
from nursestation.app.record import get_record
from nursestation.clock import FakeClock
from nursestation.db.models import OutcomeScore
from nursestation.dosing import Protocol
from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_PERMITTED, OUT_OF_RANGE, DomainError

PHQ_18 = [2, 2, 2, 2, 2, 2, 2, 2, 2]  # total 18, item 9 positive
PHQ_12_SAFE = [2, 2, 2, 2, 2, 1, 1, 0, 0]  # total 12, item 9 "not at all"
CSSRS_HIGH = [1, 1, 0, 1, 0, 0, None]  # Q4 yes
CSSRS_NONE = [0, 0, None, None, None, 0, None]


def _baseline(ctx: Any, nurse: Any, sid: int) -> None:
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})


def test_phq9_scored_banded_and_stored_with_every_answer(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    v = outcomes.record_outcome(ctx, people["nurse"], checked_in, "phq9", PHQ_12_SAFE)
    assert (v.total, v.band, v.safety_positive) == (12, "moderate", False)
    assert v.administered == "self_report" and v.timepoint == "pre"
    with ctx.read_tx() as s:
        row = s.get(OutcomeScore, v.id)
        assert row.answers == PHQ_12_SAFE and row.entered_by == people["nurse"].user_id


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, True), (3, True), (4, False)])
def test_each_item_refused_outside_its_range(
    ctx: Any, people: dict[str, Any], checked_in: int, value: int, ok: bool
) -> None:
    answers = [0] * 9
    answers[4] = value
    if ok:
        assert (
            outcomes.record_outcome(ctx, people["nurse"], checked_in, "phq9", answers).total
            == value
        )
        return
    with pytest.raises(DomainError) as e:
        outcomes.record_outcome(ctx, people["nurse"], checked_in, "phq9", answers)
    assert e.value.code == OUT_OF_RANGE and e.value.field == "item_5"
    assert "item 5" in e.value.message and "0–3" in e.value.message


def test_positive_item_9_holds_the_start_until_a_charge_nurse_assesses(
    ctx: Any, people: dict[str, Any], checked_in: int, clock: FakeClock
) -> None:
    nurse, charge = people["nurse"], people["charge"]
    v = outcomes.record_outcome(ctx, nurse, checked_in, "phq9", PHQ_18)
    assert v.safety_positive and "item 9" in v.safety_reason
    _baseline(ctx, nurse, checked_in)
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, nurse, checked_in)
    assert e.value.code == outcomes.SAFETY_HOLD
    # a checklist override does not lift it
    sessions.override_checklist(ctx, charge, checked_in, "Escort confirmed by phone, proceed.")
    with pytest.raises(DomainError):
        sessions.start_infusion(ctx, nurse, checked_in)
    # the nurse may not record the assessment
    with pytest.raises(DomainError) as e:
        outcomes.record_safety_assessment(
            ctx,
            nurse,
            checked_in,
            "pre_infusion",
            "Passive thoughts only.",
            "Proceed.",
            proceed=True,
        )
    assert e.value.code == NOT_PERMITTED
    # a plan too short is refused, naming the field
    with pytest.raises(DomainError) as e:
        outcomes.record_safety_assessment(
            ctx,
            charge,
            checked_in,
            "pre_infusion",
            "Passive thoughts, no plan or intent.",
            "ok",
            proceed=True,
        )
    assert e.value.code == BAD_INPUT and e.value.field == "plan"
    st = outcomes.record_safety_assessment(
        ctx,
        charge,
        checked_in,
        "pre_infusion",
        "Passive thoughts, no plan or intent.",
        "Proceed; crisis line given; re-check before discharge.",
        proceed=True,
    )
    assert st.flagged and not st.start_held and st.recheck_due
    clock.advance(minutes=1)
    assert sessions.start_infusion(ctx, nurse, checked_in).state.phase == "infusing"


def test_assessment_that_says_do_not_proceed_keeps_the_hold(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    outcomes.record_outcome(ctx, people["charge"], checked_in, "cssrs", CSSRS_HIGH)
    st = outcomes.record_safety_assessment(
        ctx,
        people["charge"],
        checked_in,
        "pre_infusion",
        "Intent without plan; unsafe today.",
        "Do not infuse; prescriber called; crisis team.",
        proceed=False,
    )
    assert st.start_held
    _baseline(ctx, people["nurse"], checked_in)
    with pytest.raises(DomainError) as e:
        sessions.start_infusion(ctx, people["nurse"], checked_in)
    assert e.value.code == outcomes.SAFETY_HOLD


def test_cssrs_gating_and_risk_levels(ctx: Any, people: dict[str, Any], checked_in: int) -> None:
    nurse = people["nurse"]
    assert outcomes.record_outcome(ctx, nurse, checked_in, "cssrs", CSSRS_NONE).band == "none"
    with pytest.raises(DomainError) as e:  # Q3 answered after a "no" to Q2
        outcomes.record_outcome(ctx, nurse, checked_in, "cssrs", [0, 0, 1, None, None, 0, None])
    assert e.value.field == "item_3"
    low = outcomes.record_outcome(
        ctx, nurse, checked_in, "cssrs", [1, 0, None, None, None, 0, None]
    )
    assert (low.band, low.safety_positive) == ("low", False)
    old = outcomes.record_outcome(ctx, nurse, checked_in, "cssrs", [0, 0, None, None, None, 1, 0])
    assert (old.band, old.safety_positive) == ("moderate", False)
    recent = outcomes.record_outcome(
        ctx, nurse, checked_in, "cssrs", [0, 0, None, None, None, 1, 1]
    )
    assert (recent.band, recent.safety_positive) == ("high", True)
    assert "within the past 3 months" in recent.safety_reason


def test_negative_screens_do_not_hold_the_start(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    nurse = people["nurse"]
    outcomes.record_outcome(ctx, nurse, checked_in, "cssrs", CSSRS_NONE)
    outcomes.record_outcome(ctx, nurse, checked_in, "phq9", PHQ_12_SAFE)
    _baseline(ctx, nurse, checked_in)
    assert sessions.start_infusion(ctx, nurse, checked_in).state.phase == "infusing"


def test_draft_kept_until_the_scale_is_completed(
    ctx: Any, people: dict[str, Any], checked_in: int, clock: FakeClock
) -> None:
    nurse = people["nurse"]
    assert outcomes.open_draft(ctx, nurse, checked_in, "gad7", "pre") is None
    outcomes.save_scale_draft(ctx, nurse, checked_in, "gad7", "pre", [1, 2, None, 3])
    d = outcomes.open_draft(ctx, nurse, checked_in, "gad7", "pre")
    assert d is not None and d.answers == (1, 2, None, 3, None, None, None) and d.answered == 3
    with pytest.raises(DomainError) as e:  # a draft answer is range-checked too
        outcomes.save_scale_draft(ctx, nurse, checked_in, "gad7", "pre", [9])
    assert e.value.code == OUT_OF_RANGE
    clock.advance(minutes=1)
    outcomes.record_outcome(ctx, nurse, checked_in, "gad7", [1, 2, 1, 3, 0, 0, 0])
    assert outcomes.open_draft(ctx, nurse, checked_in, "gad7", "pre") is None


def test_timepoint_must_be_one_the_clinic_set(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    with pytest.raises(DomainError) as e:
        outcomes.record_outcome(
            ctx, people["nurse"], checked_in, "phq9", PHQ_12_SAFE, timepoint="min_40"
        )
    assert e.value.code == BAD_INPUT and e.value.field == "timepoint"


def test_cadss_and_moaas_at_timepoints_are_session_assessments(
    ctx: Any, people: dict[str, Any], infusing: int, clock: FakeClock
) -> None:
    nurse = people["nurse"]
    clock.advance(minutes=35)
    m = outcomes.record_outcome(ctx, nurse, infusing, "moaas", [4], timepoint="min_40")
    assert m.total == 4 and "lethargic" in m.text
    c = outcomes.record_outcome(ctx, nurse, infusing, "cadss", [1] * 23, timepoint="min_40")
    assert c.total == 23
    rec = get_record(ctx, nurse, infusing)
    kinds = {(a.kind, a.items.get("timepoint")) for a in rec.assessments}
    assert ("moaas", "min_40") in kinds and ("cadss", "min_40") in kinds


def test_recheck_decides_the_discharge_criterion(
    ctx: Any, people: dict[str, Any], infusing: int, clock: FakeClock
) -> None:
    nurse, charge = people["nurse"], people["charge"]
    outcomes.record_outcome(ctx, nurse, infusing, "cssrs", CSSRS_HIGH, timepoint="discharge")
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, infusing, "dose complete")
    clock.advance(minutes=5)
    discharge.record_assessment(
        ctx,
        nurse,
        infusing,
        answers={"suicide_screen_positive": False, "suicide_recheck_done": True},
    )
    view = discharge.get_discharge(ctx, nurse, infusing)
    crit = {c.id: c for c in view.status.criteria}["suicide_recheck"]
    assert not crit.met  # the recorded screen wins over the ticked boxes
    outcomes.record_safety_assessment(
        ctx,
        charge,
        infusing,
        "discharge_recheck",
        "Re-asked before leaving: denies intent now.",
        "Home with escort; crisis line; prescriber informed.",
        proceed=True,
    )
    view = discharge.get_discharge(ctx, nurse, infusing)
    assert {c.id: c for c in view.status.criteria}["suicide_recheck"].met


def test_safety_assessment_needs_a_positive_screen(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    with pytest.raises(DomainError) as e:
        outcomes.record_safety_assessment(
            ctx,
            people["charge"],
            checked_in,
            "pre_infusion",
            "Nothing positive here.",
            "Nothing to plan.",
            proceed=True,
        )
    assert e.value.code == INVALID_STATE


def _session(ctx: Any, people: dict[str, Any], clock: FakeClock, phq: list[int]) -> int:
    """One full session of the course: check-in, PHQ-9, start, stop, cancel-free end."""
    from nursestation.app import patients

    nurse = people["nurse"]
    with contextlib.suppress(DomainError):  # registered by the first session
        patients.register_patient(
            ctx,
            nurse,
            mrn="K-1001",
            name="Doe, Jane",
            dob=date(1985, 4, 2),
            weight_kg=70,
            sex="female",
            reproductive_potential=True,
        )
    sid = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    outcomes.record_outcome(ctx, nurse, sid, "phq9", phq)
    with ctx.tx() as s:  # end the visit directly: the course only needs its scores
        from nursestation.db.models import InfusionSession

        row = s.get(InfusionSession, sid)
        row.ended_at = clock.now()
        row.end_reason = "discharged"
    clock.advance(days=7)
    return int(sid)


def test_course_trend_marks_response_at_the_right_session(
    ctx: Any, people: dict[str, Any], clock: FakeClock
) -> None:
    clock.set(T0)
    _session(ctx, people, clock, [2, 2, 2, 2, 2, 2, 2, 2, 0])  # 16
    _session(ctx, people, clock, [2, 2, 1, 1, 1, 1, 1, 1, 0])  # 10: -37.5 %
    _session(ctx, people, clock, [1, 1, 1, 1, 1, 1, 1, 1, 0])  # 8: -50 %, response (boundary)
    _session(ctx, people, clock, [1, 1, 1, 1, 0, 0, 0, 0, 0])  # 4: remission
    t = outcomes.course_trend(ctx, people["nurse"], "K-1001").trend("phq9")
    assert t is not None and t.baseline == 16
    assert [p.total for p in t.points] == [16, 10, 8, 4]
    assert [p.response for p in t.points] == [False, False, True, True]
    assert t.response_session == 3 and t.remission_session == 4
    assert clock.now() > T0 + timedelta(days=27)


def test_a_score_recorded_after_signing_makes_the_note_stale(tmp_path: Any) -> None:
    """The signed note must contain the scores: one recorded after the nurse signed refuses the
    approval (note_stale) until an addendum is signed."""
    import json
    from pathlib import Path

    from nursestation.scenario import run_scenario

    example = Path(__file__).resolve().parents[2] / "examples/scenarios/cssrs_blocks_start.json"
    spec = json.loads(example.read_text(encoding="utf-8"))
    end = next(i for i, st in enumerate(spec["steps"]) if st["do"] == "sign_note")
    steps = spec["steps"][: end + 1]  # up to the nurse's signature
    steps += [
        {"t": "+1:41", "as": "rn.ana", "do": "outcome", "chair": "2", "scale": "phq9",
         "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1], "timepoint": "pre"},
        {"t": "+1:42", "as": "cn.ben", "do": "approve_discharge", "chair": "2",
         "password": "Ben-pass-2026", "expect": "rejected", "error": "note_stale"},
    ]  # fmt: skip
    import io

    out = io.StringIO()
    rc = run_scenario({**spec, "steps": steps}, out=out, data_dir=str(tmp_path / "data"))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert rc == 0, [x for x in lines if "expectation" in x]
    assert "outcome measures" in lines[-1]["message"]


def test_a_positive_screen_holds_the_first_spravato_device(tmp_path: Any) -> None:
    """A Spravato session has no pump: the first device is its start, held the same way."""
    import io
    import json
    from pathlib import Path

    from nursestation.scenario import run_scenario

    example = Path(__file__).resolve().parents[2] / "examples/scenarios/spravato_84mg.json"
    spec = json.loads(example.read_text(encoding="utf-8"))
    first = next(i for i, st in enumerate(spec["steps"])
                 if st["do"] == "spravato_device" and "expect" not in st)  # fmt: skip
    steps = [
        *spec["steps"][:first],
        {"t": "+0:04", "as": "rn.ana", "do": "outcome", "chair": "2", "scale": "phq9",
         "answers": [1, 1, 1, 1, 1, 1, 1, 1, 2]},
        {"t": "+0:05", "as": "rn.ana", "do": "spravato_device", "chair": "2", "lot": "SPR-2403A",
         "expect": "rejected", "error": "safety_hold"},
        {"t": "+0:06", "as": "cn.ben", "do": "safety_assessment", "chair": "2",
         "kind": "pre_infusion", "assessment": "Passive thoughts, no intent or plan.",
         "plan": "Proceed; crisis line card; re-check before discharge.", "proceed": True},
        {"t": "+0:07", "as": "rn.ana", "do": "spravato_device", "chair": "2", "lot": "SPR-2403A"},
    ]  # fmt: skip
    out = io.StringIO()
    rc = run_scenario({**spec, "steps": steps}, out=out, data_dir=str(tmp_path / "data"))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert rc == 0, [x for x in lines if "expectation" in x]


def test_correction_supersedes_and_rejudges_the_screen(
    ctx: Any, people: dict[str, Any], checked_in: int
) -> None:
    nurse = people["nurse"]
    v = outcomes.record_outcome(ctx, nurse, checked_in, "phq9", [1] * 9)  # item 9 positive
    assert outcomes.safety_status(ctx, nurse, checked_in).start_held
    with pytest.raises(DomainError) as e:
        outcomes.correct_outcome(ctx, nurse, v.id, [1] * 8 + [0], "  ")
    assert e.value.field == "reason"
    with pytest.raises(DomainError) as e:  # clearing a positive screen needs a charge nurse
        outcomes.correct_outcome(ctx, nurse, v.id, [1] * 8 + [0], "Item 9 typed in the wrong row")
    assert e.value.code == NOT_PERMITTED
    c = outcomes.correct_outcome(ctx, people["charge"], v.id, [1] * 8 + [0],
                                 "Item 9 typed in the wrong row")  # fmt: skip
    assert (c.total, c.safety_positive) == (8, False)
    assert not outcomes.safety_status(ctx, nurse, checked_in).flagged
    assert [x.id for x in outcomes.session_outcomes(ctx, nurse, checked_in)] == [c.id]
    with pytest.raises(DomainError) as e:
        outcomes.correct_outcome(ctx, nurse, v.id, [0] * 9, "again")
    assert e.value.code == INVALID_STATE
    rec = get_record(ctx, nurse, checked_in)
    assert len(rec.outcomes) == 2 and [o.id for o in rec.current_outcomes] == [c.id]
