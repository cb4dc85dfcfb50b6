"""Device readings: the one normalised shape every protocol decoder produces.

A `Reading` is one parameter value with its quality; `DecodeStats` counts what a decoder saw;
`PlausibleRanges` marks device values outside physiological range as questionable so they are
kept (as raw) but never passed on as valid.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nursestation.clinic import ClinicSettings, load_defaults

PARAMS: tuple[str, ...] = (
    "spo2",
    "pulse_rate",
    "hr",
    "sbp",
    "dbp",
    "map",
    "rr",
    "etco2",
    "temp",
    "pi",
)

UNITS: dict[str, str] = {
    "spo2": "%",
    "pulse_rate": "/min",
    "hr": "/min",
    "sbp": "mmHg",
    "dbp": "mmHg",
    "map": "mmHg",
    "rr": "/min",
    "etco2": "mmHg",
    "temp": "°C",
    "pi": "%",
}

# NIBP values are episodic measurements, deduplicated by their measurement time.
NIBP_PARAMS: frozenset[str] = frozenset({"sbp", "dbp", "map"})

VALID = "valid"
QUESTIONABLE = "questionable"
UNAVAILABLE = "unavailable"
QUALITIES: tuple[str, ...] = (VALID, QUESTIONABLE, UNAVAILABLE)

# Reason codes (short, stable strings; the contract lists them as examples).
REASON_IMPLAUSIBLE = "implausible"
REASON_SENTINEL = "sentinel"
REASON_NO_VALUE = "no_value"
REASON_PROBE_OFF = "probe_off"
REASON_NO_SENSOR = "no_sensor"
REASON_ARTIFACT = "artifact"


@dataclass(frozen=True)
class Reading:
    """One parameter value from a device, with its quality and both timestamps."""

    protocol: str
    param: str
    value: float | None
    unit: str
    quality: str
    reason: str | None
    device_time: datetime | None
    host_time: datetime
    device_id: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The `replay` JSON Lines object (CONTRACTS.md "Device readings"), key order as documented."""
        value: float | int | None = self.value
        if value is not None and float(value).is_integer():
            value = int(value)
        return {
            "protocol": self.protocol,
            "param": self.param,
            "value": value,
            "unit": self.unit,
            "quality": self.quality,
            "reason": self.reason,
            "device_time": None if self.device_time is None else self.device_time.isoformat(),
            "device_id": self.device_id,
        }

    @property
    def is_valid(self) -> bool:
        """True only for a value that may be charted and alarmed on as truth."""
        return self.quality == VALID and self.value is not None


@dataclass
class DecodeStats:
    """Counters kept by a decoder across all `feed` calls."""

    frames: int = 0
    readings: int = 0
    rejected: int = 0
    bytes_skipped: int = 0

    def to_json_dict(self) -> dict[str, int]:
        """The `replay` summary line on stderr."""
        return {
            "frames": self.frames,
            "readings": self.readings,
            "rejected": self.rejected,
            "bytes_skipped": self.bytes_skipped,
        }

    def add(self, other: DecodeStats) -> None:
        """Accumulate another decoder's counters (used across reconnects)."""
        self.frames += other.frames
        self.readings += other.readings
        self.rejected += other.rejected
        self.bytes_skipped += other.bytes_skipped


@dataclass(frozen=True)
class PlausibleRanges:
    """Inclusive physiological range per parameter (clinical.md §2.2 hard-reject bounds)."""

    ranges: Mapping[str, tuple[float, float]]

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> PlausibleRanges:
        """Build from the `devices.plausible` clinic settings section."""
        return cls.from_dict(settings.section("devices.plausible"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, float]]) -> PlausibleRanges:
        """Build from `{param: {"min": x, "max": y}}`; unknown parameters are refused."""
        ranges: dict[str, tuple[float, float]] = {}
        for param, bounds in data.items():
            if param not in PARAMS:
                raise ValueError(f"unknown device parameter '{param}' in plausible ranges")
            lo, hi = float(bounds["min"]), float(bounds["max"])
            if lo > hi:
                raise ValueError(f"plausible range for {param}: min {lo} is above max {hi}")
            ranges[param] = (lo, hi)
        return cls(ranges)

    @classmethod
    def default(cls) -> PlausibleRanges:
        """The shipped defaults (resources/clinic/devices.json), loaded once."""
        return _default_ranges()

    def contains(self, param: str, value: float) -> bool:
        """True when `value` lies inside the range (a parameter without a range is refused)."""
        bounds = self.ranges.get(param)
        if bounds is None:
            return False
        return bounds[0] <= value <= bounds[1]

    def check(self, reading: Reading) -> Reading:
        """Return the reading, downgraded to questionable/implausible when its value is out of range.

        Only valid readings change: an already questionable one keeps its more specific reason.
        """
        if reading.quality != VALID or reading.value is None:
            return reading
        if self.contains(reading.param, reading.value):
            return reading
        return replace(reading, quality=QUESTIONABLE, reason=REASON_IMPLAUSIBLE)


@functools.cache
def _default_ranges() -> PlausibleRanges:
    return PlausibleRanges.from_settings(load_defaults())


def make_reading(
    protocol: str,
    param: str,
    value: float | None,
    quality: str,
    reason: str | None,
    device_time: datetime | None,
    host_time: datetime,
    device_id: str | None,
) -> Reading:
    """A Reading with the contract unit for `param`; an unavailable value with no number stays None."""
    return Reading(
        protocol=protocol,
        param=param,
        value=None if value is None else float(value),
        unit=UNITS[param],
        quality=quality,
        reason=reason,
        device_time=device_time,
        host_time=host_time,
        device_id=device_id,
    )
