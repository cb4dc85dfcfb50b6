"""The audible alarm signals (issue 18): each priority's pulse pattern from the clinic settings
(clinical.md §7.1), the generated samples carry exactly that pattern, and the scheduler starts
bursts at once and then at each priority's repeat interval."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from support import T0

from nursestation.alarm_tones import (
    ToneScheduler,
    build_pattern,
    patterns_from_settings,
    pulse_onsets_in_pcm,
    render_pcm,
)
from nursestation.clinic import load_clinic_settings


@pytest.fixture(scope="module")
def patterns():
    return patterns_from_settings(load_clinic_settings(None))


def test_pulse_counts_and_repeat_intervals_per_priority(patterns) -> None:
    assert {p: t.pulse_count for p, t in patterns.items()} == {"high": 10, "medium": 3, "low": 2}
    assert {p: t.repeat_s for p, t in patterns.items()} == {"high": 10, "medium": 25, "low": 30}


def test_high_burst_is_three_then_two_twice(patterns) -> None:
    high = patterns["high"]
    onsets = [on for on, _ in high.pulses]
    gaps = [round(b - a) for a, b in itertools.pairwise(onsets)]
    # 150 ms pulses 100 ms apart (250 ms onset to onset), 250 ms between the 3 and the 2,
    # 600 ms between the two halves of the burst.
    assert gaps == [250, 250, 400, 250, 750, 250, 250, 400, 250]
    assert all(length == 150 for _, length in high.pulses)
    assert high.duration_ms == pytest.approx(onsets[-1] + 150)


def test_generated_samples_carry_the_pattern(patterns) -> None:
    for p in ("high", "medium", "low"):
        pattern = patterns[p]
        pcm = render_pcm(pattern)
        assert len(pcm) == 2 * round(pattern.duration_ms * pattern.sample_rate_hz / 1000)
        found = pulse_onsets_in_pcm(pcm, pattern.sample_rate_hz)
        expected = [on for on, _ in pattern.pulses]
        assert len(found) == len(expected), p
        assert all(abs(f - e) < 5 for f, e in zip(found, expected, strict=True)), (p, found)


def test_group_gaps_must_match_the_groups() -> None:
    spec = {"groups": [3, 2], "group_gaps_ms": [], "pulse_ms": 150, "spacing_ms": 100,
            "frequency_hz": 660}  # fmt: skip
    with pytest.raises(ValueError, match="needs 1 gap"):
        build_pattern("high", spec, 10)


def test_scheduler_starts_at_once_then_repeats_at_the_interval(patterns) -> None:
    sched = ToneScheduler(patterns)
    assert sched.step(T0, None) is None
    first = sched.step(T0, "high", "3")
    assert first is not None and (first.priority, first.chair, first.at) == ("high", "3", T0)
    assert sched.step(T0 + timedelta(seconds=9.9), "high", "3") is None  # just inside
    again = sched.step(T0 + timedelta(seconds=10), "high", "3")  # at the interval
    assert again is not None and again.at == T0 + timedelta(seconds=10)


def test_scheduler_change_of_priority_plays_at_once_and_silence_resets(patterns) -> None:
    sched = ToneScheduler(patterns)
    sched.step(T0, "medium")
    assert sched.step(T0 + timedelta(seconds=1), "medium") is None
    up = sched.step(T0 + timedelta(seconds=2), "high")
    assert up is not None and up.priority == "high"
    down = sched.step(T0 + timedelta(seconds=3), "medium")  # the high one acknowledged
    assert down is not None and down.priority == "medium"
    assert sched.step(T0 + timedelta(seconds=4), None) is None and sched.sounding is None
    back = sched.step(T0 + timedelta(seconds=5), "medium")
    assert back is not None  # not waiting out the old interval after silence


def test_a_priority_without_tone_stays_silent() -> None:
    settings = load_clinic_settings(None)
    data = settings.section("alarms")
    data["priorities"]["low"]["audio_repeat_s"] = 0  # the clinic chose no tone for low
    sched = ToneScheduler(patterns_from_settings(data))
    assert sched.step(T0, "low") is None and sched.sounding is None
