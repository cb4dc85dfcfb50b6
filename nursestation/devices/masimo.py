"""Masimo "ASCII 1" serial line decoder (`masimo-ascii`), devices.md §1.1.

One CR LF terminated line per second, `MM/DD/YY HH:MM:SS KEY=VALUE ...`. Keys vary by model, so
the line is parsed as a dict of tokens with every key optional. The Rad-8 trend-dump shape
(`SpO2=097 PR=069 PI=04.69 EXC=800:SET`) is accepted too; there `000` means no value.
"""

from __future__ import annotations

import re
from datetime import datetime

from nursestation.clinic import ClinicSettings
from nursestation.devices.base import BaseDecoder
from nursestation.devices.protocol import ProtocolSpec, SimFrame, Vitals, ranges_of
from nursestation.devices.reading import (
    QUESTIONABLE,
    REASON_NO_VALUE,
    UNAVAILABLE,
    VALID,
    PlausibleRanges,
    Reading,
    make_reading,
)

PROTOCOL = "masimo-ascii"
MAX_LINE = 1024
REASON_NO_STATUS = "no_status"

# EXC bits that make every value on the line unavailable (CONTRACTS.md Masimo rule), in priority order.
EXC_UNAVAILABLE: tuple[tuple[int, str], ...] = (
    (0x000001, "no_sensor"),
    (0x000020, "probe_off"),
    (0x000002, "defective_sensor"),
    (0x000080, "unrecognized_sensor"),
    (0x000100, "incompatible_sensor"),
    (0x001000, "no_cable"),
    (0x002000, "cable_expired"),
    (0x004000, "incompatible_cable"),
    (0x008000, "unrecognized_cable"),
    (0x010000, "defective_cable"),
    (0x040000, "sensor_expired"),
)
# EXC bits that make values questionable; 0x800 (Masimo SET) is informational.
EXC_QUESTIONABLE: tuple[tuple[int, str], ...] = (
    (0x000008, "pulse_search"),
    (0x000004, "low_perfusion"),
    (0x000010, "interference"),
    (0x000040, "ambient_light"),
    (0x000400, "low_signal_iq"),
)

# Token key -> parameter. Live ASCII 1 keys are upper case; the trend dump uses SpO2/PR.
LIVE_KEYS = {"SPO2": "spo2", "BPM": "pulse_rate", "PI": "pi"}
TREND_KEYS = {"SpO2": "spo2", "PR": "pulse_rate", "PI": "pi"}

_STAMP = re.compile(rb"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


class _BadLine(Exception):
    """A line that looked like a record but could not be trusted."""


def exc_quality(exc: int) -> tuple[str, str | None]:
    """Quality and reason implied by a Masimo EXC bitfield."""
    for bit, reason in EXC_UNAVAILABLE:
        if exc & bit:
            return UNAVAILABLE, reason
    for bit, reason in EXC_QUESTIONABLE:
        if exc & bit:
            return QUESTIONABLE, reason
    return VALID, None


def parse_value(text: str) -> float | None:
    """A field value: None when dashed (`---`, `--.-%`, `+--`), else a number; raises on junk."""
    text = text.rstrip("%")
    if not any(c.isdigit() for c in text):
        if "-" in text:
            return None
        raise _BadLine(f"not a value: {text!r}")
    if not _NUMBER.match(text):
        raise _BadLine(f"not a number: {text!r}")
    return float(text)


class MasimoDecoder(BaseDecoder):
    """Incremental decoder for Masimo ASCII 1 lines."""

    protocol = PROTOCOL

    def __init__(self, ranges: PlausibleRanges | None = None) -> None:
        super().__init__(ranges)

    def _decode(self, host_time: datetime) -> list[Reading]:
        out: list[Reading] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    # No line end in a line's worth of bytes: noise, wrong mode or baud.
                    self.stats.rejected += 1
                    self.stats.bytes_skipped += len(self._buf)
                    self._buf.clear()
                break
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            out.extend(self._line(line, host_time))
        return out

    def _line(self, raw: bytes, host_time: datetime) -> list[Reading]:
        line = raw.strip(b"\r \t")
        if not line:
            return []
        start = _record_start(line)
        if start is None:
            self.stats.rejected += 1
            self.stats.bytes_skipped += len(raw)
            return []
        if start > 0:
            # Garbage or the tail of a truncated line before this record's time stamp.
            self.stats.bytes_skipped += start
            if b"=" in line[:start]:
                self.stats.rejected += 1
        try:
            readings = self._record(line[start:], host_time)
        except (_BadLine, ValueError, UnicodeDecodeError):
            self.stats.rejected += 1
            self.stats.bytes_skipped += len(line) - start
            return []
        self.stats.frames += 1
        return readings

    def _record(self, body: bytes, host_time: datetime) -> list[Reading]:
        text = body.decode("ascii")
        if not text.isprintable():
            raise _BadLine("control characters in line")
        device_time = datetime.strptime(text[:17], "%m/%d/%y %H:%M:%S")
        fields: dict[str, str] = {}
        for token in text[17:].split():
            key, sep, raw = token.partition("=")
            if not sep or not key or not raw:
                raise _BadLine(f"not a KEY=VALUE token: {token!r}")
            fields[key] = raw
        trend = "SpO2" in fields or "PR" in fields
        keys = TREND_KEYS if trend else LIVE_KEYS
        if not any(k in fields for k in keys if k != "PI"):
            raise _BadLine("no SpO2 or pulse field")
        exc_field = fields.get("EXC")
        exc_text = (exc_field or "0").split(":", 1)[0]
        if not _HEX.match(exc_text):
            raise _BadLine(f"EXC is not hex: {exc_text!r}")
        alarm = fields.get("ALARM")
        if alarm is not None and not _HEX.match(alarm):
            raise _BadLine(f"ALARM is not hex: {alarm!r}")
        quality: str
        reason: str | None
        if exc_field is None:
            # Every documented line shape carries EXC: without it nothing says the sensor was on
            # the patient, so a value is never valid (devices.md: never trust a value without
            # its status).
            quality, reason = QUESTIONABLE, REASON_NO_STATUS
        else:
            quality, reason = exc_quality(int(exc_text, 16))
        serial = fields.get("SN")
        device_id = serial if serial and serial.isdigit() else None
        values = [(param, parse_value(fields[key])) for key, param in keys.items() if key in fields]
        out: list[Reading] = []
        for param, value in values:
            if trend and value == 0:
                value = None  # the trend dump writes "no value" as 000
            if value is None:
                q, why = UNAVAILABLE, reason if quality == UNAVAILABLE else REASON_NO_VALUE
            else:
                q, why = quality, reason
            out.append(
                make_reading(PROTOCOL, param, value, q, why, device_time, host_time, device_id)
            )
        return out


def _record_start(line: bytes) -> int | None:
    """Offset of the last time stamp that starts a record (not one inside a field value)."""
    start: int | None = None
    for m in _STAMP.finditer(line):
        if m.start() > 0 and line[m.start() - 1 : m.start()] == b"=":
            continue
        start = m.start()
    return start


# ---------------------------------------------------------------- simulator and description


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


def _simulate(f: SimFrame) -> bytes:
    local = f.when.replace(tzinfo=None)  # ASCII 1 prints the device's local time, no zone
    frame = (
        masimo_line(local, f.vitals)
        if f.vitals is not None
        else masimo_line(local, None, exc=0x000820)
    )
    if f.corrupt:  # no checksum in ASCII 1: a line noise hit makes the line unparseable
        frame = frame.replace(b"SPO2=", b"SP\xb22=", 1)
    return frame


def _decoder(settings: ClinicSettings | None) -> BaseDecoder:
    return MasimoDecoder(ranges_of(settings))


SPECS: tuple[ProtocolSpec, ...] = (
    ProtocolSpec(
        key=PROTOCOL,
        label="Masimo ASCII 1 (Radical-7, Rad-8, Root)",
        decoder=_decoder,
        simulate=_simulate,
        tick_s=1.0,  # one line a second (devices.md §1.1)
        silence_s=3.0,
    ),
)
