"""The flowsheet as rows a person can read: device data per clinic-set interval, everything else in
full (pure: no Qt, no SQL).

A monitor sends about one reading a second. Anaesthesia record systems chart monitor values at
one-minute resolution and keep the full stream as data (clinical.md §8.1 [S58]); so do we:

- device readings are grouped per interval (`vitals.flowsheet_interval_s`, aligned to the clock):
  one *interval* row with the last value of each parameter and its minimum and maximum, each
  extreme carrying its limit flag when it crossed a limit;
- manual entries, every flagged (limit-crossing) reading, corrected originals and corrections are
  *reading* rows, shown in full;
- every raw reading is covered by exactly one row (`FlowRow.reading_ids`), so a row can be
  expanded to the stream it stands for and nothing is lost.

Heart rate: an oximeter's pulse rate counts as HR when the reading has no ECG heart rate
(`Reading.hr_from_pulse` says so, and the screens and the note show it).

`FlowsheetBuilder` takes readings as they arrive and reports which rows were inserted, changed or
removed, so a Qt model can follow it with beginInsertRows/dataChanged instead of a reset;
`build_rows` is the one-shot form the note uses.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nursestation.clinic import ClinicSettings
from nursestation.limits import LimitBreach, VitalLimits, evaluate
from nursestation.vitals import VitalsInput

PARAMS: tuple[str, ...] = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c")
INTERVAL_KEY = "vitals.flowsheet_interval_s"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Not a clinical number: above this many new rows at once, one merged sort beats bisect inserts.
BULK_INSERT_ROWS = 16

@dataclass(frozen=True)
class FlowsheetSettings:
    """How device readings are charted on screen and in the note."""

    interval_s: int

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> FlowsheetSettings:
        """Read `vitals.flowsheet_interval_s` (bounds checked by the settings loader)."""
        return cls(int(settings.get(INTERVAL_KEY)))


@dataclass(frozen=True)
class Reading:
    """One stored reading as the flowsheet needs it.

    `values` holds the numeric vitals present (PARAMS names); its "hr" is the ECG heart rate, or
    the oximeter pulse rate when there is none (`hr_from_pulse`). `flags` are the limit breaches of
    those values. `superseded_by` / `supersedes` link a correction and its original.
    """

    id: int
    observed_at: datetime
    source: str  # manual | device
    values: Mapping[str, float]
    flags: Mapping[str, LimitBreach] = field(default_factory=dict)
    hr_from_pulse: bool = False
    superseded_by: int | None = None
    supersedes: int | None = None
    payload: Any = None  # the caller's own record (shown by the screen or the note), untouched

    @property
    def flagged(self) -> bool:
        """Whether any value crossed a limit."""
        return bool(self.flags)

    @property
    def in_full(self) -> bool:
        """Shown as its own row: manual entries, flagged readings, corrections and originals."""
        return (
            self.source != "device"
            or self.flagged
            or self.superseded_by is not None
            or self.supersedes is not None
        )


def heart_rate(hr: float | None, pulse_rate: float | None) -> tuple[float | None, bool]:
    """The HR to chart: the ECG heart rate, else the pulse rate; and whether it is the pulse."""
    if hr is not None:
        return hr, False
    return pulse_rate, pulse_rate is not None


def judge(
    values: Mapping[str, float | None],
    baseline: VitalsInput | None,
    limits: VitalLimits,
    *,
    sedation_scale: str | None = None,
    sedation_score: float | None = None,
) -> dict[str, LimitBreach]:
    """The limit breaches of one reading by parameter (the clinic's `limits.evaluate`)."""
    vi = VitalsInput(
        **{p: values.get(p) for p in PARAMS},
        sedation_scale=sedation_scale,
        sedation_score=sedation_score,
    )
    return {b.param: b for b in evaluate(vi, baseline, limits)}


class Judge:
    """`judge` for one session's baseline and limits, remembering answers: a monitor sends the
    same values many times over, and the flowsheet of a long session judges thousands."""

    def __init__(self, baseline: VitalsInput | None, limits: VitalLimits) -> None:
        self.baseline = baseline
        self.limits = limits
        self._memo: dict[tuple[Any, ...], dict[str, LimitBreach]] = {}

    def __call__(
        self,
        values: Mapping[str, float | None],
        *,
        sedation_scale: str | None = None,
        sedation_score: float | None = None,
        with_baseline: bool = True,
    ) -> dict[str, LimitBreach]:
        """The breaches of `values` (judged against the baseline unless `with_baseline` is
        False, as for the baseline reading itself)."""
        return self.of(
            tuple(values.get(p) for p in PARAMS), sedation_scale, sedation_score, with_baseline
        )

    def of(
        self,
        values: tuple[float | None, ...],
        sedation_scale: str | None,
        sedation_score: float | None,
        with_baseline: bool,
    ) -> dict[str, LimitBreach]:
        """As calling it, with the values as a tuple in PARAMS order (the memo key)."""
        key = (values, sedation_scale, sedation_score, with_baseline)
        found = self._memo.get(key)
        if found is None:
            found = judge(
                dict(zip(PARAMS, values, strict=True)),
                self.baseline if with_baseline else None,
                self.limits,
                sedation_scale=sedation_scale,
                sedation_score=sedation_score,
            )
            self._memo[key] = found
        return found


def reading_of(
    row: Any,
    judged: Judge,
    *,
    superseded_by: int | None = None,
    is_baseline: bool = False,
    payload: Any = None,
) -> Reading:
    """A `Reading` from a stored row (anything with the vital_readings column names as
    attributes: id, observed_at, source, sbp … temp_c, hr, pulse_rate, supersedes_id,
    sedation_scale, sedation_score), judged against the limits."""
    hr, from_pulse = heart_rate(row.hr, getattr(row, "pulse_rate", None))
    values = (row.sbp, row.dbp, row.map, hr, row.spo2, row.rr, row.etco2, row.temp_c)
    flags = judged.of(values, row.sedation_scale, row.sedation_score, not is_baseline)
    return Reading(
        row.id,
        row.observed_at,
        "device" if row.source == "device" else "manual",
        {p: float(v) for p, v in zip(PARAMS, values, strict=True) if v is not None},
        flags,
        hr_from_pulse=from_pulse,
        superseded_by=superseded_by,
        supersedes=row.supersedes_id,
        payload=payload,
    )


@dataclass(frozen=True)
class ParamSummary:
    """One parameter over an interval: last value, minimum and maximum with their flags."""

    last: float
    low: float
    high: float
    low_flag: LimitBreach | None = None
    high_flag: LimitBreach | None = None

    @property
    def flags(self) -> tuple[LimitBreach, ...]:
        """The flagged extremes (none when the interval stayed within limits)."""
        out = [f for f in (self.low_flag, self.high_flag) if f is not None]
        if len(out) == 2 and out[0] == out[1]:
            out.pop()
        return tuple(out)


@dataclass(frozen=True)
class FlowRow:
    """One flowsheet row: a reading shown in full, or an interval of device readings.

    `reading_ids` are the raw readings this row covers (each reading is covered by exactly one
    row). An interval row's `summary` describes every current device reading of the interval,
    including the flagged ones that also have their own row, so its minimum and maximum are what
    the monitor showed during that interval.
    """

    kind: str  # reading | interval
    at: datetime  # observed time of the reading, or start of the interval
    end: datetime  # = at for a reading; end of the interval (exclusive)
    reading_ids: tuple[int, ...]
    reading: Reading | None = None
    summary: Mapping[str, ParamSummary] = field(default_factory=dict)
    hr_from_pulse: bool = False
    count: int = 0  # readings summarised (interval rows)
    last_at: datetime | None = None  # the reading the interval's last values come from

    @property
    def key(self) -> tuple[str, Any]:
        """Stable identity across updates: the reading id, or the interval start."""
        return (
            ("interval", self.at) if self.kind == "interval" else ("reading", self.reading_ids[0])
        )

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        """Time order; an interval sorts before the readings inside it."""
        if self.kind == "interval":
            return (self.at, 0, 0)
        return (self.at, 1, self.reading_ids[0])

    def value(self, param: str) -> float | None:
        """The value shown in a parameter's column: the reading's, or the interval's last."""
        if self.reading is not None:
            return self.reading.values.get(param)
        s = self.summary.get(param)
        return None if s is None else s.last


@dataclass
class Changes:
    """What one `FlowsheetBuilder.add` did to the row list, as indexes into the final list."""

    inserted: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # indexes before the insertions

    def __bool__(self) -> bool:
        return bool(self.inserted or self.changed or self.removed)


def interval_start(when: datetime, interval_s: int) -> datetime:
    """The start of the clock-aligned interval holding `when`."""
    seconds = (when - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % interval_s)


class FlowsheetBuilder:
    """Keeps the flowsheet rows of one session up to date as readings arrive.

    `add` takes new readings (in any order; a correction names its original in `supersedes`)
    and returns the row changes; only the rows the new readings touch are recomputed, so the
    cost of a batch does not grow with the session's history. With `every_reading` each reading
    is its own row (the raw stream, for "show every reading").
    """

    def __init__(self, interval_s: int, *, every_reading: bool = False) -> None:
        if interval_s < 1:
            raise ValueError("interval_s must be at least 1 second")
        self.interval_s = interval_s
        self.interval = timedelta(seconds=interval_s)
        self.every_reading = every_reading
        self.rows: list[FlowRow] = []
        self.readings: dict[int, Reading] = {}
        self._keys: list[tuple[datetime, int, int]] = []  # sort keys of self.rows
        self._device_in: dict[datetime, dict[int, Reading]] = {}  # interval start -> readings
        self._row_of: dict[tuple[str, Any], FlowRow] = {}
        # original id -> the newest correction seen, also before the original itself arrives:
        # the screen loads a long session page by page, newest first, so a correction can come
        # before the reading it corrects.
        self._corrected_by: dict[int, int] = {}

    # ------------------------------------------------------------------ input

    def add(self, new: Iterable[Reading]) -> Changes:
        """Take new readings, in any order and batching; return the row changes.

        To follow them, apply `removed` (indexes into the previous list, highest first), then
        `inserted` (indexes into the new list, lowest first), then `changed` (new list)."""
        touched: set[tuple[str, Any]] = set()
        for r in new:
            if r.id in self.readings:
                continue
            if r.supersedes is not None:
                newest = max(r.id, self._corrected_by.get(r.supersedes, 0))
                self._corrected_by[r.supersedes] = newest
                old = self.readings.get(r.supersedes)
                if old is not None and old.superseded_by != newest:
                    self._forget(old, touched)
                    self._take(replace(old, superseded_by=newest), touched)
            later = self._corrected_by.get(r.id)
            if later is not None and r.superseded_by != later:
                r = replace(r, superseded_by=later)
            self._take(r, touched)
        return self._apply(touched)

    def _shown_in_full(self, r: Reading) -> bool:
        return self.every_reading or r.in_full

    def _take(self, r: Reading, touched: set[tuple[str, Any]]) -> None:
        self.readings[r.id] = r
        if r.source == "device" and not self.every_reading:
            start = interval_start(r.observed_at, self.interval_s)
            self._device_in.setdefault(start, {})[r.id] = r
            touched.add(("interval", start))
        if self._shown_in_full(r):
            touched.add(("reading", r.id))

    def _forget(self, r: Reading, touched: set[tuple[str, Any]]) -> None:
        del self.readings[r.id]
        if r.source == "device" and not self.every_reading:
            start = interval_start(r.observed_at, self.interval_s)
            self._device_in[start].pop(r.id, None)
            touched.add(("interval", start))
        touched.add(("reading", r.id))

    # ------------------------------------------------------------------ rows

    def _row_for(self, key: tuple[str, Any]) -> FlowRow | None:
        kind, ident = key
        if kind == "reading":
            r = self.readings.get(ident)
            if r is None or not self._shown_in_full(r):
                return None
            return FlowRow(
                "reading", r.observed_at, r.observed_at, (r.id,), r, hr_from_pulse=r.hr_from_pulse
            )
        return _interval_row(
            ident, ident + self.interval, list(self._device_in.get(ident, {}).values())
        )

    def _apply(self, touched: set[tuple[str, Any]]) -> Changes:
        ch = Changes()
        gone: list[FlowRow] = []
        fresh: list[FlowRow] = []
        updated: list[FlowRow] = []
        for key in touched:
            before = self._row_of.get(key)
            after = self._row_for(key)
            if before is not None and after is not None and before.sort_key == after.sort_key:
                if before != after:
                    updated.append(after)
                continue
            if before is not None:
                gone.append(before)
            if after is not None:
                fresh.append(after)
        for row in updated:
            self.rows[self._index(row)] = row
            self._row_of[row.key] = row
        ch.removed = sorted((self._index(r) for r in gone), reverse=True)
        for i in ch.removed:
            del self._row_of[self.rows.pop(i).key]
            del self._keys[i]
        if len(fresh) > BULK_INSERT_ROWS:
            # A bulk load: one sort of the merged list instead of many list inserts.
            self.rows = sorted(self.rows + fresh, key=lambda r: r.sort_key)
            self._keys = [r.sort_key for r in self.rows]
            for row in fresh:
                self._row_of[row.key] = row
        else:
            for row in fresh:
                i = bisect.bisect_left(self._keys, row.sort_key)
                self.rows.insert(i, row)
                self._keys.insert(i, row.sort_key)
                self._row_of[row.key] = row
        ch.inserted = sorted(self._index(r) for r in fresh)
        ch.changed = sorted(self._index(r) for r in updated)
        return ch

    def _index(self, row: FlowRow) -> int:
        i = bisect.bisect_left(self._keys, row.sort_key)
        if i >= len(self.rows) or self.rows[i].key != row.key:
            raise KeyError(row.key)
        return i


def _interval_row(start: datetime, end: datetime, readings: Sequence[Reading]) -> FlowRow | None:
    covered = tuple(sorted(r.id for r in readings if not r.in_full))
    if not covered:
        # Every reading of the interval has its own row: a summary would add nothing.
        return None
    current = sorted(
        (r for r in readings if r.superseded_by is None), key=lambda r: (r.observed_at, r.id)
    )
    summary: dict[str, ParamSummary] = {}
    for p in PARAMS:
        points = [(r.values[p], r.flags.get(p)) for r in current if r.values.get(p) is not None]
        if not points:
            continue
        low = min(points, key=lambda pt: pt[0])
        high = max(points, key=lambda pt: pt[0])
        low_flag = next((f for v, f in points if v == low[0] and f is not None), None)
        high_flag = next((f for v, f in points if v == high[0] and f is not None), None)
        summary[p] = ParamSummary(points[-1][0], low[0], high[0], low_flag, high_flag)
    with_hr = [r for r in current if r.values.get("hr") is not None]
    return FlowRow(
        "interval",
        start,
        end,
        covered,
        None,
        summary,
        hr_from_pulse=bool(with_hr) and all(r.hr_from_pulse for r in with_hr),
        count=len(current),
        last_at=current[-1].observed_at if current else None,
    )


def build_rows(readings: Iterable[Reading], interval_s: int) -> list[FlowRow]:
    """The flowsheet rows of a session's readings, in time order (one-shot form)."""
    b = FlowsheetBuilder(interval_s)
    b.add(readings)
    return b.rows
