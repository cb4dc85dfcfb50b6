"""Formulary built from the shipped settings: every drug, its limits, sources and look-ups."""

from __future__ import annotations

import pytest

from nursestation.clinic import ConfigError, load_defaults
from nursestation.errors import DomainError
from nursestation.formulary import Formulary


@pytest.fixture(scope="module")
def formulary() -> Formulary:
    return Formulary.from_settings(load_defaults())


def test_all_drugs_present_in_order(formulary: Formulary) -> None:
    assert [d.key for d in formulary.drugs] == [
        "ondansetron",
        "metoclopramide",
        "promethazine",
        "labetalol",
        "clonidine",
        "hydralazine",
        "midazolam",
        "ketamine",
    ]


def test_published_limits(formulary: Formulary) -> None:
    ond = formulary.get("ondansetron")
    assert (ond.usual_dose, ond.soft_max_single, ond.hard_max_single) == (4.0, 8.0, 16.0)
    assert ond.routes == ("IV", "PO", "ODT")
    assert ond.reassess_measure == "nausea"
    lab = formulary.get("labetalol")
    assert (lab.usual_dose, lab.hard_max_single, lab.cumulative_max) == (20.0, 80.0, 300.0)
    assert lab.min_interval_min == 10
    assert lab.reassess_min == (5, 10)
    assert lab.reassess_measure == "bp"
    assert lab.upright_check_routes == ("IV",)
    clo = formulary.get("clonidine")
    assert (clo.hard_max_single, clo.cumulative_max, clo.min_interval_min) == (0.2, 0.7, 60)
    assert clo.routes == ("PO",)
    ket = formulary.get("ketamine")
    assert ket.drug_class == "infusion"
    assert ket.unit == "mg/kg"
    assert (ket.usual_dose, ket.soft_max_single, ket.hard_max_single) == (0.5, 0.75, 1.0)


def test_every_number_has_a_source() -> None:
    settings = load_defaults()
    numeric = [
        s
        for s in settings
        if s.path.startswith("formulary.")
        and isinstance(s.value, int | float)
        and not isinstance(s.value, bool)
    ]
    # 5 numbers for each of 8 drugs, the overdue delay and the age of an indicating reading
    assert len(numeric) == 8 * 5 + 2
    missing = [s.path for s in numeric if not s.source]
    assert missing == []
    schedules = [s for s in settings if s.path.endswith(".reassess_min") and s.value]
    assert len(schedules) == 7
    assert [s.path for s in schedules if not s.source] == []
    gk = [s.path for s in numeric if "[GK] clinic policy default" in (s.source or "")]
    # the clinic-policy numbers listed in the report
    assert sorted(gk) == sorted(
        [
            "formulary.reassessment_overdue_after_min",
            "formulary.indication_reading_max_age_min",
            "formulary.drugs.ondansetron.cumulative_max",
            "formulary.drugs.metoclopramide.hard_max_single",
            "formulary.drugs.metoclopramide.cumulative_max",
            "formulary.drugs.promethazine.hard_max_single",
            "formulary.drugs.promethazine.min_interval_min",
            "formulary.drugs.promethazine.cumulative_max",
            "formulary.drugs.hydralazine.cumulative_max",
            "formulary.drugs.midazolam.min_interval_min",
            "formulary.drugs.midazolam.cumulative_max",
            "formulary.drugs.ketamine.min_interval_min",
            "formulary.drugs.ketamine.cumulative_max",
        ]
    )


def test_drug_keeps_sources(formulary: Formulary) -> None:
    assert formulary.get("labetalol").source("cumulative_max") == (
        "clinical.md §0/§3.2: max 300 mg total [S48]"
    )


def test_drugs_for_indication(formulary: Formulary) -> None:
    assert [d.key for d in formulary.drugs_for_indication("nausea")] == [
        "ondansetron",
        "metoclopramide",
        "promethazine",
    ]
    assert [d.key for d in formulary.drugs_for_indication("BP_above_limit")] == [
        "labetalol",
        "clonidine",
        "hydralazine",
    ]
    assert [d.key for d in formulary.drugs_for_indication("emergence")] == ["midazolam"]
    assert formulary.drugs_for_indication("headache") == []


def test_disabled_drug_not_offered() -> None:
    settings = load_defaults().with_overrides(
        {"formulary": {"drugs": {"promethazine": {"enabled": False}}}}, "test"
    )
    f = Formulary.from_settings(settings)
    assert [d.key for d in f.drugs_for_indication("vomiting")] == ["ondansetron", "metoclopramide"]


def test_override_changes_limit() -> None:
    settings = load_defaults().with_overrides(
        {"formulary": {"drugs": {"labetalol": {"cumulative_max": 200}}}}, "clinic.json"
    )
    lab = Formulary.from_settings(settings).get("labetalol")
    assert lab.cumulative_max == 200.0
    assert lab.source("cumulative_max") == "clinic override (clinic.json)"


def test_contradictory_limits_refused() -> None:
    settings = load_defaults().with_overrides(
        {"formulary": {"drugs": {"labetalol": {"soft_max_single": 90}}}}, "clinic.json"
    )
    with pytest.raises(ConfigError, match="soft_max_single"):
        Formulary.from_settings(settings)


def test_get_by_brand_and_unknown(formulary: Formulary) -> None:
    assert formulary.get("ZOFRAN").key == "ondansetron"
    with pytest.raises(DomainError) as exc:
        formulary.get("aspirin")
    assert exc.value.code == "not_found"


def test_upright_required_by(formulary: Formulary) -> None:
    given = [("ondansetron", "IV"), ("labetalol", "iv"), ("labetalol", "IV")]
    assert formulary.upright_required_by(given) == ("Labetalol IV",)
    assert formulary.upright_required_by([("clonidine", "PO")]) == ()
