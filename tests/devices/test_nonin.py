"""Nonin DF8 / DF7 / DF2 decoders against devices.md §1.2 fixtures and §4 failure modes."""

from __future__ import annotations

import pytest

from nursestation.devices.nonin import (
    ARTF,
    GPRF,
    OOT,
    RPRF,
    SNSA,
    SNSD,
    NoninDF8Decoder,
    NoninPacketDecoder,
)
from nursestation.devices.simulator import nonin_df8_frame, nonin_packet
from tests.devices.conftest import HOST_TIME, decode, fixture_bytes, summary

# ------------------------------------------------------------------ DF8

LOCK = NoninDF8Decoder.LOCK_FRAMES  # DF8 reports values only after this many aligned frames


def test_df8_spec_frames() -> None:
    readings, dec = decode("nonin-df8", fixture_bytes("nonin_df8.bin"))
    assert summary(readings) == [
        ("spo2", 97.0, "valid", None),
        ("pulse_rate", 72.0, "valid", None),
        ("spo2", 98.0, "valid", None),
        ("pulse_rate", 150.0, "valid", None),  # HR7 bit in the status byte: 128 + 22
        ("spo2", None, "unavailable", "sensor_alarm"),  # 83 7F 7F 08: SNSA set
        ("pulse_rate", None, "unavailable", "sensor_alarm"),
        ("spo2", None, "unavailable", "no_value"),  # A7 7F 7F 00: 127 / 511 with OOT+ARTF
        ("pulse_rate", None, "unavailable", "no_value"),
    ]
    assert dec.stats.to_json_dict() == {
        "frames": 4,
        "readings": 8,
        "rejected": 0,
        "bytes_skipped": 0,
    }
    assert all(r.device_time is None and r.device_id is None for r in readings)


@pytest.mark.parametrize(
    ("status", "status2", "quality", "reason"),
    [
        (0x20, 0, "questionable", "out_of_track"),
        (0x04, 0, "questionable", "artifact"),
        (0x10, 0, "questionable", "low_perfusion"),
        (0x08, 0, "valid", None),  # marginal perfusion is informational
        (0x40, 0, "unavailable", "sensor_disconnected"),
        (0, 0x08, "unavailable", "sensor_alarm"),
        (0x24, 0x08, "unavailable", "sensor_alarm"),  # sensor alarm wins over artifact
        (0, 0x21, "valid", None),  # SPA and low battery do not change quality
    ],
)
def test_df8_status_bits(status: int, status2: int, quality: str, reason: str | None) -> None:
    readings, _ = decode("nonin-df8", nonin_df8_frame(72, 97, status, status2) * LOCK)
    assert [(r.value, r.quality, r.reason) for r in readings] == [
        (97.0, quality, reason),
        (72.0, quality, reason),
    ] * LOCK


def test_df8_hr_boundaries() -> None:
    data = nonin_df8_frame(300, 97) + nonin_df8_frame(301, 97) + nonin_df8_frame(72, 97)
    readings, _ = decode("nonin-df8", data)
    assert summary(readings)[1] == ("pulse_rate", 300.0, "valid", None)
    assert summary(readings)[3] == ("pulse_rate", 301.0, "questionable", "implausible")


def test_df8_half_frame_and_garbage_resync() -> None:
    frame = nonin_df8_frame(72, 97)
    data = frame[:2] + b"\x13\x37" + frame * LOCK + frame[:3] + frame * LOCK
    readings, dec = decode("nonin-df8", data)
    assert [r.value for r in readings] == [97, 72] * 2 * LOCK
    assert dec.stats.frames == 2 * LOCK
    assert dec.stats.bytes_skipped == 7
    assert dec.stats.rejected == 1  # one loss of sync after the first lock


def test_df8_false_frame_from_noise_is_never_valid() -> None:
    # DF8 has no checksum: a half frame followed by two low bytes looks like a frame, and it
    # is aligned with the real frames after it, so the lock takes it in; the range check
    # keeps its value out of the valid ones.
    frame = nonin_df8_frame(72, 97)
    readings, _ = decode("nonin-df8", frame[:2] + b"\x13\x00" + frame * LOCK)
    assert summary(readings)[0] == ("spo2", 19.0, "questionable", "implausible")
    assert (
        summary(readings)[2:]
        == [
            ("spo2", 97.0, "valid", None),
            ("pulse_rate", 72.0, "valid", None),
        ]
        * LOCK
    )


def test_df8_reserved_bits_and_impossible_spo2_are_refused() -> None:
    readings, dec = decode("nonin-df8", bytes([0x80, 0x48, 0x61, 0x10, 0x80, 0x48, 0x70, 0x00]))
    assert readings == []
    assert dec.stats.frames == 0 and dec.stats.bytes_skipped == 5
    assert dec.buffered == 3  # fewer than 4 bytes: kept until more arrive


def test_df8_corrupted_frame_is_rejected() -> None:
    good = nonin_df8_frame(72, 97)
    bad = good[:2] + bytes([good[2] | 0x80]) + good[3:]
    readings, dec = decode("nonin-df8", good * LOCK + bad + good * LOCK)
    assert [r.value for r in readings] == [97, 72] * 2 * LOCK
    assert dec.stats.rejected == 1


def test_df8_split_feeds() -> None:
    data = fixture_bytes("nonin_df8.bin")
    whole, _ = decode("nonin-df8", data)
    byte_by_byte, _ = decode("nonin-df8", data, chunk=1)
    assert whole == byte_by_byte


# ------------------------------------------------------------------ DF7 / DF2 packets


def hand_packet(statuses: list[int], floats: list[int]) -> bytes:
    """A DF7 packet written straight from the spec table, independent of the simulator."""
    out = bytearray()
    for n, (st, fl) in enumerate(zip(statuses, floats, strict=True)):
        frame = [0x80 | st | (1 if n == 0 else 0), 0x12, 0x34, fl]
        out += bytes([*frame, sum(frame) & 0xFF])
    return bytes(out)


def test_df7_spec_frame_checksum() -> None:
    readings, dec = decode("nonin-df7", fixture_bytes("nonin_df7_frame.bin"))
    assert readings == []  # one frame is not a packet
    assert dec.stats.frames == 1 and dec.stats.rejected == 0 and dec.stats.bytes_skipped == 0


def test_df7_reads_display_values_from_their_slots() -> None:
    floats = [0] * 25
    floats[0], floats[1], floats[2] = 0, 80, 90  # recording HR 80 / SpO2 90
    floats[8] = 97  # frame 9: SpO2-D
    floats[19], floats[20] = 1, 22  # frames 20/21: HR-D = 128 + 22 = 150
    readings, dec = decode("nonin-df7", hand_packet([GPRF] * 25, floats))
    assert summary(readings) == [
        ("spo2", 97.0, "valid", None),
        ("pulse_rate", 150.0, "valid", None),
    ]
    assert dec.stats.frames == 25


def test_df7_packets_fixture() -> None:
    readings, dec = decode("nonin-df7", fixture_bytes("nonin_df7_packets.bin"))
    assert summary(readings) == [
        ("spo2", 97.0, "valid", None),
        ("pulse_rate", 72.0, "valid", None),
        ("spo2", None, "unavailable", "sensor_alarm"),
        ("pulse_rate", None, "unavailable", "sensor_alarm"),
    ]
    assert dec.stats.to_json_dict() == {
        "frames": 50,
        "readings": 4,
        "rejected": 0,
        "bytes_skipped": 0,
    }


@pytest.mark.parametrize(
    ("flag", "quality", "reason"),
    [
        (SNSA, "unavailable", "sensor_alarm"),
        (SNSD, "unavailable", "sensor_disconnected"),
        (ARTF, "questionable", "artifact"),
        (OOT, "questionable", "out_of_track"),
        (RPRF, "questionable", "low_perfusion"),
        (RPRF | GPRF, "valid", None),  # yellow perfusion is not low
        (GPRF, "valid", None),
    ],
)
def test_df7_status_in_one_frame_sets_packet_quality(
    flag: int, quality: str, reason: str | None
) -> None:
    statuses = [GPRF] * 25
    statuses[14] = flag
    floats = [0] * 25
    floats[8], floats[20] = 98, 70
    readings, _ = decode("nonin-df7", hand_packet(statuses, floats))
    assert [(r.value, r.quality, r.reason) for r in readings] == [
        (98.0, quality, reason),
        (70.0, quality, reason),
    ]


def test_df7_bad_checksum_drops_the_packet_only() -> None:
    data = nonin_packet(72, 97) + nonin_packet(80, 96, corrupt_frame=12) + nonin_packet(75, 99)
    readings, dec = decode("nonin-df7", data)
    assert [r.value for r in readings] == [97, 72, 99, 75]
    assert dec.stats.rejected == 1
    assert dec.stats.bytes_skipped >= 5


def test_df7_half_frame_resyncs() -> None:
    data = nonin_packet(72, 97)[3:] + nonin_packet(75, 99)
    readings, dec = decode("nonin-df7", data)
    assert [r.value for r in readings] == [99, 75]
    assert dec.stats.bytes_skipped >= 2


def test_df7_early_sync_discards_partial_packet() -> None:
    packet = nonin_packet(72, 97)
    data = packet[: 10 * 5] + packet  # 10 frames then a new packet starts
    readings, dec = decode("nonin-df7", data)
    assert [r.value for r in readings] == [97, 72]
    assert dec.stats.rejected == 1
    assert dec.stats.frames == 35


def test_df7_split_at_every_byte() -> None:
    data = fixture_bytes("nonin_df7_packets.bin")
    whole, _ = decode("nonin-df7", data)
    for cut in range(1, len(data), 7):
        dec = NoninPacketDecoder()
        assert dec.feed(data[:cut], HOST_TIME) + dec.feed(data[cut:], HOST_TIME) == whole


def test_df7_float_above_7_bits_rejects_packet() -> None:
    floats = [0] * 25
    floats[8], floats[20], floats[5] = 98, 70, 0xC0
    readings, dec = decode("nonin-df7", hand_packet([GPRF] * 25, floats))
    assert readings == [] and dec.stats.rejected == 1


def test_df2_spec_frames() -> None:
    readings, dec = decode("nonin-df2", fixture_bytes("nonin_df2.bin"))
    assert readings == []  # six frames, two packet starts, no complete packet
    assert dec.stats.frames == 6
    assert dec.stats.rejected == 1  # the second SYNC arrived after 3 frames: frames were lost
    assert dec.stats.bytes_skipped == 0


def test_df2_packet_from_encoder() -> None:
    readings, _ = decode("nonin-df2", nonin_packet(64, 99, start_byte=True))
    assert summary(readings) == [("spo2", 99.0, "valid", None), ("pulse_rate", 64.0, "valid", None)]


# ------------------------------------------------------------------ DF8 frame lock


def test_df8_needs_three_aligned_frames_before_any_value() -> None:
    frame = nonin_df8_frame(72, 97)
    dec = NoninDF8Decoder()
    assert dec.feed(frame * (LOCK - 1), HOST_TIME) == []  # two frames: not yet trusted
    readings = dec.feed(frame, HOST_TIME)  # the third one locks: all three count
    assert [r.value for r in readings] == [97, 72] * LOCK
    assert [r.value for r in dec.feed(frame, HOST_TIME)] == [97, 72]  # locked: one by one


def test_df8_two_frames_then_noise_yield_nothing() -> None:
    frame = nonin_df8_frame(72, 97)
    readings, dec = decode("nonin-df8", frame * (LOCK - 1) + b"\xff\xff\xff\xff")
    assert readings == []
    assert dec.stats.frames == 0


def test_df8_loses_the_lock_at_a_malformed_frame_and_needs_a_new_one() -> None:
    frame = nonin_df8_frame(72, 97)
    bad = b"\x80\x48\x61\x10"  # STATUS2 bit 4 is reserved
    readings, dec = decode("nonin-df8", frame * LOCK + bad + frame * (LOCK - 1))
    assert [r.value for r in readings] == [97, 72] * LOCK  # the two after the break wait
    assert dec.stats.rejected == 1


@pytest.mark.parametrize(
    ("slot", "value", "kept"),
    [
        (19, 0x03, True),  # HR-D MSB: two bits, 0x03 is the top of the range (part of 511)
        (19, 0x04, False),  # a third bit is no HR-D MSB
        (0, 0x04, False),  # nor in the recording HR MSB slot
        (8, 100, True),  # SpO2-D 100 %
        (8, 101, False),  # 101-126 is no code a device sends
        (8, 127, True),  # 127: missing
    ],
)
def test_df7_packet_slots_outside_their_spec_reject_the_packet(
    slot: int, value: int, kept: bool
) -> None:
    floats = [0] * 25
    floats[8], floats[20] = 98, 70
    floats[slot] = value
    readings, dec = decode("nonin-df7", hand_packet([GPRF] * 25, floats))
    assert (len(readings) == 2) is kept
    assert dec.stats.rejected == (0 if kept else 1)
