"""Alarm state machine in the style of IEC 60601-1-8, pure and driven by the caller's clock.

Physiological alarms come from limit breaches (`update`); technical alarms (device link lost, no
vitals from the device, unreadable data) are raised and cleared separately and never mixed with
them. Each change returns `AlarmEvent`s for the audit trail. Behaviour numbers (pause length,
flash rates, latching, escalation) come from resources/clinic/alarms.json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from nursestation.clinic import ClinicSettings
from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, NOT_FOUND, DomainError
from nursestation.limits import LimitBreach

Priority = Literal["high", "medium", "low"]
AlarmKind = Literal["physiological", "technical"]
EventKind = Literal[
    "raised",
    "condition_ended",
    "cleared",
    "acknowledged",
    "audio_paused",
    "audio_resumed",
    "breakthrough",
    "escalated",
]

PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high")  # ascending urgency
PRIORITY_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}

# Display conventions of IEC 60601-1-8 (clinical.md §7.1): text markers and symbols so that
# colour is never the only signal. These are notation, not clinical numbers.
MARKERS: dict[str, str] = {"high": "***", "medium": "**", "low": "*"}
SYMBOLS: dict[str, str] = {"high": "⚠", "medium": "⚠", "low": "ℹ"}
KIND_SYMBOLS: dict[str, str] = {"physiological": "♥", "technical": "⚙"}

TECHNICAL_CODES: tuple[str, ...] = ("device_link_lost", "no_device_data", "unreadable_data")


@dataclass(frozen=True)
class PriorityStyle:
    """How one priority looks and behaves."""

    priority: Priority
    colour: str
    flash_hz: float
    marker: str
    symbol: str
    latching: bool
    audio_repeat_s: float
    escalate_after_s: float

    @property
    def audible(self) -> bool:
        """False when the clinic set this priority to give no tone (audio_repeat_s 0)."""
        return self.audio_repeat_s > 0


@dataclass(frozen=True)
class AlarmConfig:
    """Alarm behaviour of the clinic."""

    audio_pause_s: float
    styles: Mapping[str, PriorityStyle]
    tier_priority: Mapping[str, Priority]
    technical_priority: Mapping[str, Priority]
    no_device_data_after_s: float
    no_nibp_after_s: float

    @classmethod
    def from_settings(cls, settings: ClinicSettings | Mapping[str, Any]) -> AlarmConfig:
        """Build from ClinicSettings or the plain `alarms` section dict."""
        data = settings.section("alarms") if isinstance(settings, ClinicSettings) else settings
        styles = {
            p: PriorityStyle(
                priority=p,
                colour=str(spec["colour"]),
                flash_hz=float(spec["flash_hz"]),
                marker=MARKERS[p],
                symbol=SYMBOLS[p],
                latching=bool(spec["latching"]),
                audio_repeat_s=float(spec["audio_repeat_s"]),
                escalate_after_s=float(spec["escalate_after_s"]),
            )
            for p, spec in data["priorities"].items()
        }
        tech = data["technical"]
        return cls(
            audio_pause_s=float(data["audio_pause_s"]),
            styles=styles,
            tier_priority=dict(data["tier_priority"]),
            technical_priority={code: tech[f"{code}_priority"] for code in TECHNICAL_CODES},
            no_device_data_after_s=float(tech["no_device_data_after_s"]),
            no_nibp_after_s=float(tech["no_nibp_after_s"]),
        )


@dataclass(frozen=True)
class Alarm:
    """One alarm on one chair; a snapshot (the manager replaces it when its state changes)."""

    id: str
    chair: str
    kind: AlarmKind
    source: str  # vital parameter ("sbp", "sedation", ...) or technical code
    priority: Priority
    text: str
    raised_at: datetime
    condition_active: bool = True
    condition_ended_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_at: datetime | None = None
    breach: LimitBreach | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None

    @property
    def state(self) -> Literal["active", "acknowledged", "latched"]:
        """`latched` = condition over but kept until acknowledged."""
        if not self.condition_active:
            return "latched"
        return "acknowledged" if self.acknowledged else "active"


@dataclass(frozen=True)
class AlarmEvent:
    """Something that happened to an alarm or a chair's audio, for the audit trail."""

    kind: EventKind
    chair: str
    alarm_id: str | None
    priority: Priority | None
    text: str
    user: str | None
    at: datetime
    alarm_kind: AlarmKind | None = None
    source: str | None = None  # the alarm's vital parameter or technical code


@dataclass(frozen=True)
class AlarmDisplay:
    """An alarm as the chair board shows it."""

    alarm: Alarm
    colour: str
    flash_hz: float  # 0 = steady
    marker: str
    symbol: str
    kind_symbol: str
    label: str
    sounding: bool


@dataclass(frozen=True)
class ChairAlarmState:
    """Everything the UI needs about one chair's alarms at one instant."""

    chair: str
    alarms: tuple[AlarmDisplay, ...]
    highest: AlarmDisplay | None
    audio_on: bool
    audio_priority: Priority | None
    audio_paused_remaining_s: float


@dataclass(frozen=True)
class _Pause:
    until: datetime
    by: str
    ceiling: int  # highest priority rank present when paused; -1 when none


def device_data_stale(last_reading_at: datetime | None, now: datetime, after_s: float) -> bool:
    """True when a device has sent nothing for more than `after_s` seconds (or never)."""
    if last_reading_at is None:
        return True
    return (ensure_utc(now) - ensure_utc(last_reading_at)).total_seconds() > after_s


class AlarmManager:
    """Alarm state of every chair. All methods take `now`; nothing reads the wall clock."""

    def __init__(self, config: AlarmConfig, id_factory: Callable[[str], str] | None = None) -> None:
        self.config = config
        self._alarms: dict[str, dict[str, Alarm]] = {}
        self._pauses: dict[str, _Pause] = {}
        self._counter = 0
        self._id_factory = id_factory or self._next_id

    # -- identities and lookups -------------------------------------------------------------

    def _next_id(self, chair: str) -> str:
        self._counter += 1
        return f"{chair}-{self._counter}"

    def style(self, priority: str) -> PriorityStyle:
        """The look and behaviour of a priority."""
        return self.config.styles[priority]

    def chairs(self) -> list[str]:
        """Chairs that have ever had alarms or an audio pause."""
        return sorted(set(self._alarms) | set(self._pauses))

    def alarms(self, chair: str, kind: AlarmKind | None = None) -> list[Alarm]:
        """Alarms present on a chair (active, acknowledged or latched), most urgent and most
        recent first."""
        present = [a for a in self._alarms.get(chair, {}).values() if kind in (None, a.kind)]
        return sorted(present, key=lambda a: (PRIORITY_RANK[a.priority], a.raised_at), reverse=True)

    def highest_active(self, chair: str, kind: AlarmKind | None = None) -> Alarm | None:
        """The alarm the chair board annunciates: highest priority, then most recent."""
        present = self.alarms(chair, kind)
        return present[0] if present else None

    def get(self, chair: str, alarm_id: str) -> Alarm:
        """One present alarm; DomainError not_found otherwise."""
        try:
            return self._alarms[chair][alarm_id]
        except KeyError:
            raise DomainError(
                NOT_FOUND, f"Alarm {alarm_id} is not active on chair {chair}.", field="alarm_id"
            ) from None

    def _find(self, chair: str, kind: AlarmKind, source: str, priority: str | None) -> Alarm | None:
        for a in self._alarms.get(chair, {}).values():
            if a.kind == kind and a.source == source and priority in (None, a.priority):
                return a
        return None

    def _put(self, alarm: Alarm) -> None:
        self._alarms.setdefault(alarm.chair, {})[alarm.id] = alarm

    def _drop(self, alarm: Alarm) -> None:
        self._alarms.get(alarm.chair, {}).pop(alarm.id, None)

    @staticmethod
    def _event(
        kind: EventKind,
        alarm: Alarm,
        at: datetime,
        text: str | None = None,
        user: str | None = None,
    ) -> AlarmEvent:
        return AlarmEvent(
            kind,
            alarm.chair,
            alarm.id,
            alarm.priority,
            text or alarm.text,
            user,
            at,
            alarm.kind,
            alarm.source,
        )

    # -- raising and clearing ---------------------------------------------------------------

    def _raise(
        self,
        chair: str,
        kind: AlarmKind,
        source: str,
        priority: Priority,
        text: str,
        now: datetime,
        breach: LimitBreach | None = None,
    ) -> list[AlarmEvent]:
        existing = self._find(chair, kind, source, priority)
        if existing is not None:
            # Same condition still (or again) present: refresh text, no new alarm.
            self._put(
                replace(
                    existing,
                    text=text,
                    breach=breach,
                    condition_active=True,
                    condition_ended_at=None,
                )
            )
            return []
        alarm = Alarm(
            self._id_factory(chair), chair, kind, source, priority, text, now, breach=breach
        )
        self._put(alarm)
        events = [self._event("raised", alarm, now)]
        pause = self._active_pause(chair, now)
        if pause is not None and PRIORITY_RANK[priority] > pause.ceiling:
            del self._pauses[chair]
            events.append(
                self._event(
                    "breakthrough", alarm, now, f"Audio pause ended by new {priority} alarm: {text}"
                )
            )
        return events

    def _end_condition(self, alarm: Alarm, now: datetime) -> list[AlarmEvent]:
        if not alarm.condition_active:
            return []
        if alarm.acknowledged or not self.style(alarm.priority).latching:
            self._drop(alarm)
            return [self._event("cleared", alarm, now)]
        self._put(replace(alarm, condition_active=False, condition_ended_at=now))
        return [
            self._event(
                "condition_ended", alarm, now, f"{alarm.text} (ended; latched until acknowledged)"
            )
        ]

    def update(
        self,
        chair: str,
        breaches: Sequence[LimitBreach],
        now: datetime,
        *,
        checked: Iterable[str] | None = None,
    ) -> list[AlarmEvent]:
        """Bring a chair's physiological alarms in line with the latest breaches.

        `checked` names the parameters this reading measured (see limits.checked_params); alarms
        on other parameters are left as they are. None means every parameter was checked.
        """
        now = ensure_utc(now)
        wanted: dict[tuple[str, Priority], LimitBreach] = {}
        for b in breaches:
            wanted[(b.param, self.config.tier_priority[b.tier])] = b
        events: list[AlarmEvent] = []
        scope = None if checked is None else set(checked) | {b.param for b in breaches}
        for alarm in list(self._alarms.get(chair, {}).values()):
            if alarm.kind != "physiological" or (alarm.source, alarm.priority) in wanted:
                continue
            if scope is None or alarm.source in scope:
                events += self._end_condition(alarm, now)
        # Most urgent first so a high alarm's breakthrough is reported against the high alarm.
        for (param, priority), b in sorted(
            wanted.items(), key=lambda kv: PRIORITY_RANK[kv[0][1]], reverse=True
        ):
            events += self._raise(chair, "physiological", param, priority, b.text, now, b)
        return events

    def raise_technical(
        self, chair: str, code: str, text: str, now: datetime, *, priority: Priority | None = None
    ) -> list[AlarmEvent]:
        """Raise (or refresh) a technical alarm such as `device_link_lost` or `no_device_data`."""
        now = ensure_utc(now)
        if priority is None:
            if code not in self.config.technical_priority:
                raise DomainError(
                    BAD_INPUT,
                    f"Technical alarm '{code}' needs a priority: known codes are "
                    f"{', '.join(TECHNICAL_CODES)}.",
                    field="code",
                )
            priority = self.config.technical_priority[code]
        events: list[AlarmEvent] = []
        # One alarm per code: a changed priority replaces the old alarm.
        old = self._find(chair, "technical", code, None)
        if old is not None and old.priority != priority:
            events += self._end_condition(old, now)
        return events + self._raise(chair, "technical", code, priority, text, now)

    def clear_technical(self, chair: str, code: str, now: datetime) -> list[AlarmEvent]:
        """The technical condition is over (link back, data flowing)."""
        now = ensure_utc(now)
        events: list[AlarmEvent] = []
        for alarm in list(self._alarms.get(chair, {}).values()):
            if alarm.kind == "technical" and alarm.source == code:
                events += self._end_condition(alarm, now)
        return events

    def end_session(
        self,
        chair: str,
        now: datetime,
        *,
        user: str | None = None,
        codes: Iterable[str] = (),
    ) -> list[AlarmEvent]:
        """The patient has left the chair (session ended): every physiological alarm of the
        chair is cleared now whatever its latch or acknowledgement (it was about that patient,
        and the next patient must not inherit it), as are the technical alarms named in `codes`
        (those about the session rather than the device). The monitor's technical alarms stay.
        An audio pause ends too: it was given for this patient's alarms, and the next patient's
        alarms must not start silenced."""
        now = ensure_utc(now)
        session_codes = set(codes)
        events: list[AlarmEvent] = []
        for alarm in self.alarms(chair):
            if alarm.kind == "physiological" or alarm.source in session_codes:
                self._drop(alarm)
                events.append(
                    self._event(
                        "cleared", alarm, now, f"{alarm.text} (cleared: session ended)", user
                    )
                )
        if self._active_pause(chair, now) is not None:  # an expired one is tick's to report
            del self._pauses[chair]
            events.append(
                AlarmEvent(
                    "audio_resumed",
                    chair,
                    None,
                    None,
                    "Alarm audio pause ended: session ended",
                    user,
                    now,
                )
            )
        return events

    def reinstate(self, alarm: Alarm) -> None:
        """Put back an alarm known from before a restart, with its identity, acknowledgement and
        latch as they were (no event: nothing happened to it). The next `update` judges it
        against the current values like any other present alarm."""
        self._put(alarm)

    def apply_stored(
        self,
        event: str,
        chair: str,
        alarm_id: str,
        *,
        alarm_kind: str | None,
        source: str | None,
        priority: str,
        text: str,
        user: str | None,
        at: datetime,
    ) -> None:
        """Bring the state in line with an event another station stored (no event: it happened
        there). Events are applied in the order they were stored; one that no longer applies
        (an acknowledgement of an alarm this station never saw, a second raise of an alarm it
        has) changes nothing, so applying is safe to repeat."""
        at = ensure_utc(at)
        present = self._alarms.get(chair, {}).get(alarm_id)
        if event in ("raised", "restored"):
            if present is not None or priority not in PRIORITY_RANK:
                return
            if alarm_kind not in ("physiological", "technical") or source is None:
                return
            kind: AlarmKind = "technical" if alarm_kind == "technical" else "physiological"
            same = self._find(chair, kind, source, priority)
            if same is not None:
                # This station holds the same condition under another id (judged before it
                # saw the stored one): the stored alarm is the one every station shares.
                self._drop(same)
                self._put(replace(same, id=alarm_id, raised_at=min(same.raised_at, at)))
                return
            self._put(Alarm(alarm_id, chair, kind, source, priority, text, at))  # type: ignore[arg-type]
        elif event == "breakthrough":
            self._pauses.pop(chair, None)
        elif event == "audio_paused":
            rank = max((PRIORITY_RANK[a.priority] for a in self.alarms(chair)), default=-1)
            until = at + timedelta(seconds=self.config.audio_pause_s)
            self._pauses[chair] = _Pause(until, user or "", rank)
        elif event == "audio_resumed":
            self._pauses.pop(chair, None)
        elif present is None:
            return
        elif event == "cleared":
            self._drop(present)
        elif event == "acknowledged" and not present.acknowledged:
            self._put(replace(present, acknowledged_by=user or "unknown user", acknowledged_at=at))
        elif event == "condition_ended" and present.condition_active:
            self._put(replace(present, condition_active=False, condition_ended_at=at))
        elif event == "escalated" and present.escalated_at is None:
            self._put(replace(present, escalated_at=at))

    # -- operator actions -------------------------------------------------------------------

    def acknowledge(self, chair: str, alarm_id: str, user: str, now: datetime) -> list[AlarmEvent]:
        """Acknowledge one alarm: its tone stops; a latched alarm whose condition is over goes."""
        now = ensure_utc(now)
        if not user:
            raise DomainError(BAD_INPUT, "Acknowledging an alarm needs a user.", field="user")
        alarm = self.get(chair, alarm_id)
        if alarm.acknowledged:
            return []
        acked = replace(alarm, acknowledged_by=user, acknowledged_at=now)
        events = [self._event("acknowledged", acked, now, user=user)]
        if not acked.condition_active:
            self._drop(acked)
            events.append(self._event("cleared", acked, now, user=user))
        else:
            self._put(acked)
        return events

    def acknowledge_all(self, chair: str, user: str, now: datetime) -> list[AlarmEvent]:
        """Acknowledge every unacknowledged alarm on a chair."""
        events: list[AlarmEvent] = []
        for alarm in self.alarms(chair):
            if not alarm.acknowledged:
                events += self.acknowledge(chair, alarm.id, user, now)
        return events

    def _active_pause(self, chair: str, now: datetime) -> _Pause | None:
        pause = self._pauses.get(chair)
        if pause is None or now >= pause.until:
            return None
        return pause

    def pause_audio(self, chair: str, user: str, now: datetime) -> AlarmEvent:
        """Silence the chair's tones for the clinic's pause time (visual signals stay on). A new
        alarm of higher priority than any present now ends the pause."""
        now = ensure_utc(now)
        if not user:
            raise DomainError(BAD_INPUT, "Pausing alarm audio needs a user.", field="user")
        present = self.alarms(chair)
        ceiling = max((PRIORITY_RANK[a.priority] for a in present), default=-1)
        pause = _Pause(now + timedelta(seconds=self.config.audio_pause_s), user, ceiling)
        self._pauses[chair] = pause
        top = present[0] if present else None
        return AlarmEvent(
            "audio_paused",
            chair,
            top.id if top else None,
            top.priority if top else None,
            f"Alarm audio paused for {self.config.audio_pause_s:g} s",
            user,
            now,
            top.kind if top else None,
        )

    def resume_audio(self, chair: str, user: str, now: datetime) -> AlarmEvent | None:
        """End an audio pause early; None when the chair was not paused."""
        now = ensure_utc(now)
        if self._active_pause(chair, now) is None:
            self._pauses.pop(chair, None)
            return None
        del self._pauses[chair]
        return AlarmEvent("audio_resumed", chair, None, None, "Alarm audio resumed", user, now)

    def audio_paused_remaining(self, chair: str, now: datetime) -> float:
        """Seconds left in the chair's audio pause (0.0 when not paused), for the countdown."""
        pause = self._active_pause(chair, ensure_utc(now))
        return 0.0 if pause is None else (pause.until - ensure_utc(now)).total_seconds()

    def _sounding(self, alarm: Alarm) -> bool:
        return not alarm.acknowledged and self.style(alarm.priority).audible

    def audio_priority(self, chair: str, now: datetime) -> Priority | None:
        """Which tone should play now (the most urgent sounding alarm), or None for silence."""
        if self._active_pause(chair, ensure_utc(now)) is not None:
            return None
        for alarm in self.alarms(chair):
            if self._sounding(alarm):
                return alarm.priority
        return None

    def audio_on(self, chair: str, now: datetime) -> bool:
        """True when the chair's alarm tone should be playing."""
        return self.audio_priority(chair, now) is not None

    def tick(self, now: datetime) -> list[AlarmEvent]:
        """Time-driven changes: audio pauses that ran out (the tone returns if an alarm persists)
        and unacknowledged alarms due for escalation. Call it about once a second."""
        now = ensure_utc(now)
        events: list[AlarmEvent] = []
        for chair, pause in list(self._pauses.items()):
            if now >= pause.until:
                del self._pauses[chair]
                top = self.highest_active(chair)
                still = self.audio_on(chair, pause.until)
                text = "Alarm audio pause ended" + (
                    f"; tone resumes: {top.text}" if still and top else "; no alarm sounding"
                )
                events.append(
                    AlarmEvent(
                        "audio_resumed",
                        chair,
                        top.id if top else None,
                        top.priority if top else None,
                        text,
                        None,
                        pause.until,
                        top.kind if top else None,
                    )
                )
        for chair in list(self._alarms):
            for alarm in self.alarms(chair):
                after = self.style(alarm.priority).escalate_after_s
                if alarm.acknowledged or alarm.escalated_at is not None or after <= 0:
                    continue
                if (now - alarm.raised_at).total_seconds() >= after:
                    self._put(replace(alarm, escalated_at=now))
                    events.append(
                        self._event(
                            "escalated",
                            alarm,
                            now,
                            f"Not acknowledged within {after:g} s: {alarm.text}",
                        )
                    )
        return events

    # -- display ------------------------------------------------------------------------------

    def display(self, alarm: Alarm, now: datetime) -> AlarmDisplay:
        """How an alarm looks now: steady instead of flashing while the audio is paused."""
        st = self.style(alarm.priority)
        paused = self._active_pause(alarm.chair, ensure_utc(now)) is not None
        return AlarmDisplay(
            alarm=alarm,
            colour=st.colour,
            flash_hz=0.0 if paused else st.flash_hz,
            marker=st.marker,
            symbol=st.symbol,
            kind_symbol=KIND_SYMBOLS[alarm.kind],
            label=f"{st.marker} {KIND_SYMBOLS[alarm.kind]} {alarm.text}",
            sounding=not paused and self._sounding(alarm),
        )

    def state(self, chair: str, now: datetime) -> ChairAlarmState:
        """A snapshot of one chair for the board."""
        now = ensure_utc(now)
        shown = tuple(self.display(a, now) for a in self.alarms(chair))
        priority = self.audio_priority(chair, now)
        return ChairAlarmState(
            chair=chair,
            alarms=shown,
            highest=shown[0] if shown else None,
            audio_on=priority is not None,
            audio_priority=priority,
            audio_paused_remaining_s=self.audio_paused_remaining(chair, now),
        )
