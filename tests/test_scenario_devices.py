"""The scenario step `device_frames` feeds monitor data through the capture path (registered
decoder, NIBP de-duplication, the capture service's store) at the scenario clock, and the
`expect_state` keys `flowsheet_hr`, `note_hr`, `export_hr` check one heart rate everywhere."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pg_support import station_config
from sqlalchemy import select

from nursestation.app import devices as dev
from nursestation.db.models import DeviceReading, VitalReading
from nursestation.scenario import run_scenario

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scenarios" / "oximeter_pulse.json"
MASIMO_88: str = json.loads(EXAMPLE.read_text())["steps"][3]["frames"][0]


def _run(steps: list[dict[str, Any]], tmp_path: Path) -> tuple[int, list[dict[str, Any]], Path]:
    """The example's set-up and first three steps (check-in, baseline, start), then `steps`;
    the data directory is kept for a look at the stored rows."""
    spec = json.loads(EXAMPLE.read_text())
    spec["steps"] = spec["steps"][:3] + steps
    out = io.StringIO()
    data = tmp_path / "data"
    rc = run_scenario(spec, out=out, data_dir=str(data), db_url=station_config(data).db_url)
    return rc, [json.loads(line) for line in out.getvalue().splitlines()][3:], data


def _rows(data: Path, model: Any) -> list[Any]:
    from nursestation.app.context import AppContext

    ctx = AppContext.open(station_config(data))
    try:
        with ctx.tx() as s:
            found = list(s.execute(select(model).order_by(model.id)).scalars())
            s.expunge_all()
            return found
    finally:
        ctx.close()


def frames(t: str, protocol: str, items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"t": t, "as": "rn.ana", "do": "device_frames", "chair": "1", "protocol": protocol,
            "frames": items, **extra}  # fmt: skip


def test_the_oximeter_example_shows_the_pulse_rate_as_hr_everywhere(example_runs: Any) -> None:
    run = example_runs("oximeter_pulse")  # run once per test session, shared with the goldens
    assert run.rc == 0, [line for line in run.lines if "expectation" in line]
    checks = {line["step"]: line["message"] for line in run.lines if line["do"] == "expect_state"}
    assert all(
        any(k in m for m in checks.values()) for k in ("flowsheet_hr", "note_hr", "export_hr")
    )
    assert "spo2 97, pulse_rate 88" in run.lines[3]["message"]


def test_each_hr_check_fails_on_another_value(tmp_path: Path) -> None:
    spec = json.loads(EXAMPLE.read_text())
    spec["steps"][3]["frames"] = [MASIMO_88.replace("BPM=088", "BPM=087")]
    out = io.StringIO()
    assert run_scenario(spec, out=out) == 1
    failed = {
        line["step"]: line["message"]
        for line in map(json.loads, out.getvalue().splitlines())
        if not line["ok"]
    }
    assert failed == {
        5: "the flowsheet shows HR 87 (pulse_rate), expected 88 (pulse_rate).",
        8: "the signed note shows no HR 88 PR (pulse rate).",
        9: "the FHIR export has no heart rate 88 from a monitor (found: 87).",
    }


def test_an_ecg_hr_is_not_a_pulse_rate(tmp_path: Path) -> None:
    rc, lines, _ = _run(
        [
            frames("+0:20", "masimo-ascii", [MASIMO_88]),
            {
                "t": "+0:21",
                "as": "rn.ana",
                "do": "expect_state",
                "chair": "1",
                "flowsheet_hr": {"value": 88, "source": "hr"},
            },
            {
                "t": "+0:22",
                "as": "rn.ana",
                "do": "expect_state",
                "chair": "1",
                "flowsheet_hr": {"value": 88, "source": "ecg"},
            },
        ],
        tmp_path,
    )
    assert rc == 1
    assert lines[1]["message"].startswith(
        "the flowsheet shows HR 88 (pulse_rate), expected 88 (hr)"
    )
    assert lines[2]["error"] == "bad_input"
    assert "source must be one of hr, pulse_rate" in lines[2]["message"]


def test_frames_as_hex_simulated_vitals_and_split_over_two_steps(tmp_path: Path) -> None:
    half = len(MASIMO_88) // 2
    rc, lines, data = _run(
        [
            # Nonin DF8 frames (status, HR, SpO2, status2): the decoder locks on the third.
            frames("+0:10", "nonin-df8", [{"hex": "80 5a 60 00" * 4}], port="/dev/ttyUSB1"),
            frames("+0:11", "hl7-mllp", [{"vitals": {"hr": 84, "spo2": 95}}]),
            frames("+0:20", "masimo-ascii", [MASIMO_88[:half]]),
            frames("+0:20", "masimo-ascii", [MASIMO_88[half:]]),
        ],
        tmp_path,
    )
    assert rc == 0, lines
    assert lines[2]["message"].startswith("no complete masimo-ascii frame yet")
    device = [v for v in _rows(data, VitalReading) if v.source == "device"]
    nonin = [v for v in device if v.device_protocol == "nonin-df8"]
    assert nonin and {(v.hr, v.pulse_rate, v.spo2) for v in nonin} == {(None, 90, 96)}
    assert all(v.device_port == "/dev/ttyUSB1" for v in nonin)
    (hl7,) = [v for v in device if v.device_protocol == "hl7-mllp"]
    assert (hl7.hr, hl7.pulse_rate, hl7.spo2, hl7.rr) == (84, 84, 95, 14)  # rr: sim baseline
    (masimo,) = [v for v in device if v.device_protocol == "masimo-ascii"]
    assert (masimo.pulse_rate, masimo.spo2, masimo.device_port) == (88, 97, "scenario://chair-1")
    assert masimo.observed_at == masimo.recorded_at  # received at the step time


def test_readings_written_out_are_judged_like_decoded_ones(tmp_path: Path) -> None:
    rc, lines, data = _run(
        [
            {
                "t": "+0:12",
                "as": "rn.ana",
                "do": "device_frames",
                "chair": "1",
                "protocol": "hl7-mllp",
                "readings": [
                    {"param": "sbp", "value": 150},
                    {"param": "dbp", "value": 92},
                    {"param": "spo2", "value": 250},
                    {"param": "hr", "value": None, "quality": "unavailable"},
                ],
            },
        ],
        tmp_path,
    )
    assert rc == 0, lines
    raw = {r.param: r for r in _rows(data, DeviceReading)}
    assert raw["spo2"].quality == "questionable" and raw["spo2"].reason == "implausible"
    assert raw["hr"].quality == "unavailable"
    (row,) = [v for v in _rows(data, VitalReading) if v.source == "device"]
    assert (row.sbp, row.dbp, row.spo2, row.hr) == (150, 92, None, None)


@pytest.mark.parametrize(
    ("step", "field", "text"),
    [
        ({"protocol": "acme", "frames": ["x"]}, "protocol", "use one of masimo-ascii"),
        ({"protocol": "masimo-ascii"}, "frames", "either 'frames' or 'readings'"),
        ({"protocol": "masimo-ascii", "frames": [], "readings": []}, "frames", "either"),
        ({"protocol": "masimo-ascii", "frames": ["garbage\r\n" * 3]}, "frames", "no valid"),
        ({"protocol": "nonin-df8", "frames": [{"hex": "zz"}]}, "frames", "hex digits"),
        ({"protocol": "nonin-df8", "frames": [{"vitals": {"bp": 1}}]}, "frames", "unknown vital"),
        ({"protocol": "masimo-ascii", "frames": [7]}, "frames", "must be a text frame"),
        ({"protocol": "hl7-mllp", "readings": [{"param": "sbp", "value": 1, "quality": "ok"}]},
         "readings", "quality 'ok' must be one of valid"),
        ({"protocol": "hl7-mllp", "readings": [{"value": 1}]}, "readings", "needs 'param'"),
    ],
)  # fmt: skip
def test_bad_device_frames_are_refused_naming_the_field(
    tmp_path: Path, step: dict[str, Any], field: str, text: str
) -> None:
    rc, lines, data = _run(
        [
            {
                "t": "+0:12",
                "as": "rn.ana",
                "do": "device_frames",
                "chair": "1",
                **step,
                "expect": "rejected",
                "error": "bad_input",
            }
        ],
        tmp_path,
    )
    assert rc == 0, lines
    assert text in lines[0]["message"] and (field in lines[0]["message"] or field == "frames")
    assert [v for v in _rows(data, VitalReading) if v.source == "device"] == []


def test_a_refused_write_fails_the_step_and_the_readings_follow_with_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dev.ingest_batches
    calls = {"n": 0}

    def once_locked(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return real(*args)

    monkeypatch.setattr(dev, "ingest_batches", once_locked)
    later = MASIMO_88.replace("09:20:00", "09:21:00").replace("SPO2=097", "SPO2=096")
    rc, lines, data = _run(
        [
            frames("+0:20", "masimo-ascii", [MASIMO_88], expect="rejected", error="storage_failed"),
            frames("+0:21", "masimo-ascii", [later]),
        ],
        tmp_path,
    )
    assert rc == 0, lines
    assert "kept for a retry" in lines[0]["message"]
    spo2 = [v.spo2 for v in _rows(data, VitalReading) if v.source == "device"]
    assert spo2 == [97, 96]  # nothing lost, in the monitor's order
