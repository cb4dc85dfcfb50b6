"""The capture worker: one thread per port that opens, reads, decodes, reconnects and watches.

States reported through `on_state(state, detail)`:
`connecting` (opening the port), `receiving` (valid frames arriving), `silent` (no valid frame for
the protocol's silence time: values are stale), `unreadable` (bytes arrive but none form a valid
frame: baud rate, output mode or cable), `disconnected` (the port failed or vanished; a reconnect
follows with exponential backoff, or the worker was stopped).
Both callbacks run on the worker thread: a GUI adapter must hand them over to its own thread.

Replies (HL7 ACKs): with `on_batch` given, each received message's readings are delivered with
a `Receipt` and its ACK is held until whoever stores them reports the outcome (`Receipt.done`):
the worker then sends "accepted" (as decoded) once they are stored, AE when the store failed,
in the order the messages came. Without `on_batch` (tools and tests that store nothing), ACKs
go out as soon as the message is decoded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import serial

from nursestation.clinic import ClinicSettings, load_defaults
from nursestation.clock import Clock, SystemClock
from nursestation.devices.base import BaseDecoder, HeldReply
from nursestation.devices.rawlog import RawRecorder
from nursestation.devices.reading import NIBP_PARAMS, DecodeStats, Reading
from nursestation.devices.registry import SPECS, decoder_for

log = logging.getLogger(__name__)

CONNECTING = "connecting"
RECEIVING = "receiving"
SILENT = "silent"
UNREADABLE = "unreadable"
DISCONNECTED = "disconnected"
STATES = (CONNECTING, RECEIVING, SILENT, UNREADABLE, DISCONNECTED)

# Worker state → technical alarm code of nursestation.alarms.TECHNICAL_CODES (None: clear them).
TECHNICAL_CODE_FOR_STATE: dict[str, str | None] = {
    RECEIVING: None,
    CONNECTING: None,
    SILENT: "no_device_data",
    UNREADABLE: "unreadable_data",
    DISCONNECTED: "device_link_lost",
}


def default_baud(protocol: str) -> int:
    """The protocol's default port speed (its registered description), 9600 when unknown."""
    spec = SPECS.get(protocol)
    return spec.baudrate if spec is not None else 9600


ReadingsCallback = Callable[[list[Reading]], None]
BatchCallback = Callable[[list[Reading], "Receipt | None"], None]
StateCallback = Callable[[str, str], None]
PortFactory = Callable[[], serial.SerialBase]


class Receipt:
    """The storage outcome of one delivered batch: set once by whoever stores it (any thread),
    read by the capture worker, which holds the message's ACK until then."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.stored = False
        self.why = ""

    def done(self, stored: bool, why: str = "") -> None:
        """Report the outcome: `stored` True once the batch is committed; False with `why`
        when it was not (and will not be: the sender is told so and may send it again)."""
        if self._done.is_set():
            return  # the first outcome stands
        self.stored, self.why = stored, why
        self._done.set()

    @property
    def resolved(self) -> bool:
        """True once `done` was called."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the outcome (tests); True when it came."""
        return self._done.wait(timeout)


@dataclass(frozen=True)
class CaptureTimings:
    """Watchdog times from the `devices.capture` settings section."""

    silence_s: Mapping[str, float]
    unreadable_s: float

    @classmethod
    def from_settings(cls, settings: ClinicSettings) -> CaptureTimings:
        """Build from clinic settings."""
        section = settings.section("devices.capture")
        return cls(
            silence_s={k: float(v) for k, v in section["silence_s"].items()},
            unreadable_s=float(section["unreadable_s"]),
        )

    def silence_for(self, protocol: str) -> float:
        """Seconds without a valid frame before `protocol` is reported silent: the clinic's
        setting, else the protocol's own default (its ProtocolSpec)."""
        if protocol in self.silence_s:
            return self.silence_s[protocol]
        spec = SPECS.get(protocol)
        if spec is not None:
            return spec.silence_s
        return max(self.silence_s.values(), default=3.0)


class NibpDeduplicator:
    """Passes each NIBP measurement once: monitors repeat the last one with its old time.

    A sys/dia/mean reading whose device (measurement) time is not newer than the last one passed
    for the same device and parameter is dropped. Readings without a device time pass.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str | None, str], datetime] = {}

    def filter(self, readings: list[Reading]) -> list[Reading]:
        """The readings minus re-sent NIBP measurements."""
        out: list[Reading] = []
        for r in readings:
            if r.param in NIBP_PARAMS and r.device_time is not None:
                key = (r.device_id, r.param)
                last = self._last.get(key)
                if last is not None and _not_newer(r.device_time, last):
                    continue
                self._last[key] = r.device_time
            out.append(r)
        return out


def _not_newer(when: datetime, last: datetime) -> bool:
    try:
        return when <= last
    except TypeError:  # naive vs aware: only an identical stamp is a repeat
        return when.replace(tzinfo=None) == last.replace(tzinfo=None)


class LinkWatch:
    """Judges a port from when bytes and valid frames arrived (monotonic seconds; Qt-free and
    clock-free, so it is tested with plain numbers).

    - silent: no valid frame for `silence_s` (values are stale).
    - unreadable: no valid frame for `unreadable_after` = min(unreadable_s, silence_s), while
      bytes kept arriving (for at least `sustain_s`, the last one within `unreadable_after`)
      and the decoder threw most of them away: noise, a wrong baud rate or output mode. So
      noise is reported within the silence time, and instead of "silent", not after it.
    A quiet pause is never "unreadable": the junk window restarts after a gap of
    `unreadable_after` without bytes (so the first bytes after a pause are not "sustained"),
    and bytes the decoder keeps (a frame in progress, a lock being confirmed) are no junk.
    """

    SUSTAIN_S = 1.0

    def __init__(self, silence_s: float, unreadable_s: float, opened: float) -> None:
        self.silence_s = silence_s
        self.unreadable_after = min(unreadable_s, silence_s)
        self.sustain_s = min(self.SUSTAIN_S, self.unreadable_after / 2)
        self.opened = opened
        self.last_frame: float | None = None
        self.last_bytes: float | None = None
        self.junk_since: float | None = None
        self.junk_bytes = 0
        self.junk_skipped = 0

    def on_bytes(self, mono: float, count: int, skipped: int, framed: bool) -> None:
        """`count` bytes read at `mono`; the decoder skipped `skipped` bytes while reading them,
        and `framed` says whether they completed at least one valid frame."""
        if framed:
            self.last_frame = mono
            self.junk_since = None
            self.junk_bytes = self.junk_skipped = 0
        else:
            gap = self.last_bytes is not None and mono - self.last_bytes >= self.unreadable_after
            if self.junk_since is None or gap:
                self.junk_since = mono
                self.junk_bytes = self.junk_skipped = 0
            self.junk_bytes += count
            self.junk_skipped += skipped
        self.last_bytes = mono

    def quiet(self, mono: float) -> float:
        """Seconds since the last valid frame (or since the port opened)."""
        return mono - (self.last_frame if self.last_frame is not None else self.opened)

    def verdict(self, mono: float) -> str | None:
        """UNREADABLE, SILENT, or None while frames arrive in time."""
        if (
            self.junk_since is not None
            and self.last_bytes is not None
            and self.quiet(mono) >= self.unreadable_after
            and mono - self.junk_since >= self.sustain_s
            and mono - self.last_bytes < self.unreadable_after
            and self.junk_skipped * 2 > self.junk_bytes
        ):
            return UNREADABLE
        if self.quiet(mono) >= self.silence_s:
            return SILENT
        return None


# How long one port read waits for a first byte. A read returns as soon as bytes arrive, so this
# adds no latency to data; it bounds how often an idle worker wakes (12 chairs at 50 ms cost ~2 % of
# a core in bench/stream.py) and how late a stop is seen on ports without cancel_read.
READ_TIMEOUT_S = 0.25


class CaptureWorker(threading.Thread):
    """Reads one port (any pyserial URL) and delivers readings and state changes by callback."""

    def __init__(
        self,
        url: str,
        protocol: str,
        on_readings: ReadingsCallback,
        on_state: StateCallback,
        *,
        settings: ClinicSettings | None = None,
        baudrate: int | None = None,
        serial_options: Mapping[str, object] | None = None,
        port_factory: PortFactory | None = None,
        read_timeout: float = READ_TIMEOUT_S,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        silence_s: float | None = None,
        unreadable_s: float | None = None,
        reopen_silent_s: float = 60.0,
        clock: Clock | None = None,
        recorder: RawRecorder | None = None,
        dedupe_nibp: bool = True,
        name: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_batch: BatchCallback | None = None,
    ) -> None:
        super().__init__(name=name or f"capture {url}", daemon=True)
        settings = settings if settings is not None else load_defaults()
        timings = CaptureTimings.from_settings(settings)
        self.url = url
        self.protocol = protocol
        self.decoder: BaseDecoder = decoder_for(protocol, settings)
        self.on_readings = on_readings
        self.on_state = on_state
        # With on_batch, readings go there with a Receipt when an ACK waits for their storage.
        self.on_batch = on_batch
        self.decoder.hold_replies = on_batch is not None
        self._pending_acks: deque[tuple[Receipt, HeldReply]] = deque()
        self.baudrate = baudrate or default_baud(protocol)
        self.serial_options = dict(serial_options or {})
        self.port_factory = port_factory
        self.read_timeout = read_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.silence_s = silence_s if silence_s is not None else timings.silence_for(protocol)
        self.unreadable_s = unreadable_s if unreadable_s is not None else timings.unreadable_s
        self.reopen_silent_s = reopen_silent_s
        self.clock = clock or SystemClock()
        self.recorder = recorder
        self._monotonic = monotonic  # the watchdog's clock (a fake one in tests)
        self._dedupe = NibpDeduplicator() if dedupe_nibp else None
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._state = ""
        self._latest: dict[str, Reading] = {}
        self._port: serial.SerialBase | None = None
        self.connections = 0
        # The delays actually waited before each reconnect, newest last (for diagnostics/tests).
        self.retry_delays: deque[float] = deque(maxlen=64)

    # ------------------------------------------------------------ public API

    @property
    def state(self) -> str:
        """The last reported state."""
        return self._state

    @property
    def stats(self) -> DecodeStats:
        """Decoder counters across all connections."""
        return self.decoder.stats

    @property
    def stale(self) -> bool:
        """True when the latest values must not be shown as current (not receiving)."""
        return self._state != RECEIVING

    def latest(self) -> dict[str, Reading]:
        """The last reading per parameter (check `stale` before showing them as current)."""
        with self._lock:
            return dict(self._latest)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish, close the port and wait for it."""
        self._stop_event.set()
        port = self._port
        if port is not None:
            # Not every URL handler supports cancel_read; the short read timeout covers those.
            with contextlib.suppress(Exception):
                port.cancel_read()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    # ------------------------------------------------------------ thread body

    def run(self) -> None:
        backoff = self.backoff_initial
        quiet_reopen = False
        while not self._stop_event.is_set():
            if not quiet_reopen:
                self._set_state(CONNECTING, f"opening {self.url}")
            quiet_reopen = False
            try:
                port = self._open()
            except Exception as exc:
                self._set_state(DISCONNECTED, f"cannot open {self.url}: {_describe(exc)}")
                self.retry_delays.append(backoff)
                if self._stop_event.wait(backoff):
                    break
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._port = port
            self.connections += 1
            frames_before = self.decoder.stats.frames
            try:
                self._pump(port)
                reason = "stopped"
            except _Reopen:
                # Our own reopen after a long silence or noise: the link did not fail, so the
                # silent/unreadable state (and its alarm) stays instead of flapping to "link lost".
                quiet_reopen = True
                reason = ""
            except Exception as exc:
                # Any exception means the link is gone (SerialException, OSError, termios.error…).
                reason = f"{self.url}: {_describe(exc)}"
            finally:
                self._port = None
                _close_quietly(port)
                # ACKs of the closed connection cannot be sent: the sender will send again.
                self._pending_acks.clear()
            if quiet_reopen and not self._stop_event.is_set():
                self.retry_delays.append(0.0)
                continue
            self._set_state(DISCONNECTED, reason or "stopped")
            if self._stop_event.is_set():
                break
            if self.decoder.stats.frames > frames_before:
                backoff = self.backoff_initial  # the link worked: retry quickly
            self.retry_delays.append(backoff)
            if self._stop_event.wait(backoff):
                break
            backoff = min(backoff * 2, self.backoff_max)
        if self._state != DISCONNECTED:
            self._set_state(DISCONNECTED, "stopped")
        if self.recorder is not None:
            self.recorder.close()

    def _open(self) -> serial.SerialBase:
        if self.port_factory is not None:
            return self.port_factory()
        options: dict[str, object] = {
            "baudrate": self.baudrate,
            "timeout": self.read_timeout,
            "write_timeout": 1.0,
        }
        if "://" not in self.url:
            options["exclusive"] = True
        options.update(self.serial_options)
        return serial.serial_for_url(self.url, **options)

    def _pump(self, port: serial.SerialBase) -> None:
        self.decoder.reset()
        opened = self._monotonic()
        watch = LinkWatch(self.silence_s, self.unreadable_s, opened)
        last_path_check = opened
        units_seen = self.decoder.complete_units
        is_path = "://" not in self.url
        while not self._stop_event.is_set():
            waiting = port.in_waiting
            data = port.read(waiting or 1)
            mono = self._monotonic()
            if data:
                now = self.clock.now()
                if self.recorder is not None:
                    self.recorder.rx(now, data)
                skipped_before = self.decoder.stats.bytes_skipped
                readings = self.decoder.feed(data, now)
                held = self.decoder.take_held()
                reply = self.decoder.take_replies()
                if reply:
                    self._send(port, reply, now)
                framed = self.decoder.complete_units != units_seen
                skipped = self.decoder.stats.bytes_skipped - skipped_before
                watch.on_bytes(mono, len(data), skipped, framed)
                if framed:
                    units_seen = self.decoder.complete_units
                    if self._state != RECEIVING:
                        self._set_state(RECEIVING, f"{self.protocol} frames from {self.url}")
                if held:
                    readings = self._deliver_held(readings, held)
                if self._dedupe is not None:
                    readings = self._dedupe.filter(readings)
                if readings:
                    self._deliver(readings)
            if self._pending_acks:
                self._send_acks(port)
            if is_path and mono - last_path_check >= 1.0:
                last_path_check = mono
                if not os.path.exists(self.url):
                    raise OSError(f"{self.url} vanished")
            self._watchdog(watch, mono)

    def _watchdog(self, watch: LinkWatch, mono: float) -> None:
        verdict = watch.verdict(mono)
        quiet = watch.quiet(mono)
        if verdict == UNREADABLE and self._state != UNREADABLE:
            self._set_state(
                UNREADABLE,
                f"bytes arrive but no valid {self.protocol} frame for {quiet:.0f} s: "
                "check baud rate, device output mode and cable; values are stale",
            )
        elif verdict == SILENT and self._state != SILENT:
            self._set_state(SILENT, f"no valid frame for {quiet:.0f} s; values are stale")
        if quiet >= self.reopen_silent_s:
            raise _Reopen(f"no valid frame for {quiet:.0f} s; reopening the port")

    def _send(self, port: serial.SerialBase, reply: bytes, now: datetime) -> None:
        port.write(reply)
        if self.recorder is not None:
            self.recorder.tx(now, reply)

    def _deliver_held(self, readings: list[Reading], held: list[HeldReply]) -> list[Reading]:
        """Deliver each acknowledged message's readings with a Receipt and queue its ACK until
        the receipt is resolved; returns the readings of no message (none in practice)."""
        at = 0
        for unit in held:
            batch = readings[at : at + unit.count]
            at += unit.count
            if self._dedupe is not None:
                batch = self._dedupe.filter(batch)
            receipt = Receipt()
            if unit.dropped:
                receipt.done(False, "message could not be decoded")
            elif not batch:
                receipt.done(True)  # nothing to store: the ACK says what was decoded
            else:
                self._deliver(batch, receipt if unit.accepted is not None else None)
                if unit.accepted is None:
                    receipt.done(True)  # no ACK wanted: nothing waits for the store
            if unit.accepted is not None or unit.refused is not None:
                self._pending_acks.append((receipt, unit))
        return readings[at:]

    def _send_acks(self, port: serial.SerialBase) -> None:
        """Send the held ACKs whose batches have an outcome, oldest first (the order the
        messages came; a later message's ACK never overtakes an earlier one)."""
        while self._pending_acks and self._pending_acks[0][0].resolved:
            receipt, unit = self._pending_acks.popleft()
            reply = unit.reply(receipt.stored, receipt.why)
            if reply:
                self._send(port, reply, self.clock.now())

    def _deliver(self, readings: list[Reading], receipt: Receipt | None = None) -> None:
        with self._lock:
            for r in readings:
                self._latest[r.param] = r
        try:
            if self.on_batch is not None:
                self.on_batch(readings, receipt)
            else:
                self.on_readings(readings)
        except Exception as exc:
            log.exception("on_readings callback failed for %s", self.url)
            if receipt is not None:
                receipt.done(False, f"not handed over for storage: {_describe(exc)}")

    def _set_state(self, state: str, detail: str) -> None:
        self._state = state
        if self.recorder is not None:
            self.recorder.event(self.clock.now(), state, detail)
        try:
            self.on_state(state, detail)
        except Exception:
            log.exception("on_state callback failed for %s", self.url)


class _Reopen(Exception):
    """Raised inside the pump to close and reopen a port that gave no valid frame for long."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(port: serial.SerialBase) -> None:
    # Closing a vanished device can fail; it is gone either way.
    with contextlib.suppress(Exception):
        port.close()
