"""Simulated bedside monitors: frame encoders, a patient model and a session player per protocol.

The player produces a realistic session on a simulated timeline (baseline about 125/80, HR about
75, SpO2 97–99, a BP rise between 30 and 40 minutes) and writes it to a sink (a pyserial URL, a
file descriptor, a pseudo-terminal, or a TCP server on 127.0.0.1) at `speed` times real time. It
injects faults from a schedule or on demand: garbage, half frames, bad checksums, silence, cable
pull and probe off.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import random
import select
import socket
import threading
import time
import tty
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import serial

from nursestation.devices.hl7 import hl7_oru
from nursestation.devices.masimo import masimo_line
from nursestation.devices.nonin import nonin_df8_frame, nonin_packet
from nursestation.devices.protocol import SimFrame, Vitals
from nursestation.devices.registry import protocol_spec

# The frame encoders live in their protocol modules; named here for the tools and tests that
# build frames by hand.
__all__ = [
    "FAULT_KINDS",
    "CablePulled",
    "Fault",
    "FdSink",
    "PatientModel",
    "PtyPort",
    "SerialSink",
    "SessionPlayer",
    "Sink",
    "TcpServerSink",
    "Vitals",
    "hl7_oru",
    "masimo_line",
    "nonin_df8_frame",
    "nonin_packet",
]

FAULT_KINDS = ("garbage", "half_frame", "bad_checksum", "silence", "cable_pull", "probe_off")


@dataclass(frozen=True)
class PatientModel:
    """A deterministic patient: baseline with small noise and a ketamine BP rise at 30–40 min."""

    seed: int = 0
    sbp: float = 125.0
    dbp: float = 80.0
    hr: float = 75.0
    rise_start_s: float = 30 * 60
    rise_end_s: float = 40 * 60
    sbp_rise: float = 30.0
    dbp_rise: float = 15.0
    hr_rise: float = 10.0

    def at(self, t_s: float) -> Vitals:
        """Values at `t_s` seconds into the session (same seed and second → same values)."""
        rng = random.Random(self.seed * 1_000_003 + int(t_s))
        bump = 0.0
        if self.rise_start_s <= t_s <= self.rise_end_s:
            bump = math.sin(
                math.pi * (t_s - self.rise_start_s) / (self.rise_end_s - self.rise_start_s)
            )
        sbp = round(self.sbp + self.sbp_rise * bump + rng.uniform(-3, 3))
        dbp = round(self.dbp + self.dbp_rise * bump + rng.uniform(-2, 2))
        return Vitals(
            sbp=sbp,
            dbp=dbp,
            map=round(dbp + (sbp - dbp) / 3),
            hr=round(self.hr + self.hr_rise * bump + rng.uniform(-2, 2)),
            spo2=rng.choice((97, 98, 98, 99)),
            rr=rng.choice((13, 14, 14, 15, 16)),
            etco2=rng.choice((36, 37, 38, 39)),
            temp_c=round(36.8 + rng.uniform(-0.1, 0.1), 1),
            pi=round(rng.uniform(2.0, 5.0), 2),
        )


# ---------------------------------------------------------------- frame encoders


# ---------------------------------------------------------------- sinks


class Sink(Protocol):
    """Where the simulated device writes its bytes."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialSink:
    """Writes to any pyserial URL (`loop://`, a device path, `socket://…`)."""

    def __init__(self, url: str, port: serial.SerialBase | None = None, **kwargs: object) -> None:
        self.port = port if port is not None else serial.serial_for_url(url, timeout=0, **kwargs)

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def close(self) -> None:
        self.port.close()


class FdSink:
    """Writes to a file descriptor (a pty master or a pipe); `close()` closes the fd."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class PtyPort:
    """A pseudo-terminal standing in for a USB-serial adapter, reachable through a stable symlink.

    `pull()` closes both ends (the reader sees an I/O error, like a cable pull); `replug()` makes a
    new pty and points the same symlink at it, like a device re-enumerating.
    """

    def __init__(self, link: Path) -> None:
        self.link = Path(link)
        self.master = -1
        self.slave = -1
        self.replug()

    def replug(self) -> None:
        """Open a fresh pty pair and (atomically) point the link at its slave."""
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no CR/LF translation or echo before the reader configures it
        tmp = self.link.with_name(self.link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link)

    def pull(self) -> None:
        """Close both ends and remove the link (the device node disappears)."""
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1
        self.link.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        if self.master < 0:
            raise OSError("pty is unplugged")
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def read_available(self) -> bytes:
        """Bytes the reader wrote back (e.g. HL7 ACKs), without blocking."""
        if self.master < 0:
            return b""
        ready, _, _ = select.select([self.master], [], [], 0)
        return os.read(self.master, 65536) if ready else b""

    def close(self) -> None:
        self.pull()


class TcpServerSink:
    """A TCP server on 127.0.0.1 that sends to the first client (`socket://127.0.0.1:PORT`).

    Bytes written while no client is connected are dropped, as a real device would lose them.
    Whatever the client sends back (HL7 ACKs) is collected in `received`.
    """

    def __init__(self, port: int = 0) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(1)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.client: socket.socket | None = None
        self.received = bytearray()

    def _accept(self) -> None:
        if self.client is None:
            try:
                self.client, _ = self.server.accept()
                self.client.setblocking(True)
                self.client.settimeout(2.0)
            except BlockingIOError:
                pass

    def wait_for_client(self, timeout: float = 5.0) -> bool:
        """Block until a client connected (or `timeout` passed)."""
        deadline = time.monotonic() + timeout
        while self.client is None and time.monotonic() < deadline:
            self._accept()
            time.sleep(0.01)
        return self.client is not None

    def write(self, data: bytes) -> None:
        self._accept()
        if self.client is None:
            return
        try:
            self.client.sendall(data)
            ready, _, _ = select.select([self.client], [], [], 0)
            if ready:
                chunk = self.client.recv(65536)
                if not chunk:
                    raise ConnectionResetError("client closed")
                self.received += chunk
        except OSError:
            self.client.close()
            self.client = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.server.close()


# ---------------------------------------------------------------- session player


@dataclass(frozen=True)
class Fault:
    """A fault at `at_s` simulated seconds; `duration_s` for silence and probe off."""

    at_s: float
    kind: str
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault '{self.kind}': use one of {', '.join(FAULT_KINDS)}")


class CablePulled(Exception):
    """Raised inside the event stream when a cable-pull fault is reached."""


@dataclass
class SessionPlayer:
    """Plays one simulated monitoring session for `protocol` onto a sink."""

    protocol: str
    duration_s: float = 3600.0
    speed: float = 1.0
    start: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    patient: PatientModel = field(default_factory=PatientModel)
    faults: Sequence[Fault] = ()
    nibp_interval_s: float = 300.0
    tick_s: float | None = None  # None: how often the protocol sends (its ProtocolSpec)
    device_tz: timezone = UTC
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            self.spec = protocol_spec(self.protocol)
        except ValueError:
            raise ValueError(f"no simulator for protocol '{self.protocol}'") from None
        self._pending: queue.Queue[Fault] = queue.Queue()
        self._rng = random.Random(self.seed)
        self.frames_written = 0

    def inject(self, kind: str, duration_s: float = 0.0) -> None:
        """Apply a fault at the next frame (thread-safe; for use while `play` runs)."""
        self._pending.put(Fault(0.0, kind, duration_s))

    # -- timeline

    def _ticks(self) -> Iterator[float]:
        step = self.tick_s if self.tick_s is not None else self.spec.tick_s
        n = 0
        while n * step < self.duration_s:
            yield n * step
            n += 1

    def events(self) -> Iterator[tuple[float, bytes]]:
        """The session as (simulated seconds, bytes) with scheduled and injected faults applied.

        A cable-pull fault ends the stream by raising CablePulled.
        """
        scheduled = sorted(self.faults, key=lambda f: f.at_s)
        silent_until = -1.0
        probe_off_until = -1.0
        pending_once: list[str] = []
        last_nibp: tuple[int, int, int, datetime] | None = None
        next_nibp = 60.0
        for n, t in enumerate(self._ticks()):
            due = []
            while scheduled and scheduled[0].at_s <= t:
                due.append(scheduled.pop(0))
            while not self._pending.empty():
                due.append(self._pending.get_nowait())
            for fault in due:
                if fault.kind == "cable_pull":
                    raise CablePulled(f"cable pulled at {t:.1f} s")
                if fault.kind == "silence":
                    silent_until = t + fault.duration_s
                elif fault.kind == "probe_off":
                    probe_off_until = t + fault.duration_s
                else:
                    pending_once.append(fault.kind)
            if t < silent_until:
                continue
            probe_off = t < probe_off_until
            vitals = self.patient.at(t)
            when = self.start + timedelta(seconds=t)
            if self.spec.sends_nibp and t >= next_nibp:
                measured = when.astimezone(self.device_tz)
                last_nibp = (vitals.sbp, vitals.dbp, vitals.map, measured)
                next_nibp += self.nibp_interval_s
            frame = self._frame(n, t, when, None if probe_off else vitals, last_nibp, pending_once)
            pending_once = []
            yield t, frame

    def _frame(
        self,
        n: int,
        t: float,
        when: datetime,
        vitals: Vitals | None,
        nibp: tuple[int, int, int, datetime] | None,
        faults: list[str],
    ) -> bytes:
        local = when.astimezone(self.device_tz)
        frame = self.spec.simulate(SimFrame(n, local, vitals, nibp, "bad_checksum" in faults))
        if "half_frame" in faults:
            frame = frame[: max(1, len(frame) // 2)]
        if "garbage" in faults:
            frame = bytes(self._rng.randrange(256) for _ in range(24)) + frame
        return frame

    def render(self) -> bytes:
        """The whole session as one byte string (stops early at a cable pull)."""
        out = bytearray()
        try:
            for _, frame in self.events():
                out += frame
        except CablePulled:
            pass
        return bytes(out)

    def play(self, sink: Sink, stop: threading.Event | None = None) -> str:
        """Write the session to `sink` in scaled real time; returns why it ended.

        Ends with "done", "stopped" (the event was set), "cable_pull" (the sink is closed) or
        "sink_error" (the sink failed, e.g. the reader's side vanished).
        """
        stop = stop or threading.Event()
        t0 = time.monotonic()
        try:
            for t, frame in self.events():
                delay = t0 + t / self.speed - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return "stopped"
                if stop.is_set():
                    return "stopped"
                try:
                    sink.write(frame)
                except OSError:
                    return "sink_error"
                self.frames_written += 1
        except CablePulled:
            sink.close()
            return "cable_pull"
        return "done"
