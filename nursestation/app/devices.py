"""Bedside monitors in the app: chair bindings, storage of captured readings, link health.

`ingest_readings` stores every reading a capture worker delivered (device_readings, raw, with
quality) and the valid values of each frame as one vital_readings row (source "device") of the
chair's open session, then lets the alarm center judge them, all in one transaction per batch;
`ingest_batches` does the same for several chairs' batches in one transaction.
`device_state_changed` turns the worker's link state into technical alarms. Both are called on
one thread (the capture service's writer, app/capture.py); they are not meant to run
concurrently for the same chair.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from nursestation.alarms import TECHNICAL_CODES
from nursestation.app.context import Actor, AppContext
from nursestation.db.models import (
    DeviceBinding,
    DeviceReading,
    InfusionSession,
    User,
    VitalReading,
)
from nursestation.devices.capture import (
    CONNECTING,
    DISCONNECTED,
    RECEIVING,
    SILENT,
    STATES,
    TECHNICAL_CODE_FOR_STATE,
    UNREADABLE,
)
from nursestation.devices.reading import NIBP_PARAMS, VALID, Reading
from nursestation.devices.registry import SPECS
from nursestation.errors import BAD_INPUT, DUPLICATE, NOT_FOUND, DomainError

# Device parameter → vital_readings column. `pi` has no column: it stays in device_readings.
VITAL_COLUMN: dict[str, str] = {
    "spo2": "spo2",
    "pulse_rate": "pulse_rate",
    "hr": "hr",
    "sbp": "sbp",
    "dbp": "dbp",
    "map": "map",
    "rr": "rr",
    "etco2": "etco2",
    "temp": "temp_c",
}

# Port settings a binding may carry (pyserial keyword → allowed values). Technical, not clinical.
BAUDRATES: tuple[int, ...] = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
SERIAL_OPTIONS: dict[str, tuple[Any, ...]] = {
    "bytesize": (5, 6, 7, 8),
    "parity": ("N", "E", "O", "M", "S"),
    "stopbits": (1, 1.5, 2),
    "rtscts": (False, True),
    "xonxoff": (False, True),
}

STATE_LABELS: dict[str, str] = {
    CONNECTING: "connecting",
    RECEIVING: "receiving",
    SILENT: "no data",
    UNREADABLE: "unreadable data",
    DISCONNECTED: "disconnected",
}

_TECH_TEXT: dict[str, str] = {
    "device_link_lost": "Monitor link lost",
    "no_device_data": "No data from monitor (values stale)",
    "unreadable_data": "Monitor data unreadable",
}


# ---------------------------------------------------------------- DTOs


@dataclass(frozen=True)
class BindingInfo:
    """One chair's monitor binding as the set-up dialog shows it."""

    chair: str
    protocol: str
    url: str
    baudrate: int
    options: dict[str, Any]
    enabled: bool
    updated_at: datetime
    updated_by: str | None
    # The station that opens the port (issue 15): where the monitor's cable is plugged in.
    # None: bound before bindings named a station, until a station claims it
    # (claim_unowned_bindings).
    station: str | None = None


@dataclass(frozen=True)
class LiveValue:
    """The newest value of one parameter from a chair's monitor, with its quality."""

    param: str
    value: float | None
    unit: str
    quality: str
    reason: str | None
    at: datetime

    @property
    def text(self) -> str:
        """E.g. "spo2 97 %" or "spo2 — (unavailable: probe_off)"."""
        shown = "—" if self.value is None else f"{self.value:g} {self.unit}"
        if self.quality == VALID:
            return f"{self.param} {shown}"
        why = f": {self.reason}" if self.reason else ""
        return f"{self.param} {shown} ({self.quality}{why})"


@dataclass(frozen=True)
class LinkHealth:
    """A chair's monitor link: worker state, since when, the last frame and the latest values."""

    chair: str
    state: str
    detail: str
    since: datetime
    last_frame_at: datetime | None
    port: str | None
    protocol: str | None
    latest: tuple[LiveValue, ...]

    @property
    def label(self) -> str:
        """The state in words."""
        return STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True)
class IngestResult:
    """What one batch produced."""

    device_rows: int
    vital_ids: tuple[int, ...]
    session_id: int | None
    nibp_repeats: int  # valid NIBP values not charted because already stored for that measurement


@dataclass
class _Health:
    # Mutable, in memory only (lost at restart on purpose: workers report again when they start).
    state: str = CONNECTING
    detail: str = ""
    since: datetime | None = None
    last_frame_at: datetime | None = None
    port: str | None = None
    protocol: str | None = None
    latest: dict[str, LiveValue] = field(default_factory=dict)


def _health_map(ctx: AppContext) -> dict[str, _Health]:
    return ctx.device_health


def _states(ctx: AppContext) -> dict[str, str]:
    return ctx.device_states


# ---------------------------------------------------------------- bindings


def _info(b: DeviceBinding, names: Mapping[int, str]) -> BindingInfo:
    return BindingInfo(
        b.chair,
        b.protocol,
        b.url,
        b.baudrate,
        dict(b.options or {}),
        b.enabled,
        b.updated_at,
        names.get(b.updated_by) if b.updated_by else None,
        b.station,
    )


def _bindings_in(s: Session) -> list[BindingInfo]:
    names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    rows = s.execute(select(DeviceBinding)).scalars()
    return sorted((_info(b, names) for b in rows), key=lambda b: _chair_key(b.chair))


def _chair_key(chair: str) -> tuple[int, str]:
    return (int(chair), "") if chair.isdigit() else (1 << 30, chair)


def list_bindings(ctx: AppContext, actor: Actor) -> list[BindingInfo]:
    """Every chair's binding (the set-up dialog)."""
    ctx.require(actor, "view_board")
    with ctx.tx() as s:
        return _bindings_in(s)


def opens_port(ctx: AppContext, binding: BindingInfo) -> bool:
    """The one rule of which station opens which port (issue 15): only the binding's own
    station, and only while the binding is enabled. The others show the chair's readings from
    the database; two stations reading one serial port would each get half of its frames."""
    return binding.enabled and binding.station == ctx.config.station


def enabled_bindings(ctx: AppContext) -> list[BindingInfo]:
    """The bindings this station's capture should run: enabled and this station's (system
    read, no actor: runs at start-up)."""
    with ctx.tx() as s:
        return [b for b in _bindings_in(s) if opens_port(ctx, b)]


def enabled_bindings_anywhere(ctx: AppContext) -> list[BindingInfo]:
    """Every enabled binding, whichever station opens its port (which chairs have a monitor)."""
    with ctx.tx() as s:
        return [b for b in _bindings_in(s) if b.enabled]


def get_binding(ctx: AppContext, chair: str) -> BindingInfo | None:
    """One chair's binding, or None (system read, for the capture bridge)."""
    with ctx.tx() as s:
        return next((b for b in _bindings_in(s) if b.chair == chair), None)


def claim_unowned_bindings(ctx: AppContext) -> list[str]:
    """Make this station the owner of the bindings that have none (made before bindings
    named a station: revision 0003_sync); returns the chairs claimed. One UPDATE per binding
    that matches only while the binding has no owner, so when stations start together exactly
    one claims each binding. Audited. A binding claimed by the wrong station is moved by
    binding the chair again at the right one (bind_device)."""
    claimed: list[str] = []
    with ctx.tx() as s:
        chairs = list(
            s.execute(select(DeviceBinding.chair).where(DeviceBinding.station.is_(None))).scalars()
        )
        for chair in chairs:
            done = s.execute(
                update(DeviceBinding)
                .where(DeviceBinding.chair == chair, DeviceBinding.station.is_(None))
                .values(station=ctx.config.station)
            )
            if getattr(done, "rowcount", 0) == 1:
                claimed.append(chair)
                ctx.audit(
                    s,
                    None,
                    "device.claim",
                    "device_binding",
                    chair,
                    before={"station": None},
                    after={"station": ctx.config.station},
                    username="(station start)",
                )
    return claimed


def validate_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Port settings checked against SERIAL_OPTIONS; bad_input names the field and allowed values."""
    out: dict[str, Any] = {}
    for key, value in dict(options or {}).items():
        allowed = SERIAL_OPTIONS.get(key)
        if allowed is None:
            raise DomainError(
                BAD_INPUT,
                f"Unknown port setting '{key}': allowed {', '.join(SERIAL_OPTIONS)}.",
                field=key,
            )
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            raise DomainError(
                BAD_INPUT,
                f"Port setting {key} = {value!r} is not allowed: use one of "
                f"{', '.join(str(a) for a in allowed)}.",
                field=key,
            )
        out[key] = value
    return out


def _check_binding(
    ctx: AppContext, chair: str, protocol: str, url: str, baudrate: int
) -> tuple[str, str]:
    chairs = [str(c) for c in ctx.settings.get("general.chairs")]
    if chair not in chairs:
        raise DomainError(
            BAD_INPUT,
            f"Chair '{chair}' is not a clinic chair: use {', '.join(chairs)}.",
            field="chair",
        )
    if protocol not in SPECS:
        raise DomainError(
            BAD_INPUT,
            f"Protocol '{protocol}' is unknown: use one of {', '.join(SPECS)}.",
            field="protocol",
        )
    url = (url or "").strip()
    if not url:
        raise DomainError(BAD_INPUT, "Choose the monitor's port.", field="url")
    if baudrate not in BAUDRATES:
        raise DomainError(
            BAD_INPUT,
            f"Baud rate {baudrate} is not allowed: use one of "
            f"{', '.join(str(b) for b in BAUDRATES)}.",
            field="baudrate",
        )
    return chair, url


def _save_binding(
    ctx: AppContext,
    actor: Actor | None,
    chair: str,
    protocol: str,
    url: str,
    baudrate: int,
    options: Mapping[str, Any] | None,
    enabled: bool,
    username: str | None = None,
) -> BindingInfo:
    chair, url = _check_binding(ctx, str(chair), protocol, url, int(baudrate))
    opts = validate_options(options)
    now = ctx.now()
    station = ctx.config.station
    with ctx.tx() as s:
        same_port = select(DeviceBinding).where(
            DeviceBinding.url == url, DeviceBinding.chair != chair
        )
        if _local_port(url):
            # A serial port name (/dev/ttyUSB0, COM3) is a different port on each station.
            same_port = same_port.where(
                or_(DeviceBinding.station == station, DeviceBinding.station.is_(None))
            )
        other = s.execute(same_port.limit(1)).scalar_one_or_none()
        if other is not None:
            # One port feeds one chair: two chairs charting the same monitor would be a mix-up.
            raise DomainError(
                DUPLICATE,
                f"Port {url} already feeds chair {other.chair}: unbind it there first.",
                field="url",
            )
        row = s.execute(
            select(DeviceBinding).where(DeviceBinding.chair == chair)
        ).scalar_one_or_none()
        before = None
        if row is None:
            row = DeviceBinding(chair=chair)
            s.add(row)
        else:
            before = _binding_dict(row)
        row.protocol, row.url, row.baudrate = protocol, url, int(baudrate)
        row.options, row.enabled = opts, enabled
        row.updated_at = now
        row.updated_by = actor.user_id if actor else None
        # The monitor is plugged in where it is bound: this station opens the port from now on
        # (another station that ran it stops when it next restarts the chair's capture).
        row.station = station
        s.flush()
        ctx.audit(
            s,
            actor,
            "device.bind",
            "device_binding",
            chair,
            before=before,
            after=_binding_dict(row),
            username=username,
        )
        names = {actor.user_id: actor.full_name} if actor else {}
        return _info(row, names)


def _binding_dict(b: DeviceBinding) -> dict[str, Any]:
    return {
        "chair": b.chair,
        "protocol": b.protocol,
        "url": b.url,
        "baudrate": b.baudrate,
        "options": dict(b.options or {}),
        "enabled": b.enabled,
        "station": b.station,
    }


def _local_port(url: str) -> bool:
    """A port of the station's own hardware (a serial device name), not a network address."""
    return "://" not in url


def bind_device(
    ctx: AppContext,
    actor: Actor,
    chair: str,
    protocol: str,
    url: str,
    baudrate: int,
    options: Mapping[str, Any] | None = None,
    *,
    enabled: bool = True,
) -> BindingInfo:
    """Bind a monitor (protocol, port URL, port settings) to a chair, replacing its old binding.
    Audited. The capture bridge must be restarted for the chair to pick it up."""
    ctx.require(actor, "bind_device")
    return _save_binding(ctx, actor, chair, protocol, url, baudrate, options, enabled)


def bind_device_as_system(
    ctx: AppContext,
    chair: str,
    protocol: str,
    url: str,
    baudrate: int,
    options: Mapping[str, Any] | None = None,
    *,
    why: str = "(demo)",
) -> BindingInfo:
    """Bind without a signed-in user (the demo's simulated monitors); audited under `why`."""
    return _save_binding(ctx, None, chair, protocol, url, baudrate, options, True, username=why)


def _delete_binding(
    ctx: AppContext, actor: Actor | None, chair: str, username: str | None = None
) -> None:
    with ctx.tx() as s:
        row = s.execute(
            select(DeviceBinding).where(DeviceBinding.chair == str(chair))
        ).scalar_one_or_none()
        if row is None:
            raise DomainError(NOT_FOUND, f"Chair {chair} has no monitor bound.", field="chair")
        before = _binding_dict(row)
        s.delete(row)
        ctx.audit(
            s,
            actor,
            "device.unbind",
            "device_binding",
            str(chair),
            before=before,
            username=username,
        )


def unbind_device(ctx: AppContext, actor: Actor, chair: str) -> None:
    """Remove a chair's monitor binding. Audited. Stop the chair's capture after this."""
    ctx.require(actor, "bind_device")
    _delete_binding(ctx, actor, chair)


def unbind_device_as_system(ctx: AppContext, chair: str, *, why: str = "(demo)") -> None:
    """Remove a binding made by `bind_device_as_system`."""
    _delete_binding(ctx, None, chair, username=why)


# ---------------------------------------------------------------- start-up clean-up

CLEANUP_USERNAME = "(start-up clean-up)"
# The directory prefix of the demo's pseudo-terminal links (app/capture.py).
DEMO_PTY_PREFIX = "nursestation-monitors-"


def simulator_leftover_reason(b: BindingInfo | DeviceBinding) -> str | None:
    """Why a binding can only be a simulator's leftover, or None for a real monitor's binding.

    Two kinds: a binding no user made (`updated_by` empty: only the demo's simulated monitors
    bind as the system), and a pseudo-terminal or temporary-directory port that no longer
    exists (a pty lives only as long as the program that opened it). A missing real port such
    as /dev/ttyUSB0 is kept: an unplugged cable is a link problem the nurse must see.
    """
    updated_by = b.updated_by
    if updated_by is None:
        return "bound by a simulator, not by a user"
    url = b.url
    if "://" in url or os.path.exists(url):
        return None
    if _is_ephemeral_path(url):
        return f"pseudo-terminal {url} no longer exists"
    return None


def _is_ephemeral_path(url: str) -> bool:
    if url.startswith("/dev/pts/") or DEMO_PTY_PREFIX in url:
        return True
    path = Path(url)
    if not path.is_absolute():
        return False  # "COM3" and the like: a real port name, never a temporary file
    try:
        return path.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    except (OSError, ValueError):
        return False


def remove_simulator_leftovers(ctx: AppContext) -> list[str]:
    """Remove the bindings a simulator left behind (see `simulator_leftover_reason`), each
    audited as the system with its reason, in one transaction; end the chairs' technical alarms.
    Runs at start-up before capture starts, so such a binding never becomes a permanent "link
    lost" alarm. Returns the chairs cleaned."""
    removed: list[str] = []
    with ctx.tx() as s:
        for row in list(s.execute(select(DeviceBinding)).scalars()):
            reason = simulator_leftover_reason(row)
            if reason is None:
                continue
            before = _binding_dict(row)
            s.delete(row)
            ctx.audit(
                s,
                None,
                "device.unbind",
                "device_binding",
                row.chair,
                before=before,
                after={"reason": reason},
                username=CLEANUP_USERNAME,
            )
            removed.append(row.chair)
    for chair in removed:
        device_link_closed(ctx, chair)
    return removed


# ---------------------------------------------------------------- readings


def split_frames(readings: Sequence[Reading]) -> list[list[Reading]]:
    """Group a delivered batch into frames: a worker delivers what one read decoded, which may be
    several frames. A frame ends where a parameter repeats or a periodic value's device time
    changes (an NIBP value carries its own measurement time, so it never splits a frame)."""
    frames: list[list[Reading]] = []
    current: list[Reading] = []
    seen: set[str] = set()
    periodic_time: datetime | None = None
    for r in readings:
        new_time = (
            r.param not in NIBP_PARAMS
            and r.device_time is not None
            and periodic_time is not None
            and r.device_time != periodic_time
        )
        if current and (r.param in seen or new_time):
            frames.append(current)
            current, seen, periodic_time = [], set(), None
        current.append(r)
        seen.add(r.param)
        if r.param not in NIBP_PARAMS and r.device_time is not None:
            periodic_time = r.device_time
    if current:
        frames.append(current)
    return frames


def _device_time_text(r: Reading) -> str | None:
    return None if r.device_time is None else r.device_time.isoformat()


def _stored_nibp(
    s: Session, session_id: int, port: str, protocol: str, readings: Sequence[Reading]
) -> set[tuple[str | None, str, str | None]]:
    """(device_id, param, device_time) of valid NIBP values this session already stored (any
    earlier batch) for the devices in `readings`; the session_id index keeps this cheap."""
    times = {_device_time_text(r) for r in readings}
    conditions = []
    for device_id in {r.device_id for r in readings}:
        # The same device by serial number, or (none sent) the same port.
        same = (
            DeviceReading.device_id == device_id
            if device_id is not None
            else and_(DeviceReading.device_id.is_(None), DeviceReading.port == port)
        )
        conditions.append(same)
    rows = s.execute(
        select(DeviceReading.device_id, DeviceReading.param, DeviceReading.device_time).where(
            DeviceReading.session_id == session_id,
            DeviceReading.protocol == protocol,
            DeviceReading.quality == VALID,
            DeviceReading.param.in_(NIBP_PARAMS),
            DeviceReading.device_time.in_(times),
            or_(*conditions),
        )
    )
    return {(d, p, t) for d, p, t in rows}


def ingest_readings(
    ctx: AppContext, chair: str, port: str, protocol: str, readings: Sequence[Reading]
) -> IngestResult:
    """Store one delivered batch in one transaction: every reading in device_readings; the valid
    values of each frame as one vital_readings row (source device, observed at the host time) of
    the chair's open session, NIBP only once per measurement time; then the alarm evaluation.
    Without an open session the readings go to device_readings only. Questionable and
    unavailable values never reach vital_readings."""
    return ingest_batches(ctx, [(chair, port, protocol, readings)])[0]


Batch = tuple[str, str, str, Sequence[Reading]]  # chair, port, protocol, readings


def ingest_batches(ctx: AppContext, batches: Sequence[Batch]) -> list[IngestResult]:
    """Store several delivered batches (e.g. a monitor second of every chair) in ONE
    transaction, each exactly as `ingest_readings` stores it, in order: one commit (one fsync)
    instead of one per chair. All or nothing: when any part fails, nothing is stored and the
    caller keeps every batch for a retry. Run by one writer thread at a time (the capture
    bridge's), never concurrently with itself for the same chair."""
    from nursestation.app.alarms import alarm_center, on_reading_stored

    lists = [(c, p, pr, list(r)) for c, p, pr, r in batches]
    if not any(r for *_x, r in lists):
        return [IngestResult(0, (), None, 0) for _ in lists]
    # Restore the alarm state before this transaction's rows exist: built inside it, the restore
    # would take this batch's alarms for ones already present ("restored", not "raised").
    alarm_center(ctx)
    now = ctx.now()
    results: list[IngestResult] = []
    with ctx.tx() as s:
        open_now = open_sessions_by_chair(ctx, s)
        rows = _Rows(s)
        evaluate: dict[int, str] = {}
        for chair, port, protocol, readings in lists:
            results.append(
                _ingest_in(
                    s, rows, len(results), open_now.get(chair), chair, port, protocol, readings, now
                )
            )
        vital_ids = rows.store()
        for i, res in enumerate(results):
            if res.session_id is not None and i in vital_ids:
                results[i] = replace(res, vital_ids=vital_ids[i])
                evaluate[res.session_id] = lists[i][0]
        # Alarms once per session after its rows of this second, in the same transaction.
        if evaluate:
            on_reading_stored(ctx, s, evaluate)
    for chair, port, protocol, readings in lists:
        if readings:
            _note_readings(ctx, chair, port, protocol, readings)
    return results


@dataclass(frozen=True)
class OpenSession:
    """What the monitor writer needs of a chair's open session."""

    id: int
    checked_in_at: datetime


def open_sessions_by_chair(ctx: AppContext, s: Session) -> dict[str, OpenSession]:
    """The open session of every chair, as stored now (inside the writer's transaction). Kept
    in `ctx.open_chairs` under the change mark (AppContext.change_mark): a session opened or
    ended, in this process or another, writes an audit row, so it is seen by the next
    transaction; reading every chair's session by query each monitor second was a fifth of the
    writer's CPU."""
    mark = ctx.change_mark(s)
    hit = ctx.open_chairs
    if mark is not None and hit is not None and hit[0] == mark:
        return hit[1]
    found: dict[str, OpenSession] = {}
    for chair, sid, checked_in_at in s.execute(
        select(InfusionSession.chair, InfusionSession.id, InfusionSession.checked_in_at).where(
            InfusionSession.ended_at.is_(None)
        )
    ):
        if chair in found:
            raise DomainError(
                BAD_INPUT, f"Chair {chair} has two open sessions: {found[chair].id}, {sid}."
            )
        found[chair] = OpenSession(sid, checked_in_at)
    if mark is not None:
        ctx.open_chairs = (mark, found)
    return found


# Every column of a device's vital_readings row, as the ORM wrote it: an executemany needs
# the same keys in each row; the flags carry their model defaults.
_EMPTY_VITAL: dict[str, Any] = {
    **{c.name: None for c in VitalReading.__table__.columns if c.name != "id"},
    "late": False,
    "soft_confirmed": False,
    "is_baseline": False,
}


class _Rows:
    """The rows of one ingest transaction, inserted with one executemany per table (Core
    statements: the ORM's unit of work cost more than the rest of a monitor second). Device
    rows go in batch order; a batch that must check stored NIBP values first writes what is
    pending, so a repeat in an earlier batch of the same call is seen."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.device: list[dict[str, Any]] = []
        self.vital: list[tuple[int, dict[str, Any]]] = []  # (batch index, row)

    def flush_device(self) -> None:
        if self.device:
            table: Any = DeviceReading.__table__
            self.s.execute(insert(table), self.device)
            self.device = []

    def store(self) -> dict[int, tuple[int, ...]]:
        """Insert what is pending; the new vital_readings ids per batch index."""
        self.flush_device()
        if not self.vital:
            return {}
        table: Any = VitalReading.__table__
        ids = self.s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [row for _i, row in self.vital],
        ).scalars()
        out: dict[int, list[int]] = {}
        for (i, _row), vid in zip(self.vital, ids, strict=True):
            out.setdefault(i, []).append(vid)
        self.vital = []
        return {i: tuple(v) for i, v in out.items()}


def _ingest_in(
    s: Session,
    rows: _Rows,
    index: int,
    session: OpenSession | None,
    chair: str,
    port: str,
    protocol: str,
    readings: Sequence[Reading],
    now: datetime,
) -> IngestResult:
    if not readings:
        return IngestResult(0, (), None, 0)
    repeats = 0
    sid = session.id if session is not None else None
    nibp_valid = [r for r in readings if r.param in NIBP_PARAMS and r.is_valid and r.device_time]
    already: set[tuple[str | None, str, str | None]] = set()
    if sid is not None and nibp_valid:
        rows.flush_device()  # an earlier batch of this call may hold the same measurement
        already = _stored_nibp(s, sid, port, protocol, nibp_valid)
    rows.device.extend(
        {
            "session_id": sid,
            "chair": chair,
            "port": port,
            "protocol": protocol,
            "device_id": r.device_id,
            "param": r.param,
            "value": r.value,
            "unit": r.unit,
            "quality": r.quality,
            "reason": r.reason,
            "device_time": _device_time_text(r),
            "host_time": r.host_time,
        }
        for r in readings
    )
    if sid is None or session is None:
        return IngestResult(len(readings), (), None, 0)
    for frame in split_frames(readings):
        values: dict[str, float] = {}
        device_id = None
        for r in frame:
            column = VITAL_COLUMN.get(r.param)
            if column is None or not r.is_valid or r.value is None:
                continue
            key = (r.device_id, r.param, _device_time_text(r))
            if r.param in NIBP_PARAMS and r.device_time is not None:
                if key in already:
                    repeats += 1
                    continue
                already.add(key)  # a repeat later in this same batch is one too
            values[column] = r.value
            device_id = device_id or r.device_id
        # A frame received before the check-in is not this patient's reading (it stays in
        # device_readings): it must never become the session's baseline.
        if not values or frame[0].host_time < session.checked_in_at:
            continue
        rows.vital.append(
            (
                index,
                {
                    **_EMPTY_VITAL,
                    "session_id": sid,
                    "observed_at": frame[0].host_time,
                    "recorded_at": now,
                    "source": "device",
                    "device_port": port,
                    "device_protocol": protocol,
                    "device_id": device_id,
                    **values,
                },
            )
        )
    return IngestResult(len(readings), (), sid, repeats)


def _note_readings(
    ctx: AppContext, chair: str, port: str, protocol: str, readings: Sequence[Reading]
) -> None:
    h = _health_map(ctx).setdefault(chair, _Health(since=ctx.now()))
    h.port, h.protocol = port, protocol
    for r in readings:
        h.latest[r.param] = LiveValue(r.param, r.value, r.unit, r.quality, r.reason, r.host_time)
        h.last_frame_at = r.host_time


# ---------------------------------------------------------------- link state


def device_state_changed(
    ctx: AppContext,
    chair: str,
    state: str,
    detail: str,
    *,
    port: str | None = None,
    protocol: str | None = None,
) -> None:
    """A capture worker's state for `chair`: kept in `ctx.device_states` (the chair board) and
    turned into technical alarms: silent, unreadable and disconnected raise theirs (and end the
    other two), receiving ends them all. Connecting changes no alarm: a reconnect attempt is not
    a recovery, and clearing on it would make the alarm flap at every retry."""
    from nursestation.app import alarms

    if state not in STATES:
        raise DomainError(BAD_INPUT, f"Unknown device state '{state}'.", field="state")
    _states(ctx)[chair] = state
    h = _health_map(ctx).setdefault(chair, _Health())
    if h.state != state or h.since is None:
        h.since = ctx.now()
    h.state, h.detail = state, detail
    if port is not None:
        h.port = port
    if protocol is not None:
        h.protocol = protocol
    if state == CONNECTING:
        return
    code = TECHNICAL_CODE_FOR_STATE.get(state)
    for other in TECHNICAL_CODES:
        if other != code:
            alarms.clear_technical(ctx, chair, other)
    if code is not None:
        # Short enough for a chair card; the worker's full detail is in link_health().detail.
        port_name = (port or "").rstrip("/").rsplit("/", 1)[-1]
        where = f" ({protocol}, {port_name})" if port_name and protocol else ""
        alarms.raise_technical(ctx, chair, code, f"{_TECH_TEXT[code]}{where}")


def device_link_closed(ctx: AppContext, chair: str) -> None:
    """The chair's capture was stopped on purpose (unbind, restart, shutdown): forget its state
    and end its technical alarms (a stopped worker is not a failed link)."""
    from nursestation.app import alarms

    _states(ctx).pop(chair, None)
    _health_map(ctx).pop(chair, None)
    for code in TECHNICAL_CODES:
        alarms.clear_technical(ctx, chair, code)


def link_health(ctx: AppContext, chair: str) -> LinkHealth | None:
    """The chair's monitor link as last reported (None when no capture ran for it)."""
    h = _health_map(ctx).get(chair)
    if h is None:
        return None
    latest = tuple(sorted(h.latest.values(), key=lambda v: v.param))
    return LinkHealth(
        chair,
        h.state,
        h.detail,
        h.since or ctx.now(),
        h.last_frame_at,
        h.port,
        h.protocol,
        latest,
    )
