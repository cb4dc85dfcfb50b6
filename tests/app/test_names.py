"""Scenario files keep working with a former name (issue 14): `temp` is a deprecated alias of
`temp_c` in the `vitals` and `correct_vitals` steps; the reading stored is the same."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from nursestation.app.context import AppContext
from nursestation.config import resolve_config
from nursestation.db.models import VitalReading
from nursestation.scenario import run_scenario

ROOT = Path(__file__).resolve().parents[2]


def _scenario(temp_steps: list[dict[str, Any]]) -> dict[str, Any]:
    spec = json.loads((ROOT / "examples" / "scenarios" / "normal_session.json").read_text())
    check_in = spec["steps"][0]
    spec["steps"] = [check_in, *temp_steps]
    return spec


def _run(spec: dict[str, Any], data: Path) -> tuple[int, list[dict[str, Any]], list[Any]]:
    out = io.StringIO()
    rc = run_scenario(spec, out=out, data_dir=str(data))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    ctx = AppContext.open(resolve_config(str(data), None))
    try:
        with ctx.tx() as s:
            temps = [
                (r.temp_c, r.supersedes_id is not None)
                for r in s.execute(select(VitalReading).order_by(VitalReading.id)).scalars()
            ]
    finally:
        ctx.close()
    return rc, lines, temps


def _steps(name: str) -> list[dict[str, Any]]:
    return [
        {"t": "+0:03", "as": "rn.ana", "do": "vitals", "chair": "1", "sbp": 128, "dbp": 82,
         "hr": 76, "spo2": 98, "rr": 14, name: 36.8},
        {"t": "+0:04", "as": "rn.ana", "do": "correct_vitals", "chair": "1", name: 37.1,
         "reason": "re-read the thermometer"},
        {"t": "+0:04", "as": "rn.ana", "do": "vitals", "chair": "1", name: 45.1,
         "expect": "rejected", "error": "out_of_range"},
    ]  # fmt: skip


def test_temp_is_a_deprecated_alias_of_temp_c_in_scenarios(tmp_path: Path) -> None:
    rc_new, new, temps_new = _run(_scenario(_steps("temp_c")), tmp_path / "new")
    rc_old, old, temps_old = _run(_scenario(_steps("temp")), tmp_path / "old")
    assert (rc_new, rc_old) == (0, 0)
    assert temps_old == temps_new == [(36.8, False), (37.1, True)]
    notice = " (note: 'temp' is a deprecated alias of 'temp_c')"
    assert [line["message"].endswith(notice) for line in old] == [False, True, True, False]
    for line in old:
        line["message"] = line["message"].replace(notice, "")
    assert old == new
    assert "Temp 45.1 °C" in new[-1]["message"]


def test_both_temperature_names_in_one_step_are_refused(tmp_path: Path) -> None:
    step = {"t": "+0:03", "as": "rn.ana", "do": "vitals", "chair": "1", "temp": 36.8,
            "temp_c": 36.9, "expect": "rejected", "error": "bad_input"}  # fmt: skip
    rc, lines, temps = _run(_scenario([step]), tmp_path / "both")
    assert rc == 0, lines
    assert "'temp' is the deprecated name of 'temp_c'" in lines[-1]["message"]
    assert temps == []
