"""Queries every area needs on the insert-only clinical tables (one way to do each)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, bindparam, cast, func, select, text
from sqlalchemy.orm import Session

from nursestation.db.models import VITAL_PRESENT, VitalReading
from nursestation.db.types import UTCDateTime

T = TypeVar("T")


def current_rows(model: type[T], session_id: int) -> Select[T]:
    """A session's rows of an insert-only table, without those a correction superseded.

    `model` needs `session_id`, `id` and `supersedes_id` columns; add `order_by` as needed."""
    m: Any = model
    replaced = select(m.supersedes_id).where(
        m.session_id == session_id, m.supersedes_id.is_not(None)
    )
    return select(model).where(m.session_id == session_id, m.id.not_in(replaced))


def drop_superseded(rows: Iterable[T]) -> list[T]:
    """The same rule for rows already loaded: keep those no other row supersedes."""
    rows = list(rows)
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}  # type: ignore[attr-defined]
    return [r for r in rows if r.id not in replaced]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- newest vitals, by index


def newest_vital(
    s: Session,
    session_id: int,
    vital: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> VitalReading | None:
    """The session's newest current reading (not superseded), or the newest that carries `vital`
    (a key of models.VITAL_PRESENT: sbp, hr (HR or pulse rate), spo2, rr, temp_c, sedation),
    optionally observed at or after `since` / at or before `until`. Ordered by observed time then
    id, like every list of readings. One index step whatever the session's length: the partial
    index of `vital` holds only rows carrying it, and the condition is repeated word for word so
    SQLite can use it."""
    stmt = current_rows(VitalReading, session_id)
    if vital is not None:
        stmt = stmt.where(text(VITAL_PRESENT[vital]))
    if since is not None:
        stmt = stmt.where(VitalReading.observed_at >= since)
    if until is not None:
        stmt = stmt.where(VitalReading.observed_at <= until)
    stmt = stmt.order_by(VitalReading.observed_at.desc(), VitalReading.id.desc()).limit(1)
    return s.execute(stmt).scalar_one_or_none()


@lru_cache(maxsize=16)
def _newest_ids_statement(keys: tuple[str | None, ...], with_since: bool) -> Select[Any]:
    """One statement: for each session id in the expanding parameter `sids`, the id of its newest
    current reading and of the newest carrying each vital in `keys` (None: any reading), each a
    correlated subquery that is one step down its (partial) index. Built once per shape."""
    vt: Any = VitalReading.__table__
    sessions_ = vt.metadata.tables["infusion_sessions"].alias("s")
    columns = []
    for i, key in enumerate(keys):
        v = vt.alias(f"v{i}")
        c = vt.alias(f"c{i}")
        corrected = (
            select(c.c.supersedes_id)
            .where(c.c.session_id == sessions_.c.id, c.c.supersedes_id.is_not(None))
            .correlate(sessions_)
        )
        q = select(v.c.id).where(v.c.session_id == sessions_.c.id, v.c.id.not_in(corrected))
        if key is not None:
            q = q.where(text(VITAL_PRESENT[key]))
        if with_since and key is not None:
            q = q.where(v.c.observed_at >= bindparam("since", type_=UTCDateTime()))
        q = q.order_by(v.c.observed_at.desc(), v.c.id.desc()).limit(1)
        columns.append(q.correlate(sessions_).scalar_subquery().label(f"k{i}"))
    return select(sessions_.c.id, *columns).where(
        sessions_.c.id.in_(bindparam("sids", expanding=True))
    )


def newest_rows(
    s: Session,
    session_ids: Iterable[int],
    vitals: tuple[str, ...] = ("sbp", "hr", "spo2", "rr"),
    *,
    since: datetime | None = None,
) -> dict[int, dict[str | None, VitalReading | None]]:
    """For each session: its newest current reading (key None) and the newest carrying each of
    `vitals` (keys of models.VITAL_PRESENT; observed at or after `since` when given), exactly as
    `newest_vital` finds them, in two statements for any number of sessions (ids, then rows)."""
    ids = list(dict.fromkeys(session_ids))
    if not ids:
        return {}
    keys: tuple[str | None, ...] = (None, *vitals)
    params: dict[str, Any] = {"sids": ids}
    if since is not None:
        params["since"] = since
    picked = {
        row[0]: dict(zip(keys, row[1:], strict=True))
        for row in s.execute(_newest_ids_statement(keys, since is not None), params)
    }
    wanted = {i for per in picked.values() for i in per.values() if i is not None}
    rows = (
        {
            r.id: r
            for r in s.execute(select(VitalReading).where(VitalReading.id.in_(wanted))).scalars()
        }
        if wanted
        else {}
    )
    return {
        sid: {k: rows.get(i) if i is not None else None for k, i in per.items()}
        for sid, per in picked.items()
    }


def snapshot_readings(s: Session, session_id: int, since: datetime | None) -> list[VitalReading]:
    """The few readings from which app.discharge.latest_snapshot builds "the latest vital signs
    since `since`": the newest reading, and the newest since `since` carrying each of BP, HR,
    RR, SpO2 and temperature. latest_snapshot over these gives exactly what it gives over all of
    the session's readings (it keeps, per vital, the last row carrying it), in bounded time."""
    found = newest_rows(s, [session_id], ("sbp", "hr", "rr", "spo2", "temp_c"), since=since)
    per = found.get(session_id, {})
    if per.get(None) is None:
        return []
    picked = {r.id: r for r in per.values() if r is not None}
    return sorted(picked.values(), key=lambda r: (r.observed_at, r.id))


def sedation_readings(s: Session, session_id: int) -> list[VitalReading]:
    """Current readings carrying a sedation score, in id order (there are a handful: they are
    typed by a nurse), through the partial index on sedation_score."""
    stmt = (
        current_rows(VitalReading, session_id)
        .where(text(VITAL_PRESENT["sedation"]))
        .order_by(VitalReading.id)
    )
    return list(s.execute(stmt).scalars())


# ---------------------------------------------------------------- trend per interval

# The trend chart's series: the ECG heart rate, else the oximeter's pulse rate (flowsheet rule).
TREND_SERIES: dict[str, Any] = {
    "sbp": VitalReading.sbp,
    "dbp": VitalReading.dbp,
    "map": VitalReading.map,
    "hr": func.coalesce(VitalReading.hr, VitalReading.pulse_rate),
    "spo2": VitalReading.spo2,
}


def _epoch_seconds(s: Session, column: Any) -> Any:
    """Whole seconds since 1970 of a UTC timestamp column, in SQL (floor, as
    flowsheet.interval_start counts them)."""
    if s.get_bind().dialect.name == "sqlite":  # stored as naive UTC text
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), Integer)


def trend_envelope(
    s: Session, session_id: int, start: datetime | None, end: datetime, interval_s: int
) -> list[tuple[datetime, dict[str, tuple[float, float]]]]:
    """Per clock-aligned interval of `interval_s` seconds in [start, end): the lowest and highest
    value of each trend series over the session's current device readings (corrected ones left
    out), aggregated in SQL over one range of the (session_id, observed_at) index, so the chart
    of a long session's older part costs one row per interval in Python. Oldest first."""
    epoch = _epoch_seconds(s, VitalReading.observed_at)
    bucket = ((epoch // interval_s) * interval_s).label("bucket")  # times after 1970: floor
    columns: list[Any] = [bucket]
    for expr in TREND_SERIES.values():
        columns += [func.min(expr), func.max(expr)]
    replaced = select(VitalReading.supersedes_id).where(
        VitalReading.session_id == session_id, VitalReading.supersedes_id.is_not(None)
    )
    stmt = select(*columns).where(
        VitalReading.session_id == session_id,
        VitalReading.source == "device",
        VitalReading.observed_at < end,
        VitalReading.id.not_in(replaced),
    )
    if start is not None:
        stmt = stmt.where(VitalReading.observed_at >= start)
    out = []
    for row in s.execute(stmt.group_by(bucket).order_by(bucket)):
        at = datetime.fromtimestamp(int(row[0]), UTC)
        values = {
            key: (float(row[1 + 2 * i]), float(row[2 + 2 * i]))
            for i, key in enumerate(TREND_SERIES)
            if row[1 + 2 * i] is not None
        }
        out.append((at, values))
    return out
