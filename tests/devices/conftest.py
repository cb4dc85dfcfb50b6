"""Shared helpers for the device tests."""

from __future__ import annotations

import select
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nursestation.devices import decoder_for
from nursestation.devices.reading import Reading
from nursestation.devices.simulator import TcpServerSink

FIXTURES = Path(__file__).parent / "fixtures"
HOST_TIME = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def fixture_bytes(name: str) -> bytes:
    """The raw bytes of a recorded fixture."""
    return (FIXTURES / name).read_bytes()


def decode(protocol: str, data: bytes, chunk: int | None = None) -> tuple[list[Reading], object]:
    """Decode `data` (in `chunk`-sized feeds when given); returns (readings, decoder)."""
    decoder = decoder_for(protocol)
    readings: list[Reading] = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        readings += decoder.feed(data[i : i + step], HOST_TIME)
    return readings, decoder


def summary(readings: list[Reading]) -> list[tuple[str, float | None, str, str | None]]:
    """(param, value, quality, reason) per reading, for compact exact asserts."""
    return [(r.param, r.value, r.quality, r.reason) for r in readings]


@pytest.fixture
def host_time() -> datetime:
    return HOST_TIME


def collect_acks(sink: TcpServerSink, count: int, timeout: float = 60.0) -> None:
    """Read the client's ACKs into `sink.received` until `count` arrived (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while sink.received.count(b"MSA|") < count and time.monotonic() < deadline:
        assert sink.client is not None
        ready, _, _ = select.select([sink.client], [], [], 0.1)
        if ready:
            chunk = sink.client.recv(65536)
            if not chunk:
                break
            sink.received += chunk
