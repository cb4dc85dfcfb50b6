"""A monitor protocol is one self-describing module (devices/protocol.py ProtocolSpec) registered
in ONE place (devices/registry.py): a new one appears in the registry, the Monitors dialog, the
simulator, the capture worker's defaults, the binding check and the scenario runner without any
table of theirs being edited."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from nursestation.app import devices as dev
from nursestation.clinic import ClinicSettings
from nursestation.devices import registry
from nursestation.devices.base import BaseDecoder
from nursestation.devices.capture import CaptureTimings, CaptureWorker
from nursestation.devices.protocol import ProtocolSpec, SimFrame, ranges_of
from nursestation.devices.reading import VALID, PlausibleRanges, Reading, make_reading
from nursestation.devices.simulator import SessionPlayer
from nursestation.scenario import run_scenario

KEY = "acme-kv"


class AcmeDecoder(BaseDecoder):
    """A toy protocol: one `SPO2=97 PR=88` line per frame."""

    protocol = KEY

    def _decode(self, host_time: datetime) -> list[Reading]:
        out: list[Reading] = []
        while b"\n" in self._buf:
            line, _, rest = bytes(self._buf).partition(b"\n")
            self._buf[:] = rest
            try:
                values = dict(part.split("=") for part in line.decode("ascii").split())
                spo2, pr = float(values["SPO2"]), float(values["PR"])
            except (ValueError, KeyError):
                self.stats.rejected += 1
                self.stats.bytes_skipped += len(line) + 1
                continue
            self.stats.frames += 1
            out += [
                make_reading(KEY, "spo2", spo2, VALID, None, None, host_time, "ACME-1"),
                make_reading(KEY, "pulse_rate", pr, VALID, None, None, host_time, "ACME-1"),
            ]
        return out


def _acme_decoder(settings: ClinicSettings | None) -> BaseDecoder:
    ranges: PlausibleRanges | None = ranges_of(settings)
    return AcmeDecoder(ranges)


def _acme_frame(f: SimFrame) -> bytes:
    if f.vitals is None:
        return b"SPO2=-- PR=--\n"
    return f"SPO2={f.vitals.spo2} PR={f.vitals.hr}\n".encode("ascii")


ACME = ProtocolSpec(
    key=KEY,
    label="ACME bedside monitor (key=value lines)",
    decoder=_acme_decoder,
    simulate=_acme_frame,
    tick_s=2.0,
    silence_s=7.0,
    baudrate=19200,
)


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> ProtocolSpec:
    """ACME registered as one more entry of registry.REGISTERED would register it."""
    monkeypatch.setitem(registry.SPECS, KEY, ACME)
    return ACME


def test_the_shipped_protocols_describe_themselves() -> None:
    assert (
        registry.protocols()
        == registry.PROTOCOLS
        == (
            "masimo-ascii",
            "nonin-df8",
            "nonin-df7",
            "hl7-mllp",
            "nonin-df2",
        )
    )
    for spec in registry.REGISTERED:
        assert spec.label and spec.tick_s > 0 and spec.silence_s > 0
        assert registry.decoder_for(spec.key).protocol == spec.key
        # Every protocol's simulator frame decodes with its own decoder.
        decoder = registry.decoder_for(spec.key)
        frame = spec.simulated_frame({"spo2": 96, "hr": 91})
        got = decoder.feed(frame * 4, datetime(2026, 3, 2, 14, 0).astimezone())
        assert {(r.param, r.value) for r in got} >= {("spo2", 96.0)}, spec.key
    # The clinic's silence times are the shipped specs' defaults.
    from nursestation.clinic import load_defaults

    timings = CaptureTimings.from_settings(load_defaults())
    assert {s.key: s.silence_s for s in registry.REGISTERED} == dict(timings.silence_s)


def test_an_unknown_protocol_is_named_with_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="use one of masimo-ascii, nonin-df8"):
        registry.protocol_spec("acme-kv")
    with pytest.raises(ValueError, match="no simulator for protocol 'acme-kv'"):
        SessionPlayer(KEY)


def test_a_new_protocol_registered_once_is_in_the_registry_and_the_simulator(
    acme: ProtocolSpec,
) -> None:
    assert KEY in registry.protocols()
    assert registry.protocol_spec(KEY) is acme
    player = SessionPlayer(KEY, duration_s=10)
    data = player.render()
    assert data.count(b"\n") == 5  # its own tick: a line every 2 s
    readings = registry.decoder_for(KEY).feed(data, datetime(2026, 3, 2, 14, 0).astimezone())
    assert len(readings) == 10 and {r.param for r in readings} == {"spo2", "pulse_rate"}
    # The capture worker takes its defaults from the description: speed and silence time
    # (the clinic's devices.capture.silence_s has no entry for it).
    worker = CaptureWorker("loop://", KEY, lambda _r: None, lambda _s, _d: None)
    assert worker.baudrate == 19200 and worker.silence_s == 7.0
    assert isinstance(worker.decoder, AcmeDecoder)


def test_a_new_protocol_registered_once_is_offered_by_the_monitors_dialog_and_bindable(
    acme: ProtocolSpec, ctx: Any, people: dict[str, Any], qtbot: Any
) -> None:
    from nursestation.ui.devices_dialog import DevicesDialog
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["charge"])
    dialog = DevicesDialog(station, port_lister=lambda: [])
    qtbot.addWidget(dialog)
    combo = dialog.protocol_combo
    labels = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert labels[KEY] == acme.label
    assert list(labels)[:5] == list(registry.PROTOCOLS)
    combo.setCurrentIndex(combo.findData(KEY))
    assert dialog.baud_combo.currentData() == 19200  # its default speed
    combo.setCurrentIndex(combo.findData("masimo-ascii"))
    assert dialog.baud_combo.currentData() == 9600
    b = dev.bind_device(ctx, people["charge"], "1", KEY, "/dev/ttyUSB3", 19200)
    assert b.protocol == KEY


def test_a_new_protocol_registered_once_feeds_the_scenario_runner(
    acme: ProtocolSpec, tmp_path: Path
) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "oximeter_pulse.json"
    spec = json.loads(path.read_text())
    spec["steps"] = [
        *spec["steps"][:3],
        {
            "t": "+0:20",
            "as": "rn.ana",
            "do": "device_frames",
            "chair": "1",
            "protocol": KEY,
            "frames": ["SPO2=95 PR=101\n"],
        },
        {
            "t": "+0:21",
            "as": "rn.ana",
            "do": "device_frames",
            "chair": "1",
            "protocol": KEY,
            "frames": [{"vitals": {"spo2": 94, "hr": 99}}],
        },
        {
            "t": "+0:22",
            "as": "rn.ana",
            "do": "expect_state",
            "chair": "1",
            "flowsheet_hr": {"value": 99, "source": "pulse_rate"},
        },
    ]
    out = io.StringIO()
    rc = run_scenario(spec, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rc == 0, lines
    assert "spo2 95, pulse_rate 101" in lines[3]["message"]
