"""Shared helpers for the device tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nursestation.devices import decoder_for
from nursestation.devices.reading import Reading

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
