"""A capture read with the wrong protocol, or line noise, yields no valid reading (issue 13).

Every protocol's simulator stream is fed to every other protocol's decoder, whole and in small
feeds, and random bytes to each decoder: not one reading may come out as valid. The cases that
once produced values (a DF7 or DF2 stream read as DF8: SpO2 55 %, pulse 242) are here too.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nursestation.devices import PROTOCOLS, decoder_for
from nursestation.devices.masimo import MasimoDecoder
from nursestation.devices.simulator import Fault, SessionPlayer, nonin_df8_frame
from tests.devices.conftest import HOST_TIME, decode

# Ten minutes of each protocol (an hour of HL7: it sends every 5 s), with probe-off and garbage.
FAULTS = [Fault(100, "garbage"), Fault(200, "probe_off", 20), Fault(300, "half_frame")]
STREAMS = {
    p: SessionPlayer(p, duration_s=600 if p != "hl7-mllp" else 3600, faults=FAULTS, seed=7).render()
    for p in PROTOCOLS
}
PAIRS = [(src, dst) for src in PROTOCOLS for dst in PROTOCOLS if src != dst]


def valid_of(protocol: str, data: bytes, chunk: int | None = None) -> list[object]:
    readings, _ = decode(protocol, data, chunk)
    return [r for r in readings if r.quality == "valid"]


@pytest.mark.parametrize(("source", "decoder"), PAIRS)
@pytest.mark.parametrize("chunk", [None, 1, 97])
def test_another_protocols_stream_gives_no_valid_reading(
    source: str, decoder: str, chunk: int | None
) -> None:
    data = STREAMS[source]
    if chunk == 1:
        data = data[:20_000]  # byte-by-byte feeds are slow; 20 kB is hundreds of frames
    assert valid_of(decoder, data, chunk) == []


def test_the_stream_itself_decodes_so_the_cross_check_is_not_vacuous() -> None:
    for protocol, data in STREAMS.items():
        assert len(valid_of(protocol, data)) > 100, protocol


@pytest.mark.parametrize("source", ["nonin-df7", "nonin-df2"])
def test_df7_and_df2_read_as_df8_give_no_reading_at_all(source: str) -> None:
    # The case: the DF8 decoder turned a DF7 stream into "valid" SpO2 55 % / pulse 242.
    readings, dec = decode("nonin-df8", STREAMS[source])
    assert readings == []
    assert dec.stats.frames == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_megabyte_of_noise_gives_no_valid_reading(protocol: str, seed: int) -> None:
    rnd = random.Random(seed)
    noise = rnd.randbytes(1_000_000)
    assert valid_of(protocol, noise, 4096) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_printable_noise_gives_no_valid_reading(protocol: str) -> None:
    # Text-like noise (a wrong baud rate on an ASCII device) with line ends mixed in.
    rnd = random.Random(11)
    alphabet = b"0123456789 =%-:/ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n|^"
    noise = bytes(rnd.choice(alphabet) for _ in range(300_000))
    assert valid_of(protocol, noise, 512) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(PROTOCOLS), chunks=st.lists(st.binary(max_size=2000), max_size=8))
def test_random_bytes_never_give_a_valid_reading(protocol: str, chunks: list[bytes]) -> None:
    dec = decoder_for(protocol)
    for chunk in chunks:
        assert [r for r in dec.feed(chunk, HOST_TIME) if r.quality == "valid"] == []
        dec.take_replies()


@settings(max_examples=200, deadline=None)
@given(
    source=st.sampled_from(PROTOCOLS),
    decoder=st.sampled_from(PROTOCOLS),
    start=st.integers(0, 5000),
    size=st.integers(1, 5000),
)
def test_any_slice_of_another_protocol_gives_no_valid_reading(
    source: str, decoder: str, start: int, size: int
) -> None:
    if source == decoder:
        return
    data = STREAMS[source][start : start + size]
    assert valid_of(decoder, data) == []


def test_df8_lock_boundary_two_aligned_frames_are_not_enough() -> None:
    frame = nonin_df8_frame(72, 97)
    assert valid_of("nonin-df8", frame * 2) == []
    assert len(valid_of("nonin-df8", frame * 3)) == 6


def test_masimo_line_without_exc_status_is_never_valid() -> None:
    line = b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% ALARM=0000\r\n"
    readings = MasimoDecoder().feed(line, HOST_TIME)
    assert [(r.param, r.value, r.quality, r.reason) for r in readings] == [
        ("spo2", 98.0, "questionable", "no_status"),
        ("pulse_rate", 97.0, "questionable", "no_status"),
        ("pi", 3.6, "questionable", "no_status"),
    ]
    with_exc = line.replace(b"ALARM=0000", b"ALARM=0000 EXC=000800")
    assert all(r.quality == "valid" for r in MasimoDecoder().feed(with_exc, HOST_TIME))
