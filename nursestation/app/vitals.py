"""Vital signs: record manual readings (two-tier checked before every insert), list them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.sessions import get_session_row
from nursestation.db.models import VitalReading
from nursestation.errors import INVALID_STATE, DomainError
from nursestation.vitals import VitalRanges, VitalsInput, compute_map, ensure_storable, is_late


@dataclass(frozen=True)
class VitalsRecord:
    """A stored reading as shown in the flowsheet."""

    id: int
    observed_at: datetime
    recorded_at: datetime
    sbp: float | None
    dbp: float | None
    map: float | None
    hr: float | None
    spo2: float | None
    rr: float | None
    etco2: float | None
    temp_c: float | None
    sedation_scale: str | None
    sedation_score: float | None
    source: str
    source_detail: str
    late: bool
    supersedes_id: int | None
    correction_reason: str | None
    superseded_by: int | None = None

    def values(self) -> dict[str, float | None]:
        """The numeric vitals by name."""
        return {
            "sbp": self.sbp,
            "dbp": self.dbp,
            "map": self.map,
            "hr": self.hr,
            "spo2": self.spo2,
            "rr": self.rr,
            "etco2": self.etco2,
            "temp_c": self.temp_c,
        }


def _record(r: VitalReading, user_names: dict[int, str], superseded_by: int | None) -> VitalsRecord:
    if r.source == "manual":
        detail = f"manual, {user_names.get(r.entered_by or 0, 'unknown user')}"
    else:
        detail = f"device {r.device_protocol} on {r.device_port}" + (
            f" (id {r.device_id})" if r.device_id else ""
        )
    return VitalsRecord(
        r.id,
        r.observed_at,
        r.recorded_at,
        r.sbp,
        r.dbp,
        r.map,
        r.hr,
        r.spo2,
        r.rr,
        r.etco2,
        r.temp_c,
        r.sedation_scale,
        r.sedation_score,
        r.source,
        detail,
        r.late,
        r.supersedes_id,
        r.correction_reason,
        superseded_by,
    )


def readings_in(s: Session, session_id: int) -> list[VitalsRecord]:
    """All readings of a session in observed order, each marked with what superseded it."""
    from nursestation.db.models import User

    rows = list(
        s.execute(
            select(VitalReading)
            .where(VitalReading.session_id == session_id)
            .order_by(VitalReading.observed_at, VitalReading.id)
        ).scalars()
    )
    names = dict(s.execute(select(User.id, User.full_name)).tuples().all())
    by = {r.supersedes_id: r.id for r in rows if r.supersedes_id is not None}
    return [_record(r, names, by.get(r.id)) for r in rows]


def list_vitals(ctx: AppContext, actor: Actor, session_id: int) -> list[VitalsRecord]:
    """The session's flowsheet (originals and corrections)."""
    ctx.require(actor, "view_session")
    with ctx.tx() as s:
        return readings_in(s, session_id)


def record_vitals(
    ctx: AppContext,
    actor: Actor,
    session_id: int,
    values: VitalsInput | dict[str, Any],
    *,
    observed_at: datetime | None = None,
    soft_confirmed: bool = False,
) -> VitalsRecord:
    """Store one manual reading. Hard-range values are refused (out_of_range); soft-range values
    need `soft_confirmed` (else confirmation_required). MAP is computed when not given."""
    ctx.require(actor, "record_vitals")
    ranges = VitalRanges.from_settings(ctx.settings)
    v = values if isinstance(values, VitalsInput) else VitalsInput.from_mapping(values)
    ensure_storable(v, ranges, soft_confirmed=soft_confirmed)
    now = ctx.now()
    observed = observed_at or now
    late_after = float(ctx.settings.get("general.late_entry_after_min"))
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        mean = v.map
        if mean is None and v.sbp is not None and v.dbp is not None:
            mean = compute_map(v.sbp, v.dbp)
        reading = VitalReading(
            session_id=row.id,
            observed_at=observed,
            recorded_at=now,
            sbp=v.sbp,
            dbp=v.dbp,
            map=mean,
            hr=v.hr,
            spo2=v.spo2,
            rr=v.rr,
            etco2=v.etco2,
            temp_c=v.temp_c,
            sedation_scale=v.sedation_scale,
            sedation_score=v.sedation_score,
            source="manual",
            entered_by=actor.user_id,
            late=is_late(observed, now, late_after),
            soft_confirmed=soft_confirmed,
        )
        s.add(reading)
        s.flush()
        ctx.audit(s, actor, "vitals.record", "vital_reading", reading.id, after=v.as_dict())
        return _record(reading, {actor.user_id: actor.full_name}, None)
