"""Discharge scores against the published tables (every level of every item), pre-fill from
vitals, and the composite checklist evaluation with exact failing criteria and messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nursestation.clinic import load_defaults
from nursestation.discharge import (
    CHANGED,
    CONFIRMED,
    ENTERED,
    PENDING,
    DischargeConfig,
    DischargeInputs,
    Override,
    ScoreSheet,
    SedationAssessment,
    VitalSnapshot,
    aldrete_circulation,
    aldrete_items,
    aldrete_spo2,
    evaluate_discharge,
    min_observation_minutes,
    modified_padss_items,
    padss_items,
    padss_vital_signs,
    prefill_sheet,
)
from nursestation.errors import DomainError


def config(**overrides: Any) -> DischargeConfig:
    settings = load_defaults()
    if overrides:
        settings = settings.with_overrides({"discharge": overrides}, "test")
    return DischargeConfig.from_settings(settings)


CFG = config()
STOP = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
BASE = VitalSnapshot(
    taken_at=STOP - timedelta(minutes=50),
    sbp=120,
    dbp=80,
    hr=70,
    rr=14,
    spo2=98,
    temp_c=36.8,
    on_room_air=True,
)


# --- configuration ---------------------------------------------------------------------------


def test_defaults() -> None:
    assert CFG.score_used == "aldrete"
    assert (CFG.aldrete_threshold, CFG.padss_threshold, CFG.modified_padss_threshold) == (9, 9, 9)
    assert CFG.circulation_mode == "mmHg"
    assert CFG.spo2_room_air_above_for_2 == 92
    assert (CFG.padss_2_within_pct, CFG.padss_1_within_pct) == (20, 40)
    assert CFG.bleeding_scored_na_2 is True
    assert [i.id for i in CFG.checklist] == [
        "observation_time",
        "vitals_near_baseline",
        "spo2_room_air",
        "alert_oriented",
        "sedation_resolved",
        "dissociation_resolved",
        "steady_gait",
        "nausea_controlled",
        "oral_fluids",
        "iv_removed",
        "escort_present",
        "instructions_given",
        "suicide_recheck",
        "next_appointment",
        "score",
    ]
    assert [i.id for i in CFG.checklist if not i.required] == ["oral_fluids", "next_appointment"]
    assert all(i.source for i in CFG.checklist)


def test_every_discharge_number_has_a_source() -> None:
    numbers = [
        s
        for s in load_defaults()
        if s.path.startswith("discharge.")
        and isinstance(s.value, int | float)
        and not isinstance(s.value, bool)
    ]
    assert len(numbers) == 13
    assert [s.path for s in numbers if not s.source] == []


def test_instruction_lines() -> None:
    lines = CFG.instruction_lines()
    assert len(lines) == 5
    assert "24 hours" in lines[0] and "next day after a restful sleep" in lines[0]
    assert lines[1] == "Do not drink alcohol or use cannabis for 24 hours."
    assert "opioids and benzodiazepines for about 4 hours" in lines[2]
    assert "988" in lines[4] and "911" in lines[4]


def test_min_observation_minutes() -> None:
    general = load_defaults().section("general")
    assert min_observation_minutes(general, "iv_ketamine") == 60
    assert min_observation_minutes(general, "Spravato") == 120
    assert min_observation_minutes({**general, "min_observation_min": 150}, "spravato") == 150


# --- published tables, every level of every item ---------------------------------------------


def _levels(items: tuple) -> dict[str, tuple[str, str, str]]:
    return {i.id: (i.wording(2), i.wording(1), i.wording(0)) for i in items}


def test_aldrete_table_mmhg() -> None:
    assert _levels(aldrete_items(CFG)) == {
        "activity": (
            "Moves 4 extremities voluntarily or on command",
            "Moves 2 extremities",
            "Moves 0 extremities",
        ),
        "respiration": (
            "Breathes deeply and coughs freely",
            "Dyspnoea, shallow or limited breathing",
            "Apnoeic",
        ),
        "circulation": (
            "BP ± 20 mmHg of pre-anaesthetic level",
            "BP ± 20–50 mmHg of pre-anaesthetic level",
            "BP > ± 50 mmHg of pre-anaesthetic level",
        ),
        "consciousness": ("Fully awake", "Arousable on calling", "Not responding"),
        "o2_saturation": (
            "Maintains SpO2 > 92% on room air",
            "Needs O2 to keep SpO2 > 90%",
            "SpO2 < 90% even with O2",
        ),
    }


def test_aldrete_circulation_percent_wording() -> None:
    items = _levels(aldrete_items(config(aldrete={"circulation_mode": "percent"})))
    assert items["circulation"] == (
        "BP ± 20% of pre-anaesthetic level",
        "BP ± 20–50% of pre-anaesthetic level",
        "BP > ± 50% of pre-anaesthetic level",
    )


def test_padss_table() -> None:
    assert _levels(padss_items(CFG)) == {
        "vital_signs": (
            "Within 20% of pre-op value",
            "20–40% of pre-op value",
            "> 40% of pre-op value",
        ),
        "activity_mental_status": (
            "Oriented ×3 and steady gait",
            "Oriented ×3 or steady gait",
            "Neither",
        ),
        "pain_nausea_vomiting": (
            "Minimal",
            "Moderate, has needed treatment",
            "Severe, needs treatment",
        ),
        "surgical_bleeding": ("Minimal", "Moderate", "Severe"),
        "intake_output": (
            "Has had PO fluids and voided",
            "Has had PO fluids or voided",
            "Neither",
        ),
    }


def test_modified_padss_table() -> None:
    levels = _levels(modified_padss_items(CFG))
    assert list(levels) == [
        "vital_signs",
        "activity_mental_status",
        "ambulation",
        "nausea_vomiting",
        "pain",
    ]
    assert levels["ambulation"] == (
        "Steady gait without dizziness",
        "With assistance",
        "None, or dizziness",
    )
    assert levels["nausea_vomiting"] == ("Minimal", "Moderate", "Severe")
    assert levels["pain"] == ("Minimal", "Moderate", "Severe")


# --- pre-fill from vitals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sbp", "score"),
    [(120, 2), (140, 2), (141, 1), (100, 2), (99, 1), (170, 1), (171, 0), (70, 1), (69, 0)],
)
def test_aldrete_circulation_mmhg_bands(sbp: float, score: int) -> None:
    s = aldrete_circulation(CFG, BASE, VitalSnapshot(sbp=sbp, dbp=80))
    assert s is not None and s.score == score


def test_aldrete_circulation_evidence() -> None:
    s = aldrete_circulation(CFG, BASE, VitalSnapshot(sbp=141))
    assert s is not None
    assert s.evidence == "SBP 141 vs baseline 120 mmHg (+21 mmHg)"


@pytest.mark.parametrize(
    ("sbp", "score"), [(180, 2), (181, 1), (120, 2), (119, 1), (225, 1), (226, 0), (74, 0)]
)
def test_aldrete_circulation_percent_bands(sbp: float, score: int) -> None:
    cfg = config(aldrete={"circulation_mode": "percent"})
    s = aldrete_circulation(cfg, VitalSnapshot(sbp=150), VitalSnapshot(sbp=sbp))
    assert s is not None and s.score == score


def test_aldrete_circulation_map_and_missing() -> None:
    cfg = config(aldrete={"circulation_measure": "map"})
    # MAP baseline (120 + 160) / 3 = 93.3; latest (150 + 180) / 3 = 110 → +16.7 mmHg
    s = aldrete_circulation(cfg, BASE, VitalSnapshot(sbp=150, dbp=90))
    assert s is not None and s.score == 2
    assert s.evidence == "MAP 110 vs baseline 93.3 mmHg (+16.7 mmHg)"
    assert aldrete_circulation(cfg, BASE, VitalSnapshot(sbp=150)) is None
    assert aldrete_circulation(CFG, VitalSnapshot(), VitalSnapshot(sbp=150)) is None


@pytest.mark.parametrize(
    ("spo2", "room_air", "score"),
    [
        (93, True, 2),
        (92, True, 1),  # not > 92: the room-air 2 needs strictly above
        (91, True, 1),
        (90, True, 0),
        (99, False, 1),
        (91, False, 1),
        (90, False, 0),
        (89, False, 0),
        (97, None, 1),  # O2 status not recorded: cannot claim "on room air"
    ],
)
def test_aldrete_spo2_levels(spo2: float, room_air: bool | None, score: int) -> None:
    s = aldrete_spo2(CFG, VitalSnapshot(spo2=spo2, on_room_air=room_air))
    assert s is not None and s.score == score


def test_padss_vital_signs_bands_worst_wins() -> None:
    base = VitalSnapshot(sbp=100, dbp=50, hr=50, rr=10, temp_c=36.0)
    cases = [
        (VitalSnapshot(sbp=120, dbp=60, hr=60, rr=12, temp_c=36.0), 2),  # all exactly 20 %
        (VitalSnapshot(sbp=80, hr=40), 2),  # −20 %, missing values ignored
        (VitalSnapshot(sbp=121, hr=50), 1),
        (VitalSnapshot(sbp=140, hr=50), 1),  # exactly 40 %
        (VitalSnapshot(sbp=100, hr=71), 0),  # HR +42 % is the worst
        (VitalSnapshot(sbp=100, rr=5.9), 0),  # −41 %
    ]
    for latest, score in cases:
        s = padss_vital_signs(CFG, base, latest)
        assert s is not None and s.score == score, latest
    assert padss_vital_signs(CFG, base, VitalSnapshot(spo2=99)) is None
    s = padss_vital_signs(CFG, base, VitalSnapshot(sbp=121, hr=55))
    assert s is not None and s.evidence == "SBP 121 vs 100 (21 %); HR 55 vs 50 (10 %)"


def test_prefill_aldrete_sheet_and_nurse_entries() -> None:
    latest = VitalSnapshot(sbp=145, dbp=85, spo2=95, on_room_air=True)
    sheet = prefill_sheet("aldrete", CFG, BASE, latest)
    assert sheet.threshold == 9
    pre = {e.item_id: e.prefilled for e in sheet.entries}
    assert pre == {
        "activity": None,
        "respiration": None,
        "circulation": 1,
        "consciousness": None,
        "o2_saturation": 2,
    }
    assert sheet.total is None
    assert sheet.pending == (
        "activity",
        "respiration",
        "circulation",
        "consciousness",
        "o2_saturation",
    )
    assert [e.origin for e in sheet.entries] == [PENDING] * 5
    sheet = sheet.confirm("o2_saturation", by="rn.ana").enter("circulation", 2, by="rn.ana")
    for item in ("activity", "respiration", "consciousness"):
        sheet = sheet.enter(item, 2)
    assert sheet.total == 10
    assert sheet.meets_threshold
    origins = {e.item_id: e.origin for e in sheet.entries}
    assert origins["o2_saturation"] == CONFIRMED
    assert origins["circulation"] == CHANGED
    assert origins["activity"] == ENTERED
    assert sheet.entry("circulation").prefilled == 1  # the suggestion is kept
    assert sheet.enter("consciousness", 0).total == 8
    assert not sheet.enter("consciousness", 0).meets_threshold


def test_sheet_refuses_bad_scores() -> None:
    sheet = prefill_sheet("aldrete", CFG, None, None)
    with pytest.raises(DomainError) as exc:
        sheet.enter("activity", 3)
    assert exc.value.code == "out_of_range"
    assert exc.value.message == "Modified Aldrete Activity score 3 is impossible: allowed 0–2."
    with pytest.raises(DomainError) as exc:
        sheet.confirm("activity")
    assert exc.value.code == "bad_input"
    with pytest.raises(DomainError):
        sheet.enter("colour", 2)


def test_prefill_padss_and_bleeding_na() -> None:
    latest = VitalSnapshot(sbp=130, dbp=84, hr=75, rr=14)
    sheet = prefill_sheet("padss", CFG, BASE, latest)
    assert sheet.entry("vital_signs").prefilled == 2
    assert sheet.entry("surgical_bleeding").prefilled == 2
    assert sheet.entry("intake_output").prefilled is None
    no_na = prefill_sheet("padss", config(padss={"bleeding_scored_na_2": False}), BASE, latest)
    assert no_na.entry("surgical_bleeding").prefilled is None


def test_prefill_modified_padss_vitals() -> None:
    assert (
        prefill_sheet("modified_padss", CFG, BASE, VitalSnapshot(hr=98))
        .entry("vital_signs")
        .prefilled
        == 1
    )  # 40 % exactly
    assert (
        prefill_sheet("modified_padss", CFG, BASE, VitalSnapshot(hr=99))
        .entry("vital_signs")
        .prefilled
        == 0
    )


# --- evaluation --------------------------------------------------------------------------------


def full_sheet(scale: str, cfg: DischargeConfig, score: int = 2) -> ScoreSheet:
    sheet = prefill_sheet(scale, cfg, None, None)
    for e in sheet.entries:
        sheet = sheet.enter(e.item_id, score)
    return sheet


NOW = STOP + timedelta(minutes=75)
GOOD_LATEST = VitalSnapshot(
    taken_at=STOP + timedelta(minutes=70), sbp=126, dbp=82, hr=72, rr=14, spo2=97, on_room_air=True
)


def good_inputs(**changes: Any) -> DischargeInputs:
    base = DischargeInputs(
        config=CFG,
        min_observation_min=60,
        observation_from=STOP,
        baseline=BASE,
        latest_vitals=GOOD_LATEST,
        alert_oriented=True,
        sedation=(SedationAssessment("moaas", 5, STOP + timedelta(minutes=65)),),
        dissociation_resolved=True,
        steady_gait=True,
        nausea_controlled=True,
        oral_fluids=None,
        iv_removed=True,
        escort_present=True,
        escort_name="John Doe",
        escort_relationship="spouse",
        instructions_given=True,
        suicide_screen_positive=False,
        next_appointment=None,
        scores=(full_sheet("aldrete", CFG),),
    )
    return replace(base, **changes)


def failing(ev: Any) -> list[tuple[str, str]]:
    return [(c.id, c.reason) for c in ev.failing]


def test_all_good_is_ready() -> None:
    ev = evaluate_discharge(good_inputs(), NOW)
    assert ev.ready
    assert failing(ev) == []
    # optional items may be unmet without blocking
    assert not ev.criterion("oral_fluids").met
    assert not ev.criterion("next_appointment").met
    assert ev.criterion("escort_present").evidence == "John Doe (spouse)"
    assert ev.criterion("score").reason == "Modified Aldrete 10/10 (threshold 9)."
    assert ev.criterion("observation_time").reason == (
        "75 min have elapsed since the infusion stop (minimum 60 min)."
    )
    ev.raise_if_not_ready()


def test_observation_message_and_exact_boundary() -> None:
    at = STOP + timedelta(minutes=37)
    ev = evaluate_discharge(good_inputs(latest_vitals=replace(GOOD_LATEST, taken_at=at)), at)
    assert not ev.ready
    assert failing(ev) == [
        (
            "observation_time",
            "60 min of observation are required after the infusion stop at 10:05 UTC: "
            "they will have elapsed at 11:05 UTC (in 23 min).",
        )
    ]
    assert ev.observation_complete_at == STOP + timedelta(minutes=60)
    with pytest.raises(DomainError) as exc:
        ev.raise_if_not_ready()
    assert exc.value.code == "observation_incomplete"
    just_before = STOP + timedelta(minutes=59, seconds=59)
    ev = evaluate_discharge(good_inputs(), just_before)
    assert [c.id for c in ev.failing] == ["observation_time"]
    assert "(in 1 min)" in ev.criterion("observation_time").reason
    assert evaluate_discharge(good_inputs(), STOP + timedelta(minutes=60)).ready


def test_observation_not_started() -> None:
    ev = evaluate_discharge(good_inputs(observation_from=None), NOW)
    assert ev.criterion("observation_time").reason == (
        "The observation period has not started: the infusion stop has not been recorded."
    )
    assert ev.observation_complete_at is None
    assert not ev.ready


def test_spravato_120_min() -> None:
    ev = evaluate_discharge(
        good_inputs(min_observation_min=120, observation_from_event="the Spravato dose"),
        STOP + timedelta(minutes=110),
    )
    assert ev.criterion("observation_time").reason == (
        "120 min of observation are required after the Spravato dose at 10:05 UTC: they will "
        "have elapsed at 12:05 UTC (in 10 min)."
    )


def test_many_failures_listed_exactly() -> None:
    inputs = good_inputs(
        latest_vitals=replace(GOOD_LATEST, sbp=150, spo2=91, on_room_air=False),
        alert_oriented=None,
        sedation=(
            SedationAssessment("moaas", 5, STOP - timedelta(minutes=30)),  # before stop: ignored
            SedationAssessment("rass", -1, STOP + timedelta(minutes=60)),
        ),
        dissociation_resolved=False,
        nausea_controlled=False,
        iv_removed=None,
        escort_present=False,
        escort_name="",
        instructions_given=False,
        suicide_screen_positive=True,
        suicide_recheck_done=False,
        scores=(prefill_sheet("aldrete", CFG, BASE, GOOD_LATEST),),
    )
    ev = evaluate_discharge(inputs, NOW)
    assert not ev.ready
    assert failing(ev) == [
        (
            "vitals_near_baseline",
            "BP not ± 20 mmHg of baseline: SBP 150 vs baseline 120 mmHg (+30 mmHg).",
        ),
        ("spo2_room_air", "SpO2 91 % is on supplemental O2."),
        ("alert_oriented", "Orientation has not been assessed."),
        ("sedation_resolved", "Latest RASS is -1; sedation is resolved at RASS 0."),
        ("dissociation_resolved", "Dissociation has not resolved."),
        ("nausea_controlled", "Nausea or vomiting is not controlled."),
        ("iv_removed", "IV removal has not been documented."),
        ("escort_present", "No escort name has been recorded."),
        ("instructions_given", "Written discharge instructions have not been given."),
        (
            "suicide_recheck",
            "The intake suicide screen was positive and risk has not been re-checked.",
        ),
        (
            "score",
            "Modified Aldrete items not confirmed: activity, respiration, circulation, "
            "consciousness, o2_saturation.",
        ),
    ]
    with pytest.raises(DomainError) as exc:
        ev.raise_if_not_ready()
    assert exc.value.code == "criteria_not_met"
    assert exc.value.message.startswith(
        "Discharge criteria not met — Vital signs stable and near baseline: BP not ± 20 mmHg"
    )


def test_score_below_threshold_and_both_scores() -> None:
    low = full_sheet("aldrete", CFG).enter("activity", 0)
    ev = evaluate_discharge(good_inputs(scores=(low,)), NOW)
    assert failing(ev) == [("score", "Modified Aldrete 8/10 is below the threshold of 9.")]
    cfg = config(score_used="both")
    ev = evaluate_discharge(good_inputs(config=cfg, scores=(full_sheet("aldrete", cfg),)), NOW)
    assert failing(ev) == [("score", "PADSS has not been scored.")]
    ev = evaluate_discharge(
        good_inputs(config=cfg, scores=(full_sheet("aldrete", cfg), full_sheet("padss", cfg))),
        NOW,
    )
    assert ev.ready
    assert ev.criterion("score").evidence == (
        "Modified Aldrete 10/10 (threshold 9); PADSS 10/10 (threshold 9)"
    )


def test_vitals_rule_follows_padss_when_clinic_uses_padss() -> None:
    cfg = config(score_used="modified_padss")
    latest = replace(GOOD_LATEST, sbp=144)  # +24 mmHg but exactly +20 %
    ev = evaluate_discharge(
        good_inputs(config=cfg, latest_vitals=latest, scores=(full_sheet("modified_padss", cfg),)),
        NOW,
    )
    assert ev.ready
    ev = evaluate_discharge(good_inputs(latest_vitals=latest), NOW)  # Aldrete ± 20 mmHg
    assert [c.id for c in ev.failing] == ["vitals_near_baseline"]


def test_vitals_before_stop_do_not_count() -> None:
    early = replace(GOOD_LATEST, taken_at=STOP - timedelta(minutes=5))
    ev = evaluate_discharge(good_inputs(latest_vitals=early), NOW)
    assert failing(ev) == [
        (
            "vitals_near_baseline",
            "The latest vital signs (10:00 UTC) were taken before the infusion stop at 10:05 UTC.",
        ),
        (
            "spo2_room_air",
            "The latest vital signs (10:00 UTC) were taken before the infusion stop at 10:05 UTC.",
        ),
    ]


def test_spo2_at_room_air_baseline_accepted() -> None:
    base = replace(BASE, spo2=91)
    latest = replace(GOOD_LATEST, spo2=91)
    ev = evaluate_discharge(good_inputs(baseline=base, latest_vitals=latest), NOW)
    assert ev.criterion("spo2_room_air").met
    assert ev.criterion("spo2_room_air").reason == ("SpO2 91 % on room air is at baseline (91 %).")
    ev = evaluate_discharge(good_inputs(latest_vitals=replace(GOOD_LATEST, spo2=92)), NOW)
    assert ev.criterion("spo2_room_air").reason == (
        "SpO2 92 % on room air is not above 92 % nor at baseline."
    )


def test_labetalol_upright_posture() -> None:
    inputs = good_inputs(upright_required_by=("Labetalol IV",))
    ev = evaluate_discharge(inputs, NOW)
    assert failing(ev) == [
        (
            "steady_gait",
            "After Labetalol IV the patient must tolerate upright posture, which has not "
            "been checked.",
        )
    ]
    ev = evaluate_discharge(replace(inputs, upright_tolerated=True), NOW)
    assert ev.ready
    assert ev.criterion("steady_gait").reason == (
        "Walks with a steady gait and tolerates upright posture."
    )
    assert ev.criterion("steady_gait").evidence == "given this session: Labetalol IV"


def test_sedation_both_scales_must_be_resolved() -> None:
    later = STOP + timedelta(minutes=66)
    ev = evaluate_discharge(
        good_inputs(
            sedation=(
                SedationAssessment("moaas", 4, STOP + timedelta(minutes=30)),
                SedationAssessment("moaas", 5, later),
                SedationAssessment("rass", 0, later),
            )
        ),
        NOW,
    )
    assert ev.criterion("sedation_resolved").met
    assert (
        ev.criterion("sedation_resolved").evidence == "MOAA/S 5 at 11:11 UTC; RASS 0 at 11:11 UTC"
    )
    ev = evaluate_discharge(good_inputs(sedation=()), NOW)
    assert ev.criterion("sedation_resolved").reason == (
        "No sedation rating (MOAA/S or RASS) since the infusion stop."
    )


@pytest.mark.parametrize(
    ("scale", "value"), [("moaas", 6), ("moaas", -1), ("rass", 5), ("rass", -6)]
)
def test_sedation_range(scale: str, value: int) -> None:
    with pytest.raises(DomainError) as exc:
        SedationAssessment(scale, value, STOP)
    assert exc.value.code == "out_of_range"


def test_overrides_need_reason_and_name() -> None:
    inputs = good_inputs(escort_present=False, escort_name="")
    blank = Override("escort_present", "   ", "cn.ben")
    ev = evaluate_discharge(replace(inputs, overrides=(blank,)), NOW)
    assert not ev.ready
    assert ev.ignored_overrides == (blank,)
    ok = Override("escort_present", "taxi arranged by the prescriber; patient alert", "cn.ben")
    ev = evaluate_discharge(replace(inputs, overrides=(ok,)), NOW)
    assert ev.ready
    crit = ev.criterion("escort_present")
    assert not crit.met and crit.satisfied and crit.override == ok
    with pytest.raises(DomainError) as exc:
        evaluate_discharge(replace(inputs, overrides=(Override("colour", "x", "y"),)), NOW)
    assert exc.value.code == "bad_input"


def test_escort_present_without_relationship() -> None:
    ev = evaluate_discharge(good_inputs(escort_relationship=None), NOW)
    assert ev.criterion("escort_present").reason == (
        "Escort present: John Doe (relationship not recorded)."
    )


def test_unknown_suicide_screen_blocks() -> None:
    ev = evaluate_discharge(good_inputs(suicide_screen_positive=None), NOW)
    assert failing(ev) == [
        ("suicide_recheck", "The intake suicide screen result has not been recorded.")
    ]
    ev = evaluate_discharge(
        good_inputs(suicide_screen_positive=True, suicide_recheck_done=True), NOW
    )
    assert ev.ready


def test_clinic_can_make_gait_optional() -> None:
    cfg = config(checklist={"steady_gait": {"required": False}})
    ev = evaluate_discharge(good_inputs(config=cfg, steady_gait=False), NOW)
    assert ev.ready
    assert not ev.criterion("steady_gait").met


# --- vitals near baseline covers BP, HR and RR (PADSS vital-signs item, issue 13) -------------


def test_defaults_compare_bp_hr_and_rr() -> None:
    assert CFG.vitals_near_baseline_params == ("bp", "hr", "rr")


def test_heart_rate_far_from_baseline_fails_even_with_bp_near() -> None:
    base = replace(BASE, hr=72)
    ev = evaluate_discharge(
        good_inputs(baseline=base, latest_vitals=replace(GOOD_LATEST, hr=128)), NOW
    )
    assert failing(ev) == [
        ("vitals_near_baseline", "HR not within 20 % of baseline: HR 128 vs baseline 72 (+77.8 %).")
    ]


@pytest.mark.parametrize(
    ("param", "baseline", "inside", "outside"),
    [("hr", 70, 84, 85), ("hr", 70, 56, 55), ("rr", 10, 12, 13), ("rr", 15, 12, 11)],
)
def test_hr_and_rr_boundary_at_20_percent(
    param: str, baseline: float, inside: float, outside: float
) -> None:
    base = replace(BASE, **{param: baseline})
    ok = evaluate_discharge(
        good_inputs(baseline=base, latest_vitals=replace(GOOD_LATEST, **{param: inside})), NOW
    )
    assert ok.ready, failing(ok)
    bad = evaluate_discharge(
        good_inputs(baseline=base, latest_vitals=replace(GOOD_LATEST, **{param: outside})), NOW
    )
    assert [c.id for c in bad.failing] == ["vitals_near_baseline"]
    assert bad.criterion("vitals_near_baseline").reason.startswith(
        f"{param.upper()} not within 20 % of baseline"
    )


def test_missing_recovery_rr_fails_unless_the_clinic_drops_it() -> None:
    latest = replace(GOOD_LATEST, rr=None)
    ev = evaluate_discharge(good_inputs(latest_vitals=latest), NOW)
    assert failing(ev) == [
        (
            "vitals_near_baseline",
            "No RR pair (baseline and since the infusion stop) to compare.",
        )
    ]
    cfg = config(vitals_near_baseline_params=["bp", "hr"])
    assert evaluate_discharge(good_inputs(config=cfg, latest_vitals=latest), NOW).ready


def test_padss_bp_rule_compares_sbp_and_dbp_by_percent() -> None:
    cfg = config(score_used="padss")
    sheets = (full_sheet("padss", cfg),)
    ok = replace(GOOD_LATEST, sbp=144, dbp=96)  # +20 % each: inside
    assert evaluate_discharge(good_inputs(config=cfg, latest_vitals=ok, scores=sheets), NOW).ready
    bad = replace(GOOD_LATEST, dbp=97)  # +21.25 %
    ev = evaluate_discharge(good_inputs(config=cfg, latest_vitals=bad, scores=sheets), NOW)
    assert ev.criterion("vitals_near_baseline").reason == (
        "BP not within 20 % of baseline: SBP 126 vs baseline 120 (+5 %); "
        "DBP 97 vs baseline 80 (+21.2 %)."
    )


@pytest.mark.parametrize("bad", [[], ["bp", "spo2"], "bp"])
def test_near_baseline_params_are_validated(bad: Any) -> None:
    with pytest.raises(Exception, match="vitals_near_baseline_params"):
        config(vitals_near_baseline_params=bad)


# --- one name per answer (issue 14) ----------------------------------------------------------


def test_every_answer_has_one_name_across_checklist_inputs_and_scenarios() -> None:
    from dataclasses import fields

    from nursestation import discharge as d

    input_fields = {f.name for f in fields(DischargeInputs)}
    keys = [a.key for a in d.ANSWERS]
    assert len(keys) == len(set(keys))
    # Each answer feeds the DischargeInputs field of its own name, except the room-air answer
    # (it qualifies the latest SpO2 reading; the app applies it).
    assert [k for k in keys if k not in input_fields] == ["on_room_air"]
    # An answer that is a checklist criterion by itself has the criterion's id.
    for criterion_id in d._YES_NO_CRITERIA:
        assert criterion_id in d.CHECKLIST_IDS
        assert criterion_id in keys
        assert d.ANSWER_LABELS[criterion_id]
    assert "steady_gait" in keys and "steady_gait" in d.CHECKLIST_IDS
    # Former names lead to a current name and are not current names themselves.
    for alias, name in d.ANSWER_ALIASES.items():
        assert name in keys
        assert alias not in keys and alias not in input_fields and alias not in d.CHECKLIST_IDS


def test_canonical_answers_renames_former_keys_in_order() -> None:
    from nursestation.discharge import canonical_answers

    assert canonical_answers(
        {"alert_oriented": True, "gait_steady": False, "iv_removed": True}
    ) == {
        "alert_oriented": True,
        "steady_gait": False,
        "iv_removed": True,
    }
    assert list(canonical_answers({"gait_steady": False, "alert_oriented": True})) == [
        "steady_gait",
        "alert_oriented",
    ]
    # Both present: the one name wins whichever comes first.
    assert canonical_answers({"gait_steady": False, "steady_gait": True}) == {"steady_gait": True}
    assert canonical_answers({"steady_gait": True, "gait_steady": False}) == {"steady_gait": True}
    assert canonical_answers({}) == {}


@pytest.mark.parametrize(
    ("criterion_id", "yes", "no", "unknown"),
    [
        (
            "alert_oriented",
            "Alert and oriented ×3.",
            "Not alert and oriented ×3.",
            "Orientation has not been assessed.",
        ),
        (
            "nausea_controlled",
            "Nausea and vomiting controlled.",
            "Nausea or vomiting is not controlled.",
            "Nausea has not been assessed.",
        ),
        (
            "oral_fluids",
            "Tolerating oral fluids.",
            "Not tolerating oral fluids.",
            "Oral fluids have not been tried.",
        ),
        (
            "iv_removed",
            "IV removed, site intact.",
            "The IV is still in place or the site is not intact.",
            "IV removal has not been documented.",
        ),
    ],
)
def test_yes_no_criteria_read_the_answer_of_their_own_name(
    criterion_id: str, yes: str, no: str, unknown: str
) -> None:
    for answer, met, reason in ((True, True, yes), (False, False, no), (None, False, unknown)):
        c = evaluate_discharge(good_inputs(**{criterion_id: answer}), NOW).criterion(criterion_id)
        assert (c.met, c.reason, c.evidence) == (met, reason, "")
