"""Masimo ASCII 1 decoder against devices.md §1.1 fixtures and §4 failure modes."""

from __future__ import annotations

from datetime import datetime

import pytest

from nursestation.devices.masimo import MasimoDecoder
from tests.devices.conftest import HOST_TIME, decode, fixture_bytes, summary

P = "masimo-ascii"
GOOD = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-% "
    b"DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
)


def line(spo2: str = "098", bpm: str = "097", exc: str = "000800", alarm: str = "0000") -> bytes:
    return (
        f"02/22/16 22:47:45 SN=0000056661 SPO2={spo2}% BPM={bpm} PI=03.60% ALARM={alarm} EXC={exc}\r\n"
    ).encode()


def test_rad8_capture() -> None:
    readings, dec = decode(P, fixture_bytes("masimo_rad8.txt"))
    assert dec.stats.to_json_dict() == {
        "frames": 5,
        "readings": 15,
        "rejected": 0,
        "bytes_skipped": 0,
    }
    assert summary(readings[:3]) == [
        ("spo2", 98.0, "valid", None),
        ("pulse_rate", 97.0, "valid", None),
        ("pi", 3.6, "valid", None),
    ]
    assert [r.value for r in readings if r.param == "pulse_rate"] == [97, 96, 96, 96, 97]
    first = readings[0]
    assert first.device_time == datetime(2016, 2, 22, 22, 47, 45)
    assert first.device_time.tzinfo is None
    assert first.device_id == "0000056661"
    assert first.host_time == HOST_TIME
    assert first.unit == "%" and readings[1].unit == "/min"


def test_model_variants() -> None:
    readings, dec = decode(P, fixture_bytes("masimo_models.txt"))
    assert dec.stats.frames == 5 and dec.stats.rejected == 0
    assert summary(readings) == [
        # Radical-7: sensor off (0x20) with SET: numbers kept but unavailable
        ("spo2", 98.0, "unavailable", "probe_off"),
        ("pulse_rate", 240.0, "unavailable", "probe_off"),
        ("pi", 20.0, "unavailable", "probe_off"),
        # Radical-5: no SN, ALARM=20 (silenced) does not change quality
        ("spo2", 97.0, "valid", None),
        ("pulse_rate", 64.0, "valid", None),
        ("pi", 11.82, "valid", None),
        # Rad-8 no sensor
        ("spo2", None, "unavailable", "no_sensor"),
        ("pulse_rate", None, "unavailable", "no_sensor"),
        # Radical-7 color: EXC 0xC00 = low signal IQ + SET; PI without %
        ("spo2", 98.0, "questionable", "low_signal_iq"),
        ("pulse_rate", 123.0, "questionable", "low_signal_iq"),
        ("pi", 0.55, "questionable", "low_signal_iq"),
        # Radical-7 blue: dashes, no exception bits
        ("spo2", None, "unavailable", "no_value"),
        ("pulse_rate", None, "unavailable", "no_value"),
        ("pi", None, "unavailable", "no_value"),
    ]
    assert readings[3].device_id is None  # Radical-5 sends no SN
    assert readings[8].device_id is None  # SN=----------


def test_trend_dump_format() -> None:
    readings, dec = decode(P, fixture_bytes("masimo_trend.txt"))
    assert dec.stats.frames == 4
    assert summary(readings) == [
        ("spo2", None, "unavailable", "probe_off"),
        ("pulse_rate", None, "unavailable", "probe_off"),
        ("pi", None, "unavailable", "probe_off"),
        ("spo2", None, "unavailable", "probe_off"),
        ("pulse_rate", None, "unavailable", "probe_off"),
        ("pi", None, "unavailable", "probe_off"),
        ("spo2", 97.0, "valid", None),
        ("pulse_rate", 69.0, "valid", None),
        ("pi", 4.69, "valid", None),
        ("spo2", 96.0, "questionable", "low_signal_iq"),
        ("pulse_rate", 74.0, "questionable", "low_signal_iq"),
        ("pi", 2.28, "questionable", "low_signal_iq"),
    ]


@pytest.mark.parametrize(
    ("exc", "quality", "reason"),
    [
        (0x000001, "unavailable", "no_sensor"),
        (0x000002, "unavailable", "defective_sensor"),
        (0x000020, "unavailable", "probe_off"),
        (0x000080, "unavailable", "unrecognized_sensor"),
        (0x000100, "unavailable", "incompatible_sensor"),
        (0x001000, "unavailable", "no_cable"),
        (0x002000, "unavailable", "cable_expired"),
        (0x004000, "unavailable", "incompatible_cable"),
        (0x008000, "unavailable", "unrecognized_cable"),
        (0x010000, "unavailable", "defective_cable"),
        (0x040000, "unavailable", "sensor_expired"),
        (0x000004, "questionable", "low_perfusion"),
        (0x000008, "questionable", "pulse_search"),
        (0x000010, "questionable", "interference"),
        (0x000040, "questionable", "ambient_light"),
        (0x000400, "questionable", "low_signal_iq"),
        (0x000800, "valid", None),
        (0x000200, "valid", None),
        (0x000000, "valid", None),
    ],
)
def test_exc_bits(exc: int, quality: str, reason: str | None) -> None:
    readings, _ = decode(P, line(exc=f"{exc:06X}"))
    assert {(r.quality, r.reason) for r in readings} == {(quality, reason)}
    assert readings[0].value == 98  # the number is kept even when unavailable


def test_unavailable_wins_over_questionable() -> None:
    readings, _ = decode(P, line(exc="000828"))  # sensor off + pulse search + SET
    assert readings[0].quality == "unavailable" and readings[0].reason == "probe_off"


@pytest.mark.parametrize("alarm", ["0001", "0002", "0010", "0020", "0018", "3FFF", "20", "000000"])
def test_alarm_bits_do_not_change_quality(alarm: str) -> None:
    readings, _ = decode(P, line(alarm=alarm))
    assert [r.quality for r in readings] == ["valid", "valid", "valid"]


@pytest.mark.parametrize(
    ("spo2", "bpm", "expected"),
    [
        ("050", "020", [("spo2", 50.0, "valid", None), ("pulse_rate", 20.0, "valid", None)]),
        (
            "049",
            "019",
            [
                ("spo2", 49.0, "questionable", "implausible"),
                ("pulse_rate", 19.0, "questionable", "implausible"),
            ],
        ),
        ("100", "300", [("spo2", 100.0, "valid", None), ("pulse_rate", 300.0, "valid", None)]),
        (
            "101",
            "301",
            [
                ("spo2", 101.0, "questionable", "implausible"),
                ("pulse_rate", 301.0, "questionable", "implausible"),
            ],
        ),
    ],
)
def test_plausible_range_boundaries(spo2: str, bpm: str, expected: list[tuple]) -> None:
    readings, _ = decode(P, line(spo2=spo2, bpm=bpm))
    assert summary(readings)[:2] == expected


def test_every_split_point_gives_the_same_readings() -> None:
    data = fixture_bytes("masimo_rad8.txt")
    whole, _ = decode(P, data)
    for cut in range(1, len(data)):
        dec = MasimoDecoder()
        parts = dec.feed(data[:cut], HOST_TIME) + dec.feed(data[cut:], HOST_TIME)
        assert parts == whole, cut


def test_half_line_waits_for_its_end() -> None:
    dec = MasimoDecoder()
    assert dec.feed(GOOD[:40], HOST_TIME) == []
    assert dec.buffered == 40
    assert len(dec.feed(GOOD[40:], HOST_TIME)) == 3


def test_truncated_line_then_next_line() -> None:
    # The device lost the end of one line: its head runs into the next record.
    data = GOOD[:60] + GOOD
    readings, dec = decode(P, data)
    assert len(readings) == 3
    assert dec.stats.to_json_dict() == {
        "frames": 1,
        "readings": 3,
        "rejected": 1,
        "bytes_skipped": 60,
    }


def test_garbage_before_a_line_is_skipped_and_counted() -> None:
    readings, dec = decode(P, b"\x00\xff\x13garbage" + GOOD)
    assert len(readings) == 3
    assert dec.stats.bytes_skipped == 10
    assert dec.stats.rejected == 0


def test_garbage_lines_and_banners_are_rejected() -> None:
    data = b"Masimo Rad-8 V1.2\r\n\r\n\xde\xad\xbe\xef\r\n" + GOOD
    readings, dec = decode(P, data)
    assert len(readings) == 3
    assert dec.stats.rejected == 2  # the banner and the binary line; the empty line is ignored
    assert dec.stats.frames == 1


def test_corrupted_field_rejects_the_whole_line() -> None:
    bad = GOOD.replace(b"SPO2=098%", b"SPO2=0\xb28%")
    readings, dec = decode(P, bad + GOOD)
    assert len(readings) == 3
    assert dec.stats.rejected == 1
    bad_hex = GOOD.replace(b"EXC=000800", b"EXC=0008Z0")
    readings, dec = decode(P, bad_hex)
    assert readings == [] and dec.stats.rejected == 1


def test_impossible_date_is_rejected() -> None:
    readings, dec = decode(P, GOOD.replace(b"02/22/16", b"13/45/16"))
    assert readings == [] and dec.stats.rejected == 1


def test_endless_line_is_dropped_without_growing() -> None:
    dec = MasimoDecoder()
    for _ in range(10):
        dec.feed(b"A" * 500, HOST_TIME)
    # Dropped each time it passed 1024 bytes (after 1500, 3000 and 4500); 500 still held.
    assert dec.buffered == 500
    assert dec.stats.rejected == 3
    assert len(dec.feed(b"\n" + GOOD, HOST_TIME)) == 3


def test_line_without_spo2_or_pulse_is_rejected() -> None:
    readings, dec = decode(P, b"02/22/16 22:47:45 SN=0000056661 ALARM=0000 EXC=000800\r\n")
    assert readings == [] and dec.stats.rejected == 1
