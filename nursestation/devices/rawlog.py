"""Raw-capture files: a live port's bytes with timestamps, for replay-based tests and debugging.

Format (UTF-8 text, one JSON object per line):

    {"format": "nursestation-raw-capture", "version": 1, "protocol": "...", "url": "...",
     "started": "<ISO 8601 UTC>"}                                   first line (header)
    {"t": "<ISO 8601 UTC>", "dir": "rx", "hex": "<bytes as hex>"}   bytes received from the device
    {"t": "<ISO 8601 UTC>", "dir": "tx", "hex": "<bytes as hex>"}   bytes we sent (e.g. HL7 ACKs)
    {"t": "<ISO 8601 UTC>", "event": "<state>", "detail": "..."}    optional capture-state notes

Readers ignore unknown keys and event lines. A damaged line is skipped, not fatal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

FORMAT = "nursestation-raw-capture"
VERSION = 1
_MAGIC = b'{"format": "' + FORMAT.encode() + b'"'


@dataclass(frozen=True)
class RawChunk:
    """One recorded read or write."""

    host_time: datetime
    direction: str  # "rx" or "tx"
    data: bytes


class RawRecorder:
    """Appends timestamped bytes to a raw-capture file; safe to call from the capture thread."""

    def __init__(self, path: str | Path, protocol: str, url: str, started: datetime) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = self.path.open("a", encoding="utf-8")
        if self.path.stat().st_size == 0:
            header = {
                "format": FORMAT,
                "version": VERSION,
                "protocol": protocol,
                "url": url,
                "started": started.isoformat(),
            }
            self._write(header)

    def _write(self, obj: dict[str, object]) -> None:
        with self._lock:
            if self._file is None:
                return
            self._file.write(json.dumps(obj) + "\n")
            self._file.flush()

    def rx(self, host_time: datetime, data: bytes) -> None:
        """Record bytes received from the device."""
        self._write({"t": host_time.isoformat(), "dir": "rx", "hex": data.hex()})

    def tx(self, host_time: datetime, data: bytes) -> None:
        """Record bytes sent to the device."""
        self._write({"t": host_time.isoformat(), "dir": "tx", "hex": data.hex()})

    def event(self, host_time: datetime, state: str, detail: str) -> None:
        """Record a capture-state change (ignored by readers)."""
        self._write({"t": host_time.isoformat(), "event": state, "detail": detail})

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def is_raw_capture(path: str | Path) -> bool:
    """True when the file starts with the raw-capture header."""
    with Path(path).open("rb") as fh:
        return fh.read(len(_MAGIC)) == _MAGIC


def read_raw_capture(path: str | Path, directions: tuple[str, ...] = ("rx",)) -> Iterator[RawChunk]:
    """The recorded chunks in file order (by default only bytes received from the device)."""
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
                if obj.get("dir") not in directions:
                    continue
                yield RawChunk(
                    datetime.fromisoformat(obj["t"]), obj["dir"], bytes.fromhex(obj["hex"])
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
