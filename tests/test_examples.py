"""Every example scenario passes; an unexpected refusal makes the run fail with its error code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from example_runs import ExampleRuns

from nursestation.cli import main

EXAMPLES = sorted(
    (Path(__file__).resolve().parent.parent / "examples" / "scenarios").glob("*.json")
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_scenario_exits_0(path: Path, example_runs: ExampleRuns) -> None:
    run = example_runs(path.stem)  # run once per test session, shared with tests/test_golden.py
    assert run.rc == 0, [line for line in run.lines if "expectation" in line]
    assert len(run.lines) == len(run.spec["steps"]), "one line per step"


def _impossible(tmp_path: Path, step: dict) -> Path:
    spec = json.loads((EXAMPLES[0].parent / "refused_steps.json").read_text())
    spec["steps"] = [*spec["steps"][1:3], step]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(spec))
    return f


def test_unexpected_impossible_transition_fails_with_invalid_state(tmp_path: Path, capsys) -> None:
    f = _impossible(tmp_path, {"t": "+0:05", "as": "rn.ana", "do": "resume_infusion", "chair": "1"})
    assert main(["scenario", "run", str(f)]) == 1
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (last["ok"], last["error"]) == (False, "invalid_state")
    assert last["expectation"].startswith("not met")


def test_missing_checklist_item_fails_with_checklist_incomplete(tmp_path: Path, capsys) -> None:
    f = _impossible(tmp_path, {"t": "+0:05", "as": "rn.ana", "do": "start_infusion", "chair": "1"})
    assert main(["scenario", "run", str(f)]) == 1
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["error"] == "checklist_incomplete"


def test_expected_rejection_with_the_wrong_code_is_not_met(tmp_path: Path, capsys) -> None:
    f = _impossible(
        tmp_path,
        {
            "t": "+0:05",
            "as": "rn.ana",
            "do": "resume_infusion",
            "chair": "1",
            "expect": "rejected",
            "error": "not_permitted",
        },
    )
    assert main(["scenario", "run", str(f)]) == 1


def test_malformed_scenario_exits_2(tmp_path: Path, capsys) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"steps": []')
    assert main(["scenario", "run", str(f)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
