"""Property tests: random bytes never raise and never yield a valid reading out of range."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nursestation.devices import PROTOCOLS, decoder_for
from nursestation.devices.reading import PARAMS, QUALITIES, UNITS, PlausibleRanges
from nursestation.devices.simulator import SessionPlayer
from tests.devices.conftest import HOST_TIME

RANGES = PlausibleRanges.default()
# Real frames to splice into noise, so the decoders also see near-valid input.
SAMPLES = {
    p: SessionPlayer(p, duration_s=20 if p != "hl7-mllp" else 300).render() for p in PROTOCOLS
}


def check_decoder(protocol: str, chunks: list[bytes]) -> None:
    decoder = decoder_for(protocol)
    total = 0
    for chunk in chunks:
        readings = decoder.feed(chunk, HOST_TIME)
        total += len(readings)
        decoder.take_replies()
        for r in readings:
            assert r.param in PARAMS
            assert r.unit == UNITS[r.param]
            assert r.quality in QUALITIES
            if r.quality == "valid":
                assert r.value is not None
                assert RANGES.contains(r.param, r.value), r
            if r.quality == "unavailable" or r.value is None:
                assert r.quality != "valid"
    stats = decoder.stats
    assert stats.readings == total
    assert min(stats.frames, stats.rejected, stats.bytes_skipped) >= 0
    assert decoder.buffered <= 256 * 1024


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(PROTOCOLS), chunks=st.lists(st.binary(max_size=400), max_size=12))
def test_random_bytes(protocol: str, chunks: list[bytes]) -> None:
    check_decoder(protocol, chunks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    protocol=st.sampled_from(PROTOCOLS),
    data=st.data(),
)
def test_real_frames_with_noise_cuts_and_flips(protocol: str, data: st.DataObject) -> None:
    sample = bytearray(SAMPLES[protocol])
    for _ in range(data.draw(st.integers(0, 8))):
        if not sample:  # cuts can eat the whole sample: nothing left to mutate
            break
        pos = data.draw(st.integers(0, len(sample) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            sample[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del sample[pos : pos + data.draw(st.integers(1, 40))]
        else:
            sample[pos:pos] = data.draw(st.binary(min_size=1, max_size=40))
    size = data.draw(st.integers(1, 700))
    chunks = [bytes(sample[i : i + size]) for i in range(0, len(sample), size)]
    check_decoder(protocol, chunks)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_masimo_ascii_like_noise(noise: bytes) -> None:
    line = b"02/22/16 22:47:45 SN=0000056661 SPO2=0%s%% BPM=%s EXC=000800\r\n"
    check_decoder("masimo-ascii", [line.replace(b"%s", noise[:3], 1).replace(b"%s", noise[3:6], 1)])
