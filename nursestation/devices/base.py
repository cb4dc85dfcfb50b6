"""Shared plumbing for the incremental protocol decoders (buffer, stats, plausibility, replies)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from nursestation.devices.reading import DecodeStats, PlausibleRanges, Reading

# Cap on bytes kept while waiting for a frame end; a longer run is garbage (devices.md §4).
DEFAULT_MAX_BUFFER = 64 * 1024


class Decoder(Protocol):
    """What the capture worker and `replay` need from a protocol decoder."""

    protocol: str
    stats: DecodeStats

    def feed(self, data: bytes, host_time: datetime) -> list[Reading]: ...

    def take_replies(self) -> bytes: ...

    def reset(self) -> None: ...

    @property
    def complete_units(self) -> int: ...


class BaseDecoder:
    """Keeps the byte buffer, the counters, the plausibility check and pending replies."""

    protocol: str = ""

    def __init__(
        self, ranges: PlausibleRanges | None = None, max_buffer: int = DEFAULT_MAX_BUFFER
    ) -> None:
        self.stats = DecodeStats()
        self.ranges = ranges if ranges is not None else PlausibleRanges.default()
        self.max_buffer = max_buffer
        self._buf = bytearray()
        self._replies = bytearray()

    def feed(self, data: bytes, host_time: datetime) -> list[Reading]:
        """Add bytes from the port and return the readings of every frame completed by them."""
        self._buf += data
        try:
            readings = self._decode(host_time)
        except Exception:
            # A decoder bug must never stop capture: drop what we hold and count it.
            self.stats.rejected += 1
            self.stats.bytes_skipped += len(self._buf)
            self._buf.clear()
            return []
        if len(self._buf) > self.max_buffer:
            self._overflow()
        checked = [self.ranges.check(r) for r in readings]
        self.stats.readings += len(checked)
        return checked

    def _overflow(self) -> None:
        """Drop the oldest bytes so the buffer stays bounded."""
        drop = len(self._buf) - self.max_buffer
        self.stats.bytes_skipped += drop
        del self._buf[:drop]

    def _decode(self, host_time: datetime) -> list[Reading]:
        raise NotImplementedError

    def take_replies(self) -> bytes:
        """Bytes the decoder wants sent back to the device (HL7 ACKs); empty for most protocols."""
        out = bytes(self._replies)
        self._replies.clear()
        return out

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect); counters are kept."""
        self._buf.clear()
        self._replies.clear()

    @property
    def complete_units(self) -> int:
        """How many complete, trusted units (a line, a locked DF8 frame, a whole DF7 packet, an
        HL7 message) were decoded: the capture watchdog's sign of a live link. For most
        protocols that is the frame count; a DF7 frame alone proves little (noise passes its
        8-bit checksum now and then), so the packet decoder counts packets."""
        return self.stats.frames

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)
