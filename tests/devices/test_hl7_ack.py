"""HL7: the ACK never says "accepted" (AA) for a value that was not taken (issue 13).

LOINC-coded vitals are decoded; a row whose value is not taken (unknown observation, unknown
unit, not a finite number in ASCII digits) makes the answer AE with an ERR naming the segment,
its sequence and the field; the ACK frame is well-formed and MSA-2 is the message's control id.
"""

from __future__ import annotations

import pytest

from nursestation.devices.hl7 import HL7Decoder, mllp_wrap, parse_hl7_time
from tests.devices.conftest import HOST_TIME

MSH = "MSH|^~\\&|MON^0011223344556677^EUI-64|ICU||NS|20260302140000+0000||ORU^R01^ORU_R01|{cid}|P|{ver}|||NE|AL"


def message(*obx: str, cid: str = "C42", ver: str = "2.6") -> bytes:
    return mllp_wrap("\r".join([MSH.format(cid=cid, ver=ver), *obx]) + "\r")


def loinc(code: str, text: str, value: str, unit: str, n: int = 1) -> str:
    return f"OBX|{n}|NM|{code}^{text}^LN||{value}|{unit}^{unit}^UCUM|||||F"


def feed(data: bytes) -> tuple[list, list[list[str]]]:
    """Readings, and the ACK's segments split into fields (asserting the MLLP frame shape)."""
    dec = HL7Decoder()
    readings = dec.feed(data, HOST_TIME)
    raw = dec.take_replies()
    assert raw.startswith(b"\x0b") and raw.endswith(b"\x1c\x0d")
    assert raw.count(b"\x0b") == 1 and raw.count(b"\x1c") == 1  # exactly one frame
    body = raw[1:-2].decode("ascii")  # everything we send is plain ASCII
    assert body.endswith("\r")
    segments = [s.split("|") for s in body[:-1].split("\r")]
    return readings, segments


LOINC_VITALS = [
    ("8867-4", "Heart rate", "72", "{beats}/min", "hr", 72.0),
    ("8889-8", "Heart rate by Pulse oximetry", "71", "/min", "pulse_rate", 71.0),
    ("59408-5", "Oxygen saturation by Pulse oximetry", "97", "%", "spo2", 97.0),
    ("2708-6", "Oxygen saturation in Arterial blood", "96", "%", "spo2", 96.0),
    ("8480-6", "Systolic blood pressure", "128", "mm[Hg]", "sbp", 128.0),
    ("8462-4", "Diastolic blood pressure", "82", "mm[Hg]", "dbp", 82.0),
    ("8478-0", "Mean blood pressure", "97", "mm[Hg]", "map", 97.0),
    ("9279-1", "Respiratory rate", "14", "{breaths}/min", "rr", 14.0),
    ("8310-5", "Body temperature", "36.8", "Cel", "temp", 36.8),
]


def test_loinc_coded_vitals_are_decoded_and_accepted() -> None:
    rows = [loinc(c, t, v, u, n) for n, (c, t, v, u, _, _) in enumerate(LOINC_VITALS, start=1)]
    readings, ack = feed(message(*rows))
    assert [(r.param, r.value, r.quality) for r in readings] == [
        (param, value, "valid") for *_, param, value in LOINC_VITALS
    ]
    assert ack[1] == ["MSA", "AA", "C42"]
    assert [s[0] for s in ack] == ["MSH", "MSA"]


def test_ack_header_is_well_formed() -> None:
    _, ack = feed(message(loinc("8867-4", "Heart rate", "72", "/min"), cid="CTRL-0001"))
    msh = ack[0]
    assert msh[0] == "MSH" and msh[1] == "^~\\&"
    assert msh[2] == "NurseStation"  # MSH-3: we send it
    assert msh[4:6] == ["MON^0011223344556677^EUI-64", "ICU"]  # MSH-5/6: back to the sender
    assert msh[6] == "20260302140000+0000"  # MSH-7
    assert msh[8] == "ACK^R01^ACK"  # MSH-9
    assert msh[9] == "ACKCTRL-0001"  # MSH-10: our own control id
    assert msh[10:12] == ["P", "2.6"]  # MSH-11/12 echo the message
    assert ack[1][:3] == ["MSA", "AA", "CTRL-0001"]  # MSA-2 = the message's MSH-10


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\u0669\u0667", "not_numeric"),  # Arabic-Indic 97: float() would read it
        ("９７", "not_numeric"),  # full-width digits
        ("inf", "not_numeric"),
        ("Infinity", "not_numeric"),
        ("NaN", "not_numeric"),
        ("1e999", "not_numeric"),
        ("9" * 400, "not_finite"),  # ASCII digits, but float() makes it inf
    ],
)
def test_non_ascii_digits_and_infinite_numbers_are_refused_with_ae(value: str, reason: str) -> None:
    readings, ack = feed(message(loinc("59408-5", "SpO2", value, "%", 3)))
    assert [(r.param, r.value, r.quality, r.reason) for r in readings] == [
        ("spo2", None, "unavailable", reason)
    ]
    assert ack[1][:3] == ["MSA", "AE", "C42"]
    err = ack[2]
    assert err[0] == "ERR" and err[2] == "OBX^1^5" and err[3].startswith("102^") and err[4] == "E"
    assert "not a finite number in ASCII digits" in err[8]
    assert "59408-5\\S\\SpO2\\S\\LN" in err[8]  # the identifier's ^ escaped, the field intact
    assert len(err) == 9


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("100", 100.0), ("+97.0", 97.0)])
def test_ascii_numbers_at_the_edges_are_accepted(value: str, expected: float) -> None:
    readings, ack = feed(message(loinc("59408-5", "SpO2", value, "%")))
    assert readings[0].value == expected
    assert ack[1][:2] == ["MSA", "AA"]


def test_unknown_observation_with_a_value_gives_ae_naming_the_segment() -> None:
    rows = [
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",  # no value: fine
        loinc("8867-4", "Heart rate", "72", "/min", 2),
        "OBX|3|NM|151716^MDC_CONC_AWAY_CO2_INSP^MDC|1.1|0|mmHg|||||R",  # a value we do not take
        "OBX|4|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2|8388607|%|||||X",  # device says none: fine
    ]
    readings, ack = feed(message(*rows))
    assert [r.param for r in readings] == ["hr", "spo2"]  # what was decoded is still delivered
    assert ack[1][:3] == ["MSA", "AE", "C42"]
    assert "OBX 3" in ack[1][3] and "151716" in ack[1][3]
    assert [s[0] for s in ack] == ["MSH", "MSA", "ERR"]
    assert ack[2][2] == "OBX^3^3" and ack[2][3].startswith("103^")


def test_unknown_unit_gives_ae_naming_obx_6() -> None:
    readings, ack = feed(message(loinc("8310-5", "Body temperature", "310", "K", 2)))
    assert readings[0].quality == "questionable" and readings[0].reason == "unknown_unit"
    assert ack[1][1] == "AE" and ack[2][2] == "OBX^1^6"


def test_several_problems_give_one_err_each() -> None:
    rows = [
        loinc("8867-4", "Heart rate", "\u0667\u0662", "/min", 1),
        loinc("8480-6", "Systolic blood pressure", "120", "psi", 2),
    ]
    _, ack = feed(message(*rows))
    assert ack[1][1] == "AE" and ack[1][3].startswith("2 rows not taken; OBX 1")
    assert [s[2] for s in ack[2:]] == ["OBX^1^5", "OBX^2^6"]


def test_before_v25_the_err_segment_uses_err_1() -> None:
    _, ack = feed(message(loinc("8867-4", "HR", "inf", "/min"), ver="2.3.1"))
    assert ack[1][:3] == ["MSA", "AE", "C42"]
    assert ack[2] == ["ERR", "OBX^1^5^102&Data type error&HL70357"]


def test_other_message_types_get_ar_with_err() -> None:
    data = mllp_wrap("MSH|^~\\&|HIS||||20260302||ADT^A01|A9|P|2.5\rPID|||1\r")
    readings, ack = feed(data)
    assert readings == []
    assert ack[1][:3] == ["MSA", "AR", "A9"]
    assert ack[2][2] == "MSH^1^9" and ack[2][3].startswith("200^")


def test_non_ascii_digits_in_a_time_are_not_a_time() -> None:
    assert parse_hl7_time("20260302140000") is not None
    assert parse_hl7_time("\u0662\u0660\u0662\u0666" + "0302140000") is None


def test_simulator_messages_are_all_accepted() -> None:
    from nursestation.devices.simulator import SessionPlayer

    dec = HL7Decoder()
    dec.feed(SessionPlayer("hl7-mllp", duration_s=600).render(), HOST_TIME)
    acks = dec.take_replies()
    assert acks.count(b"MSA|AA|") == 120 and b"MSA|AE" not in acks


@pytest.mark.parametrize(
    ("status", "taken"), [("F", True), ("R", True), ("W", False), ("D", False)]
)
def test_a_withdrawn_value_is_never_valid_and_not_acknowledged_as_applied(
    status: str, taken: bool
) -> None:
    row = f"OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||{status}"
    readings, ack = feed(message(row))
    if taken:
        assert [(r.value, r.quality) for r in readings] == [(72.0, "valid")]
        assert ack[1][1] == "AA"
    else:
        assert [(r.value, r.quality, r.reason) for r in readings] == [
            (None, "unavailable", "retracted")
        ]
        assert ack[1][1] == "AE" and ack[2][2] == "OBX^1^11"
