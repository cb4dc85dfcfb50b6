"""Sedation (MOAA/S, RASS) and dissociation (CADSS or clinician check) scales."""

from __future__ import annotations

import pytest

from nursestation.clinic import load_defaults
from nursestation.errors import DomainError
from nursestation.scales import (
    CADSS,
    MOAAS,
    RASS,
    SEDATION_SCALES,
    ScaleSettings,
    cadss_check,
    cadss_total,
    clinician_check,
    sedation_resolved,
    sedation_scale,
)
from nursestation.vitals import SEDATION_LABELS, VitalRanges


@pytest.fixture(scope="module")
def targets() -> ScaleSettings:
    return ScaleSettings.from_settings(load_defaults())


def test_scale_tables_are_complete() -> None:
    assert [lvl.score for lvl in MOAAS.levels] == [5, 4, 3, 2, 1, 0]
    assert [lvl.score for lvl in RASS.levels] == [4, 3, 2, 1, 0, -1, -2, -3, -4, -5]
    assert MOAAS.level(5).text == "responds readily to name in a normal tone"
    assert MOAAS.level(0).text == "no response to squeeze"
    assert RASS.level(0).text == "alert and calm"
    assert RASS.level(-5).text == "unarousable"
    assert RASS.level(4).text == "combative"
    assert "[S33]" in MOAAS.source and "[S34]" in RASS.source


def test_scales_agree_with_entry_ranges() -> None:
    ranges = VitalRanges.from_settings(load_defaults())
    for key, scale in SEDATION_SCALES.items():
        assert (ranges.sedation[key].min, ranges.sedation[key].max) == (scale.min, scale.max)
        assert SEDATION_LABELS[key] == scale.name


def test_choices_show_sign_for_rass() -> None:
    assert RASS.choices()[0] == (4, "+4 – combative")
    assert RASS.choices()[4] == (0, "0 – alert and calm")
    assert RASS.choices()[-1] == (-5, "-5 – unarousable")
    assert MOAAS.choices()[0] == (5, "5 – responds readily to name in a normal tone")


@pytest.mark.parametrize(
    ("scale", "score"), [("moaas", 6), ("moaas", -1), ("rass", 5), ("rass", -6)]
)
def test_out_of_scale_refused(scale: str, score: int) -> None:
    with pytest.raises(DomainError) as err:
        sedation_scale(scale).level(score)
    assert err.value.code == "out_of_range"


def test_unknown_scale() -> None:
    with pytest.raises(DomainError) as err:
        sedation_scale("ramsay")
    assert err.value.code == "bad_input"


def test_sedation_resolved(targets: ScaleSettings) -> None:
    assert (targets.moaas_discharge_min, targets.rass_discharge_target) == (5, 0)
    assert sedation_resolved("moaas", 5, targets)
    assert not sedation_resolved("moaas", 4, targets)
    assert sedation_resolved("rass", 0, targets)
    assert not sedation_resolved("rass", -1, targets)
    assert not sedation_resolved("rass", 1, targets)
    with pytest.raises(DomainError):
        sedation_resolved("moaas", 7, targets)


def test_cadss_total() -> None:
    assert CADSS.total_max == 92
    assert cadss_total([0] * 23) == 0
    assert cadss_total([4] * 23) == 92
    assert cadss_total([1, 2, 3] + [0] * 20) == 6
    with pytest.raises(DomainError) as err:
        cadss_total([0] * 22)
    assert err.value.code == "bad_input"
    with pytest.raises(DomainError) as err:
        cadss_total([5] + [0] * 22)
    assert (err.value.code, err.value.message) == (
        "out_of_range",
        "CADSS item 1 5 is impossible: allowed whole numbers 0–4.",
    )
    with pytest.raises(DomainError):
        cadss_total([-1] + [0] * 22)


def test_cadss_check(targets: ScaleSettings) -> None:
    assert targets.cadss_max_rise_resolved == 0
    check = cadss_check(3, 3, targets)
    assert (check.method, check.resolved) == ("cadss", True)
    assert check.text == "CADSS 3/92 (pre-dose 3): dissociation resolved"
    check = cadss_check(4, 3, targets)
    assert not check.resolved
    assert check.text == "CADSS 4/92 (pre-dose 3): not resolved (needs ≤ 3)"
    assert cadss_check(0, None, targets).resolved
    assert not cadss_check(1, None, targets).resolved
    with pytest.raises(DomainError):
        cadss_check(93, 0, targets)


def test_cadss_rise_allowed_by_clinic() -> None:
    s = load_defaults().with_overrides(
        {"vitals": {"dissociation": {"cadss_max_rise_resolved": 4}}}, "t"
    )
    targets = ScaleSettings.from_settings(s)
    assert cadss_check(7, 3, targets).resolved
    assert not cadss_check(8, 3, targets).resolved


def test_clinician_check() -> None:
    assert clinician_check(True).resolved
    assert clinician_check(False).text == "Dissociation not resolved (clinician check)"
    with pytest.raises(DomainError):
        clinician_check("yes")  # type: ignore[arg-type]
