"""Queries every area needs on the insert-only clinical tables (one way to do each)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from nursestation.db.models import VITAL_PRESENT, VitalReading

T = TypeVar("T")


def current_rows(model: type[T], session_id: int) -> Select[tuple[T]]:
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


def snapshot_readings(s: Session, session_id: int, since: datetime | None) -> list[VitalReading]:
    """The few readings from which app.discharge.latest_snapshot builds "the latest vital signs
    since `since`": the newest reading, and the newest since `since` carrying each of BP, HR,
    RR, SpO2 and temperature. latest_snapshot over these gives exactly what it gives over all of
    the session's readings (it keeps, per vital, the last row carrying it), in bounded time."""
    picked: dict[int, VitalReading] = {}
    newest = newest_vital(s, session_id)
    if newest is None:
        return []
    picked[newest.id] = newest
    for vital in ("sbp", "hr", "rr", "spo2", "temp_c"):
        row = newest_vital(s, session_id, vital, since=since)
        if row is not None:
            picked[row.id] = row
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
