"""Outcome scales in the core (issue 16): bands at their edges, safety screens, the course rules,
each against the clinic data in resources/clinic/scales.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nursestation import outcome_scales as oc
from nursestation.clinic import load_defaults
from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError

S = oc.OutcomeSettings.from_settings(load_defaults())
T = datetime(2026, 3, 2, 14, tzinfo=UTC)


def _sum_to(total: int, items: int, top: int) -> list[int]:
    out = []
    for _ in range(items):
        v = min(top, total)
        out.append(v)
        total -= v
    assert total == 0
    return out


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)  # fmt: skip
def test_phq9_bands_at_their_edges(total: int, band: str) -> None:
    # item 9 kept "not at all" where the total allows it (27 needs every item at 3)
    answers = [3] * 9 if total == 27 else [*_sum_to(total, 8, 3), 0]
    scored = oc.score(S, oc.PHQ9, answers)
    assert (scored.total, scored.band) == (total, band)


@pytest.mark.parametrize(("item9", "positive"), [(0, False), (1, True), (3, True)])
def test_phq9_item9_positive_regardless_of_total(item9: int, positive: bool) -> None:
    scored = oc.score(S, oc.PHQ9, [0] * 8 + [item9])
    assert scored.safety_positive is positive
    assert ("item 9" in scored.safety_reason) is positive


@pytest.mark.parametrize(("total", "screen"), [(9, False), (10, True)])
def test_gad7_screen_positive_from_10(total: int, screen: bool) -> None:
    scored = oc.score(S, oc.GAD7, _sum_to(total, 7, 3))
    assert ("screen positive" in scored.band) is screen
    assert not scored.safety_positive


@pytest.mark.parametrize(("total", "above"), [(32, False), (33, True), (80, True)])
def test_pcl5_provisional_cut_off(total: int, above: bool) -> None:
    scored = oc.score(S, oc.PCL5, _sum_to(total, 20, 4))
    assert scored.band.startswith("at or above") is above


@pytest.mark.parametrize(
    ("answers", "risk"),
    [([0, 0, None, None, None, 0, None], "none"),
     ([1, 0, None, None, None, 0, None], "low"),
     ([1, 1, 1, 0, 0, 0, None], "moderate"),
     ([0, 0, None, None, None, 1, 0], "moderate"),
     ([1, 1, 0, 1, 0, 0, None], "high"),
     ([1, 1, 0, 0, 1, 0, None], "high"),
     ([0, 0, None, None, None, 1, 1], "high")],
)  # fmt: skip
def test_cssrs_triage(answers: list[int | None], risk: str) -> None:
    scored = oc.score(S, oc.CSSRS, answers)
    assert scored.band == risk and scored.total is None
    assert scored.safety_positive is (risk == "high")


def test_cssrs_unasked_questions_must_stay_empty_and_asked_ones_answered() -> None:
    with pytest.raises(DomainError) as e:
        oc.score(S, oc.CSSRS, [0, 0, None, None, None, 0, 1])
    assert e.value.code == BAD_INPUT and e.value.field == "item_7"
    with pytest.raises(DomainError) as e:
        oc.score(S, oc.CSSRS, [0, 1, None, None, None, 0, None])
    assert e.value.field == "item_3"


def test_out_of_range_names_the_item_and_the_range() -> None:
    with pytest.raises(DomainError) as e:
        oc.score(S, oc.PCL5, [0] * 19 + [5])
    assert e.value.code == OUT_OF_RANGE and e.value.field == "item_20"
    assert "PCL-5 item 20" in e.value.message and "0–4" in e.value.message
    with pytest.raises(DomainError) as e:
        oc.score(S, oc.PHQ9, [0] * 8 + [True])  # a yes/no is not an answer 0-3
    assert e.value.code == OUT_OF_RANGE


def test_licence_decides_whether_item_texts_are_shown() -> None:
    assert S.scale(oc.PHQ9).texts_embedded and S.scale(oc.GAD7).texts_embedded
    assert S.scale(oc.PCL5).texts_embedded
    assert not S.scale(oc.CADSS_KEY).texts_embedded
    assert S.scale(oc.CADSS_KEY).item_label(1) == "Item 1"
    assert not S.scale(oc.CSSRS).texts_embedded  # topics only, from the clinic data
    assert S.scale(oc.PHQ9).loinc_total == "44261-6" and S.scale(oc.GAD7).loinc_total == "70274-6"


def _points(totals: list[int]) -> list[oc.CoursePoint]:
    return [oc.CoursePoint(i + 10, i + 1, T + timedelta(days=7 * i), t)
            for i, t in enumerate(totals)]  # fmt: skip


@pytest.mark.parametrize(("last", "response"), [(11, False), (10, True)])
def test_response_at_exactly_half_the_baseline(last: int, response: bool) -> None:
    t = oc.course_trend(S, oc.PHQ9, _points([20, 15, last]))
    assert t.points[-1].response is response
    assert t.response_session == (3 if response else None)


@pytest.mark.parametrize(("last", "remission"), [(5, False), (4, True)])
def test_remission_below_5(last: int, remission: bool) -> None:
    t = oc.course_trend(S, oc.PHQ9, _points([12, last]))
    assert t.points[-1].remission is remission
    assert oc.course_trend(S, oc.GAD7, _points([12, last])).remission_session is None


def test_a_zero_baseline_cannot_fall() -> None:
    t = oc.course_trend(S, oc.PHQ9, _points([0, 0]))
    assert [p.response for p in t.points] == [False, False]


def test_timepoints_are_the_clinics() -> None:
    assert oc.check_timepoint(S, oc.CADSS_KEY, "min_40") == "min_40"
    with pytest.raises(DomainError):
        oc.check_timepoint(S, oc.PHQ9, "discharge")
    assert oc.timepoint_label("min_40") == "+40 min"
