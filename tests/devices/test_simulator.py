"""The simulator produces a realistic session that the decoders read back, faults included."""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest

from nursestation.devices.capture import NibpDeduplicator
from nursestation.devices.simulator import (
    Fault,
    FdSink,
    PatientModel,
    SessionPlayer,
    masimo_line,
    nonin_df8_frame,
)
from tests.devices.conftest import decode, fixture_bytes

PROTOCOLS = ("masimo-ascii", "nonin-df8", "nonin-df7", "nonin-df2", "hl7-mllp")


def test_patient_baseline_and_rise() -> None:
    model = PatientModel(seed=3)
    baseline = [model.at(t) for t in range(0, 1800, 7)]
    assert 120 <= sum(v.sbp for v in baseline) / len(baseline) <= 130
    assert 76 <= sum(v.dbp for v in baseline) / len(baseline) <= 84
    assert 72 <= sum(v.hr for v in baseline) / len(baseline) <= 78
    assert {v.spo2 for v in baseline} <= {97, 98, 99}
    peak = model.at(35 * 60)
    assert peak.sbp >= 150 and peak.dbp >= 90
    assert model.at(45 * 60).sbp <= 130
    assert model.at(100) == model.at(100.5)  # deterministic per second


def test_masimo_encoder_matches_the_rad8_line_shape() -> None:
    first_line = fixture_bytes("masimo_rad8.txt").split(b"\r\n")[0] + b"\r\n"
    model = PatientModel()
    v = model.at(0)
    vitals = type(v)(**{**v.__dict__, "spo2": 98, "hr": 97, "pi": 3.6})
    assert masimo_line(datetime(2016, 2, 22, 22, 47, 45), vitals) == first_line


def test_df8_encoder_matches_spec_frames() -> None:
    assert nonin_df8_frame(72, 97) == bytes.fromhex("80486100")
    assert nonin_df8_frame(150, 98) == bytes.fromhex("81166200")
    assert nonin_df8_frame(511, 127, status2=0x08) == bytes.fromhex("837F7F08")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_clean_hour_decodes_completely(protocol: str) -> None:
    data = SessionPlayer(protocol, duration_s=3600).render()
    readings, dec = decode(protocol, data, chunk=997)
    assert dec.stats.rejected == 0 and dec.stats.bytes_skipped == 0
    assert all(r.quality == "valid" for r in readings)
    expected_frames = {
        "masimo-ascii": 3600,
        "nonin-df8": 3600,
        "nonin-df7": 10800 * 25,
        "nonin-df2": 10800 * 25,
        "hl7-mllp": 720,
    }[protocol]
    assert dec.stats.frames == expected_frames


def test_hl7_session_has_nibp_every_five_minutes_and_the_rise() -> None:
    data = SessionPlayer("hl7-mllp", duration_s=3600).render()
    readings, _ = decode("hl7-mllp", data, chunk=4096)
    sbp = [r for r in readings if r.param == "sbp"]
    measurements = NibpDeduplicator().filter(sbp)
    # First NIBP at 1 min, then every 5 min: 1, 6, ..., 56 → 12 measurements, repeated in between.
    assert len(measurements) == 12
    assert len(sbp) > 600
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    minutes = [round((m.device_time - start).total_seconds() / 60) for m in measurements]
    assert minutes == [1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56]
    during_rise = [m.value for m, mi in zip(measurements, minutes, strict=True) if 31 <= mi <= 36]
    baseline = [m.value for m, mi in zip(measurements, minutes, strict=True) if mi <= 26]
    assert min(during_rise) > max(baseline)
    kinds = Counter(r.param for r in readings)
    assert kinds["hr"] == kinds["spo2"] == kinds["rr"] == kinds["etco2"] == kinds["temp"] == 720


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_scheduled_faults(protocol: str) -> None:
    faults = [
        Fault(100, "garbage"),
        Fault(200, "half_frame"),
        Fault(300, "bad_checksum"),
        Fault(400, "silence", 30),
        Fault(500, "probe_off", 20),
    ]
    data = SessionPlayer(protocol, duration_s=900, faults=faults).render()
    readings, dec = decode(protocol, data, chunk=1000)
    assert dec.stats.bytes_skipped > 0
    assert dec.stats.rejected >= 2  # the half frame and the bad checksum
    unavailable = [r for r in readings if r.quality == "unavailable"]
    assert unavailable, "probe off must show"
    assert all(r.quality != "valid" or r.value is not None for r in readings)
    # Silence: 30 s with no frame on the simulated timeline.
    player = SessionPlayer(protocol, duration_s=900, faults=faults)
    ticks = [t for t, _ in player.events()]
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) >= 30


def test_cable_pull_ends_the_session() -> None:
    player = SessionPlayer("nonin-df8", duration_s=600, faults=[Fault(60, "cable_pull")])
    assert len(player.render()) == 60 * 4


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault 'fire'"):
        Fault(1, "fire")


def test_fd_sink_and_on_demand_faults() -> None:
    read_fd, write_fd = os.pipe()
    player = SessionPlayer("nonin-df8", duration_s=40, speed=400)
    chunks: list[bytes] = []

    def drain() -> None:
        while data := os.read(read_fd, 4096):
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    player.inject("probe_off", duration_s=5)  # applied at the first frame
    player.inject("garbage")
    sink = FdSink(write_fd)
    assert player.play(sink) == "done"
    sink.close()
    reader.join()
    os.close(read_fd)
    readings, dec = decode("nonin-df8", b"".join(chunks))
    qualities = [r.quality for r in readings if r.param == "spo2"]
    assert qualities[:5] == ["unavailable"] * 5
    assert qualities[5:] == ["valid"] * 35
    # Seeded garbage: 24 bytes before the first frame, none of them forming a frame.
    assert dec.stats.to_json_dict() == {
        "frames": 40,
        "readings": 80,
        "rejected": 0,
        "bytes_skipped": 24,
    }
    assert player.frames_written == 40
