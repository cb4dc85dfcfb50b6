"""The chair board: one card per chair, refreshed every second.

What a card shows from the database is kept per chair between refreshes (`BoardData`) and
brought up to date, not recomputed: the vital-sign rows stored since the last refresh (one
primary-key range for all chairs, whoever wrote them) are merged into each chair's newest
values and into the readiness check's few readings; everything else (the sessions, their
events, the discharge data, the bindings) is reloaded when the change mark moves (any use case,
in any process: AppContext.change_mark), the settings change, or every READY_REUSE_S (a safety
net: other stations' changes move the mark at once, app/context.poll_changes). What
depends on the time (timers, vitals due, discharge readiness) is computed at every refresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from nursestation import infusion
from nursestation.app import alarms, discharge, medications, outcomes
from nursestation.app.context import Actor, AppContext
from nursestation.app.course_plan import plan_in
from nursestation.app.record import clinic_zone
from nursestation.app.sessions import (
    SessionSummary,
    min_observation_for,
    planned_of,
    summary_in,
    sync_dose_complete_alarm,
)
from nursestation.app.spravato import bp_readings_in as spravato_bp_readings
from nursestation.app.spravato import config as spravato_config
from nursestation.clock import ensure_utc
from nursestation.db.models import DeviceBinding, InfusionSession, VitalReading
from nursestation.db.queries import newest_rows
from nursestation.devices.capture import CONNECTING, DISCONNECTED, RECEIVING, SILENT, UNREADABLE
from nursestation.flowsheet import heart_rate
from nursestation.infusion import PHASES
from nursestation.spravato import BpReading, is_spravato
from nursestation.spravato import reminders as spravato_reminders
from nursestation.vitals_schedule import VitalsDue, VitalsScheduleSettings, vitals_due_for_state

PHASE_LABELS = {
    "empty": "Empty",
    "checked_in": "Checked in",
    "infusing": "Infusing",
    "paused": "Paused",
    "dose_complete": "Dose complete — stop pump",
    "observation": "Observation",
    "ready_for_discharge": "Ready for discharge",
    "discharged": "Discharged",
    "not_treated": "Not treated",
}
assert set(PHASES) <= set(PHASE_LABELS)

# The chair's monitor link as the card shows it: no binding, a binding not in use, or the state
# its capture worker last reported (devices/capture.py).
MONITOR_NONE = "none"  # no monitor bound to the chair: vitals are entered by hand
MONITOR_DISABLED = "disabled"  # bound, but the binding is switched off
MONITOR_NOT_CAPTURING = "not_capturing"  # bound and enabled, no capture running in this process
MONITOR_ELSEWHERE = "elsewhere"  # bound at another station, which opens the port (issue 15)
MONITOR_PROBLEMS = frozenset({MONITOR_NOT_CAPTURING, SILENT, UNREADABLE, DISCONNECTED})
MONITOR_LABELS = {
    MONITOR_NONE: "No monitor",
    MONITOR_DISABLED: "No monitor (binding disabled)",
    MONITOR_NOT_CAPTURING: "Monitor bound, not capturing",
    MONITOR_ELSEWHERE: "Monitor: captured at another station",
    CONNECTING: "Monitor: connecting",
    RECEIVING: "Monitor: receiving",
    SILENT: "Monitor: no data",
    UNREADABLE: "Monitor: unreadable data",
    DISCONNECTED: "Monitor: link lost",
}


@dataclass(frozen=True)
class LatestVitals:
    """The newest value of each vital on a chair card: a monitor streaming SpO2 every second
    must not hide the last blood pressure. `bp_at` is when that BP was observed."""

    observed_at: datetime
    sbp: float | None
    dbp: float | None
    hr: float | None
    spo2: float | None
    rr: float | None
    source: str
    bp_at: datetime | None = None


@dataclass(frozen=True)
class ChairCard:
    """Everything one chair shows on the board."""

    chair: str
    session: SessionSummary | None
    vitals_due: VitalsDue | None
    latest: LatestVitals | None
    alarm: Any = None  # app.alarms.AlarmBadge when an alarm is active
    reassessments: tuple[Any, ...] = field(default=())
    device_state: str | None = None  # the capture worker's state, None when none reported
    monitor: str = MONITOR_NONE  # a key of MONITOR_LABELS
    # A Spravato session's BP reminders (about 40 min after the first device, at completion).
    spravato_reminders: tuple[str, ...] = ()
    # A positive suicide-risk screen this session (app.outcomes.SafetyStatus.flag_text).
    safety_flag: str | None = None
    monitor_station: str | None = None  # the station that opens the chair's monitor port
    # The patient's course plan (app.course_plan.PlanView), None when none was set (issue 16).
    course_plan: Any = None

    @property
    def monitor_label(self) -> str:
        """The monitor link in one short line ("No monitor", "Monitor: receiving", ...)."""
        if self.monitor == MONITOR_ELSEWHERE and self.monitor_station:
            return f"Monitor: captured at station {self.monitor_station}"
        return MONITOR_LABELS.get(self.monitor, f"Monitor: {self.monitor}")

    @property
    def phase(self) -> str:
        """Phase key, or "empty" when no patient is in the chair."""
        return self.session.state.phase if self.session else "empty"

    @property
    def phase_label(self) -> str:
        """Phase in words for the card."""
        return PHASE_LABELS[self.phase]


def _latest_vitals(newest: dict[str | None, VitalReading | None]) -> LatestVitals | None:
    """A chair's newest value of each vital from db.queries.newest_rows (found by index, so the
    cost does not grow with the session's history)."""
    row = newest.get(None)
    if row is None:
        return None
    hr_row, spo2_row, rr_row, bp = (newest.get(k) for k in ("hr", "spo2", "rr", "sbp"))
    return LatestVitals(
        observed_at=row.observed_at,
        sbp=bp.sbp if bp else None,
        dbp=bp.dbp if bp else None,
        hr=heart_rate(hr_row.hr, hr_row.pulse_rate)[0] if hr_row else None,
        spo2=spo2_row.spo2 if spo2_row else None,
        rr=rr_row.rr if rr_row else None,
        source=row.source,
        bp_at=bp.observed_at if bp else None,
    )


def _monitor(
    device_state: str | None, binding_enabled: bool | None, elsewhere: bool = False
) -> str:
    """The card's monitor key: what the capture worker reports wins (it is what is really
    happening on the port); without a report, whether a monitor is bound at all, and whether
    another station opens its port (its readings reach this board through the database)."""
    if device_state is not None:
        return device_state
    if binding_enabled is None:
        return MONITOR_NONE
    if not binding_enabled:
        return MONITOR_DISABLED
    return MONITOR_ELSEWHERE if elsewhere else MONITOR_NOT_CAPTURING


def _elsewhere(ctx: AppContext, station: str | None) -> bool:
    """The binding's port is opened by another station (app/devices.opens_port)."""
    return station is not None and station != ctx.config.station


def _extras(ctx: AppContext, chair: str, session_id: int | None) -> dict[str, Any]:
    """Alarms, reassessment timers and device link state from their own modules (the alarm
    clock is ticked once per refresh by board_cards, not per chair)."""
    out: dict[str, Any] = {}
    out["alarm"] = alarms.alarm_center(ctx).badge(chair)
    if session_id is not None:
        out["reassessments"] = tuple(medications.reassessments_for_chair(ctx, session_id))
    device = ctx.device_states.get(chair)
    if device is not None:
        out["device_state"] = device
    return out


# The board's latest values (LatestVitals) and the readiness check's snapshot
# (db.queries.snapshot_readings): None is the newest reading, the others the newest carrying it.
_CARD_KEYS: tuple[str | None, ...] = (None, "sbp", "hr", "spo2", "rr")
_READY_KEYS: tuple[str | None, ...] = (None, "sbp", "hr", "rr", "spo2", "temp_c")


def _carries(r: Any, key: str | None) -> bool:
    """models.VITAL_PRESENT in Python."""
    if key is None:
        return True
    if key == "hr":
        return r.hr is not None or r.pulse_rate is not None
    return getattr(r, key) is not None


def _order(r: Any) -> tuple[datetime, int]:
    return (ensure_utc(r.observed_at), r.id)


def _merge_newest(
    newest: dict[str | None, Any],
    rows: list[Any],
    keys: tuple[str | None, ...],
    since: datetime | None = None,
) -> dict[str | None, Any]:
    """`newest` with `rows` taken in: per key the newest row (observed time, then id) carrying
    it, observed at or after `since` for the vitals (not for the newest reading, key None), as
    db.queries.newest_rows picks them over all rows."""
    out = dict(newest)
    for r in rows:
        for key in keys:
            if not _carries(r, key):
                continue
            if key is not None and since is not None and ensure_utc(r.observed_at) < since:
                continue
            old = out.get(key)
            if old is None or _order(r) > _order(old):
                out[key] = r
    return out


@dataclass
class _Chair:
    """One open session's card data, as of the last load plus the rows merged since."""

    summary: SessionSummary  # its `state` is recomputed at each refresh
    planned: Any
    min_observation_min: float
    newest: dict[str | None, Any]
    readiness: Any = None  # app.discharge.Recorded while the readiness check applies
    snapshot: dict[str | None, Any] = field(default_factory=dict)
    # A Spravato session's BPs (for its reminders), kept up to date by take(); None otherwise.
    bp: list[BpReading] | None = None
    course_plan: Any = None  # app.course_plan.PlanView of the patient, read with the rest

    def take(self, rows: list[Any]) -> bool:
        """Merge vital rows stored since; False when one needs a reload: a correction (a value
        drops out), a sedation score, or a BP observed before the infusion start (the baseline
        may move)."""
        rec = self.readiness
        for r in rows:
            if r.supersedes_id is not None or r.sedation_score is not None:
                return False
            started = rec.started_at if rec is not None else None
            if started is not None and r.sbp is not None and r.observed_at <= started:
                return False
        self.newest = _merge_newest(self.newest, rows, _CARD_KEYS)
        if self.bp is not None:
            self.bp += [
                BpReading(ensure_utc(r.observed_at), float(r.sbp), r.dbp)
                for r in rows
                if r.sbp is not None
            ]
        if rec is not None:
            since = rec.stopped_at
            self.snapshot = _merge_newest(self.snapshot, rows, _READY_KEYS, since)
            readings = sorted({r.id: r for r in self.snapshot.values()}.values(), key=_order)
            on_air = rec.answers.get("on_room_air")
            self.readiness = replace(
                rec,
                readings=tuple(readings),
                latest=discharge.latest_snapshot(
                    readings, since, on_air if isinstance(on_air, bool) else None
                ),
            )
        return True

    def summary_at(self, now: datetime) -> SessionSummary:
        """The summary with its timer (and readiness) as of `now`."""
        s = self.summary
        ready = self.readiness.evaluate(now).ready if self.readiness is not None else False
        state = infusion.infusion_state(
            list(s.events),
            self.planned,
            now,
            min_observation_min=self.min_observation_min,
            ready_for_discharge=ready,
            discharged=s.end_reason == "discharged",
            not_treated=s.end_reason == infusion.NOT_TREATED,
        )
        return replace(s, state=state)


@dataclass
class BoardData:
    """What the board read, kept in ctx.board_cache between refreshes."""

    mark: tuple[int, int]
    settings: Any
    loaded_at: datetime
    last_vital_id: int
    chairs: dict[str, _Chair]
    bindings: dict[str, bool]
    safety: dict[int, str] = field(default_factory=dict)  # session id -> the card's flag
    binding_stations: dict[str, str | None] = field(default_factory=dict)


_LOCK = threading.Lock()  # the GUI thread and the board's reader thread may both refresh
_NEWEST_VITAL_ID = select(func.max(VitalReading.__table__.c.id))


def _load(ctx: AppContext, s: Any, mark: tuple[int, int], now: datetime) -> BoardData:
    """Everything the cards need, read afresh (one read transaction, bounded whatever the
    history: indexed newest rows, the readiness check's few readings)."""
    last_id = s.execute(_NEWEST_VITAL_ID).scalar() or 0
    rows = {
        r.chair: r
        for r in s.execute(
            select(InfusionSession).where(InfusionSession.ended_at.is_(None))
        ).scalars()
    }
    newest = newest_rows(s, [row.id for row in rows.values()])  # all chairs at once
    chairs: dict[str, _Chair] = {}
    for chair, row in rows.items():
        before = _ready_entry(ctx, row.id)
        summary = summary_in(ctx, s, row)
        data = _Chair(
            summary=summary,
            planned=planned_of(row),
            min_observation_min=min_observation_for(ctx, row),
            newest=dict(newest.get(row.id, {})),
        )
        if is_spravato(row.session_type):
            data.bp = spravato_bp_readings(s, row.id)
        data.course_plan = plan_in(ctx, s, row.patient_id)
        # as sessions.summary_in decides whether the readiness check applies
        if not summary.approved and any(e.kind == infusion.STOP for e in summary.events):
            rec = _loaded_by_summary(before, _ready_entry(ctx, row.id))
            if rec is None:
                rec = discharge.load_recorded(ctx, s, row)
            data.readiness = rec
            data.snapshot = _merge_newest({}, list(rec.readings), _READY_KEYS, rec.stopped_at)
        chairs[chair] = data
    bindings: dict[str, bool] = {}
    binding_stations: dict[str, str | None] = {}
    for chair, on, station in s.execute(
        select(DeviceBinding.chair, DeviceBinding.enabled, DeviceBinding.station)
    ):
        bindings[chair], binding_stations[chair] = on, station
    # Recording a score or an assessment changes the data mark, so the board reloads these.
    safety = outcomes.safety_flags_in(s, [row.id for row in rows.values()])
    return BoardData(
        mark,
        ctx.settings,
        now,
        last_vital_id=last_id,
        chairs=chairs,
        bindings=bindings,
        safety=safety,
        binding_stations=binding_stations,
    )


def _ready_entry(ctx: AppContext, session_id: int) -> Any:
    """discharge.is_ready_in's cache entry of a session: (data_version, other_version,
    settings, loaded at, Recorded)."""
    return ctx.ready_cache.get(session_id)


def _loaded_by_summary(before: Any, after: Any) -> Any:
    """The discharge data summary_in's readiness check loaded in full just now (between the
    two looks at its cache entry), so that a reload does not read it twice; None when it
    reused or only refreshed its entry (a full load builds a new `names` dict; the refresh of
    the vital-sign part, discharge.with_vitals, keeps it; tuples may be the shared empty one)."""
    if after is None or after is before:
        return None
    if before is not None and after[4].names is before[4].names:
        return None
    return after[4]


def _current(ctx: AppContext, now: datetime) -> BoardData:
    """ctx.board_cache brought up to date: the rows stored since merged in, or reloaded."""
    with _LOCK, ctx.read_tx() as s:
        mark = ctx.change_mark(s)
        data: BoardData | None = ctx.board_cache
        if (
            data is not None
            and mark is not None
            and data.mark == mark
            and data.settings is ctx.settings
            and abs((now - data.loaded_at).total_seconds()) <= discharge.READY_REUSE_S
        ):
            new = list(
                s.execute(
                    select(VitalReading)
                    .where(VitalReading.id > data.last_vital_id)
                    .order_by(VitalReading.id)
                ).scalars()
            )
            by_session: dict[int, list[Any]] = {}
            for r in new:
                by_session.setdefault(r.session_id, []).append(r)
            if all(
                c.take(by_session[c.summary.id])
                for c in data.chairs.values()
                if c.summary.id in by_session
            ):
                if new:
                    data.last_vital_id = new[-1].id
                return data
        if mark is None:  # cannot happen in a read transaction; kept correct anyway
            mark = (-1, -1)
        data = _load(ctx, s, mark, now)
        ctx.board_cache = data
        return data


def _spravato_reminders(
    ctx: AppContext, chair: _Chair, summary: SessionSummary, now: datetime
) -> tuple[str, ...]:
    """The BP reminders of a Spravato chair, from the BPs the board keeps (no query)."""
    st = summary.state
    if summary.ended_at is not None or st.stopped_at is None:
        return ()
    cfg = spravato_config(ctx)
    rem = spravato_reminders(
        now, st.stopped_at, chair.bp or [], chair.min_observation_min, cfg, clinic_zone(ctx)
    )
    return tuple(("OVERDUE: " if r.overdue else "") + r.text for r in rem)


def board_cards(ctx: AppContext, actor: Actor) -> list[ChairCard]:
    """One card per clinic chair, in the clinic's chair order."""
    ctx.require(actor, "view_board")
    schedule = ctx.per_settings("vitals_schedule", VitalsScheduleSettings.from_settings)
    now = ctx.now()
    data = _current(ctx, now)
    summaries = {chair: c.summary_at(now) for chair, c in data.chairs.items()}
    latest = {chair: _latest_vitals(c.newest) for chair, c in data.chairs.items()}
    for open_summary in summaries.values():
        # the dose-complete alarm follows the clock: the board's tick is where time passes
        sync_dose_complete_alarm(ctx, open_summary)
    alarms.tick_alarms(ctx)  # pause countdowns and escalations current, once per refresh
    cards: list[ChairCard] = []
    for chair in ctx.settings.get("general.chairs"):
        summary = summaries.get(chair)
        due = None
        if summary is not None:
            last = latest[chair]
            due = vitals_due_for_state(
                summary.state, last.observed_at if last else None, schedule, now
            )
        extras = _extras(ctx, chair, summary.id if summary else None)
        if summary is not None and data.chairs[chair].course_plan is not None:
            extras["course_plan"] = data.chairs[chair].course_plan
        if summary is not None and data.chairs[chair].bp is not None:
            extras["spravato_reminders"] = _spravato_reminders(ctx, data.chairs[chair], summary, now)
        cards.append(
            ChairCard(
                chair=chair,
                session=summary,
                vitals_due=due,
                latest=latest.get(chair),
                monitor=_monitor(
                    extras.get("device_state"),
                    data.bindings.get(str(chair)),
                    _elsewhere(ctx, data.binding_stations.get(str(chair))),
                ),
                monitor_station=data.binding_stations.get(str(chair)),
                safety_flag=data.safety.get(summary.id) if summary is not None else None,
                **extras,
            )
        )
    return cards
