"""One name per fact (issue 14), through the real use cases and the scenario runner:

- discharge answers: rows stored before the rename (`gait_steady`) read as `steady_gait`; the use
  case stores the one name; a scenario written with the former key runs and gives the same steps,
  signed note, CSV and FHIR as the example's golden files;
- temperature: `temp` is a deprecated alias of `temp_c` in the `vitals` and `correct_vitals` steps.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from discharge_support import (
    GOOD_ANSWERS,
    World,
    complete_assessment,
    recovery_vitals,
    stand_in_for_note,
    world_of,
    world_values,
)
from example_runs import GOLDEN_DIR, GOLDEN_FILES, ExampleRun, ExampleRuns, golden_outputs
from pg_support import station_config
from sqlalchemy import select

from nursestation.app import discharge as dc
from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.db.models import Assessment, VitalReading
from nursestation.errors import DomainError
from nursestation.scenario import run_scenario

ROOT = Path(__file__).resolve().parents[2]
GAIT_NOTICE = " (note: 'gait_steady' is a deprecated alias of 'steady_gait')"
TEMP_NOTICE = " (note: 'temp' is a deprecated alias of 'temp_c')"


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


def _scenario(spec: dict[str, Any], where: Path) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    (where / "data").mkdir(parents=True)
    url = station_config(where / "data").db_url
    rc = run_scenario(spec, out=out, out_dir=where / "notes", data_dir=str(where / "data"), db_url=url)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


# ---------------------------------------------------------------- discharge answers


def store_answers_as_before_the_rename(w: World, answers: dict[str, Any]) -> None:
    """A "discharge_checklist" row exactly as the code before issue 14 wrote it (former keys)."""
    now = w.clock.now()
    with w.ctx.tx() as s:
        s.add(
            Assessment(
                session_id=w.sid,
                kind=dc.KIND_CHECKLIST,
                at=now,
                recorded_at=now,
                score=None,
                items={"answers": answers},
                by_user=w.nurse.user_id,
            )
        )


def checklist_rows(w: World) -> list[dict[str, Any]]:
    with w.ctx.tx() as s:
        rows = s.execute(
            select(Assessment).where(Assessment.kind == dc.KIND_CHECKLIST).order_by(Assessment.id)
        ).scalars()
        return [dict(a.items["answers"]) for a in rows]


def old_answers(**changes: Any) -> dict[str, Any]:
    """GOOD_ANSWERS as stored before the rename: steady gait under `gait_steady`."""
    answers = {k: v for k, v in GOOD_ANSWERS.items() if k != "steady_gait"}
    return {**answers, "gait_steady": GOOD_ANSWERS["steady_gait"], **changes}


@pytest.mark.parametrize("gait", [True, False])
def test_rows_stored_under_the_former_gait_key_read_as_steady_gait(w: World, gait: bool) -> None:
    w.clock.advance(minutes=61)
    complete_assessment(w)  # everything met, steady_gait True under the one name
    w.clock.advance(minutes=1)
    store_answers_as_before_the_rename(w, old_answers(gait_steady=gait))
    status = dc.get_status(w.ctx, w.nurse, w.sid)
    gait_row = next(c for c in status.criteria if c.id == "steady_gait")
    assert gait_row.met is gait
    assert status.failing_ids == (() if gait else ("steady_gait",))
    if not gait:
        assert gait_row.reason == "Gait is not steady."
    view = dc.get_discharge(w.ctx, w.nurse, w.sid)
    assert view.answers["steady_gait"] is gait
    assert "gait_steady" not in view.answers
    # The note's assessment history words the old row as it always did.
    last = view.history[-1]
    assert last.kind == dc.KIND_CHECKLIST
    assert f"Walks with a steady gait: {'yes' if gait else 'no'}" in last.detail
    assert "gait_steady" not in last.detail
    # Nothing stored was rewritten: the old row keeps its key (append-only table).
    assert "gait_steady" in checklist_rows(w)[-1]


def test_a_newer_answer_under_the_one_name_wins_over_an_older_former_key(w: World) -> None:
    w.clock.advance(minutes=61)
    recovery_vitals(w)
    store_answers_as_before_the_rename(w, old_answers(gait_steady=False))
    gait = next(c for c in dc.get_status(w.ctx, w.nurse, w.sid).criteria if c.id == "steady_gait")
    assert (gait.met, gait.reason) == (False, "Gait is not steady.")  # read, not "not assessed"
    w.clock.advance(minutes=1)
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"steady_gait": True})
    assert "steady_gait" not in dc.get_status(w.ctx, w.nurse, w.sid).failing_ids


def test_the_use_case_stores_a_former_key_under_its_one_name(w: World) -> None:
    recovery_vitals(w)
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"gait_steady": False})
    assert checklist_rows(w) == [{"steady_gait": False}]
    with pytest.raises(DomainError) as exc:
        dc.record_assessment(
            w.ctx, w.nurse, w.sid, answers={"gait_steady": True, "steady_gait": False}
        )
    assert (exc.value.code, exc.value.field) == ("bad_input", "gait_steady")
    assert "former name of 'steady_gait'" in exc.value.message
    assert checklist_rows(w) == [{"steady_gait": False}]  # the refusal stored nothing
    with pytest.raises(DomainError) as exc:
        dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"gait_stedy": True})
    assert (exc.value.code, exc.value.field) == ("bad_input", "gait_stedy")


def test_an_old_key_scenario_gives_the_same_steps_note_csv_and_fhir(
    tmp_path: Path, example_runs: ExampleRuns
) -> None:
    """discharge_override.json written with `gait_steady` (the former name of `steady_gait`): the
    same step results (the step that used it says so), and the signed note, CSV and FHIR export
    byte for byte the example's golden files."""
    new = example_runs("discharge_override")
    spec = copy.deepcopy(new.spec)
    [step] = [st for st in spec["steps"] if "steady_gait" in st]
    assert step["do"] == "discharge_assessment" and step["steady_gait"] is False
    step["gait_steady"] = step.pop("steady_gait")
    rc, lines = _scenario(spec, tmp_path / "old")
    assert (rc, new.rc) == (0, 0)
    noted = [line for line in lines if line["message"].endswith(GAIT_NOTICE)]
    assert [line["do"] for line in noted] == ["discharge_assessment"]
    assert "steady_gait (Gait is not steady.)" in noted[0]["message"]
    for line in lines:
        # the output folder named by print_instructions is the only other difference
        line["message"] = (
            line["message"]
            .replace(GAIT_NOTICE, "")
            .replace(str(tmp_path / "old" / "notes"), str(new.out_dir))
        )
    assert tuple(lines) == new.lines
    old_dir = tmp_path / "old"
    run = ExampleRun(new.name, spec, rc, tuple(lines), old_dir / "data", old_dir / "notes")
    got = golden_outputs(run, tmp_path / "golden")
    for file in GOLDEN_FILES:
        want = (GOLDEN_DIR / "discharge_override" / file).read_bytes()
        assert got[file].encode("utf-8") == want, file
    assert "Walks with a steady gait: no" in " ".join(got["note.txt"].split())


def test_a_scenario_step_with_both_gait_names_is_refused(tmp_path: Path) -> None:
    spec = json.loads((ROOT / "examples" / "scenarios" / "discharge_override.json").read_text())
    [i] = [n for n, st in enumerate(spec["steps"]) if "steady_gait" in st]
    spec["steps"] = spec["steps"][: i + 1]
    spec["steps"][i] = {**spec["steps"][i], "gait_steady": True}
    rc, lines = _scenario(spec, tmp_path / "both")
    assert rc == 1
    assert (lines[-1]["ok"], lines[-1]["error"]) == (False, "bad_input")
    assert "both 'gait_steady' and 'steady_gait'" in lines[-1]["message"]


# ---------------------------------------------------------------- temperature


def _temp_scenario(temp_steps: list[dict[str, Any]]) -> dict[str, Any]:
    spec = json.loads((ROOT / "examples" / "scenarios" / "normal_session.json").read_text())
    check_in = spec["steps"][0]
    spec["steps"] = [check_in, *temp_steps]
    return spec


def _stored_temps(where: Path) -> list[tuple[float | None, bool]]:
    ctx = AppContext.open(station_config(where / "data"))
    try:
        with ctx.tx() as s:
            return [
                (r.temp_c, r.supersedes_id is not None)
                for r in s.execute(select(VitalReading).order_by(VitalReading.id)).scalars()
            ]
    finally:
        ctx.close()


def _temp_steps(name: str) -> list[dict[str, Any]]:
    return [
        {"t": "+0:03", "as": "rn.ana", "do": "vitals", "chair": "1", "sbp": 128, "dbp": 82,
         "hr": 76, "spo2": 98, "rr": 14, name: 36.8},
        {"t": "+0:04", "as": "rn.ana", "do": "correct_vitals", "chair": "1", name: 37.1,
         "reason": "re-read the thermometer"},
        {"t": "+0:04", "as": "rn.ana", "do": "vitals", "chair": "1", name: 45.1,
         "expect": "rejected", "error": "out_of_range"},
    ]  # fmt: skip


def test_temp_is_a_deprecated_alias_of_temp_c_in_scenarios(tmp_path: Path) -> None:
    rc_new, new = _scenario(_temp_scenario(_temp_steps("temp_c")), tmp_path / "new")
    rc_old, old = _scenario(_temp_scenario(_temp_steps("temp")), tmp_path / "old")
    assert (rc_new, rc_old) == (0, 0)
    assert _stored_temps(tmp_path / "old") == _stored_temps(tmp_path / "new")
    assert _stored_temps(tmp_path / "new") == [(36.8, False), (37.1, True)]
    assert [line["message"].endswith(TEMP_NOTICE) for line in old] == [False, True, True, False]
    for line in old:
        line["message"] = line["message"].replace(TEMP_NOTICE, "")
    assert old == new
    assert "Temp 45.1 °C" in new[-1]["message"]


def test_both_temperature_names_in_one_step_are_refused(tmp_path: Path) -> None:
    step = {"t": "+0:03", "as": "rn.ana", "do": "vitals", "chair": "1", "temp": 36.8,
            "temp_c": 36.9, "expect": "rejected", "error": "bad_input"}  # fmt: skip
    rc, lines = _scenario(_temp_scenario([step]), tmp_path / "both")
    assert rc == 0, lines
    assert "'temp' is the deprecated name of 'temp_c'" in lines[-1]["message"]
    assert _stored_temps(tmp_path / "both") == []
