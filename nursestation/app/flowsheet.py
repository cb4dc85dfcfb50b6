"""The flowsheet's readings, read incrementally: only the readings stored since the screen last
asked, judged against the session's baseline and the clinic limits (nursestation.flowsheet
groups them into rows). A 2-hour session at 1 Hz holds 7,200 readings; re-reading them every
two seconds is what froze the Vitals tab.

Opening a session reads a bounded part of its history (issue 19: the open must not grow with the
session): `flowsheet_open` gives the readings of the newest `FIRST_WINDOW_S` (clock-aligned to the
flowsheet interval, so every interval row it makes is complete), `flowsheet_older` the page before
a given time (the screen asks as the nurse scrolls down), `flowsheet_since` what was stored after
the screen's last look. Pages and appends together give exactly the rows of the whole session.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.session_rows import get_session_row
from nursestation.db.models import User, VitalReading
from nursestation.flowsheet import (
    FlowsheetSettings,
    Judge,
    Reading,
    heart_rate,
    interval_start,
    reading_of,
)
from nursestation.limits import VitalLimits
from nursestation.vitals import VitalsInput
from nursestation.wording import device_text

VITAL_COLUMNS = (
    VitalReading.id, VitalReading.observed_at, VitalReading.recorded_at, VitalReading.sbp,
    VitalReading.dbp, VitalReading.map, VitalReading.hr, VitalReading.pulse_rate,
    VitalReading.spo2, VitalReading.rr, VitalReading.etco2, VitalReading.temp_c,
    VitalReading.sedation_scale, VitalReading.sedation_score, VitalReading.source,
    VitalReading.entered_by, VitalReading.device_port, VitalReading.device_protocol,
    VitalReading.device_id, VitalReading.late, VitalReading.supersedes_id,
    VitalReading.correction_reason,
)  # fmt: skip
StoredVital = namedtuple("StoredVital", [c.key for c in VITAL_COLUMNS])  # type: ignore[misc]

# Not clinical numbers: how much history the Vitals tab reads at once. On open, the newest half
# hour (about 1,800 monitor readings, a screenful of flowsheet rows and the newest part of the
# trend at full resolution); scrolling down reads another half hour of rows at a time; the
# trend's older part is read an hour at a time (aggregated in SQL: one row per interval).
FIRST_WINDOW_S = 1800
PAGE_S = 1800
HISTORY_PAGE_S = 3600


def stored_vitals(s: Session, session_id: int, after_id: int = 0) -> list[Any]:
    """The session's stored readings with an id above `after_id` (device stream included), in
    observed order, as named tuples (StoredVital): ORM objects, and SQLAlchemy rows whose
    attribute access is slow, cost several times more for thousands of rows."""
    rows = s.execute(
        select(*VITAL_COLUMNS)
        .where(VitalReading.session_id == session_id, VitalReading.id > after_id)
        .order_by(VitalReading.observed_at, VitalReading.id)
    )
    return [StoredVital._make(r) for r in rows]


def stored_vitals_between(
    s: Session, session_id: int, start: datetime | None, end: datetime | None
) -> list[Any]:
    """The session's readings observed at or after `start` and before `end` (None: no bound),
    in observed order, as `stored_vitals` gives them; one range of the (session_id,
    observed_at) index."""
    stmt = select(*VITAL_COLUMNS).where(VitalReading.session_id == session_id)
    if start is not None:
        stmt = stmt.where(VitalReading.observed_at >= start)
    if end is not None:
        stmt = stmt.where(VitalReading.observed_at < end)
    rows = s.execute(stmt.order_by(VitalReading.observed_at, VitalReading.id))
    return [StoredVital._make(r) for r in rows]


def observed_span(s: Session, session_id: int) -> tuple[datetime | None, datetime | None]:
    """When the session's first and newest readings were observed (two index steps)."""
    first = s.execute(
        select(func.min(VitalReading.observed_at)).where(VitalReading.session_id == session_id)
    ).scalar_one()
    last = s.execute(
        select(func.max(VitalReading.observed_at)).where(VitalReading.session_id == session_id)
    ).scalar_one()
    return first, last


@dataclass(frozen=True)
class RowInfo:
    """What the screen prints about one reading besides its values (the Reading's payload)."""

    id: int
    observed_at: datetime
    recorded_at: datetime
    source_detail: str
    late: bool
    supersedes_id: int | None
    correction_reason: str | None
    sedation_scale: str | None
    sedation_score: float | None


@dataclass(frozen=True)
class FlowsheetDelta:
    """Readings stored after `after_id`. `basis` changes when the readings must be judged again
    (another baseline, other limits or interval): the screen then starts over from id 0."""

    session_id: int
    readings: tuple[Reading, ...]
    last_id: int
    basis: tuple[Any, ...]
    interval_s: int
    # Pages (flowsheet_open / flowsheet_older): the readings observed from `start` on (None: from
    # the session's first reading), and whether older readings remain before it.
    start: datetime | None = None
    older: bool = False


def flowsheet_since(
    ctx: AppContext, actor: Actor, session_id: int, after_id: int = 0
) -> FlowsheetDelta:
    """The session's readings stored after `after_id`, judged (flags) against the pre-infusion
    baseline and the clinic limits, HR from the pulse rate when there is no ECG HR. With
    `after_id` 0 this is the whole session: the screen opens with `flowsheet_open` instead."""
    with _reading(ctx, actor, session_id) as (s, judged, interval_s):
        rows = stored_vitals(s, session_id, after_id)
        return _delta(s, session_id, rows, judged, interval_s, after_id)


def flowsheet_open(
    ctx: AppContext, actor: Actor, session_id: int, window_s: int = FIRST_WINDOW_S
) -> FlowsheetDelta:
    """What the Vitals tab reads when a session is opened: the readings observed in the newest
    `window_s` seconds of the session (from the start of the flowsheet interval holding the
    newest reading minus `window_s`), so the cost does not grow with the session's length.
    `last_id` is the highest id read: a later `flowsheet_since(last_id)` returns everything
    stored afterwards (a reading stored late for an earlier time as well); `older` says whether
    `flowsheet_older(start)` has more."""
    with _reading(ctx, actor, session_id) as (s, judged, interval_s):
        first, newest = observed_span(s, session_id)
        start: datetime | None = None
        if newest is not None and first is not None:
            start = interval_start(newest - timedelta(seconds=window_s), interval_s)
            if start <= first:
                start = None  # the whole session fits
        rows = stored_vitals_between(s, session_id, start, None)
        delta = _delta(s, session_id, rows, judged, interval_s, 0)
        return _paged(delta, start)


def flowsheet_older(
    ctx: AppContext, actor: Actor, session_id: int, before: datetime, span_s: int = PAGE_S
) -> FlowsheetDelta:
    """The page of readings observed in the `span_s` seconds before `before` (clock-aligned to
    the flowsheet interval), judged as `flowsheet_since` judges them. `last_id` is not a
    position for `flowsheet_since` here (0): the screen keeps its own."""
    with _reading(ctx, actor, session_id) as (s, judged, interval_s):
        start = _page_start(s, session_id, before, span_s, interval_s)
        rows = stored_vitals_between(s, session_id, start, before)
        delta = _delta(s, session_id, rows, judged, interval_s, 0)
        return _paged(replace(delta, last_id=0), start)


@contextmanager
def _reading(
    ctx: AppContext, actor: Actor, session_id: int
) -> Iterator[tuple[Session, Judge, int]]:
    """Role check, then one read transaction (plain BEGIN: the GUI does not wait for a note
    being stored) with the session checked, its judge and the clinic's flowsheet interval."""
    from nursestation.app.alarms import session_baseline

    ctx.require(actor, "view_session")
    limits = VitalLimits.from_settings(ctx.settings)
    interval_s = FlowsheetSettings.from_settings(ctx.settings).interval_s
    with ctx.read_tx() as s:
        get_session_row(s, session_id)
        base: VitalsInput | None = session_baseline(s, session_id)
        yield s, Judge(base, limits), interval_s


def _delta(
    s: Session, session_id: int, rows: list[Any], judged: Judge, interval_s: int, after_id: int
) -> FlowsheetDelta:
    names: dict[int, str] = {}
    if any(r.source == "manual" for r in rows):
        names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    readings = tuple(reading_of(r, judged, payload=_info(r, names)) for r in rows)
    last = max((r.id for r in rows), default=after_id)
    basis = (judged.baseline, judged.limits, interval_s)
    return FlowsheetDelta(session_id, readings, last, basis, interval_s)


def _page_start(
    s: Session, session_id: int, before: datetime, span_s: int, interval_s: int
) -> datetime | None:
    """Where the page of `span_s` seconds before `before` starts (clock-aligned to the
    interval), None when it reaches back to the session's first reading."""
    first, _newest = observed_span(s, session_id)
    start = interval_start(before - timedelta(seconds=span_s), interval_s)
    return None if first is None or start <= first else start


def _paged(delta: FlowsheetDelta, start: datetime | None) -> FlowsheetDelta:
    return replace(delta, start=start, older=start is not None)


def _info(r: Any, names: dict[int, str]) -> RowInfo:
    if r.source == "manual":
        detail = f"manual, {names.get(r.entered_by or 0, 'unknown user')}"
    else:
        detail = device_text(r)
    return RowInfo(
        r.id,
        r.observed_at,
        r.recorded_at,
        detail,
        bool(r.late),
        r.supersedes_id,
        r.correction_reason,
        r.sedation_scale,
        r.sedation_score,
    )


@dataclass(frozen=True)
class TrendHistory:
    """The trend of a span of a session's older history, drawn at the flowsheet's resolution:
    per interval the highest and the lowest device value of each series (both at the interval's
    middle, as pyqtgraph's peak downsampling draws a dense stream; one point when they are
    equal), manual readings in full at their time. `points[key]` = (times as epoch seconds,
    values), in time order."""

    start: datetime | None  # None: from the session's first reading
    end: datetime
    points: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    older: bool  # readings remain before `start`


def trend_history(
    ctx: AppContext, actor: Actor, session_id: int, before: datetime, span_s: int = HISTORY_PAGE_S
) -> TrendHistory:
    """The trend of the `span_s` seconds before `before` (clock-aligned to the flowsheet
    interval), per interval in SQL (`queries.trend_envelope`): the chart of a session's older
    part, read a page at a time after the session is on screen."""
    from nursestation.db.queries import TREND_SERIES, trend_envelope

    ctx.require(actor, "view_session")
    interval_s = FlowsheetSettings.from_settings(ctx.settings).interval_s
    with ctx.read_tx() as s:
        get_session_row(s, session_id)
        start = _page_start(s, session_id, before, span_s, interval_s)
        envelope = trend_envelope(s, session_id, start, before, interval_s)
        manual = _manual_between(s, session_id, start, before)
    half = interval_s / 2
    per: dict[str, list[tuple[float, float]]] = {k: [] for k in TREND_SERIES}
    for at, values in envelope:
        x = at.timestamp() + half
        for key, (low, high) in values.items():
            per[key] += [(x, high), (x, low)] if high != low else [(x, high)]
    for r in manual:
        hr, _from_pulse = heart_rate(r.hr, r.pulse_rate)
        for key, v in (("sbp", r.sbp), ("dbp", r.dbp), ("map", r.map), ("hr", hr),
                       ("spo2", r.spo2)):  # fmt: skip
            if v is not None:
                per[key].append((r.observed_at.timestamp(), float(v)))
    points = {}
    for key, pts in per.items():
        pts.sort(key=lambda p: p[0])  # stable: an interval's high stays before its low
        points[key] = (tuple(p[0] for p in pts), tuple(p[1] for p in pts))
    return TrendHistory(start, before, points, start is not None)


def _manual_between(
    s: Session, session_id: int, start: datetime | None, end: datetime
) -> list[Any]:
    """Current (not corrected) readings other than the monitor's observed in [start, end)."""
    replaced = select(VitalReading.supersedes_id).where(
        VitalReading.session_id == session_id, VitalReading.supersedes_id.is_not(None)
    )
    stmt = select(*VITAL_COLUMNS).where(
        VitalReading.session_id == session_id,
        VitalReading.source != "device",
        VitalReading.observed_at < end,
        VitalReading.id.not_in(replaced),
    )
    if start is not None:
        stmt = stmt.where(VitalReading.observed_at >= start)
    return [StoredVital._make(r) for r in s.execute(stmt.order_by(VitalReading.observed_at))]
