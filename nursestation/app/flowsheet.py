"""The flowsheet's readings, read incrementally: only the readings stored since the screen last
asked, judged against the session's baseline and the clinic limits (nursestation.flowsheet
groups them into rows). A 2-hour session at 1 Hz holds 7,200 readings; re-reading them every
two seconds is what froze the Vitals tab.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.sessions import get_session_row
from nursestation.db.models import User, VitalReading
from nursestation.flowsheet import FlowsheetSettings, Judge, Reading, reading_of
from nursestation.limits import VitalLimits
from nursestation.vitals import VitalsInput

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


def device_text(r: Any) -> str:
    """Which device a stored reading came from, as the flowsheet names it."""
    return f"device {r.device_protocol} on {r.device_port}" + (
        f" (id {r.device_id})" if r.device_id else ""
    )


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


def flowsheet_since(
    ctx: AppContext, actor: Actor, session_id: int, after_id: int = 0
) -> FlowsheetDelta:
    """The session's readings stored after `after_id`, judged (flags) against the pre-infusion
    baseline and the clinic limits, HR from the pulse rate when there is no ECG HR."""
    from nursestation.app.alarms import session_baseline

    ctx.require(actor, "view_session")
    limits = VitalLimits.from_settings(ctx.settings)
    interval_s = FlowsheetSettings.from_settings(ctx.settings).interval_s
    with ctx.tx() as s:
        get_session_row(s, session_id)
        base: VitalsInput | None = session_baseline(s, session_id)
        rows = stored_vitals(s, session_id, after_id)
        names: dict[int, str] = {}
        if any(r.source == "manual" for r in rows):
            names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    judged = Judge(base, limits)
    readings = tuple(reading_of(r, judged, payload=_info(r, names)) for r in rows)
    last = max((r.id for r in rows), default=after_id)
    return FlowsheetDelta(session_id, readings, last, (base, limits, interval_s), interval_s)


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
