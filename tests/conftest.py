"""Shared fixtures. Qt must run offscreen in tests: set before any QApplication exists."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NURSESTATION_STATION", "test-station")

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nursestation.clock import FakeClock
from nursestation.config import StationConfig, resolve_config

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"


@pytest.fixture
def station(tmp_path: Path) -> StationConfig:
    """A fresh data directory with SQLite inside it."""
    return resolve_config(str(tmp_path / "data"), None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ctx(station: StationConfig, clock: FakeClock) -> Iterator[object]:
    from nursestation.app.context import AppContext

    c = AppContext.open(station, clock=clock)
    yield c
    c.close()
