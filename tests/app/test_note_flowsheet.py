"""The signed note's flowsheet for a 2-hour session with a 1 Hz monitor: device data at the
clinic-set resolution, every manual entry and flagged reading in full, pulse rate as HR, a note of
a few pages whose flowsheet tables stay short (linear page splitting)."""

from __future__ import annotations

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


@pytest.fixture
def two_hours(ctx, clock):
    sess = monitored_session(ctx, clock, hours=2)
    with ctx.tx() as s:
        content = build_note_content(ctx, s, sess.session_id, clock.now(), 1, nurse="Ana Ruiz, RN")
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
