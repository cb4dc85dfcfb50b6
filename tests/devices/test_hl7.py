"""HL7 v2 / MLLP decoder against devices.md §1.5 and §1.8 fixtures and §4 failure modes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nursestation.devices.hl7 import HL7Config, HL7Decoder, mllp_wrap, parse_hl7_time
from tests.devices.conftest import HOST_TIME, decode, fixture_bytes, summary

P = "hl7-mllp"


def msg(*obx: str, msh_tail: str = "") -> bytes:
    header = f"MSH|^~\\&|DEV^0011223344556677^EUI-64||||20260302140000+0000||ORU^R01^ORU_R01|M1|P|2.6{msh_tail}"
    return mllp_wrap("\r".join([header, *obx]) + "\r")


def test_ihe_bp_sample() -> None:
    readings, dec = decode(P, fixture_bytes("hl7_ihe_bp.mllp"))
    assert summary(readings) == [
        ("sbp", 120.0, "valid", None),
        ("dbp", 80.0, "valid", None),
        ("map", 100.0, "valid", None),
    ]
    tz = timezone(timedelta(hours=5))
    # The rows carry no time: they inherit the compound NIBP row's OBX-14 (1.0.1 → 1.0.1.x).
    assert all(r.device_time == datetime(2009, 8, 13, 9, 57, 15, tzinfo=tz) for r in readings)
    assert readings[0].to_json_dict()["device_time"] == "2009-08-13T09:57:15+05:00"
    assert {r.device_id for r in readings} == {"0123456789ABCDEF"}
    assert dec.stats.to_json_dict() == {
        "frames": 1,
        "readings": 3,
        "rejected": 0,
        "bytes_skipped": 0,
    }


def test_ihe_bp_sample_is_acknowledged() -> None:
    dec = HL7Decoder()
    dec.feed(fixture_bytes("hl7_ihe_bp.mllp"), HOST_TIME)
    ack = dec.take_replies()
    assert ack.startswith(b"\x0b") and ack.endswith(b"\x1c\x0d")
    segments = ack[1:-2].decode().split("\r")
    assert segments[0].split("|")[:12] == [
        "MSH",
        "^~\\&",
        "NurseStation",
        "",
        "AcmeInc^ACDE48234567ABCD^EUI-64",
        "",
        "20260302140000+0000",
        "",
        "ACK^R01^ACK",
        "ACKMSGID1234",
        "P",
        "2.6",
    ]
    assert segments[1] == "MSA|AA|MSGID1234"
    assert dec.take_replies() == b""  # taken once


def test_ge_b40_sample() -> None:
    readings, _ = decode(P, fixture_bytes("hl7_ge_b40.mllp"))
    assert summary(readings) == [
        ("hr", 68.0, "valid", None),
        ("etco2", 1.0, "valid", None),
        ("pulse_rate", 67.0, "valid", None),
    ]
    assert {r.device_id for r in readings} == {"080019FFFE1443EC"}
    assert readings[0].device_time == datetime(2023, 3, 9, 14, 39)  # MSH-7, no offset: naive
    assert readings[0].device_time.tzinfo is None


def test_comen_sample() -> None:
    readings, _ = decode(P, fixture_bytes("hl7_comen.mllp"))
    assert summary(readings) == [
        ("pulse_rate", 59.0, "valid", None),
        ("spo2", 97.0, "valid", None),
        ("rr", 20.0, "valid", None),
        ("temp", 37.0, "valid", None),
        ("sbp", 120.0, "valid", None),
        ("dbp", 80.0, "valid", None),
        ("map", 90.0, "valid", None),
    ]
    assert readings[0].device_time.utcoffset() == timedelta(hours=8)
    assert readings[3].unit == "°C"
    assert readings[0].device_id == "COMEN"


def test_sentinel_sample() -> None:
    dec = HL7Decoder()
    readings = dec.feed(fixture_bytes("hl7_sentinel.mllp"), HOST_TIME)
    assert summary(readings) == [
        ("sbp", None, "unavailable", "sentinel"),
        ("spo2", None, "unavailable", "sentinel"),
        ("temp", None, "unavailable", "sentinel"),
    ]
    assert readings[0].device_id == "00A037009B000000"
    assert b"MSA|AA|41" in dec.take_replies()  # MSH-15 AL asks for an accept ACK


def test_mindray_231_periodic_and_aperiodic() -> None:
    dec = HL7Decoder()
    readings = dec.feed(fixture_bytes("hl7_mindray.mllp"), HOST_TIME)
    assert summary(readings) == [
        ("hr", 60.0, "valid", None),
        ("rr", 20.0, "valid", None),
        ("spo2", 98.0, "valid", None),
        ("temp", 37.0, "valid", None),
        ("dbp", 80.0, "valid", None),
        ("map", 93.0, "valid", None),
        ("sbp", 120.0, "valid", None),
        ("sbp", None, "unavailable", "sentinel"),
    ]
    assert readings[0].device_time is None and readings[0].device_id is None
    assert readings[4].device_time == datetime(2007, 1, 6, 19, 19, 15)
    assert readings[7].device_time is None  # 00000000000000 = no measurement
    acks = dec.take_replies()
    # Original mode (no MSH-15/16): every message is acknowledged.
    assert acks.count(b"\x0b") == 2
    assert b"MSA|AA|204" in acks and b"MSA|AA|503" in acks
    assert b"|2.3.1" in acks


def test_vitalrecorder_sample() -> None:
    readings, _ = decode(P, fixture_bytes("hl7_vitalrecorder.mllp"))
    assert summary(readings) == [
        ("hr", 72.0, "valid", None),
        ("spo2", 98.0, "valid", None),
        ("sbp", 118.0, "valid", None),
        ("dbp", 74.0, "valid", None),
        ("temp", 36.7, "valid", None),
    ]
    assert readings[0].device_time == datetime(2025, 3, 23, 14, 30)  # OBR-7


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|97|%|||||X",
            ("spo2", None, "unavailable", "cannot_obtain"),
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1||%|||||R",
            ("spo2", None, "unavailable", "no_value"),
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|8388607|%|||||X",
            ("spo2", None, "unavailable", "cannot_obtain"),
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|8388607|%|||||R",
            ("spo2", None, "unavailable", "sentinel"),
        ),
        (
            "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1|-100|mmHg|||||R",
            ("sbp", None, "unavailable", "sentinel"),
        ),
        (
            "OBX|1|NM|150344^MDC_TEMP^MDC|1.1|-99.9|Cel|||||R",
            ("temp", None, "unavailable", "sentinel"),
        ),
        (
            "OBX|1|NM|150344^MDC_TEMP^MDC|1.1|98.6|268160^MDC_DIM_FAHR^MDC|||||R",
            ("temp", 37.0, "valid", None),
        ),
        (
            "OBX|1|NM|150344^MDC_TEMP^MDC|1.1|100.4|[degF]^[degF]^UCUM|||||R",
            ("temp", 38.0, "valid", None),
        ),
        (
            "OBX|1|NM|150344^MDC_TEMP^MDC|1.1|310|K|||||R",
            ("temp", 310.0, "questionable", "unknown_unit"),
        ),
        (
            "OBX|1|NM|151712^MDC_CONC_AWAY_CO2_EXP^MDC|1.1|5.0|kPa|||||R",
            ("etco2", 37.5, "valid", None),
        ),
        (
            "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1|abc|%|||||R",
            ("spo2", None, "unavailable", "not_numeric"),
        ),
        (
            "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1|281|mmHg|||||R",
            ("sbp", 281.0, "questionable", "implausible"),
        ),
        (
            "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1|280|mmHg|||||R",
            ("sbp", 280.0, "valid", None),
        ),
        (
            "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1|120|mm[Hg]^mm[Hg]^UCUM|||||R",
            ("sbp", 120.0, "valid", None),
        ),
        (
            "OBX|1|NM|149546^MDC_PULS_RATE_NON_INV^MDC|1.1|63|{beat}/min^{beat}/min^UCUM|||||R",
            ("pulse_rate", 63.0, "valid", None),
        ),
    ],
)
def test_obx_rules(row: str, expected: tuple) -> None:
    readings, _ = decode(P, msg(row))
    assert summary(readings) == [expected]


def test_rows_without_mapping_yield_nothing() -> None:
    readings, dec = decode(
        P,
        msg(
            "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
            "OBX|2||150020^MDC_PRESS_BLD_NONINV^MDC|1.0.1|||||||R",
            "OBX|3|NM|151716^MDC_CONC_AWAY_CO2_INSP^MDC|1.1|0|mmHg|||||R",
        ),
    )
    assert readings == []
    assert dec.stats.frames == 1 and dec.stats.rejected == 0


def test_custom_code_map() -> None:
    config = HL7Config(code_map={"MY_HR": "hr"}, sentinels=(-1.0,))
    dec = HL7Decoder(config)
    readings = dec.feed(
        msg("OBX|1|NM|9^MY_HR|1|77|bpm|||||R", "OBX|2|NM|9^MY_HR|1|-1|bpm|||||R"), HOST_TIME
    )
    assert summary(readings) == [
        ("hr", 77.0, "valid", None),
        ("hr", None, "unavailable", "sentinel"),
    ]
    with pytest.raises(ValueError, match="unknown parameter 'glucose'"):
        HL7Config.from_dict({"code_map": {"X": "glucose"}, "sentinels": []})


def test_incomplete_frame_yields_nothing_and_next_frame_decodes() -> None:
    whole = fixture_bytes("hl7_ihe_bp.mllp")
    half = whole[: len(whole) // 2]
    readings, dec = decode(P, half + whole)
    assert [r.param for r in readings] == ["sbp", "dbp", "map"]
    assert dec.stats.rejected == 1
    assert dec.stats.frames == 1
    assert dec.stats.bytes_skipped == len(half)


def test_garbage_between_frames_is_skipped() -> None:
    frame = fixture_bytes("hl7_vitalrecorder.mllp")
    readings, dec = decode(P, b"\xff\xfeNOISE" + frame + b"\r\n\x00" + frame)
    assert len(readings) == 10
    assert dec.stats.bytes_skipped == 10


def test_message_split_at_every_byte() -> None:
    data = fixture_bytes("hl7_comen.mllp")
    whole, _ = decode(P, data)
    byte_by_byte, _ = decode(P, data, chunk=1)
    assert byte_by_byte == whole


def test_frame_without_msh_is_rejected() -> None:
    readings, dec = decode(P, mllp_wrap("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|%|||||R\r"))
    assert readings == [] and dec.stats.rejected == 1 and dec.stats.frames == 0


def test_no_ack_when_sender_says_never() -> None:
    dec = HL7Decoder()
    dec.feed(
        msg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1|97|%|||||R", msh_tail="|||NE|NE"), HOST_TIME
    )
    assert dec.take_replies() == b""


def test_other_message_types_are_refused_with_ar() -> None:
    dec = HL7Decoder()
    adt = mllp_wrap("MSH|^~\\&|HIS||||20260302||ADT^A01|A9|P|2.5\rPID|||1\r")
    assert dec.feed(adt, HOST_TIME) == []
    assert b"MSA|AR|A9" in dec.take_replies()


def test_oversized_frame_is_dropped() -> None:
    dec = HL7Decoder()
    dec.feed(b"\x0bMSH|" + b"A" * (300 * 1024), HOST_TIME)
    assert dec.buffered == 0
    assert dec.stats.rejected == 1
    assert len(dec.feed(fixture_bytes("hl7_ihe_bp.mllp"), HOST_TIME)) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "20090813095715+0500",
            datetime(2009, 8, 13, 9, 57, 15, tzinfo=timezone(timedelta(hours=5))),
        ),
        ("20250323143000", datetime(2025, 3, 23, 14, 30)),
        ("202503231430", datetime(2025, 3, 23, 14, 30)),
        (
            "20250323143000.123-0330",
            datetime(2025, 3, 23, 14, 30, tzinfo=timezone(-timedelta(hours=3, minutes=30))),
        ),
        ("00000000000000", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_hl7_time(text: str, expected: datetime | None) -> None:
    assert parse_hl7_time(text) == expected
