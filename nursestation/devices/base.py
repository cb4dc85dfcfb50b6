"""Shared plumbing for the incremental protocol decoders (buffer, stats, plausibility, replies)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from nursestation.devices.reading import DecodeStats, PlausibleRanges, Reading

# Cap on bytes kept while waiting for a frame end; a longer run is garbage (devices.md §4).
DEFAULT_MAX_BUFFER = 64 * 1024


@dataclass(frozen=True)
class HeldReply:
    """The reply to one received message, held until its readings are stored (see
    `BaseDecoder.hold_replies`): `count` readings of `feed`'s result, in order, belong to the
    message; `accepted` is sent once they are all stored, `refused(why)` when they were not.
    `reply` None: the sender wants no reply, but the message's readings still come in order."""

    count: int
    accepted: bytes | None
    refused: Callable[[str], bytes] | None
    dropped: bool = False  # the decoder failed after this message: its readings were dropped

    def reply(self, stored: bool, why: str = "") -> bytes:
        """The bytes to send for this message given whether its readings were stored."""
        if stored and not self.dropped:
            return self.accepted or b""
        return self.refused(why or "values not stored") if self.refused else b""


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
        # When True, a decoder that acknowledges messages (HL7) does not queue the reply for
        # `take_replies` but a `HeldReply` for `take_held`: the capture worker sends it once the
        # message's readings are stored, so an ACK never says "accepted" before they are.
        self.hold_replies = False
        self._held: list[HeldReply] = []

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
            # Messages already decoded in this call lose their readings: never "accepted".
            self._held = [HeldReply(0, h.accepted, h.refused, dropped=True) for h in self._held]
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

    def take_held(self) -> list[HeldReply]:
        """Replies held since the last call, one per message, in the order of `feed`'s readings
        (empty unless `hold_replies` is set and the protocol replies)."""
        out, self._held = self._held, []
        return out

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect); counters are kept."""
        self._buf.clear()
        self._replies.clear()
        self._held = []

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
