"""The course examples (issue 16) through the scenario runner, the note and the export:
examples/scenarios/course_three_sessions.json and cssrs_blocks_start.json."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from example_runs import ExampleRuns


def _flat(text: str) -> str:
    """PDF text with its line wrapping undone."""
    return " ".join(text.split())


def _lines(run: Any) -> dict[int, dict[str, Any]]:
    return {line["step"]: line for line in run.lines}


def _resources(golden: dict[str, str], kind: str) -> list[dict[str, Any]]:
    bundles = json.loads(golden["export.fhir.json"])
    return [e["resource"] for b in bundles for e in b["entry"]
            if e["resource"]["resourceType"] == kind]  # fmt: skip


def test_course_marks_response_at_session_three(example_runs: ExampleRuns) -> None:
    run = example_runs("course_three_sessions")
    assert run.rc == 0, [line for line in run.lines if "expectation" in line]
    golden = example_runs.golden("course_three_sessions")
    notes = [_flat(n) for n in golden["note.txt"].split("=== session ")[1:]]
    assert len(notes) == 3
    assert "course baseline" in notes[0]
    assert "−30 % from baseline 20" in notes[1] and "; response" not in notes[1]
    assert "−55 % from baseline 20; response" in notes[2]
    rows = list(csv.DictReader(io.StringIO(golden["export.csv"])))
    cells = [r["outcome_scores"] for r in rows]
    assert "response" not in cells[0] and "response" not in cells[1]
    assert "PHQ-9 pre-infusion 9 / 27 (mild) [−55 % from baseline 20; response]" in cells[2]
    assert all(r["safety_flag"] == "" for r in rows)


def test_course_fhir_totals_carry_loinc_and_items_are_questionnaire_responses(
    example_runs: ExampleRuns,
) -> None:
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    golden = example_runs.golden("course_three_sessions")
    obs = _resources(golden, "Observation")
    survey = [o for o in obs if o["category"][0]["coding"][0]["code"] == "survey"]
    for o in survey:
        Observation.model_validate(o)
    phq = [o for o in survey if o["code"]["coding"][0]["code"] == "44261-6"]
    gad = [o for o in survey if o["code"]["coding"][0]["code"] == "70274-6"]
    assert [o["valueInteger"] for o in phq] == [20, 14, 9]
    assert [o["valueInteger"] for o in gad] == [12, 9, 5]
    qrs = _resources(golden, "QuestionnaireResponse")
    for q in qrs:
        QuestionnaireResponse.model_validate(q)
    first = next(q for q in qrs if len(q["item"]) == 9)
    assert [i["answer"][0]["valueInteger"] for i in first["item"]] == [3, 3, 2, 3, 2, 3, 2, 2, 0]
    assert first["item"][0]["text"] == "Little interest or pleasure in doing things"
    cadss = next(q for q in qrs if len(q["item"]) == 23)
    assert cadss["item"][0]["text"] == "Item 1"  # CADSS item wording is not embedded


def test_positive_cssrs_blocks_the_start_until_assessed(example_runs: ExampleRuns) -> None:
    from fhir.resources.R4B.flag import Flag

    run = example_runs("cssrs_blocks_start")
    assert run.rc == 0, [line for line in run.lines if "expectation" in line]
    by_step = _lines(run)
    refused = [s for s in by_step.values() if s["do"] == "start_infusion" and not s["ok"]]
    assert [s["error"] for s in refused] == ["safety_hold", "safety_hold"]
    golden = example_runs.golden("cssrs_blocks_start")
    note = _flat(golden["note.txt"])
    assert "POSITIVE SUICIDE-RISK SCREEN — C-SSRS screener at 14:06: positive screen: Q4 yes" in note
    assert "Safety assessment by Ben Ode, RN at 14:20" in note
    row = next(csv.DictReader(io.StringIO(golden["export.csv"])))
    assert row["safety_flag"].startswith("POSITIVE SUICIDE-RISK SCREEN")
    assert "re-checked before discharge by Ben Ode, RN at 15:38" in row["safety_flag"]
    flags = _resources(golden, "Flag")
    assert len(flags) == 1
    Flag.model_validate(flags[0])
    qrs = [q for q in _resources(golden, "QuestionnaireResponse")
           if "valueBoolean" in q["item"][0]["answer"][0]]  # fmt: skip
    # the C-SSRS as answered: Q3-Q5 only after a yes to Q2; "within 3 months" only after a yes
    # to Q6 (neither asked is left out)
    assert [[i["linkId"] for i in q["item"]] for q in qrs] == [
        ["1", "2", "3", "4", "5", "6"], ["1", "2", "6"]]
    assert [i["answer"][0]["valueBoolean"] for i in qrs[0]["item"]] == [
        True, True, False, True, False, False]
