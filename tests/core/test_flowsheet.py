"""The flowsheet core: device readings per interval, everything else in full, nothing lost.

Property tests drive `FlowsheetBuilder` with random sessions fed in random batches and check the
invariants the screen and the note rely on; example tests pin the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nursestation.clinic import load_defaults
from nursestation.flowsheet import (
    FlowsheetBuilder,
    FlowsheetSettings,
    Reading,
    build_rows,
    heart_rate,
    interval_start,
    judge,
)
from nursestation.limits import VitalLimits
from nursestation.vitals import VitalsInput

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
LIMITS = VitalLimits.from_settings(load_defaults())
BASE = VitalsInput(sbp=124, dbp=80, hr=74, spo2=98)


def device(i: int, second: float, *, spo2: float = 97, pr: float | None = 75, hr=None) -> Reading:
    value, from_pulse = heart_rate(hr, pr)
    values = {"spo2": spo2} | ({"hr": value} if value is not None else {})
    return Reading(
        i,
        T0 + timedelta(seconds=second),
        "device",
        values,
        judge(values, BASE, LIMITS),
        hr_from_pulse=from_pulse,
    )


def manual(i: int, second: float, sbp: float = 126, supersedes: int | None = None) -> Reading:
    values = {"sbp": sbp, "dbp": 80.0, "hr": 76.0}
    return Reading(
        i,
        T0 + timedelta(seconds=second),
        "manual",
        values,
        judge(values, BASE, LIMITS),
        supersedes=supersedes,
    )


# ---------------------------------------------------------------- properties


@st.composite
def sessions(draw: st.DrawFn) -> list[Reading]:
    """A session: device readings about 1 Hz (some flagged), manual entries, corrections."""
    n = draw(st.integers(0, 120))
    out: list[Reading] = []
    second = 0.0
    for i in range(1, n + 1):
        second += draw(st.sampled_from([0.0, 0.4, 1.0, 1.0, 1.0, 7.0, 61.0]))
        kind = draw(st.sampled_from(["device"] * 8 + ["manual", "correction"]))
        if kind == "device":
            spo2 = draw(st.sampled_from([97, 98, 99, 93, 88]))
            hr = draw(st.sampled_from([None, None, 80, 130]))
            out.append(device(i, second, spo2=spo2, pr=draw(st.sampled_from([None, 75])), hr=hr))
        elif kind == "manual":
            out.append(manual(i, second - draw(st.sampled_from([0, 0, 600])), sbp=128))
        else:
            earlier = [r.id for r in out if r.id not in {x.supersedes for x in out}]
            if not earlier:
                continue
            target = draw(st.sampled_from(earlier))
            orig = next(r for r in out if r.id == target)
            sec = (orig.observed_at - T0).total_seconds()
            out.append(manual(i, sec, sbp=150, supersedes=target))
    return out


def _batches(draw: st.DrawFn, readings: list[Reading]) -> list[list[Reading]]:
    cuts = sorted(draw(st.lists(st.integers(0, len(readings)), max_size=12)))
    out, prev = [], 0
    for c in [*cuts, len(readings)]:
        out.append(readings[prev:c])
        prev = c
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), readings=sessions(), interval=st.sampled_from([10, 60, 300]))
def test_every_reading_is_covered_by_exactly_one_row(data, readings, interval) -> None:
    b = FlowsheetBuilder(interval)
    for batch in _batches(data.draw, readings):
        b.add(batch)
    covered = [i for row in b.rows for i in row.reading_ids]
    assert sorted(covered) == sorted(r.id for r in readings)  # none lost, none twice


@settings(max_examples=60, deadline=None)
@given(readings=sessions())
def test_flagged_manual_and_corrected_readings_are_shown_in_full(readings) -> None:
    rows = build_rows(readings, 60)
    full = {row.reading_ids[0] for row in rows if row.kind == "reading"}
    superseded = {r.supersedes for r in readings if r.supersedes is not None}
    for r in readings:
        if r.flags or r.source == "manual" or r.id in superseded:
            assert r.id in full, r
    # Interval rows hold device readings of their own interval only.
    by_id = {r.id: r for r in readings}
    for row in rows:
        if row.kind == "interval":
            assert row.reading_ids
            for i in row.reading_ids:
                r = by_id[i]
                assert r.source == "device" and not r.flags
                assert row.at <= r.observed_at < row.end


@settings(max_examples=50, deadline=None)
@given(data=st.data(), readings=sessions())
def test_incremental_changes_replayed_give_the_one_shot_rows(data, readings) -> None:
    """What a Qt model sees (removes, inserts, changes) rebuilds exactly the full result."""
    b = FlowsheetBuilder(60)
    mirror: list = []
    for batch in _batches(data.draw, readings):
        ch = b.add(batch)
        for i in ch.removed:
            del mirror[i]
        for i in ch.inserted:
            mirror.insert(i, b.rows[i])
        for i in ch.changed:
            mirror[i] = b.rows[i]
        assert mirror == b.rows
    assert b.rows == build_rows(readings, 60)
    assert [r.sort_key for r in b.rows] == sorted(r.sort_key for r in b.rows)


# ---------------------------------------------------------------- examples and boundaries


def test_interval_boundary_is_clock_aligned() -> None:
    assert interval_start(T0 + timedelta(seconds=59.999), 60) == T0
    assert interval_start(T0 + timedelta(seconds=60), 60) == T0 + timedelta(minutes=1)
    rows = build_rows([device(1, 59.999), device(2, 60.0)], 60)
    assert [(r.kind, r.reading_ids) for r in rows] == [("interval", (1,)), ("interval", (2,))]


def test_interval_row_has_last_value_and_flagged_min_max() -> None:
    readings = [device(i, i, spo2=97 + (i % 3)) for i in range(1, 40)]
    readings.append(device(40, 40, spo2=89))  # below the SpO2 limits: flagged
    readings.append(device(41, 50, spo2=96))
    rows = build_rows(readings, 60)
    interval, flagged = rows
    assert interval.kind == "interval" and interval.count == 41
    assert 40 not in interval.reading_ids and flagged.reading_ids == (40,)
    s = interval.summary["spo2"]
    assert (s.last, s.low, s.high) == (96, 89, 99)
    assert s.low_flag is not None and s.low_flag.direction == "low" and s.high_flag is None
    assert interval.value("spo2") == 96


def test_a_limit_is_not_crossed_at_the_limit_itself() -> None:
    # SpO2 advisory low is strict: the limit value itself is not flagged, one below is.
    low = LIMITS.params["spo2"].limit("advisory", "low")
    assert low is not None
    at, below = device(1, 1, spo2=low), device(2, 2, spo2=low - 1)
    assert not at.flags and below.flags
    rows = build_rows([at, below], 60)
    assert [r.kind for r in rows] == ["interval", "reading"]


def test_pulse_rate_counts_as_heart_rate_without_ecg() -> None:
    rows = build_rows([device(1, 1, pr=72), device(2, 2, pr=74)], 60)
    assert rows[0].hr_from_pulse and rows[0].value("hr") == 74
    rows = build_rows([device(1, 1, pr=72), device(2, 2, pr=74, hr=70)], 60)
    assert not rows[0].hr_from_pulse  # an ECG HR in the interval: not all from the pulse
    assert heart_rate(None, None) == (None, False)
    assert heart_rate(80, 72) == (80, False)


def test_correcting_a_device_reading_takes_it_out_of_its_interval() -> None:
    b = FlowsheetBuilder(60)
    b.add([device(1, 1), device(2, 2), device(3, 3)])
    assert [r.reading_ids for r in b.rows] == [(1, 2, 3)]
    ch = b.add([manual(4, 2, supersedes=2)])
    assert [r.reading_ids for r in b.rows] == [(1, 3), (2,), (4,)]
    assert ch.changed == [0] and ch.inserted == [1, 2] and not ch.removed
    assert b.rows[1].reading is not None and b.rows[1].reading.superseded_by == 4


def test_appending_a_second_in_the_same_interval_changes_one_row() -> None:
    b = FlowsheetBuilder(60)
    b.add([device(i, i) for i in range(1, 30)])
    ch = b.add([device(30, 30)])
    assert ch.inserted == [] and ch.changed == [0] and ch.removed == []
    ch = b.add([device(31, 61)])
    assert ch.inserted == [1] and ch.changed == []


def test_every_reading_mode_is_the_raw_stream() -> None:
    b = FlowsheetBuilder(60, every_reading=True)
    b.add([device(i, i) for i in range(1, 90)])
    assert [r.reading_ids for r in b.rows] == [(i,) for i in range(1, 90)]


def test_interval_setting_has_a_source() -> None:
    s = load_defaults()
    assert FlowsheetSettings.from_settings(s).interval_s == 60
    assert "§8.1" in (s.source("vitals.flowsheet_interval_s") or "")


@settings(max_examples=50, deadline=None)
@given(data=st.data(), readings=sessions())
def test_readings_in_any_order_give_the_one_shot_rows(data, readings) -> None:
    """The Vitals tab reads a long session newest page first, then older pages as the nurse
    scrolls, with new readings (a correction among them) in between: any order and batching
    must give the rows of the whole session read at once."""
    shuffled = data.draw(st.permutations(readings))
    b = FlowsheetBuilder(60)
    for batch in _batches(data.draw, list(shuffled)):
        b.add(batch)
    assert b.rows == build_rows(readings, 60)


def test_a_correction_read_before_its_original_marks_it_when_it_arrives() -> None:
    b = FlowsheetBuilder(60)
    b.add([manual(4, 2, supersedes=2)])  # the newest page: the correction only
    ch = b.add([device(1, 1), device(2, 2), device(3, 3)])  # the older page
    assert [r.reading_ids for r in b.rows] == [(1, 3), (2,), (4,)]
    assert b.rows[1].reading is not None and b.rows[1].reading.superseded_by == 4
    assert sorted(ch.inserted) == [0, 1] and not ch.removed
    assert b.rows == build_rows(
        [device(1, 1), device(2, 2), device(3, 3), manual(4, 2, supersedes=2)], 60
    )
