"""Audible alarm signals after IEC 60601-1-8 (issue 18), pure: the pulse pattern of each priority
from the clinic settings (resources/clinic/alarms.json "tones", clinical.md §7.1), the samples of
one burst generated from it (not recorded), and the rule that says when a burst starts.

The station plays one signal at a time, the most urgent of all chairs: a high-priority burst
every `audio_repeat_s` (10 s) while any chair has an unacknowledged, not audio-paused high alarm,
else a medium one every 25 s, else a low one every 30 s. A more urgent alarm starts its burst at
once; the tone stops at once when nothing should sound (acknowledged, paused, cleared).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nursestation.clinic import ClinicSettings

PRIORITY_ORDER = ("low", "medium", "high")  # ascending urgency, as nursestation.alarms

# A pulse is shaped by short rises and falls so it does not click (IEC 60601-1-8 sets rise and
# fall times; not a clinical number). Milliseconds.
EDGE_MS = 10.0


@dataclass(frozen=True)
class TonePattern:
    """One priority's burst: pulses as (onset, length) in ms from the burst start."""

    priority: str
    pulses: tuple[tuple[float, float], ...]
    frequency_hz: float
    repeat_s: float  # a new burst this often while the alarm sounds; 0 = no tone
    harmonics: int
    sample_rate_hz: int

    @property
    def pulse_count(self) -> int:
        """Pulses in one burst (high: 10, medium: 3, low: 1 or 2)."""
        return len(self.pulses)

    @property
    def duration_ms(self) -> float:
        """From the first pulse's start to the last pulse's end."""
        return max((on + length for on, length in self.pulses), default=0.0)


def build_pattern(
    priority: str,
    spec: Mapping[str, Any],
    repeat_s: float,
    *,
    harmonics: int = 4,
    sample_rate_hz: int = 22050,
) -> TonePattern:
    """The pulses of one burst: groups of pulses `spacing_ms` apart, `group_gaps_ms[i]` of
    silence after group i."""
    groups = [int(n) for n in spec["groups"]]
    gaps = [float(g) for g in spec.get("group_gaps_ms", [])]
    if len(gaps) != max(0, len(groups) - 1):
        raise ValueError(
            f"alarms.tones.{priority}.group_gaps_ms needs {len(groups) - 1} gap(s), one after "
            f"each group but the last; got {len(gaps)}"
        )
    pulse = float(spec["pulse_ms"])
    spacing = float(spec["spacing_ms"])
    pulses: list[tuple[float, float]] = []
    t = 0.0
    for i, count in enumerate(groups):
        for k in range(count):
            pulses.append((t, pulse))
            t += pulse + (spacing if k < count - 1 else 0.0)
        if i < len(gaps):
            t += gaps[i]
    return TonePattern(
        priority=priority,
        pulses=tuple(pulses),
        frequency_hz=float(spec["frequency_hz"]),
        repeat_s=float(repeat_s),
        harmonics=harmonics,
        sample_rate_hz=sample_rate_hz,
    )


def patterns_from_settings(settings: ClinicSettings | Mapping[str, Any]) -> dict[str, TonePattern]:
    """Every priority's pattern from ClinicSettings or the plain `alarms` section dict."""
    data = settings.section("alarms") if isinstance(settings, ClinicSettings) else settings
    tones = data["tones"]
    return {
        p: build_pattern(
            p,
            tones[p],
            float(data["priorities"][p]["audio_repeat_s"]),
            harmonics=int(tones["harmonics"]),
            sample_rate_hz=int(tones["sample_rate_hz"]),
        )
        for p in PRIORITY_ORDER
    }


def render_pcm(pattern: TonePattern, amplitude: float = 0.5) -> bytes:
    """One burst as 16-bit signed little-endian mono samples: each pulse a fundamental with
    `harmonics` overtones of falling loudness (a pure sine is hard to locate and easy to miss),
    faded in and out over EDGE_MS; silence between pulses. Pulses of one length are computed
    once and copied (a high burst in about 10 ms rather than 150 ms on the GUI thread)."""
    rate = pattern.sample_rate_hz
    total = math.ceil(pattern.duration_ms * rate / 1000.0)
    peak = int(32767 * max(0.0, min(1.0, amplitude)))
    out = bytearray(2 * total)
    shapes: dict[int, bytes] = {}
    for onset, length in pattern.pulses:
        n = int(length * rate / 1000.0)
        if n not in shapes:
            shapes[n] = _pulse(pattern, n, peak)
        start = int(onset * rate / 1000.0)
        chunk = shapes[n][: 2 * max(0, total - start)]
        out[2 * start : 2 * start + len(chunk)] = chunk
    return bytes(out)


def _pulse(pattern: TonePattern, n: int, peak: int) -> bytes:
    rate = pattern.sample_rate_hz
    partials = [
        (2 * math.pi * pattern.frequency_hz * (k + 1) / rate, 1.0 / (k + 1))
        for k in range(pattern.harmonics + 1)
    ]
    norm = sum(a for _, a in partials)
    edge = max(1, int(EDGE_MS * rate / 1000.0))
    values = []
    for i in range(n):
        v = sum(a * math.sin(w * i) for w, a in partials) / norm
        env = min(1.0, i / edge, (n - 1 - i) / edge)
        values.append(int(v * env * peak))
    return struct.pack(f"<{n}h", *values)


def pulse_onsets_in_pcm(pcm: bytes, sample_rate_hz: int, threshold: float = 0.05) -> list[float]:
    """Where sound starts after at least 20 ms of silence, in ms (a check that the generated
    samples carry the pattern, used by the tests and the station's self-check)."""
    count = len(pcm) // 2
    values = struct.unpack(f"<{count}h", pcm[: count * 2])
    level = threshold * 32767
    quiet_needed = int(0.020 * sample_rate_hz)
    onsets: list[float] = []
    quiet = quiet_needed
    for i, v in enumerate(values):
        if abs(v) >= level:
            if quiet >= quiet_needed:
                onsets.append(i * 1000.0 / sample_rate_hz)
            quiet = 0
        else:
            quiet += 1
    return onsets


@dataclass(frozen=True)
class Burst:
    """A burst to start now."""

    priority: str
    chair: str | None
    at: datetime


class ToneScheduler:
    """When to start a burst, driven by the caller's clock (call `step` about every 250 ms).

    `step(now, priority, chair)` gets the priority that should sound now (None: silence) and
    returns the burst to start, if any: at once when sound starts or the priority changes (a
    more urgent alarm, or the urgent one acknowledged while a lesser one still sounds), then
    every `repeat_s` of that priority."""

    def __init__(self, patterns: Mapping[str, TonePattern]) -> None:
        self.patterns = dict(patterns)
        self._current: str | None = None
        self._last: datetime | None = None

    @property
    def sounding(self) -> str | None:
        """The priority currently repeating, None when silent."""
        return self._current

    def step(self, now: datetime, priority: str | None, chair: str | None = None) -> Burst | None:
        """The burst to start at `now`, or None (keep going, or stay silent)."""
        pattern = self.patterns.get(priority) if priority else None
        if pattern is None or pattern.repeat_s <= 0:
            self._current, self._last = None, None
            return None
        if priority != self._current or self._last is None:
            self._current, self._last = priority, now
            return Burst(pattern.priority, chair, now)
        if (now - self._last).total_seconds() >= pattern.repeat_s:
            self._last = now
            return Burst(pattern.priority, chair, now)
        return None
