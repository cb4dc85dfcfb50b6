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
from nursestation.errors import INVALID_STATE, NOT_FOUND, DomainError
from nursestation.vitals import (
    VitalRanges,
    VitalsInput,
    compute_map,
    ensure_observed_time,
    ensure_storable,
    is_late,
)


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
    need `soft_confirmed` (else confirmation_required). MAP is computed when not given. The
    observed time defaults to now; entered long after it, the reading is marked late. Alarms are
    re-evaluated in the same transaction."""
    from nursestation.app.alarms import alarm_center

    ctx.require(actor, "record_vitals")
    ranges = VitalRanges.from_settings(ctx.settings)
    v = values if isinstance(values, VitalsInput) else VitalsInput.from_mapping(values)
    ensure_storable(v, ranges, soft_confirmed=soft_confirmed)
    now = ctx.now()
    observed = observed_at or now
    ensure_observed_time(observed, now, ranges)
    late_after = float(ctx.settings.get("general.late_entry_after_min"))
    with ctx.tx() as s:
        row = get_session_row(s, session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        center = alarm_center(ctx, s)
        late = is_late(observed, now, late_after)
        reading = VitalReading(
            session_id=row.id,
            observed_at=observed,
            recorded_at=now,
            sbp=v.sbp,
            dbp=v.dbp,
            map=_mean(v),
            hr=v.hr,
            spo2=v.spo2,
            rr=v.rr,
            etco2=v.etco2,
            temp_c=v.temp_c,
            sedation_scale=v.sedation_scale,
            sedation_score=v.sedation_score,
            source="manual",
            entered_by=actor.user_id,
            late=late,
            soft_confirmed=soft_confirmed,
        )
        s.add(reading)
        s.flush()
        ctx.audit(
            s,
            actor,
            "vitals.record",
            "vital_reading",
            reading.id,
            after={
                **v.as_dict(),
                "map": reading.map,
                "observed_at": observed.isoformat(),
                "late": late,
                "soft_confirmed": soft_confirmed,
            },
        )
        center.evaluate_session(s, row.id)
        return _record(reading, {actor.user_id: actor.full_name}, None)


def _mean(v: VitalsInput) -> float | None:
    """Measured MAP when given, else computed from SBP/DBP."""
    if v.map is not None:
        return v.map
    if v.sbp is not None and v.dbp is not None:
        return compute_map(v.sbp, v.dbp)
    return None


def _input_of(r: VitalReading) -> VitalsInput:
    return VitalsInput(
        sbp=r.sbp,
        dbp=r.dbp,
        map=r.map,
        hr=r.hr,
        spo2=r.spo2,
        rr=r.rr,
        etco2=r.etco2,
        temp_c=r.temp_c,
        sedation_scale=r.sedation_scale,
        sedation_score=r.sedation_score,
    )


def correct_vitals(
    ctx: AppContext,
    actor: Actor,
    reading_id: int,
    values: VitalsInput | dict[str, Any],
    reason: str,
    *,
    soft_confirmed: bool = False,
) -> VitalsRecord:
    """Correct a stored reading: a new row that supersedes it (the original stays in the
    flowsheet, marked corrected). `values` are the fields that change (None clears one); the
    others are carried over. A changed SBP or DBP recomputes MAP unless MAP is given."""
    from nursestation.app.alarms import alarm_center
    from nursestation.vitals import ensure_correction, input_name

    ctx.require(actor, "correct_vitals")
    ranges = VitalRanges.from_settings(ctx.settings)
    given = values.as_dict() if isinstance(values, VitalsInput) else dict(values)
    given = {input_name(k): val for k, val in given.items()}
    now = ctx.now()
    with ctx.tx() as s:
        original = s.get(VitalReading, reading_id)
        if original is None:
            raise DomainError(NOT_FOUND, f"No vital-signs reading #{reading_id}.")
        newer = s.execute(
            select(VitalReading.id).where(VitalReading.supersedes_id == reading_id)
        ).scalar_one_or_none()
        if newer is not None:
            raise DomainError(
                INVALID_STATE,
                f"Reading #{reading_id} was already corrected by #{newer}: correct #{newer}.",
            )
        row = get_session_row(s, original.session_id)
        if row.ended_at is not None:
            raise DomainError(INVALID_STATE, "This session has ended: add an addendum instead.")
        old = _input_of(original)
        merged = {**old.as_dict(), **given}
        merged = {k: val for k, val in merged.items() if val is not None}
        if "map" not in given and ("sbp" in given or "dbp" in given):
            merged.pop("map", None)
        corrected = VitalsInput.from_mapping(merged)
        corrected = VitalsInput.from_mapping({**corrected.as_dict(), "map": _mean(corrected)})
        changes = ensure_correction(old, corrected, reason, ranges)
        ensure_storable(corrected, ranges, soft_confirmed=soft_confirmed)
        center = alarm_center(ctx, s)
        new = VitalReading(
            session_id=row.id,
            observed_at=original.observed_at,
            recorded_at=now,
            sbp=corrected.sbp,
            dbp=corrected.dbp,
            map=corrected.map,
            hr=corrected.hr,
            pulse_rate=original.pulse_rate,
            spo2=corrected.spo2,
            rr=corrected.rr,
            etco2=corrected.etco2,
            temp_c=corrected.temp_c,
            on_room_air=original.on_room_air,
            sedation_scale=corrected.sedation_scale,
            sedation_score=corrected.sedation_score,
            source="manual",
            entered_by=actor.user_id,
            late=original.late,
            soft_confirmed=soft_confirmed,
            is_baseline=original.is_baseline,
            supersedes_id=original.id,
            correction_reason=reason.strip(),
        )
        s.add(new)
        s.flush()
        ctx.audit(
            s,
            actor,
            "vitals.correct",
            "vital_reading",
            new.id,
            before={k: old_new[0] for k, old_new in changes.items()} | {"id": original.id},
            after={k: old_new[1] for k, old_new in changes.items()}
            | {"id": new.id, "reason": reason.strip()},
        )
        center.evaluate_session(s, row.id)
        return _record(new, {actor.user_id: actor.full_name}, None)
