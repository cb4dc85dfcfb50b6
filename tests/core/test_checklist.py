"""Pre-infusion checklist: hard stops, warnings, missing answers, start limits, overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nursestation.checklist import (
    ITEM_IDS,
    ChecklistSettings,
    PatientFacts,
    PreInfusionChecklist,
    StartOverride,
    evaluate_checklist,
)
from nursestation.clinic import load_defaults
from nursestation.errors import DomainError

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CFG = ChecklistSettings.from_settings(load_defaults())
FEMALE = PatientFacts(sex="female", reproductive_potential=True)
CN = StartOverride(user="cn.ben", role="charge_nurse", reason="BP rechecked 150/92, Dr Lee agrees")


def good_answers(**changes: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "consent_confirmed": True,
        "identity_two_identifiers": True,
        "last_solids_at": (NOW - timedelta(hours=8)).isoformat(),
        "last_clear_liquids_at": "2026-03-02T06:30:00-05:00",  # 11:30 UTC, 2.5 h before NOW
        "escort_name": "John Doe",
        "escort_phone": "+1 (555) 010-2030",
        "pregnancy_screen": "negative",
        "contraindications_screened": True,
        "contraindications": [],
        "interacting_medications_screened": True,
        "interacting_medications": [],
        "iv_site": "left antecubital",
        "iv_gauge": 22,
        "iv_patent": True,
    }
    answers.update(changes)
    return answers


GOOD_VITALS = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def run(answers=None, vitals=None, patient=FEMALE, **kw):
    return evaluate_checklist(
        good_answers() if answers is None else answers,
        GOOD_VITALS if vitals is None else vitals,
        patient,
        CFG,
        NOW,
        **kw,
    )


def test_all_good_can_start() -> None:
    r = run()
    assert [it.id for it in r.items] == list(ITEM_IDS)
    assert all(it.status == "ok" for it in r.items), [it.message for it in r.items]
    assert r.can_start
    r.raise_if_blocked()
    assert r.item("escort").message == "Escort John Doe, +1 (555) 010-2030."


def test_accepts_clinic_settings_and_dataclass_answers() -> None:
    answers = PreInfusionChecklist.from_answers(good_answers())
    r = evaluate_checklist(answers, GOOD_VITALS, FEMALE, load_defaults(), NOW)
    assert r.can_start


def test_answers_round_trip() -> None:
    a = PreInfusionChecklist.from_answers(good_answers(contraindications=["Lactation "]))
    assert a.contraindications == ("lactation",)
    assert PreInfusionChecklist.from_answers(a.to_answers()) == a


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("consent", True),  # unknown key (typo)
        ("consent_confirmed", "yes"),
        ("last_solids_at", "2026-03-02T06:00:00"),  # naive
        ("last_solids_at", "this morning"),
        ("pregnancy_screen", "maybe"),
        ("iv_gauge", "22"),
        ("contraindications", "none"),
    ],
)
def test_malformed_answers_refused(key: str, value: Any) -> None:
    with pytest.raises(DomainError) as err:
        run(good_answers(**{key: value}))
    assert err.value.code == "bad_input"
    assert err.value.field == key


@pytest.mark.parametrize(
    "key",
    [
        "consent_confirmed",
        "identity_two_identifiers",
        "last_solids_at",
        "last_clear_liquids_at",
        "escort_name",
        "escort_phone",
        "pregnancy_screen",
        "contraindications_screened",
        "interacting_medications_screened",
        "iv_site",
        "iv_gauge",
        "iv_patent",
    ],
)
def test_each_missing_answer_is_checklist_incomplete(key: str) -> None:
    answers = good_answers()
    del answers[key]
    r = run(answers)
    assert not r.can_start
    (blocker,) = r.blocking
    assert blocker.status == "missing"
    assert blocker.code == "checklist_incomplete"
    with pytest.raises(DomainError) as err:
        r.raise_if_blocked()
    assert err.value.code == "checklist_incomplete"
    assert err.value.field == blocker.id


def test_missing_vitals_is_incomplete() -> None:
    r = run(vitals={"sbp": 128, "dbp": 82, "hr": 76})
    item = r.item("baseline_vitals")
    assert item.status == "missing"
    assert item.message == "Baseline SpO2, RR not recorded."
    assert run(vitals={}).item("baseline_vitals").status == "missing"
    r = evaluate_checklist(good_answers(), None, FEMALE, CFG, NOW)
    assert r.item("baseline_vitals").code == "checklist_incomplete"


def test_empty_answers_everything_missing() -> None:
    r = evaluate_checklist({}, None, None, CFG, NOW)
    assert {it.status for it in r.items} == {"missing"}
    assert len(r.blocking) == len(ITEM_IDS)


@pytest.mark.parametrize(
    ("changes", "item"),
    [
        ({"consent_confirmed": False}, "consent_confirmed"),
        ({"identity_two_identifiers": False}, "identity_two_identifiers"),
        ({"pregnancy_screen": "positive"}, "pregnancy_screen"),
        ({"contraindications": ["psychosis_or_mania"]}, "contraindication_screen"),
        ({"contraindications": ["recent stroke"]}, "contraindication_screen"),  # unlisted → hard
        ({"iv_patent": False}, "iv_access"),
    ],
)
def test_hard_stops(changes: dict[str, Any], item: str) -> None:
    r = run(good_answers(**changes))
    it = r.item(item)
    assert it.status == "hard_stop"
    assert it.code == "criteria_not_met"
    assert it.source is not None
    assert "[S" in it.source or "[GK]" in it.source
    assert r.blocking == (it,)
    with pytest.raises(DomainError) as err:
        r.raise_if_blocked()
    assert err.value.code == "criteria_not_met"


@pytest.mark.parametrize(
    ("changes", "item"),
    [
        ({"last_solids_at": (NOW - timedelta(hours=5, minutes=59)).isoformat()}, "npo"),
        ({"last_clear_liquids_at": (NOW - timedelta(hours=1)).isoformat()}, "npo"),
        ({"interacting_medications": ["benzodiazepines", "opioids"]}, "interacting_medications"),
        ({"contraindications": ["substance_use_disorder_history"]}, "contraindication_screen"),
    ],
)
def test_soft_warnings_do_not_block(changes: dict[str, Any], item: str) -> None:
    r = run(good_answers(**changes))
    assert r.item(item).status == "warning"
    assert r.item(item).code is None
    assert r.can_start
    assert r.warnings == (r.item(item),)


def test_npo_boundaries_and_message() -> None:
    exactly = good_answers(
        last_solids_at=(NOW - timedelta(hours=6)).isoformat(),
        last_clear_liquids_at=(NOW - timedelta(hours=2)).isoformat(),
    )
    assert run(exactly).item("npo").status == "ok"
    short = good_answers(last_solids_at=(NOW - timedelta(hours=4, minutes=30)).isoformat())
    assert run(short).item("npo").message == "Last solids 4.5 h ago (at least 6 h expected)."
    future = good_answers(last_solids_at=(NOW + timedelta(minutes=5)).isoformat())
    assert run(future).item("npo").status == "missing"


def test_npo_spravato_rules() -> None:
    a = good_answers(
        last_solids_at=(NOW - timedelta(hours=2)).isoformat(),
        last_clear_liquids_at=(NOW - timedelta(minutes=30)).isoformat(),
    )
    assert run(a, session_type="spravato").item("npo").status == "ok"
    assert run(a).item("npo").status == "warning"
    a["last_clear_liquids_at"] = (NOW - timedelta(minutes=29)).isoformat()
    assert run(a, session_type="spravato").item("npo").status == "warning"
    with pytest.raises(DomainError) as err:
        run(a, session_type="oral")
    assert err.value.code == "bad_input"


def test_escort_phone_digits() -> None:
    assert run(good_answers(escort_phone="555-1234")).item("escort").status == "ok"  # 7 digits
    r = run(good_answers(escort_phone="555-123"))
    assert r.item("escort").status == "missing"
    assert r.item("escort").message == "Escort phone has 6 digits: at least 7 expected."
    assert run(good_answers(escort_name="  ")).item("escort").status == "missing"


def test_pregnancy_applicability() -> None:
    no_answer = good_answers(pregnancy_screen=None)
    assert run(no_answer, patient=PatientFacts(sex="male")).item("pregnancy_screen").status == "ok"
    none_potential = PatientFacts(sex="female", reproductive_potential=False)
    assert run(no_answer, patient=none_potential).item("pregnancy_screen").status == "ok"
    assert run(no_answer, patient=None).item("pregnancy_screen").status == "missing"
    na = good_answers(pregnancy_screen="not_applicable")
    assert run(na, patient=FEMALE).item("pregnancy_screen").status == "missing"
    assert run(na, patient=PatientFacts()).item("pregnancy_screen").status == "ok"


def test_iv_gauge_range() -> None:
    assert run(good_answers(iv_gauge=14)).item("iv_access").status == "ok"
    assert run(good_answers(iv_gauge=26)).item("iv_access").status == "ok"
    r = run(good_answers(iv_gauge=27))
    assert r.item("iv_access").status == "missing"
    assert r.item("iv_access").message == "IV gauge 27 G is implausible: allowed 14–26 G."
    assert run(good_answers(iv_gauge=13)).item("iv_access").status == "missing"


# --- start limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vitals", "status"),
    [
        ({"sbp": 180, "dbp": 100}, "warning"),  # at the hard limit: caution (above 140/90)
        ({"sbp": 181}, "hard_stop"),
        ({"dbp": 101}, "hard_stop"),
        ({"sbp": 140, "dbp": 90}, "ok"),
        ({"sbp": 141}, "warning"),
        ({"dbp": 91}, "warning"),
        ({"sbp": 90}, "ok"),
        ({"sbp": 89}, "warning"),
        ({"hr": 50}, "ok"),
        ({"hr": 49}, "warning"),
        ({"hr": 120}, "ok"),
        ({"hr": 121}, "warning"),
        ({"spo2": 95}, "ok"),
        ({"spo2": 94}, "warning"),
        ({"spo2": 90}, "warning"),
        ({"spo2": 89}, "hard_stop"),
        ({"rr": 10}, "ok"),
        ({"rr": 9}, "warning"),
        ({"rr": 30}, "ok"),
        ({"rr": 31}, "warning"),
    ],
)
def test_start_limit_boundaries(vitals: dict[str, float], status: str) -> None:
    r = run(vitals={**GOOD_VITALS, **vitals})
    assert r.item("baseline_vitals").status == status


def test_start_limit_messages_and_sources() -> None:
    r = run(vitals={**GOOD_VITALS, "sbp": 185, "dbp": 95, "hr": 125})
    item = r.item("baseline_vitals")
    assert item.status == "hard_stop"
    assert item.message == (
        "Start limit exceeded: SBP 185 mmHg is above 180. "
        "Caution: DBP 95 mmHg is above 90; HR 125 /min is above 120."
    )
    assert "[S22]" in (item.source or "")
    assert "[S52]" in (item.source or "")


def test_vitals_as_object_and_pulse_rate() -> None:
    @dataclass
    class Reading:
        sbp: float
        dbp: float
        pulse_rate: float
        spo2: float
        rr: float

    r = run(vitals=Reading(128, 82, 130, 98, 14))
    assert r.item("baseline_vitals").status == "warning"
    assert "HR 130 /min" in r.item("baseline_vitals").message


def test_clinic_can_make_limit_tighter() -> None:
    settings = load_defaults().with_overrides(
        {"session": {"start_limits": {"hard_stop": {"sbp_above": 160}}}}, "clinic.json"
    )
    cfg = ChecklistSettings.from_settings(settings)
    r = evaluate_checklist(good_answers(), {**GOOD_VITALS, "sbp": 161}, FEMALE, cfg, NOW)
    assert r.item("baseline_vitals").status == "hard_stop"
    assert "clinic.json" in (r.item("baseline_vitals").source or "")


def test_clinic_can_downgrade_severity_or_turn_item_off() -> None:
    settings = load_defaults().with_overrides(
        {
            "session": {
                "checklist": {"escort": {"severity": "off"}, "iv_access": {"severity": "warning"}}
            }
        },
        "clinic.json",
    )
    cfg = ChecklistSettings.from_settings(settings)
    r = evaluate_checklist(good_answers(iv_patent=False), GOOD_VITALS, FEMALE, cfg, NOW)
    assert "escort" not in [it.id for it in r.items]
    assert r.item("iv_access").status == "warning"
    assert r.can_start


# --- override ------------------------------------------------------------------------------


def test_override_releases_overridable_hard_stop() -> None:
    vitals = {**GOOD_VITALS, "sbp": 185}
    blocked = run(vitals=vitals)
    assert not blocked.can_start
    assert blocked.override_would_release
    r = run(vitals=vitals, override=CN)
    assert r.can_start
    assert r.item("baseline_vitals").overridden
    assert r.item("baseline_vitals").status == "hard_stop"  # still recorded as what it was
    assert r.overridden == (r.item("baseline_vitals"),)
    assert r.override == CN


def test_override_releases_missing_escort() -> None:
    r = run(good_answers(escort_phone=None), override=CN)
    assert r.can_start


@pytest.mark.parametrize(
    "changes",
    [
        {"consent_confirmed": False},
        {"consent_confirmed": None},
        {"identity_two_identifiers": False},
        {"pregnancy_screen": "positive"},
        {"iv_patent": False},
    ],
)
def test_override_cannot_release_non_overridable(changes: dict[str, Any]) -> None:
    blocked = run(good_answers(**changes))
    assert not blocked.override_would_release
    r = run(good_answers(**changes), override=CN)
    assert not r.can_start
    with pytest.raises(DomainError):
        r.raise_if_blocked()


@pytest.mark.parametrize("reason", ["", "   ", "ok", "123456789", " 12345678 "])
def test_override_needs_a_written_reason(reason: str) -> None:
    with pytest.raises(DomainError) as err:
        run(
            vitals={**GOOD_VITALS, "sbp": 185},
            override=StartOverride("cn.ben", "charge_nurse", reason),
        )
    assert err.value.code == "bad_input"
    assert err.value.field == "override.reason"
    assert "at least 10 characters" in err.value.message


def test_override_reason_at_minimum_length_accepted() -> None:
    r = run(
        vitals={**GOOD_VITALS, "sbp": 185}, override=StartOverride("cn.ben", "cn", "1234567890")
    )
    assert r.can_start


def test_override_needs_user_and_role() -> None:
    with pytest.raises(DomainError) as err:
        run(override=StartOverride("", "charge_nurse", "a long enough reason"))
    assert err.value.field == "override.user"


def test_blocked_message_names_first_missing_item() -> None:
    r = run(good_answers(consent_confirmed=False, iv_site=None))
    with pytest.raises(DomainError) as err:
        r.raise_if_blocked()
    assert err.value.code == "checklist_incomplete"  # a missing answer wins over a hard stop
    assert err.value.field == "iv_access"
    assert err.value.message == (
        "Cannot start the infusion: IV site not recorded (1 more item also blocks the start)."
    )
