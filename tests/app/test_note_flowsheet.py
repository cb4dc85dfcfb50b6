"""The signed note's flowsheet for a 2-hour session with a 1 Hz monitor: device data at the
clinic-set resolution, every manual entry and flagged reading in full, pulse rate as HR, a note of
a few pages whose flowsheet tables stay short (linear page splitting)."""

from __future__ import annotations

import math
from datetime import UTC
from io import BytesIO

import pytest
from flowsheet_support import DESAT_SECONDS, HIGH_NIBP_MIN, monitored_session
from pypdf import PdfReader

from nursestation.app.notes import build_note_content
from nursestation.report.note_pdf import (
    FLOWSHEET_CHUNK,
    _flowsheet_section,
    _FlowsheetRows,
    _Fmt,
    render_note_pdf,
)


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory, _cheap_password_hashing):
    # Built once for the module (7,200 monitor rows): the tests below only read the returned
    # values (the stored session's figures and the note content), never the station.
    from pg_support import station_config
    from support import T0

    from nursestation.app.context import AppContext
    from nursestation.clock import FakeClock

    clock = FakeClock(T0)
    ctx = AppContext.open(
        station_config(tmp_path_factory.mktemp("two_hours")), clock=clock
    )
    try:
        sess = monitored_session(ctx, clock, hours=2)
        with ctx.tx() as s:
            content = build_note_content(
                ctx, s, sess.session_id, clock.now(), 1, nurse="Ana Ruiz, RN"
            )
    finally:
        ctx.close()
    return sess, content


def test_device_data_per_minute_and_everything_else_in_full(two_hours) -> None:
    sess, c = two_hours
    intervals = [v for v in c.vitals if v.kind == "interval"]
    full = [v for v in c.vitals if v.kind == "reading"]
    manual = [v for v in full if v.source == "manual"]
    flagged_device = [v for v in full if v.source != "manual"]
    assert c.vitals_interval_s == 60
    assert len(manual) == sess.manual_rows  # baseline + every 15 min
    # 20 s of SpO2 88 % and the two NIBPs above SBP 140: each reading in full, with its flag.
    assert len(flagged_device) == DESAT_SECONDS + len(HIGH_NIBP_MIN)
    assert all(v.flags for v in flagged_device)
    assert sum(1 for v in flagged_device if v.spo2 == 88) == DESAT_SECONDS
    # One row per minute of monitor data (the 2-hour stream starts one second after the start).
    assert 120 <= len(intervals) <= 121
    assert sum(v.count for v in intervals) == sess.device_rows
    assert len(c.vitals) == len(intervals) + len(full)
    # The desaturation minute names its flagged minimum.
    desat = [v for v in intervals if "spo2" in v.flags]
    assert len(desat) == 1 and desat[0].extremes["spo2"] == 88
    assert "min 88" in desat[0].flags["spo2"] and "critical" in desat[0].flags["spo2"]


def test_pulse_rate_is_the_heart_rate_when_there_is_no_ecg(two_hours) -> None:
    _sess, c = two_hours
    device_rows = [v for v in c.vitals if v.source != "manual"]
    assert device_rows and all(v.hr is not None and v.hr_from_pulse for v in device_rows)
    assert all(not v.hr_from_pulse for v in c.vitals if v.source == "manual")
    hr = next(s for s in c.chart_series if s.name == "HR")
    assert len(hr.points) >= 120  # charted at the flowsheet's resolution, not 7,200 points
    assert len(hr.points) < 300


def test_the_two_hour_note_is_a_few_pages_and_says_so(two_hours) -> None:
    _sess, c = two_hours
    pdf = render_note_pdf(c)
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) <= 8
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Monitor data at 1 min resolution" in text
    assert "PR" in text and "88▼" in text
    assert "full monitor stream is kept in the record" in text


def test_flowsheet_tables_are_chunked(two_hours) -> None:
    _sess, c = two_hours
    section = _flowsheet_section(c, _Fmt(UTC))
    runs = [t for t in section if isinstance(t, _FlowsheetRows)]
    assert len(runs) == -(-len(c.vitals) // FLOWSHEET_CHUNK)
    assert all(len(t.rows) <= FLOWSHEET_CHUNK for t in runs)
    assert sum(len(t.rows) for t in runs) == len(c.vitals)
    # A run that does not fit splits into two by whole rows, each with its heading.
    first = runs[0]
    _w, h = first.wrap(500, 10_000)
    top, rest = first.split(500, h / 2)
    assert len(top.rows) + len(rest.rows) == len(first.rows) and top.rows and rest.rows
    assert first.split(500, 1) == []  # not even one row fits: the run moves to the next page


def test_a_coarser_clinic_interval_gives_fewer_rows(ctx, clock) -> None:
    ctx.settings = ctx.settings.with_overrides({"vitals": {"flowsheet_interval_s": 300}}, "test")
    sess = monitored_session(ctx, clock, hours=0.5)
    with ctx.tx() as s:
        c = build_note_content(ctx, s, sess.session_id, clock.now(), 1)
    intervals = [v for v in c.vitals if v.kind == "interval"]
    assert c.vitals_interval_s == 300 and 6 <= len(intervals) <= 7
    assert sum(v.count for v in intervals) == sess.device_rows


def test_the_interval_setting_is_bounded(ctx) -> None:
    from nursestation.clinic import ConfigError

    with pytest.raises(ConfigError):
        ctx.settings.with_overrides({"vitals": {"flowsheet_interval_s": 9}}, "test")
    ctx.settings.with_overrides({"vitals": {"flowsheet_interval_s": 10}}, "test")
    with pytest.raises(ConfigError):
        ctx.settings.with_overrides({"vitals": {"flowsheet_interval_s": 901}}, "test")


# ---------------------------------------------------------------- the Vitals tab's pages


def _device_ids_in_order(ctx, sid: int, *, nibp: bool = False) -> list[int]:
    from sqlalchemy import select

    from nursestation.db.models import VitalReading

    stmt = select(VitalReading.id).where(
        VitalReading.session_id == sid, VitalReading.source == "device"
    )
    if nibp:
        stmt = stmt.where(VitalReading.sbp.is_not(None))
    with ctx.tx() as s:
        return list(s.execute(stmt.order_by(VitalReading.observed_at, VitalReading.id)).scalars())


def test_the_newest_page_then_older_pages_give_the_rows_of_the_whole_session(ctx, clock) -> None:
    """How the Vitals tab reads a 2-hour session: the newest half hour on open, a correction of
    an early reading stored meanwhile (read through `flowsheet_since` before its original),
    then older pages until none is left. The rows are those of the whole session read at once
    (flagged minima, manual entries, corrections, intervals across page edges), each reading
    read by exactly one page."""
    from datetime import timedelta

    from nursestation.app.flowsheet import (
        FIRST_WINDOW_S,
        PAGE_S,
        flowsheet_older,
        flowsheet_open,
        flowsheet_since,
    )
    from nursestation.app.vitals import correct_vitals
    from nursestation.flowsheet import FlowsheetBuilder, build_rows, interval_start

    sess = monitored_session(ctx, clock, hours=2)
    sid, nurse = sess.session_id, sess.nurse
    first = flowsheet_open(ctx, nurse, sid)
    newest = max(r.observed_at for r in first.readings)
    assert first.older
    assert first.start == interval_start(newest - timedelta(seconds=FIRST_WINDOW_S), 60)
    assert min(r.observed_at for r in first.readings) == first.start  # a reading a second
    assert len(first.readings) <= FIRST_WINDOW_S + 60 + 3  # bounded: not the 7,200 of 2 h
    early = _device_ids_in_order(ctx, sid)[100]  # in the oldest page
    correct_vitals(ctx, nurse, early, {"spo2": 91}, "probe off the finger")

    b = FlowsheetBuilder(first.interval_s)
    b.add(first.readings)
    since = flowsheet_since(ctx, nurse, sid, first.last_id)
    assert [r.supersedes for r in since.readings] == [early]
    b.add(since.readings)
    pages = [first.readings]
    page = first
    while page.older:
        assert page.start is not None
        page = flowsheet_older(ctx, nurse, sid, page.start)
        assert all(r.observed_at < pages[-1][0].observed_at for r in page.readings)
        pages.append(page.readings)
        b.add(page.readings)
    whole = flowsheet_since(ctx, nurse, sid, 0)
    oldest = min(r.observed_at for r in whole.readings)
    older_s = (first.start - oldest).total_seconds()
    assert older_s > 3 * PAGE_S  # the newest half hour, then four older half hours
    assert len(pages) == 1 + math.ceil(older_s / PAGE_S) == 5
    ids = [r.id for p in pages for r in p]
    assert sorted(ids) == sorted(r.id for r in whole.readings)  # none twice, none missed
    assert b.rows == build_rows(whole.readings, whole.interval_s)
    corrected = next(r for r in b.rows if r.reading is not None and r.reading.id == early)
    assert corrected.reading is not None and corrected.reading.superseded_by is not None
    flagged = [r for r in b.rows if r.kind == "interval" and "spo2" in r.summary]
    assert any(r.summary["spo2"].low == 88 and r.summary["spo2"].low_flag for r in flagged)


def test_the_trend_history_is_the_per_interval_envelope_of_the_readings(ctx, clock) -> None:
    """`trend_history` (SQL, per interval) against the same envelope computed in Python over the
    stored readings: highest and lowest of each series per interval of current device readings
    (a corrected one left out, HR from the pulse rate), manual readings in full."""
    from collections import defaultdict

    from nursestation.app.flowsheet import flowsheet_since, trend_history
    from nursestation.app.vitals import correct_vitals
    from nursestation.flowsheet import interval_start

    sess = monitored_session(ctx, clock, hours=1)
    sid, nurse = sess.session_id, sess.nurse
    # The first NIBP (SBP 128, alone in its minute) corrected to 131: the minute's device SBP
    # is gone from the envelope and 131 is charted as the (manual) correction.
    nibp = _device_ids_in_order(ctx, sid, nibp=True)[0]
    correct_vitals(ctx, nurse, nibp, {"sbp": 131}, "cuff size")
    whole = flowsheet_since(ctx, nurse, sid, 0).readings
    end = max(r.observed_at for r in whole)  # the newest reading is left out: [start, end)
    current = [r for r in whole if r.superseded_by is None and r.observed_at < end]
    corrected = {r.supersedes for r in whole if r.supersedes is not None}
    current = [r for r in current if r.id not in corrected]
    per: dict = defaultdict(lambda: defaultdict(list))
    manual: dict = defaultdict(list)
    for r in current:
        for key in ("sbp", "dbp", "map", "hr", "spo2"):
            if key in r.values:
                if r.source == "device":
                    per[key][interval_start(r.observed_at, 60)].append(r.values[key])
                else:
                    manual[key].append((r.observed_at.timestamp(), r.values[key]))
    pages = []
    before = end
    while True:
        page = trend_history(ctx, nurse, sid, before, 1800)
        pages.append(page)
        if not page.older:
            break
        before = page.start
    assert len(pages) == 3  # 1 h 1 min in half-hour pages
    for key in ("sbp", "dbp", "map", "hr", "spo2"):
        expected = []
        for start, values in sorted(per[key].items()):
            x = start.timestamp() + 30
            high, low = max(values), min(values)
            expected += [(x, high), (x, low)] if high != low else [(x, high)]
        expected = sorted(expected + manual[key], key=lambda p: p[0])
        got = [pt for page in reversed(pages) for pt in zip(*page.points[key], strict=True)]
        assert sorted(got, key=lambda p: p[0]) == expected, key
    # The corrected NIBP's minute has no device SBP left; the correction is charted in full.
    at = next(r.observed_at for r in whole if r.id == nibp)
    assert interval_start(at, 60) not in per["sbp"]
    sbp = [pt for page in pages for pt in zip(*page.points["sbp"], strict=True)]
    minute = interval_start(at, 60).timestamp() + 30
    assert (at.timestamp(), 131.0) in sbp and (minute, 128.0) not in sbp
