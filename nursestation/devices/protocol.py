"""What a monitor protocol says about itself (`ProtocolSpec`): its key, its label, how to build its
decoder, the frames its simulator writes, how often it sends, and how long a quiet port may stay
quiet. Each protocol module (masimo.py, nonin.py, hl7.py) declares its specs; devices/registry.py
lists them in one place, and the capture worker, the Monitors dialog and the simulator read them
from there (the pattern of Mu's `mu/modes/`: one self-describing module per mode, one
registration list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from nursestation.clinic import ClinicSettings
from nursestation.devices.base import BaseDecoder
from nursestation.devices.reading import PlausibleRanges


@dataclass(frozen=True)
class Vitals:
    """The simulated patient's true values at one instant."""

    sbp: int
    dbp: int
    map: int
    hr: int
    spo2: int
    rr: int
    etco2: int
    temp_c: float
    pi: float


# The values of a simulated frame nobody specified (a calm adult at rest; the simulator's
# PatientModel baseline without noise). Simulation only: never a clinical threshold.
SIMULATED_BASELINE = Vitals(
    sbp=125, dbp=80, map=95, hr=75, spo2=98, rr=14, etco2=37, temp_c=36.8, pi=3.0
)


@dataclass(frozen=True)
class SimFrame:
    """What the simulator asks a protocol to encode at one tick."""

    n: int  # tick number from 0 (message control ids, Nonin packet phase)
    when: datetime  # the device's local time (aware)
    vitals: Vitals | None  # None: no value (probe off)
    nibp: tuple[int, int, int, datetime] | None  # the last NIBP (sys, dia, mean, measured)
    corrupt: bool  # damage the frame as line noise would (its checksum, or its shape)


def ranges_of(settings: ClinicSettings | None) -> PlausibleRanges | None:
    """The clinic's plausibility ranges (None: the decoder's shipped defaults)."""
    return PlausibleRanges.from_settings(settings) if settings is not None else None


@dataclass(frozen=True)
class ProtocolSpec:
    """One monitor protocol, as the registry, the capture worker, the Monitors dialog and the
    simulator need it."""

    key: str  # stored in bindings and readings: never rename
    label: str  # what the Monitors dialog shows
    decoder: Callable[[ClinicSettings | None], BaseDecoder]  # a fresh decoder
    simulate: Callable[[SimFrame], bytes]  # the simulator's frame at one tick
    tick_s: float  # how often the device sends (the simulator's step)
    silence_s: float  # default silence time when the clinic's devices.capture.silence_s has none
    baudrate: int = 9600  # default port speed offered for a new binding
    sends_nibp: bool = False  # the simulator adds the last NIBP measurement to its frames
    contract: bool = True  # one of CONTRACTS.md's protocols (False: an extension)

    def simulated_frame(
        self, values: Mapping[str, float], when: datetime | None = None, n: int = 0
    ) -> bytes:
        """The frame the simulator writes for `values` (Vitals field names; the others from
        SIMULATED_BASELINE) at the device time `when` (default 2026-03-02 14:00 UTC)."""
        known = {f.name for f in fields(Vitals)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown vital {', '.join(unknown)}: use {', '.join(sorted(known))}")
        base = {f.name: getattr(SIMULATED_BASELINE, f.name) for f in fields(Vitals)}
        merged = {**base, **{k: type(base[k])(v) for k, v in values.items()}}
        if "map" not in values:
            merged["map"] = round(merged["dbp"] + (merged["sbp"] - merged["dbp"]) / 3)
        at = when if when is not None else datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
        return self.simulate(SimFrame(n, at, Vitals(**merged), None, False))
