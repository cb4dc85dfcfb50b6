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

from nursestation.devices.hl7 import hl7_timestamp, mllp_wrap
from nursestation.devices.nonin import GPRF, SNSA, SYNC

FAULT_KINDS = ("garbage", "half_frame", "bad_checksum", "silence", "cable_pull", "probe_off")


@dataclass(frozen=True)
class Vitals:
    """The simulated patient's true values at one instant."""

    sbp: int
    dbp: int
    map: int
    hr: int
    spo2: int
    rr: int
    etco2: int
    temp: float
    pi: float


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
            temp=round(36.8 + rng.uniform(-0.1, 0.1), 1),
            pi=round(rng.uniform(2.0, 5.0), 2),
        )


# ---------------------------------------------------------------- frame encoders


def masimo_line(
    when: datetime,
    vitals: Vitals | None,
    serial_no: str = "0000056661",
    exc: int = 0x000800,
    alarm: int = 0,
) -> bytes:
    """One ASCII 1 line as a Rad-8 sends it; `vitals=None` writes dashes (no value)."""
    if vitals is None:
        spo2, bpm, pi = "---", "---", "--.--"
    else:
        spo2, bpm, pi = f"{vitals.spo2:03d}", f"{vitals.hr:03d}", f"{vitals.pi:05.2f}"
    return (
        f"{when:%m/%d/%y %H:%M:%S} SN={serial_no} SPO2={spo2}% BPM={bpm} PI={pi}% "
        f"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM={alarm:04X} EXC={exc:06X}\r\n"
    ).encode("ascii")


def nonin_df8_frame(hr: int, spo2: int, status: int = 0, status2: int = 0) -> bytes:
    """A Data Format #8 frame; `status` bits 6..2 and `status2` bits as in devices.md §1.2."""
    return bytes(
        [0x80 | (status & 0x7C) | ((hr >> 7) & 0x03), hr & 0x7F, spo2 & 0x7F, status2 & 0x7F]
    )


def nonin_packet(
    hr: int,
    spo2: int,
    status: int = GPRF,
    start_byte: bool = False,
    phase: int = 0,
    corrupt_frame: int | None = None,
) -> bytes:
    """25 frames of Data Format #7 (or #2 with `start_byte`) carrying HR/SpO2 in every slot."""
    floats = [0] * 25
    hr_msb, hr_lsb = (hr >> 7) & 0x03, hr & 0x7F
    floats[0], floats[1], floats[2], floats[3] = hr_msb, hr_lsb, spo2 & 0x7F, 0x30
    floats[5], floats[6] = (phase >> 7) & 0x7F, phase & 0x7F
    floats[8], floats[9], floats[10] = spo2 & 0x7F, spo2 & 0x7F, spo2 & 0x7F
    floats[13], floats[14], floats[15], floats[16] = hr_msb, hr_lsb, spo2 & 0x7F, spo2 & 0x7F
    floats[19], floats[20], floats[21], floats[22] = hr_msb, hr_lsb, hr_msb, hr_lsb
    out = bytearray()
    for n, value in enumerate(floats):
        st = 0x80 | (status & 0x7E) | (SYNC if n == 0 else 0)
        pleth = int(32768 + 20000 * math.sin((phase * 25 + n) / 75 * 2 * math.pi * hr / 60))
        if start_byte:
            frame = [0x01, st, (pleth >> 8) & 0xFF, value]
        else:
            frame = [st, (pleth >> 8) & 0xFF, pleth & 0xFF, value]
        chk = sum(frame) & 0xFF
        if corrupt_frame == n:
            chk ^= 0x5A
        out += bytes([*frame, chk])
    return bytes(out)


def hl7_oru(
    control_id: str,
    when: datetime,
    vitals: Vitals | None,
    nibp: tuple[int, int, int, datetime] | None,
    equipment: str = "080019FFFE3ED02D",
    fahrenheit: bool = False,
) -> str:
    """An IHE PCD-01 style ORU^R01 with periodic values and (if given) the last NIBP measurement."""
    ts = hl7_timestamp(when)
    seg = [
        f"MSH|^~\\&|SIMMON^{equipment}^EUI-64||||{ts}||ORU^R01^ORU_R01|{control_id}|P|2.6|||NE|AL",
        "PID|||SIM-0001^^^Sim^PI||Sim^Patient",
        f"OBR|1|{control_id}^SIMMON|{control_id}^SIMMON|182777000^monitoring of patient^SCT|||{ts}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]
    rows: list[tuple[str, str, str, str]] = []
    unavailable = "X"
    if vitals is not None:
        temp = round(vitals.temp * 9 / 5 + 32, 1) if fahrenheit else vitals.temp
        t_unit = "268160^MDC_DIM_FAHR^MDC" if fahrenheit else "268192^MDC_DIM_DEGC^MDC"
        rows += [
            (
                "147842^MDC_ECG_HEART_RATE^MDC",
                str(vitals.hr),
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                ts,
            ),
            ("150456^MDC_PULS_OXIM_SAT_O2^MDC", str(vitals.spo2), "262688^MDC_DIM_PERCENT^MDC", ts),
            (
                "149530^MDC_PULS_OXIM_PULS_RATE^MDC",
                str(vitals.hr),
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                ts,
            ),
            ("151562^MDC_RESP_RATE^MDC", str(vitals.rr), "264928^MDC_DIM_RESP_PER_MIN^MDC", ts),
            ("151712^MDC_CONC_AWAY_CO2_EXP^MDC", str(vitals.etco2), "266016^MDC_DIM_MMHG^MDC", ts),
            ("150344^MDC_TEMP^MDC", f"{temp}", t_unit, ts),
        ]
    else:
        rows += [
            (
                "150456^MDC_PULS_OXIM_SAT_O2^MDC",
                "8388607",
                "262688^MDC_DIM_PERCENT^MDC",
                unavailable,
            ),
            (
                "149530^MDC_PULS_OXIM_PULS_RATE^MDC",
                "",
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                unavailable,
            ),
        ]
    n = 2
    for code, value, unit, when_or_x in rows:
        status, obs_ts = ("X", "") if when_or_x == unavailable else ("R", when_or_x)
        seg.append(f"OBX|{n}|NM|{code}|1.{n}.1.1|{value}|{unit}|||||{status}|||{obs_ts}")
        n += 1
    if nibp is not None:
        sbp, dbp, mean, measured = nibp
        mts = hl7_timestamp(measured)
        seg.append(f"OBX|{n}||150020^MDC_PRESS_BLD_NONINV^MDC|1.1.9|||||||R|||{mts}")
        for k, (code, pressure) in enumerate(
            (
                ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", sbp),
                ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", dbp),
                ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", mean),
            ),
            start=1,
        ):
            seg.append(f"OBX|{n + k}|NM|{code}|1.1.9.{k}|{pressure}|266016^MDC_DIM_MMHG^MDC|||||R")
    return "\r".join(seg) + "\r"


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
    hl7_interval_s: float = 5.0
    device_tz: timezone = UTC
    seed: int = 0

    def __post_init__(self) -> None:
        if self.protocol not in ("masimo-ascii", "nonin-df8", "nonin-df7", "nonin-df2", "hl7-mllp"):
            raise ValueError(f"no simulator for protocol '{self.protocol}'")
        self._pending: queue.Queue[Fault] = queue.Queue()
        self._rng = random.Random(self.seed)
        self.frames_written = 0

    def inject(self, kind: str, duration_s: float = 0.0) -> None:
        """Apply a fault at the next frame (thread-safe; for use while `play` runs)."""
        self._pending.put(Fault(0.0, kind, duration_s))

    # -- timeline

    def _ticks(self) -> Iterator[float]:
        step = {"nonin-df7": 1 / 3, "nonin-df2": 1 / 3, "hl7-mllp": self.hl7_interval_s}.get(
            self.protocol, 1.0
        )
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
            if self.protocol == "hl7-mllp" and t >= next_nibp:
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
        corrupt = "bad_checksum" in faults
        if self.protocol == "masimo-ascii":
            local = when.astimezone(self.device_tz).replace(tzinfo=None)
            frame = (
                masimo_line(local, vitals)
                if vitals is not None
                else masimo_line(local, None, exc=0x000820)
            )
            if corrupt:  # no checksum in ASCII 1: a line noise hit makes the line unparseable
                frame = frame.replace(b"SPO2=", b"SP\xb22=", 1)
        elif self.protocol == "nonin-df8":
            frame = (
                nonin_df8_frame(vitals.hr, vitals.spo2)
                if vitals is not None
                else nonin_df8_frame(511, 127, status2=SNSA)
            )
            if corrupt:  # no checksum in DF8: a flipped high bit breaks the frame shape
                frame = frame[:2] + bytes([frame[2] | 0x80]) + frame[3:]
        elif self.protocol in ("nonin-df7", "nonin-df2"):
            start_byte = self.protocol == "nonin-df2"
            if vitals is None:
                frame = nonin_packet(511, 127, status=SNSA, start_byte=start_byte, phase=n)
            else:
                frame = nonin_packet(
                    vitals.hr,
                    vitals.spo2,
                    start_byte=start_byte,
                    phase=n,
                    corrupt_frame=12 if corrupt else None,
                )
        else:
            local = when.astimezone(self.device_tz)
            msg = hl7_oru(f"SIM{n:06d}", local, vitals, nibp)
            if corrupt:  # no checksum in MLLP: a damaged header makes the message unreadable
                msg = "MXH" + msg[3:]
            frame = mllp_wrap(msg)
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
