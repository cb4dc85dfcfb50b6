"""Dose rules at their exact boundaries: at the limit accepted, one unit (0.001 mg or 1 min) past
refused, with the message naming drug, value and limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nursestation.clinic import load_defaults
from nursestation.dose_checks import (
    DONE,
    DUE,
    OVERDUE,
    UPCOMING,
    Administration,
    DoseCheckResult,
    PriorDose,
    allergy_matches,
    check_dose,
    reassessments_due,
    to_milli,
)
from nursestation.errors import DomainError
from nursestation.formulary import Drug, Formulary

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def f() -> Formulary:
    return Formulary.from_settings(load_defaults())


def check(drug: Drug, dose: float, **kw: Any) -> DoseCheckResult:
    args: dict[str, Any] = {
        "unit": "mg",
        "route": drug.routes[0],
        "prior_doses": [],
        "allergies": [],
        "now": T0,
    }
    args.update(kw)
    return check_dose(drug, dose, **args)


# --- single-dose maximum -------------------------------------------------------------------


def test_ondansetron_hard_max_exactly_accepted_with_confirmation(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 16, confirmed_soft=True, soft_reason="prescriber order")
    assert r.accepted
    assert r.soft_limit_exceeded
    assert r.soft_reason == "prescriber order"


def test_ondansetron_one_unit_past_hard_max_refused(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 16.001, confirmed_soft=True, soft_reason="x")
    # the session maximum is also 16 mg, so both limits are named; the single-dose one first
    assert r.codes == ("dose_above_max", "cumulative_max")
    assert r.refusals[0].message == (
        "Ondansetron 16.001 mg is above the maximum single dose of 16 mg."
    )
    with pytest.raises(DomainError) as exc:
        r.raise_if_refused()
    assert exc.value.code == "dose_above_max"
    assert exc.value.field == "dose"


def test_soft_max_exactly_needs_no_confirmation(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 8)
    assert r.accepted
    assert not r.soft_limit_exceeded
    assert r.soft_reason is None


def test_one_unit_past_soft_max_needs_confirmation(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 8.001)
    assert r.codes == ("confirmation_required",)
    assert r.needs_confirmation
    assert r.refusals[0].message == (
        "Ondansetron 8.001 mg is above the usual maximum single dose of 8 mg: confirm it with "
        "a written reason (hard maximum 16 mg)."
    )


def test_confirmation_without_reason_still_required(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 12, confirmed_soft=True, soft_reason="   ")
    assert r.codes == ("confirmation_required",)
    assert r.refusals[0].field == "soft_reason"
    assert "a written reason is required" in r.refusals[0].message


def test_reason_without_confirmation_not_enough(f: Formulary) -> None:
    r = check(f.get("ondansetron"), 12, confirmed_soft=False, soft_reason="nausea persists")
    assert r.codes == ("confirmation_required",)
    assert r.soft_reason is None


def test_hard_refusal_outranks_confirmation(f: Formulary) -> None:
    r = check(f.get("labetalol"), 81)
    assert r.codes == ("dose_above_max",)
    assert not r.needs_confirmation


def test_no_soft_band_when_soft_equals_hard(f: Formulary) -> None:
    meto = f.get("metoclopramide")
    assert not meto.has_soft_band
    assert check(meto, 10).accepted
    assert check(meto, 10.001).codes == ("dose_above_max", "cumulative_max")


def test_clonidine_in_micrograms_at_boundary(f: Formulary) -> None:
    clo = f.get("clonidine")
    assert check(clo, 200, unit="mcg", confirmed_soft=True, soft_reason="loading").accepted
    r = check(clo, 201, unit="mcg", confirmed_soft=True, soft_reason="loading")
    assert r.codes == ("dose_above_max",)
    assert r.refusals[0].message == (
        "Clonidine 0.201 mg is above the maximum single dose of 0.2 mg."
    )


def test_bad_unit_and_impossible_doses(f: Formulary) -> None:
    ond = f.get("ondansetron")
    r = check(ond, 4, unit="mL")
    assert r.codes == ("bad_input",)
    assert r.refusals[0].message == (
        "Ondansetron cannot be dosed in 'mL': allowed units are mg, mcg or g."
    )
    assert check(ond, 0).codes == ("out_of_range",)
    assert check(ond, -4).codes == ("out_of_range",)
    assert check(ond, 0.0004).codes == ("out_of_range",)  # below the 0.001 mg resolution
    assert check(ond, float("nan")).codes == ("out_of_range",)
    assert check(ond, True).codes == ("out_of_range",)
    ket = f.get("ketamine")
    assert check(ket, 0.5, unit="mg/kg").accepted
    assert check(ket, 35, unit="mg").codes == ("bad_input",)


def test_resolution_is_explicit() -> None:
    assert to_milli(0.1 + 0.2 + 0.4) == 700
    assert to_milli(0.7005) == 701  # half-up
    assert to_milli(0.70049) == 700


# --- cumulative maximum --------------------------------------------------------------------


def _prior(drug: str, doses: list[float], start: datetime, every_min: int, unit: str = "mg"):
    return [
        PriorDose(drug, d, unit, "IV", start + timedelta(minutes=i * every_min))
        for i, d in enumerate(doses)
    ]


def test_labetalol_cumulative_exactly_300_accepted(f: Formulary) -> None:
    lab = f.get("labetalol")
    prior = _prior("labetalol", [20, 40, 80, 80], T0 - timedelta(minutes=60), 10)
    r = check(lab, 80, prior_doses=prior, confirmed_soft=True, soft_reason="BP 186/112")
    assert r.accepted
    assert (r.session_total_before, r.session_total_after) == (220.0, 300.0)


def test_labetalol_cumulative_one_unit_past_refused(f: Formulary) -> None:
    lab = f.get("labetalol")
    prior = _prior("labetalol", [20, 40.001, 80, 80], T0 - timedelta(minutes=60), 10)
    r = check(lab, 80, prior_doses=prior, confirmed_soft=True, soft_reason="x")
    assert r.codes == ("cumulative_max",)
    assert r.refusals[0].message == (
        "Labetalol 80 mg would bring the session total to 300.001 mg, above the maximum "
        "of 300 mg (220.001 mg given so far)."
    )


def test_clonidine_float_sum_at_max_accepted(f: Formulary) -> None:
    clo = f.get("clonidine")
    # 0.2 + 0.1 + 0.1 + 0.1 + 0.1 = 0.6000000000000001 in floats; + 0.1 must still be 0.7
    prior = [
        PriorDose("clonidine", d, "mg", "PO", T0 - timedelta(minutes=60 * (5 - i)))
        for i, d in enumerate([0.2, 0.1, 0.1, 0.1, 0.1])
    ]
    assert check(clo, 0.1, prior_doses=prior).accepted
    r = check(clo, 0.101, prior_doses=prior, confirmed_soft=True, soft_reason="x")
    assert r.codes == ("cumulative_max",)
    assert "above the maximum of 0.7 mg (0.6 mg given so far)" in r.refusals[0].message


def test_other_drugs_do_not_count(f: Formulary) -> None:
    prior = _prior("labetalol", [80, 80, 80], T0 - timedelta(hours=3), 10)
    assert check(f.get("hydralazine"), 10, prior_doses=prior).accepted


def test_prior_in_micrograms_counts(f: Formulary) -> None:
    prior = [PriorDose("Clonidine", 600, "mcg", "PO", T0 - timedelta(hours=2))]
    r = check(f.get("clonidine"), 0.1, prior_doses=prior)
    assert r.accepted
    assert r.session_total_after == 0.7


# --- minimum interval ----------------------------------------------------------------------


def test_interval_exactly_at_minimum_accepted(f: Formulary) -> None:
    prior = [PriorDose("labetalol", 20, "mg", "IV", T0 - timedelta(minutes=10))]
    r = check(f.get("labetalol"), 20, prior_doses=prior)
    assert r.accepted
    assert r.next_dose_allowed_at == T0 + timedelta(minutes=10)


def test_interval_one_minute_short_refused(f: Formulary) -> None:
    prior = [PriorDose("labetalol", 20, "mg", "IV", T0 - timedelta(minutes=9))]
    r = check(f.get("labetalol"), 20, prior_doses=prior)
    assert r.codes == ("interval_too_short",)
    assert r.refusals[0].message == (
        "Labetalol 20 mg is too soon: the last dose was at 13:51 UTC and the minimum interval "
        "is 10 min, so the next dose is allowed at 14:01 UTC (in 1 min)."
    )
    assert r.next_dose_allowed_at is None


def test_interval_seconds_short_refused(f: Formulary) -> None:
    prior = [PriorDose("labetalol", 20, "mg", "IV", T0 - timedelta(minutes=9, seconds=59))]
    assert check(f.get("labetalol"), 20, prior_doses=prior).codes == ("interval_too_short",)


def test_interval_measured_from_latest_dose(f: Formulary) -> None:
    prior = _prior("clonidine", [0.1, 0.1], T0 - timedelta(minutes=100), 60)  # last at -40 min
    r = check(f.get("clonidine"), 0.1, prior_doses=prior)
    assert r.codes == ("interval_too_short",)
    assert "next dose is allowed at 14:20 UTC (in 20 min)" in r.refusals[0].message


def test_backdated_entry_too_close_to_later_dose(f: Formulary) -> None:
    prior = [PriorDose("labetalol", 20, "mg", "IV", T0 + timedelta(minutes=5))]
    r = check(f.get("labetalol"), 20, prior_doses=prior)
    assert r.codes == ("interval_too_short",)
    assert r.refusals[0].message == (
        "Labetalol 20 mg at 14:00 UTC is less than the minimum interval of 10 min before the "
        "dose recorded at 14:05 UTC."
    )


def test_interval_message_other_day_and_zone(f: Formulary) -> None:
    from zoneinfo import ZoneInfo

    prior = [PriorDose("ondansetron", 4, "mg", "IV", T0 - timedelta(hours=7))]
    r = check(f.get("ondansetron"), 4, prior_doses=prior, display_tz=ZoneInfo("America/New_York"))
    assert r.refusals[0].message == (
        "Ondansetron 4 mg is too soon: the last dose was at 02:00 EST and the minimum interval "
        "is 480 min, so the next dose is allowed at 10:00 EST (in 60 min)."
    )


# --- allergy and route ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drug", "allergy"),
    [
        ("ondansetron", "ONDANSETRON"),
        ("ondansetron", "Zofran (hives)"),
        ("labetalol", "Beta-blockers"),
        ("midazolam", "benzodiazepines"),
        ("midazolam", "Benzos"),
        ("promethazine", "phenothiazines - dystonia"),
        ("ketamine", "ketamine"),
    ],
)
def test_allergy_refused(f: Formulary, drug: str, allergy: str) -> None:
    d = f.get(drug)
    r = check(d, d.usual_dose, unit=d.unit, allergies=["penicillin", allergy])
    assert r.codes == ("allergy",)
    assert r.refusals[0].message == (
        f"{d.name} cannot be given: the patient has a documented allergy to '{allergy}'."
    )


@pytest.mark.parametrize(
    ("drug", "allergy"),
    [
        ("ondansetron", "ondansetronx"),
        ("labetalol", "sulfa"),
        ("ketamine", "iron infusion reaction"),
        ("clonidine", ""),
    ],
)
def test_allergy_not_matched(f: Formulary, drug: str, allergy: str) -> None:
    assert allergy_matches(f.get(drug), [allergy]) == []


def test_route_not_allowed(f: Formulary) -> None:
    r = check(f.get("clonidine"), 0.1, route="iv")
    assert r.codes == ("route_not_allowed",)
    assert r.refusals[0].message == (
        "Clonidine cannot be given by route 'iv': allowed routes are PO."
    )
    assert check(f.get("ondansetron"), 4, route=" odt ").accepted
    assert check(f.get("promethazine"), 6.25, route="SC").codes == ("route_not_allowed",)


def test_several_problems_ordered(f: Formulary) -> None:
    prior = [PriorDose("labetalol", 280, "mg", "IV", T0 - timedelta(minutes=2))]
    r = check(f.get("labetalol"), 90, route="PO", prior_doses=prior, allergies=["labetalol"])
    assert r.codes == (
        "allergy",
        "route_not_allowed",
        "dose_above_max",
        "cumulative_max",
        "interval_too_short",
    )
    with pytest.raises(DomainError) as exc:
        r.raise_if_refused()
    assert exc.value.code == "allergy"


def test_disabled_drug_refused() -> None:
    settings = load_defaults().with_overrides(
        {"formulary": {"drugs": {"hydralazine": {"enabled": False}}}}, "t"
    )
    hyd = Formulary.from_settings(settings).get("hydralazine")
    assert check(hyd, 10).codes == ("not_permitted",)


def test_naive_now_refused(f: Formulary) -> None:
    with pytest.raises(ValueError):
        check(f.get("ondansetron"), 4, now=datetime(2026, 3, 2, 14, 0))


# --- reassessments -------------------------------------------------------------------------


def test_labetalol_reassessments_statuses(f: Formulary) -> None:
    lab = f.get("labetalol")
    adm = Administration(lab, T0, admin_id="a1")
    at = {
        T0 + timedelta(minutes=4): [UPCOMING, UPCOMING],
        T0 + timedelta(minutes=5): [DUE, UPCOMING],
        T0 + timedelta(minutes=10): [DUE, DUE],  # 5-min point due until 10 min inclusive
        T0 + timedelta(minutes=10, seconds=1): [OVERDUE, DUE],
        T0 + timedelta(minutes=16): [OVERDUE, OVERDUE],
    }
    for now, statuses in at.items():
        due = reassessments_due([adm], now)
        assert [r.status for r in due] == statuses, now
    due = reassessments_due([adm], T0 + timedelta(minutes=16))
    assert [(r.offset_min, r.measure, r.due_at) for r in due] == [
        (5, "bp", T0 + timedelta(minutes=5)),
        (10, "bp", T0 + timedelta(minutes=10)),
    ]
    assert due[0].overdue_at == T0 + timedelta(minutes=10)


def test_reassessment_done_and_sorted_across_administrations(f: Formulary) -> None:
    adms = [
        Administration(f.get("ondansetron"), T0, admin_id="o1", done_min=frozenset({15})),
        Administration(f.get("labetalol"), T0 + timedelta(minutes=8), admin_id="l1"),
        Administration(f.get("ketamine"), T0, admin_id="k1"),
    ]
    due = reassessments_due(adms, T0 + timedelta(minutes=20))
    assert [(r.admin_id, r.offset_min, r.status) for r in due] == [
        ("l1", 5, OVERDUE),  # due 14:13, overdue after 14:18
        ("o1", 15, DONE),
        ("l1", 10, DUE),
        ("o1", 30, UPCOMING),
    ]


@given(
    prior=st.lists(st.integers(min_value=1, max_value=200), max_size=8),
    dose=st.integers(min_value=1, max_value=200),
)
def test_cumulative_property_exact_in_thousandths(prior: list[int], dose: int) -> None:
    """For any history of clonidine doses (in mcg), the dose is refused for the session total
    exactly when the thousandth-exact sum passes 0.7 mg, however the floats add up."""
    clo = Formulary.from_settings(load_defaults()).get("clonidine")
    history = [
        PriorDose("clonidine", m / 1000, "mg", "PO", T0 - timedelta(hours=10 - i))
        for i, m in enumerate(prior)
    ]
    r = check(clo, dose / 1000, prior_doses=history, confirmed_soft=True, soft_reason="order")
    assert ("cumulative_max" in r.codes) == (sum(prior) + dose > 700)
    assert r.session_total_after == (sum(prior) + dose) / 1000


# ---------------------------------------------------------------- indication naming a vital


def test_indication_rule_at_its_boundaries(f: Formulary) -> None:
    from nursestation.dose_checks import IndicationReading, check_indication

    lab, ond = f.get("labetalol"), f.get("ondansetron")
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    high = ("SBP 186 mmHg above action limit 180",)

    def at(minutes: float, breaches: tuple[str, ...] = high) -> IndicationReading:
        return IndicationReading(now - timedelta(minutes=minutes), "BP 186/104", breaches)

    assert check_indication(lab, "bp_above_limit", at(10), now, 10) is None  # just inside
    old = check_indication(lab, "bp_above_limit", at(10 + 1 / 60), now, 10)  # just outside
    assert old is not None and old.code == "indication_not_met" and old.field == "indication"
    assert "is from 14:49 UTC, 10 min before" in old.message
    normal = check_indication(lab, "bp_above_limit", at(0, ()), now, 10)
    assert normal is not None and "within limits" in normal.message
    none = check_indication(lab, "BP_above_limit", None, now, 10)
    assert none is not None and "no BP in this session" in none.message
    # An indication that names no vital needs no reading.
    assert check_indication(ond, "nausea", None, now, 10) is None
