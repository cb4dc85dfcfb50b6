"""Clocks: the clinical core takes `now` from a clock so tests and scenarios can simulate time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A settable clock for tests and scenarios."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to `when` (aware)."""
        self._now = when.astimezone(UTC)

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward, e.g. `advance(minutes=5)`."""
        self._now += timedelta(**kwargs)


def ensure_utc(when: datetime) -> datetime:
    """Return `when` as aware UTC; naive datetimes are refused because their zone is unknown."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    return when.astimezone(UTC)
