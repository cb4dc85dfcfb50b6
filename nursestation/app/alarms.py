"""The alarm center: one `AlarmManager` per AppContext, fed by stored readings and device link
states, driven by the context's clock, every change persisted to alarm_events and the audit trail
in the same transaction as the change that caused it.

Restart policy: the manager's state lives in memory, the events in the database. When the center
is created (lazily, on first use after start-up) it first reinstates every physiological alarm of
an open session that alarm_events show raised and not cleared, under its own id and with its
acknowledgement (who and when) and latch as stored: an acknowledgement given before a restart is
still true after it, and the note says so. Then each open session is judged again from the
stored readings (the newest valid, not superseded value of each parameter against the session
baseline): a reinstated alarm whose condition is over ends as it would have, and a condition with
no stored alarm (older rows without a source, changed limits) is raised unacknowledged and
logged as `restored`. Technical alarms are not restored: the capture workers report their link
state again when they start.

Several stations, one database: alarm_events is the source of truth. Every station's center
applies the events other stations stored (`AlarmCenter._sync`: the rows after the newest id it
has seen, a range of the primary key) before it decides anything that writes, under a lock that
makes those decisions one at a time across stations (`alarm_write_lock`), and about once a second
for display (`tick`). So an alarm raised at one station shows at every station, an
acknowledgement or audio pause given at one holds at all, and two stations judging the same
reading store one raise. A running audio pause is restored at start-up too. Technical alarms
raised at another station (its monitor link) show here as they are stored after this station
started; one raised before it started shows after its next change (they are not restored, see
above).

Session end: when a session ends (not treated, discharged) its physiological alarms are cleared
in the same transaction (`on_session_ended`), so they are neither shown on the chair nor restored
after a restart, and the chair's next patient starts with none.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.orm import Session

from nursestation import infusion
from nursestation.alarms import (
    PRIORITY_RANK,
    Alarm,
    AlarmConfig,
    AlarmManager,
    ChairAlarmState,
    Priority,
)
from nursestation.alarms import AlarmEvent as CoreAlarmEvent
from nursestation.app.context import Actor, AppContext, other_version_of
from nursestation.app.session_rows import baseline_vitals, events_of, open_session_in_chair
from nursestation.clock import ensure_utc
from nursestation.db.audit import AUDIT_CHAIN_LOCK_KEY
from nursestation.db.models import AlarmEvent, Assessment, InfusionSession, VitalReading
from nursestation.flowsheet import heart_rate
from nursestation.limits import PARAMS, SEDATION_PARAM, VitalLimits, evaluate
from nursestation.vitals import VitalsInput

# The technical alarm raised while the ordered dose is in and the pump still runs (app/sessions.py).
DOSE_COMPLETE_ALARM = "dose_complete"
SEDATION_KINDS = ("moaas", "rass")  # assessments.kind values that carry a sedation score
# Technical alarms about the session rather than the monitor: they end with the session.
SESSION_TECHNICAL_CODES = (DOSE_COMPLETE_ALARM,)


@dataclass(frozen=True)
class AlarmBadge:
    """What a chair card shows about the chair's most urgent alarm."""

    chair: str
    priority: str  # "high" | "medium" | "low"
    text: str
    marker: str  # "***" / "**" / "*"
    symbol: str
    colour: str
    flash_hz: float  # 0 = steady (low priority, or audio paused)
    acknowledged: bool
    technical: bool
    audio_paused_s: float | None  # seconds left of the audio pause, None when not paused
    count: int  # active alarms on the chair

    @property
    def label(self) -> str:
        """Marker, symbol and text: the alarm readable without colour."""
        return f"{self.marker} {self.symbol} {self.text}"


@dataclass(frozen=True)
class AlarmLogEntry:
    """One stored alarm event, for the session view and the note."""

    id: int
    at: datetime
    chair: str
    alarm_key: str
    category: str
    priority: str
    event: str
    text: str
    user: str | None


def _new_alarm_id(chair: str) -> str:
    # Unique across restarts (the manager's own counter starts again at 1 after a restart).
    return f"{chair}-{uuid.uuid4().hex[:12]}"


def _reading_input(r: VitalReading) -> VitalsInput:
    return VitalsInput(
        sbp=r.sbp,
        dbp=r.dbp,
        map=r.map,
        hr=heart_rate(r.hr, r.pulse_rate)[0],
        spo2=r.spo2,
        rr=r.rr,
        etco2=r.etco2,
        temp_c=r.temp_c,
        sedation_scale=r.sedation_scale,
        sedation_score=r.sedation_score,
    )


def _superseded(session_id: int) -> Any:
    return select(VitalReading.supersedes_id).where(
        VitalReading.session_id == session_id, VitalReading.supersedes_id.is_not(None)
    )


_COLUMNS = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c", "pulse_rate")


@dataclass
class _Picture:
    """Newest value per column of one session: {column: ((observed_at, id), value)}."""

    last_id: int = 0
    values: dict[str, tuple[tuple[datetime, int], Any]] = field(default_factory=dict)
    # What the last refresh brought: rebuilt from all rows, or the oldest observation time of
    # the new rows carrying a BP (a late one may become the baseline: AlarmCenter._baseline).
    rebuilt: bool = True
    oldest_new_bp: datetime | None = None

    def merge(self, r: Any) -> None:
        key = (r.observed_at, r.id)
        for name in (*_COLUMNS, "sedation"):
            if name == "sedation":
                if r.sedation_scale is None or r.sedation_score is None:
                    continue
                value: Any = (r.sedation_scale, r.sedation_score)
            else:
                value = getattr(r, name)
                if value is None:
                    continue
            old = self.values.get(name)
            if old is None or key >= old[0]:
                self.values[name] = (key, value)
        self.last_id = max(self.last_id, r.id)


def _rows(s: Session, session_id: int, after_id: int = 0, *, live_only: bool) -> list[Any]:
    cols = [getattr(VitalReading, c) for c in _COLUMNS]
    stmt = select(
        VitalReading.id,
        VitalReading.observed_at,
        VitalReading.supersedes_id,
        VitalReading.sedation_scale,
        VitalReading.sedation_score,
        *cols,
    ).where(VitalReading.session_id == session_id, VitalReading.id > after_id)
    if live_only:
        stmt = stmt.where(VitalReading.id.not_in(_superseded(session_id)))
    return list(s.execute(stmt.order_by(VitalReading.id)))


def _tail_statement() -> Any:
    vt: Any = VitalReading.__table__
    return (
        select(
            vt.c.id,
            vt.c.session_id,
            vt.c.observed_at,
            vt.c.supersedes_id,
            vt.c.sedation_scale,
            vt.c.sedation_score,
            *(vt.c[c] for c in _COLUMNS),
        )
        .where(vt.c.id > bindparam("after"))
        .order_by(vt.c.id)
    )


# Every session's rows stored after an id: a range of the primary key (the per-session form,
# `session_id = ? AND id > ?`, walks the session's whole index in SQLite). Built once.
_TAIL = _tail_statement()


# A picture more than this many rows behind the newest row seen is brought up to date by its
# own session's rows (`session_id = ? AND id > ?`, the session's index) rather than by the range
# of every chair's rows since it (a chair charted by hand every 15 minutes while the others
# stream would read thousands of rows). An algorithm choice, not a clinical number.
TAIL_SPAN = 1000


def _tails(
    s: Session, pictures: dict[int, _Picture], newest_seen: int = 0
) -> tuple[dict[int, list[Any]], int]:
    """For each cached picture, the rows of its session stored after its last id: one statement
    for all those near the newest row seen (a monitor second brings a row or two per chair),
    the session's own rows for those far behind. Returns them and the newest id read."""
    out: dict[int, list[Any]] = {sid: [] for sid in pictures}
    near = {sid: p for sid, p in pictures.items() if p.last_id >= newest_seen - TAIL_SPAN}
    for sid, pic in pictures.items():
        if sid not in near:
            out[sid] = _rows(s, sid, pic.last_id, live_only=False)
    if near:
        after = min(p.last_id for p in near.values())
        for r in s.execute(_TAIL, {"after": after}):
            newest_seen = max(newest_seen, r.id)
            got = near.get(r.session_id)
            if got is not None and r.id > got.last_id:
                out[r.session_id].append(r)
    for rows in out.values():
        if rows:
            newest_seen = max(newest_seen, rows[-1].id)
    return out, newest_seen


def _take_new(pic: _Picture, new: list[Any]) -> bool:
    """Merge rows stored after the picture's last id; False when one is a correction (the
    superseded value must drop out: the caller rebuilds)."""
    if any(r.supersedes_id is not None for r in new):
        return False
    for r in new:
        pic.merge(r)
    bp = [ensure_utc(r.observed_at) for r in new if r.sbp is not None]
    pic.rebuilt, pic.oldest_new_bp = False, min(bp, default=None)
    return True


def _refresh_picture(
    s: Session, session_id: int, pic: _Picture | None, new: list[Any] | None = None
) -> _Picture:
    """Bring a cached picture up to date with rows stored since (`new` when the caller read
    them already, see _tails); a correction (a row that supersedes another) rebuilds it, since
    the superseded value must drop out."""
    if pic is not None:
        if new is None:
            new = _rows(s, session_id, pic.last_id, live_only=False)
        if _take_new(pic, new):
            return pic
    pic = _Picture()
    for r in _rows(s, session_id, live_only=True):
        pic.merge(r)
    # Superseded rows are excluded above but their ids still count as seen.
    top = s.execute(
        select(VitalReading.id)
        .where(VitalReading.session_id == session_id)
        .order_by(VitalReading.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    pic.last_id = max(pic.last_id, top or 0)
    return pic


def _picture_input(s: Session, session_id: int, pic: _Picture, assessed: Any = ...) -> VitalsInput:
    found: dict[str, Any] = {name: pic.values[name][1] for name in _COLUMNS if name in pic.values}
    pr = found.pop("pulse_rate", None)
    if "hr" not in found and pr is not None:
        found["hr"] = pr  # oximeter pulse rate stands in when no ECG/cuff HR exists
    sedation: tuple[datetime, str, float] | None = None
    if "sedation" in pic.values:
        (at, _id), (scale, score) = pic.values["sedation"]
        sedation = (at, scale, score)
    if assessed is ...:
        assessed = sedation_assessed(s, session_id)
    if assessed is not None and (sedation is None or assessed[0] >= sedation[0]):
        sedation = assessed
    if sedation is not None:
        found["sedation_scale"], found["sedation_score"] = sedation[1], sedation[2]
    return VitalsInput(**found)


def sedation_assessed(s: Session, session_id: int) -> tuple[datetime, str, float] | None:
    """The newest sedation assessment with a score (at, scale, score), or None."""
    a = s.execute(
        select(Assessment)
        .where(Assessment.session_id == session_id, Assessment.kind.in_(SEDATION_KINDS))
        .order_by(Assessment.at.desc(), Assessment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if a is None or a.score is None:
        return None
    return (a.at, a.kind, a.score)


def current_picture(s: Session, session_id: int) -> VitalsInput:
    """The newest valid value of every parameter of a session (not superseded readings only),
    the sedation score from readings or sedation assessments, whichever is newer."""
    return _picture_input(s, session_id, _refresh_picture(s, session_id, None))


def session_baseline(
    s: Session, session_id: int, first_start: datetime | EllipsisType | None = ...
) -> VitalsInput | None:
    """The pre-infusion baseline (sessions.baseline_vitals before the first start), or None
    while the infusion has not started (change from baseline means nothing before it).
    `first_start`, when the caller knows it (AlarmCenter caches it), saves reading the events."""
    if first_start is ...:
        first_start = first_start_of(s, session_id)
    if first_start is None:
        return None
    row = baseline_vitals(s, session_id, before=first_start)
    return _reading_input(row) if row is not None else None


def first_start_of(s: Session, session_id: int) -> datetime | None:
    """When the session's infusion first started, None before it."""
    return next((e.at for e in events_of(s, session_id) if e.kind == infusion.START), None)


def _backup(manager: AlarmManager) -> AlarmManager:
    """A copy of the manager that later changes to it do not reach (a rollback restores it).
    Its configuration, alarms and pauses are frozen values: shared, not copied (copying them
    was most of the cost of each monitor transaction); its own containers are copied."""
    frozen: list[Any] = [manager.config]
    for alarms in manager._alarms.values():
        frozen += alarms.values()
    frozen += manager._pauses.values()
    return copy.deepcopy(manager, {id(x): x for x in frozen})


class AlarmCenter:
    """The station's alarm state (one per AppContext) and the only writer of alarm_events."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.config = AlarmConfig.from_settings(ctx.settings)
        self.manager = AlarmManager(self.config, id_factory=_new_alarm_id)
        # The board (GUI thread) and capture workers may both report; one change at a time.
        self._lock = threading.RLock()
        # Per-session newest values, updated incrementally: a device stream stores a row every
        # second or two, and re-reading the whole session each time would grow without bound.
        self._pictures: dict[int, _Picture] = {}
        # Per session: (ctx.other_version when read, first infusion start). Events are written
        # only by a nurse's use cases, which move other_version; a monitor second does not.
        self._starts: dict[int, tuple[int, datetime | None]] = {}
        # Per session: (other_version, first start, baseline) — see _baseline.
        self._baselines: dict[int, tuple[int, datetime | None, VitalsInput | None]] = {}
        # The newest vital_readings id the evaluation has read (_tails).
        self._newest_seen = 0
        # Per session: (change mark, newest scored sedation assessment) — _sedation_assessed.
        self._assessed: dict[int, tuple[Any, tuple[datetime, str, float] | None]] = {}
        # The newest alarm_events id this station's manager reflects (its own rows and the
        # other stations' rows applied by _sync): the database is the source of truth.
        self._seen_id = 0
        self._usernames: dict[int, str] = {}

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _locked_tx(self) -> Iterator[Session]:
        """A write transaction, then the alarm lock: always in this order. The capture bridge's
        writer thread evaluates alarms inside the transaction that stored readings (database
        lock held, then this lock); taking this lock first and then waiting for the database
        would deadlock with it until the busy timeout."""
        with self.ctx.tx() as s:
            s.connection()  # BEGIN IMMEDIATE now, before the lock
            alarm_write_lock(s)
            with self._lock:
                self._bind(s)
                self._sync(s)
                yield s

    def _bind(self, s: Session) -> None:
        """Undo in-memory changes if the caller's transaction rolls back, so memory and database
        never disagree about which alarms were raised."""
        if s.info.get("alarm_center_bound"):
            return
        backup = _backup(self.manager)
        seen = self._seen_id
        s.info["alarm_center_bound"] = True
        live = {"armed": True}  # listeners cannot be removed while SQLAlchemy dispatches them

        def _rollback(session: Session) -> None:
            if live["armed"]:
                with self._lock:
                    self.manager = backup
                    self._seen_id = seen  # rows this transaction wrote were never stored
                    self._pictures.clear()  # may hold rows that were never committed
                    self._baselines.clear()  # likewise
                    self._assessed.clear()
            _done(session)

        def _done(session: Session) -> None:
            live["armed"] = False
            session.info.pop("alarm_center_bound", None)

        event.listen(s, "after_rollback", _rollback)
        event.listen(s, "after_commit", _done)

    def _persist(
        self,
        s: Session,
        events: Iterable[CoreAlarmEvent],
        *,
        actor: Actor | None = None,
        session_id: int | None = None,
        as_kind: str | None = None,
    ) -> list[CoreAlarmEvent]:
        """Write each event to alarm_events and the audit trail in `s`."""
        out = list(events)
        sessions: dict[str, int | None] = {}
        rows: list[AlarmEvent] = []
        for ev in out:
            sid = session_id
            if sid is None:
                if ev.chair not in sessions:
                    row = open_session_in_chair(s, ev.chair)
                    sessions[ev.chair] = row.id if row else None
                sid = sessions[ev.chair]
            kind = as_kind if (as_kind and ev.kind == "raised") else ev.kind
            stored = AlarmEvent(
                session_id=sid,
                chair=ev.chair,
                alarm_key=ev.alarm_id or f"{ev.chair}:audio",
                category=ev.alarm_kind or "audio",
                priority=ev.priority or "none",
                event=kind,
                text=ev.text,
                user_id=actor.user_id if actor else None,
                at=ev.at,
                source=ev.source,
            )
            s.add(stored)
            rows.append(stored)
            self.ctx.audit(
                s,
                actor,
                f"alarm.{kind}",
                "alarm",
                ev.alarm_id or f"{ev.chair}:audio",
                after={
                    "chair": ev.chair,
                    "session_id": sid,
                    "priority": ev.priority,
                    "category": ev.alarm_kind,
                    "text": ev.text,
                    "at": ev.at.isoformat(),
                },
                username=None if actor else "(system)",
            )
        if out:
            s.flush()
            # Written under the alarm write lock right after _sync: no other station's row can
            # lie between the ones seen and these (see alarm_write_lock).
            with self._lock:
                self._seen_id = max(self._seen_id, *(r.id for r in rows))
        return out

    # -- sharing between stations ---------------------------------------------------------------

    def _sync(self, s: Session) -> int:
        """Apply the alarm events other stations stored since the last one seen (the caller
        holds self._lock; for a decision that writes, the alarm write lock too). One range
        scan of the primary key, empty almost always. Returns how many rows were applied."""
        rows = list(s.execute(_SINCE, {"after": self._seen_id}))
        if not rows:
            return 0
        missing = {r.user_id for r in rows if r.user_id and r.user_id not in self._usernames}
        if missing:
            from nursestation.db.models import User

            for uid, name in s.execute(select(User.id, User.username).where(User.id.in_(missing))):
                self._usernames[uid] = name
        applied = 0
        for r in rows:
            if r.id <= self._seen_id:
                continue  # this station wrote it (or applied it) meanwhile
            self.manager.apply_stored(
                r.event,
                r.chair,
                r.alarm_key,
                alarm_kind=r.category,
                source=r.source,
                priority=r.priority,
                text=r.text,
                user=self._usernames.get(r.user_id) if r.user_id else None,
                at=r.at,
            )
            self._seen_id = r.id
            applied += 1
        return applied

    def sync(self) -> int:
        """Take in what other stations stored (the board and the strips call this through
        tick every second; a change notification may call it at once). Returns the number of
        events applied."""
        with self.ctx.read_tx() as s, self._lock:
            return self._sync(s)

    # -- inputs ---------------------------------------------------------------------------------

    def evaluate_session(
        self,
        s: Session,
        session_id: int,
        *,
        as_kind: str | None = None,
        open_in_chair: str | None = None,
    ) -> list[CoreAlarmEvent]:
        """Bring a session's physiological alarms in line with its newest values (call inside
        the transaction that stored a reading, a correction or an assessment). `open_in_chair`:
        the caller has just read in this transaction that the session is open in that chair."""
        return self.evaluate_sessions(s, {session_id: open_in_chair}, as_kind=as_kind)

    def evaluate_sessions(
        self, s: Session, sessions: dict[int, str | None], *, as_kind: str | None = None
    ) -> list[CoreAlarmEvent]:
        """evaluate_session for several sessions (a monitor second of every chair): the rows
        stored since each cached picture are read in one statement."""
        chairs: dict[int, str] = {}
        for sid, chair in sessions.items():
            if chair is None:
                row = s.get(InfusionSession, sid)
                if row is None or row.ended_at is not None:
                    continue
                chair = row.chair
            chairs[sid] = chair
        if not chairs:
            return []
        inputs: dict[int, tuple[VitalsInput, VitalsInput | None]] = {}
        alarm_write_lock(s)  # before self._lock (see _locked_tx)
        with self._lock:
            self._bind(s)
            self._sync(s)
            cached = {sid: self._pictures[sid] for sid in chairs if sid in self._pictures}
            tails, self._newest_seen = _tails(s, cached, self._newest_seen)
            for sid in chairs:
                pic = _refresh_picture(s, sid, cached.get(sid), tails.get(sid))
                self._pictures[sid] = pic
                picture = _picture_input(s, sid, pic, self._sedation_assessed(s, sid))
                inputs[sid] = (picture, self._baseline(s, sid, pic))
        limits = self.ctx.per_settings("vital_limits", VitalLimits.from_settings)
        # Every parameter is judged from the picture; parameters never measured keep no alarm.
        checked = set(PARAMS) | {SEDATION_PARAM}
        out: list[CoreAlarmEvent] = []
        for sid, (picture, baseline) in inputs.items():
            breaches = evaluate(picture, baseline, limits)
            with self._lock:
                self._bind(s)
                events = self.manager.update(chairs[sid], breaches, self.ctx.now(), checked=checked)
            out += self._persist(s, events, session_id=sid, as_kind=as_kind)
        return out

    def _sedation_assessed(self, s: Session, session_id: int) -> Any:
        """sedation_assessed, reused while the change mark holds (assessments are a nurse's
        entries: each writes an audit row, in any process): the writer asked every second for
        every chair."""
        mark = self.ctx.change_mark(s)
        hit = self._assessed.get(session_id)
        if mark is None or hit is None or hit[0] != mark:
            hit = (mark, sedation_assessed(s, session_id))
            if mark is not None:
                self._assessed[session_id] = hit
        return hit[1]

    def _baseline(self, s: Session, session_id: int, pic: _Picture) -> VitalsInput | None:
        """session_baseline, reused while nothing it depends on can have changed: no write
        other than the monitor stream's (ctx.other_version: events, corrections), the same
        first start, and no BP row observed at or before that start among the rows the picture
        just took in (a late device reading can still become the baseline)."""
        version = other_version_of(s)
        start = self._start(s, session_id)
        hit = self._baselines.get(session_id)
        late_bp = (
            start is not None
            and pic.oldest_new_bp is not None
            and pic.oldest_new_bp <= ensure_utc(start)
        )
        if (
            hit is None
            or version is None
            or hit[0] != version
            or hit[1] != start
            or pic.rebuilt
            or late_bp
        ):
            hit = (
                -1 if version is None else version,
                start,
                session_baseline(s, session_id, start),
            )
            self._baselines[session_id] = hit
        return hit[2]

    def _start(self, s: Session, session_id: int) -> datetime | None:
        """The session's first infusion start, read again only after a write other than the
        monitor stream's (ctx.other_version as this transaction began)."""
        version = other_version_of(s)
        hit = self._starts.get(session_id)
        if hit is None or version is None or hit[0] != version:
            hit = (-1 if version is None else version, first_start_of(s, session_id))
            self._starts[session_id] = hit
        return hit[1]

    def raise_technical(
        self, chair: str, code: str, text: str, priority: Priority | None = None
    ) -> list[CoreAlarmEvent]:
        """Raise or refresh a technical alarm (device link lost, no data, unreadable data)."""
        with self._locked_tx() as s:
            self._bind(s)
            events = self.manager.raise_technical(
                chair, code, text, self.ctx.now(), priority=priority
            )
            return self._persist(s, events)

    def clear_technical(self, chair: str, code: str) -> list[CoreAlarmEvent]:
        """The technical condition is over."""
        with self._locked_tx() as s:
            self._bind(s)
            events = self.manager.clear_technical(chair, code, self.ctx.now())
            return self._persist(s, events)

    def tick(self) -> list[CoreAlarmEvent]:
        """Audio pauses that ran out and escalations, persisted; cheap when nothing is due."""
        self.sync()
        with self._lock:
            probe = _backup(self.manager)
            if not probe.tick(self.ctx.now()):
                return []
        with self._locked_tx() as s:  # database lock first (see _locked_tx); synced again
            events = self.manager.tick(self.ctx.now())
            return self._persist(s, events)

    # -- operator actions ---------------------------------------------------------------------

    def acknowledge(
        self, actor: Actor, chair: str, alarm_id: str | None = None
    ) -> list[CoreAlarmEvent]:
        """Acknowledge one alarm, or every unacknowledged alarm of the chair."""
        with self._locked_tx() as s:
            self._bind(s)
            now = self.ctx.now()
            if alarm_id is None:
                events = self.manager.acknowledge_all(chair, actor.username, now)
            else:
                events = self.manager.acknowledge(chair, alarm_id, actor.username, now)
            return self._persist(s, events, actor=actor)

    def pause_audio(self, actor: Actor, chair: str) -> list[CoreAlarmEvent]:
        """Pause the chair's tones for the clinic's pause time (2 min by default)."""
        with self._locked_tx() as s:
            self._bind(s)
            ev = self.manager.pause_audio(chair, actor.username, self.ctx.now())
            return self._persist(s, [ev], actor=actor)

    def resume_audio(self, actor: Actor, chair: str) -> list[CoreAlarmEvent]:
        """End an audio pause early."""
        with self._locked_tx() as s:
            self._bind(s)
            ev = self.manager.resume_audio(chair, actor.username, self.ctx.now())
            return self._persist(s, [ev] if ev else [], actor=actor)

    # -- session end --------------------------------------------------------------------------

    def end_session(
        self, s: Session, session_id: int, chair: str, actor: Actor | None
    ) -> list[CoreAlarmEvent]:
        """Inside the transaction that ended a session: its physiological alarms (and its
        dose-complete alarm) are cleared, stored against that session with who and when."""
        s.flush()  # the session's end is written first: database lock before the alarm lock
        alarm_write_lock(s)
        with self._lock:
            self._bind(s)
            self._sync(s)
            events = self.manager.end_session(
                chair,
                self.ctx.now(),
                user=actor.username if actor else None,
                codes=SESSION_TECHNICAL_CODES,
            )
            self._pictures.pop(session_id, None)
            self._baselines.pop(session_id, None)  # an ended session is never judged again
            self._assessed.pop(session_id, None)
        return self._persist(s, events, actor=actor, session_id=session_id)

    # -- restart --------------------------------------------------------------------------------

    def restore(self, s: Session) -> list[CoreAlarmEvent]:
        """Rebuild physiological alarms of every open session (see the module docstring)."""
        alarm_write_lock(s)
        newest = s.execute(select(func.max(AlarmEvent.id))).scalar() or 0
        open_rows = list(
            s.execute(select(InfusionSession).where(InfusionSession.ended_at.is_(None))).scalars()
        )
        with self._lock:
            self._bind(s)
            for row in open_rows:
                for alarm in stored_alarms(s, row.id, row.chair):
                    self.manager.reinstate(alarm)
            # Audio pauses still running (given here or at another station before this start).
            since = self.ctx.now() - timedelta(seconds=self.config.audio_pause_s)
            for r in s.execute(
                select(AlarmEvent)
                .where(
                    AlarmEvent.event.in_(_PAUSE_EVENTS),
                    AlarmEvent.at >= since,
                    AlarmEvent.id <= newest,
                )
                .order_by(AlarmEvent.id)
            ).scalars():
                self.manager.apply_stored(
                    r.event,
                    r.chair,
                    r.alarm_key,
                    alarm_kind=r.category,
                    source=r.source,
                    priority=r.priority,
                    text=r.text,
                    user=None,
                    at=r.at,
                )
            self._seen_id = newest
        events: list[CoreAlarmEvent] = []
        for row in open_rows:
            events += self.evaluate_session(s, row.id, as_kind="restored")
        return events

    def reevaluate_all(self) -> list[CoreAlarmEvent]:
        """Re-judge every open session, e.g. after the clinic's limits changed."""
        with self.ctx.tx() as s:
            ids = list(
                s.execute(
                    select(InfusionSession.id).where(InfusionSession.ended_at.is_(None))
                ).scalars()
            )
            events: list[CoreAlarmEvent] = []
            for sid in ids:
                events += self.evaluate_session(s, sid)
            return events

    # -- views ----------------------------------------------------------------------------------

    def state(self, chair: str) -> ChairAlarmState:
        """A snapshot of one chair's alarms as of the context clock."""
        with self._lock:
            return self.manager.state(chair, self.ctx.now())

    def badge(self, chair: str) -> AlarmBadge | None:
        """The chair card's badge, or None when the chair has no alarm."""
        st = self.state(chair)
        top = st.highest
        if top is None:
            return None
        a: Alarm = top.alarm
        return AlarmBadge(
            chair=chair,
            priority=a.priority,
            text=a.text,
            marker=top.marker,
            symbol=top.symbol,
            colour=top.colour,
            flash_hz=top.flash_hz,
            acknowledged=a.acknowledged,
            technical=a.kind == "technical",
            audio_paused_s=st.audio_paused_remaining_s or None,
            count=len(st.alarms),
        )


def stored_alarms(s: Session, session_id: int, chair: str) -> list[Alarm]:
    """The physiological alarms of a session that alarm_events show present (raised or restored,
    not cleared), each as it stood: first raise time, latest text, acknowledgement, latch."""
    from nursestation.db.models import User

    usernames = {uid: name for uid, name in s.execute(select(User.id, User.username))}
    rows = s.execute(
        select(AlarmEvent)
        .where(
            AlarmEvent.session_id == session_id,
            AlarmEvent.category == "physiological",
            AlarmEvent.source.is_not(None),
        )
        .order_by(AlarmEvent.at, AlarmEvent.id)
    ).scalars()
    present: dict[str, Alarm] = {}
    for e in rows:
        a = present.get(e.alarm_key)
        if e.event in ("raised", "restored"):
            if a is None and e.priority in PRIORITY_RANK:
                present[e.alarm_key] = Alarm(
                    e.alarm_key,
                    chair,
                    "physiological",
                    str(e.source),
                    e.priority,  # type: ignore[arg-type]
                    e.text,
                    e.at,
                )
        elif a is None:
            continue
        elif e.event == "cleared":
            del present[e.alarm_key]
        elif e.event == "acknowledged":
            user = usernames.get(e.user_id or 0, "unknown user")
            present[e.alarm_key] = replace(a, acknowledged_by=user, acknowledged_at=e.at)
        elif e.event == "condition_ended":
            present[e.alarm_key] = replace(a, condition_active=False, condition_ended_at=e.at)
        elif e.event == "escalated":
            present[e.alarm_key] = replace(a, escalated_at=e.at)
    return list(present.values())


_CREATE_LOCK = threading.Lock()

_PAUSE_EVENTS = ("audio_paused", "audio_resumed", "breakthrough")


def _since_statement() -> Any:
    t: Any = AlarmEvent.__table__
    return (
        select(
            t.c.id,
            t.c.chair,
            t.c.alarm_key,
            t.c.category,
            t.c.priority,
            t.c.event,
            t.c.text,
            t.c.user_id,
            t.c.at,
            t.c.source,
        )
        .where(t.c.id > bindparam("after"))
        .order_by(t.c.id)
    )


# Alarm events stored after an id (AlarmCenter._sync): a range of the primary key. Built once.
_SINCE = _since_statement()

# The PostgreSQL advisory lock every station takes before deciding an alarm change (see
# alarm_write_lock): the audit chain's own lock (db/audit.append_audit), not a second one. Every
# alarm change is audited, so the chain's lock is taken anyway; with two locks, a use case that
# audits first and then judges alarms (record_vitals) and one that judges first and then audits
# (the monitor writer, a tick) took them in opposite orders and deadlocked across stations.
ALARM_LOCK_KEY = AUDIT_CHAIN_LOCK_KEY


def alarm_write_lock(s: Session) -> None:
    """Serialise alarm decisions between stations, held until the transaction ends. SQLite's
    write transactions are already one at a time (BEGIN IMMEDIATE); on PostgreSQL the audit
    chain's advisory transaction lock makes them so. Holding it, a station first takes in
    every event stored before (AlarmCenter._sync) and then decides: two stations judging the
    same reading store exactly one raise, and the ids of alarm_events are committed in order,
    so a station that has seen id N has seen every row below it."""
    if s.info.get("alarm_write_lock"):
        return
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALARM_LOCK_KEY})
    s.info["alarm_write_lock"] = True

    def _released(session: Session, *_args: Any) -> None:
        session.info.pop("alarm_write_lock", None)

    event.listen(s, "after_commit", _released, once=True)
    event.listen(s, "after_rollback", _released, once=True)


def alarm_center(ctx: AppContext, s: Session | None = None) -> AlarmCenter:
    """The context's alarm center, created (and restored from the database) on first use.
    Pass `s` when calling inside an open transaction so the restore uses it."""
    center = ctx.alarm_center
    if center is not None:
        return center
    if s is not None:
        alarm_write_lock(s)  # a database lock: before the creation lock
        with _CREATE_LOCK:
            center = ctx.alarm_center
            if center is None:
                center = AlarmCenter(ctx)
                center.restore(s)
                ctx.alarm_center = center
            return center
    # Without a transaction: the database lock first, then the creation lock (see _locked_tx).
    with ctx.tx() as own:
        own.connection()
        alarm_write_lock(own)
        with _CREATE_LOCK:
            center = ctx.alarm_center
            if center is None:
                center = AlarmCenter(ctx)
                center.restore(own)
                ctx.alarm_center = center
            return center


# ---------------------------------------------------------------- service functions


@dataclass(frozen=True)
class StationAlarms:
    """What the whole station must signal now, whatever is on screen (ui/alarm_sound.py)."""

    audio_priority: str | None  # the tone to play: the most urgent sounding alarm of any chair
    audio_chair: str | None  # the chair it is on
    paused: tuple[tuple[str, float], ...]  # (chair, seconds left) of every running audio pause
    escalated: tuple[Alarm, ...]  # unacknowledged alarms past the clinic's escalation time


def station_alarms(ctx: AppContext) -> StationAlarms:
    """Every chair's alarms at once for the station's sound and escalation banner: the events
    other stations stored are taken in and the clock ticked once, then each chair read from
    memory."""
    center = alarm_center(ctx)
    center.tick()
    chairs = [str(c) for c in ctx.settings.get("general.chairs")]
    with center._lock:
        chairs += [c for c in center.manager.chairs() if c not in chairs]
        states = [center.manager.state(c, ctx.now()) for c in chairs]
    best: tuple[int, str] | None = None
    paused: list[tuple[str, float]] = []
    escalated: list[Alarm] = []
    for st in states:
        if st.audio_priority is not None:
            rank = PRIORITY_RANK[st.audio_priority]
            if best is None or rank > best[0]:
                best = (rank, st.chair)
        if st.audio_paused_remaining_s > 0:
            paused.append((st.chair, st.audio_paused_remaining_s))
        escalated += [
            d.alarm
            for d in st.alarms
            if d.alarm.escalated_at is not None and not d.alarm.acknowledged
        ]
    top = next((st for st in states if best is not None and st.chair == best[1]), None)
    return StationAlarms(
        audio_priority=top.audio_priority if top else None,
        audio_chair=top.chair if top else None,
        paused=tuple(paused),
        escalated=tuple(escalated),
    )


def sync_alarms(ctx: AppContext) -> int:
    """Take in the alarm events other stations stored (for a change notification to call at
    once; the board and the strips do it every second anyway). Returns how many."""
    return alarm_center(ctx).sync()


def highest_alarm(ctx: AppContext, chair: str) -> AlarmBadge | None:
    """The chair's most urgent alarm for its card (the board calls this every second): ticks
    the clock first so pause countdowns and escalations are current."""
    center = alarm_center(ctx)
    center.tick()
    return center.badge(chair)


def chair_alarms(ctx: AppContext, chair: str) -> ChairAlarmState:
    """Every alarm of a chair with how it looks now (the alarm strip)."""
    center = alarm_center(ctx)
    center.tick()
    return center.state(chair)


def on_reading_stored(
    ctx: AppContext, s: Session, session_id: int | Mapping[int, str]
) -> list[CoreAlarmEvent]:
    """Call inside the transaction that stored a reading (manual or device, valid only), a
    correction or a sedation assessment: alarms follow in the same transaction. The monitor
    writer passes {session id: chair} of every session it stored rows for, each read open in
    that chair in this transaction: one evaluation round for a monitor second of all chairs."""
    center = alarm_center(ctx, s)
    if isinstance(session_id, int):
        return center.evaluate_session(s, session_id)
    return center.evaluate_sessions(s, dict(session_id))


def on_session_ended(
    ctx: AppContext, s: Session, actor: Actor | None, session_id: int
) -> list[CoreAlarmEvent]:
    """Call inside the transaction that ended a session (not treated, discharged), after
    `ended_at` is set: the session's physiological alarms are cleared ("cleared: session ended",
    stored in alarm_events with the actor and the time, audited in the same transaction) so the
    chair's next patient starts with none; the monitor's technical alarms stay."""
    row = s.get(InfusionSession, session_id)
    if row is None:
        return []
    return alarm_center(ctx, s).end_session(s, row.id, row.chair, actor)


def raise_technical(
    ctx: AppContext, chair: str, code: str, text: str, priority: Priority | None = None
) -> list[CoreAlarmEvent]:
    """A device problem on a chair (codes in nursestation.alarms.TECHNICAL_CODES)."""
    return alarm_center(ctx).raise_technical(chair, code, text, priority)


def clear_technical(ctx: AppContext, chair: str, code: str) -> list[CoreAlarmEvent]:
    """The device problem is over."""
    return alarm_center(ctx).clear_technical(chair, code)


def acknowledge_alarm(
    ctx: AppContext, actor: Actor, chair: str, alarm_id: str | None = None
) -> list[CoreAlarmEvent]:
    """Acknowledge one alarm (or all of the chair's when `alarm_id` is None)."""
    ctx.require(actor, "acknowledge_alarm")
    return alarm_center(ctx).acknowledge(actor, chair, alarm_id)


def pause_alarm_audio(ctx: AppContext, actor: Actor, chair: str) -> list[CoreAlarmEvent]:
    """Silence the chair's tones for the clinic's audio pause; visual signals stay."""
    ctx.require(actor, "pause_alarm_audio")
    return alarm_center(ctx).pause_audio(actor, chair)


def resume_alarm_audio(ctx: AppContext, actor: Actor, chair: str) -> list[CoreAlarmEvent]:
    """End the chair's audio pause early."""
    ctx.require(actor, "pause_alarm_audio")
    return alarm_center(ctx).resume_audio(actor, chair)


def tick_alarms(ctx: AppContext) -> list[CoreAlarmEvent]:
    """Advance time-driven alarm behaviour (scenario runner, timers)."""
    return alarm_center(ctx).tick()


def alarm_log(ctx: AppContext, actor: Actor, session_id: int) -> list[AlarmLogEntry]:
    """Every stored alarm event of a session, oldest first."""
    ctx.require(actor, "view_session")
    from nursestation.db.models import User

    with ctx.tx() as s:
        names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
        rows = s.execute(
            select(AlarmEvent)
            .where(AlarmEvent.session_id == session_id)
            .order_by(AlarmEvent.at, AlarmEvent.id)
        ).scalars()
        return [
            AlarmLogEntry(
                r.id,
                r.at,
                r.chair,
                r.alarm_key,
                r.category,
                r.priority,
                r.event,
                r.text,
                names.get(r.user_id) if r.user_id else None,
            )
            for r in rows
        ]
