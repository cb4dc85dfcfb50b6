"""`nursestation replay`: decode a raw capture or a live port and print readings as JSON Lines.

Contract (CONTRACTS.md "Device readings"): one reading object per line on `out`, one summary
line `{"frames", "readings", "rejected", "bytes_skipped"}` on `err`; exit 0, or 2 for bad usage
or bad input (with one clear sentence on `err` instead of the summary).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import serial

from nursestation.clinic import ClinicSettings
from nursestation.clock import Clock, SystemClock
from nursestation.devices.base import BaseDecoder
from nursestation.devices.rawlog import RawRecorder, is_raw_capture, read_raw_capture
from nursestation.devices.reading import Reading
from nursestation.devices.registry import SPECS, decoder_for

EXIT_OK = 0
EXIT_USAGE = 2
CHUNK = 4096


def run_replay(
    protocol: str,
    input_path: str | None,
    url: str | None,
    out: TextIO,
    err: TextIO,
    duration_s: float | None = None,
    record_path: str | None = None,
    *,
    settings: ClinicSettings | None = None,
    clock: Clock | None = None,
    baudrate: int = 9600,
) -> int:
    """Decode `input_path` (raw bytes or a raw-capture file) or the live port `url`.

    A live port is read until `duration_s` passes (forever when None), the port closes, or the
    user interrupts; HL7 ACKs are sent back on it, and with `record_path` its bytes are also
    written to a raw-capture file (see rawlog.py). Returns the exit code.
    """
    if protocol not in SPECS:
        err.write(f"Unknown protocol '{protocol}': use one of {', '.join(SPECS)}.\n")
        return EXIT_USAGE
    if (input_path is None) == (url is None):
        err.write("Give exactly one of --input FILE or --url URL.\n")
        return EXIT_USAGE
    if record_path is not None and url is None:
        err.write("--record needs --url: only a live port can be recorded.\n")
        return EXIT_USAGE
    if duration_s is not None and duration_s <= 0:
        err.write(f"Duration {duration_s} s is not allowed: it must be above 0 s.\n")
        return EXIT_USAGE
    decoder = decoder_for(protocol, settings)
    clock = clock or SystemClock()

    def emit(readings: list[Reading]) -> None:
        for r in readings:
            out.write(json.dumps(r.to_json_dict(), ensure_ascii=False) + "\n")

    if input_path is not None:
        path = Path(input_path)
        if not path.is_file():
            err.write(f"Input file {input_path} does not exist or is not a file.\n")
            return EXIT_USAGE
        try:
            _replay_file(path, decoder, clock, emit)
        except OSError as exc:
            err.write(f"Input file {input_path} cannot be read: {exc.strerror or exc}.\n")
            return EXIT_USAGE
    else:
        assert url is not None
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as exc:
            err.write(f"Port {url} cannot be opened: {exc}.\n")
            return EXIT_USAGE
        recorder = None
        if record_path is not None:
            try:
                recorder = RawRecorder(record_path, protocol, url, clock.now())
            except OSError as exc:
                port.close()
                err.write(f"Record file {record_path} cannot be written: {exc.strerror or exc}.\n")
                return EXIT_USAGE
        try:
            _replay_port(port, decoder, clock, emit, duration_s, recorder)
        finally:
            port.close()
            if recorder is not None:
                recorder.close()
    out.flush()
    err.write(json.dumps(decoder.stats.to_json_dict()) + "\n")
    return EXIT_OK


def _replay_file(
    path: Path, decoder: BaseDecoder, clock: Clock, emit: Callable[[list[Reading]], None]
) -> None:
    if is_raw_capture(path):
        for chunk in read_raw_capture(path):
            emit(decoder.feed(chunk.data, chunk.host_time))
        return
    host_time = clock.now()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            emit(decoder.feed(block, host_time))


def _replay_port(
    port: serial.SerialBase,
    decoder: BaseDecoder,
    clock: Clock,
    emit: Callable[[list[Reading]], None],
    duration_s: float | None,
    recorder: RawRecorder | None,
) -> None:
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        while deadline is None or time.monotonic() < deadline:
            data = port.read(port.in_waiting or 1)
            if data:
                now = clock.now()
                if recorder is not None:
                    recorder.rx(now, data)
                emit(decoder.feed(data, now))
                reply = decoder.take_replies()
                if reply:
                    port.write(reply)
                    if recorder is not None:
                        recorder.tx(now, reply)
    except KeyboardInterrupt:
        pass
    except (serial.SerialException, OSError):
        pass  # the port closed or vanished: that ends the replay like the end of a file
