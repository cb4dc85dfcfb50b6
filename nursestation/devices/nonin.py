"""Nonin serial data format decoders: `nonin-df8`, `nonin-df7` (and `nonin-df2`), devices.md §1.2.

DF8: 4-byte frames once a second, no checksum; the only byte with bit 7 set is the status byte.
DF7/DF2: 5-byte frames with a checksum, 75 frames/s, 25 frames per packet; the FLOAT byte of each
frame carries one value of a fixed schedule, so values are read only from complete packets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from nursestation.devices.base import BaseDecoder
from nursestation.devices.protocol import ProtocolSpec, SimFrame, ranges_of
from nursestation.devices.reading import (
    QUESTIONABLE,
    REASON_NO_VALUE,
    UNAVAILABLE,
    VALID,
    PlausibleRanges,
    Reading,
    make_reading,
)

MISSING_HR = 511
MISSING_SPO2 = 127
FRAMES_PER_PACKET = 25

# DF2/DF7 status byte bits.
SNSD = 0x40  # sensor disconnect (OEM III); reserved on the 9560
ARTF = 0x20
OOT = 0x10
SNSA = 0x08
RPRF = 0x04
GPRF = 0x02
SYNC = 0x01

# DF8 status byte bits (different layout from DF2/DF7).
DF8_R = 0x40  # treated as "sensor disconnected" by [S25]
DF8_OOT = 0x20
DF8_LPRF = 0x10
DF8_ARTF = 0x04
DF8_SNSA = 0x08  # in STATUS2
DF8_RESERVED2 = 0x50  # STATUS2 bits 6 and 4 are not defined by any documented device


def _quality(
    unavailable: str | None, questionable: str | None, value: int, missing: int
) -> tuple[str, str | None]:
    if value == missing:
        return UNAVAILABLE, unavailable or REASON_NO_VALUE
    if unavailable:
        return UNAVAILABLE, unavailable
    if questionable:
        return QUESTIONABLE, questionable
    return VALID, None


class NoninDF8Decoder(BaseDecoder):
    """Nonin Data Format #8: STATUS, HR-D, SpO2-D, STATUS2.

    DF8 has no checksum, so one 4-byte window that has the right shape proves nothing: a DF7
    or DF2 stream, or line noise, contains such windows by chance. Frame sync is therefore
    declared only after LOCK_FRAMES consecutive well-formed frames, 4 bytes apart, and is lost
    at the first malformed one; no value is reported before the lock. Three frames are enough
    to refuse a 5-byte-frame Nonin stream outright: 12 bytes of it hold two status bytes
    (bit 7 set) 5 bytes apart, while DF8 allows bit 7 only every 4th byte.
    """

    protocol = "nonin-df8"
    LOCK_FRAMES = 3

    def __init__(self, ranges: PlausibleRanges | None = None) -> None:
        super().__init__(ranges)
        self._synced = False

    def reset(self) -> None:
        super().reset()
        self._synced = False

    @staticmethod
    def _well_formed(buf: bytearray, i: int) -> bool:
        """Bit 7 only in the status byte, no reserved STATUS2 bit, no SpO2 code a device never
        sends (101-126)."""
        s1, hr_lo, spo2, s2 = buf[i], buf[i + 1], buf[i + 2], buf[i + 3]
        if s1 < 0x80 or hr_lo >= 0x80 or spo2 >= 0x80 or s2 >= 0x80 or s2 & DF8_RESERVED2:
            return False
        return not 100 < spo2 < MISSING_SPO2

    def _decode(self, host_time: datetime) -> list[Reading]:
        buf = self._buf
        out: list[Reading] = []
        i = 0
        while len(buf) - i >= 4:
            if self._synced:
                if self._well_formed(buf, i):
                    out.extend(self._frame(buf, i, host_time))
                    i += 4
                    continue
                self._synced = False
                self.stats.rejected += 1  # lost sync: look for a new lock from this byte
            need = 4 * self.LOCK_FRAMES
            ok = True
            for k in range(0, need, 4):
                if len(buf) - i - k < 4:
                    break  # so far so good: wait for the rest of the lock run
                if not self._well_formed(buf, i + k):
                    ok = False
                    break
            if not ok:
                self.stats.bytes_skipped += 1
                i += 1
                continue
            if len(buf) - i < need:
                break
            self._synced = True
            for k in range(0, need, 4):
                out.extend(self._frame(buf, i + k, host_time))
            i += need
        del buf[:i]
        return out

    def _frame(self, buf: bytearray, i: int, host_time: datetime) -> list[Reading]:
        s1, hr_lo, spo2, s2 = buf[i], buf[i + 1], buf[i + 2], buf[i + 3]
        self.stats.frames += 1
        hr = (s1 & 0x03) << 7 | hr_lo
        if s1 & DF8_R:
            bad: str | None = "sensor_disconnected"
        elif s2 & DF8_SNSA:
            bad = "sensor_alarm"
        else:
            bad = None
        if s1 & DF8_OOT:
            doubt: str | None = "out_of_track"
        elif s1 & DF8_ARTF:
            doubt = "artifact"
        elif s1 & DF8_LPRF:
            doubt = "low_perfusion"
        else:
            doubt = None
        return _pair(self.protocol, spo2, hr, bad, doubt, host_time)


def _pair(
    protocol: str, spo2: int, hr: int, bad: str | None, doubt: str | None, host_time: datetime
) -> list[Reading]:
    q, why = _quality(bad, doubt, spo2, MISSING_SPO2)
    spo2_r = make_reading(
        protocol, "spo2", None if spo2 == MISSING_SPO2 else spo2, q, why, None, host_time, None
    )
    q, why = _quality(bad, doubt, hr, MISSING_HR)
    hr_r = make_reading(
        protocol, "pulse_rate", None if hr == MISSING_HR else hr, q, why, None, host_time, None
    )
    return [spo2_r, hr_r]


class NoninPacketDecoder(BaseDecoder):
    """Nonin Data Format #7 (or #2 with `start_byte=True`): checksummed frames, 25-frame packets.

    Reports the display values (SpO2-D frame 9, HR-D frames 20/21) once per complete packet; the
    status of all 25 frames decides the quality. A checksum failure drops the partial packet.
    """

    def __init__(self, start_byte: bool = False, ranges: PlausibleRanges | None = None) -> None:
        super().__init__(ranges)
        self.start_byte = start_byte
        self.protocol = "nonin-df2" if start_byte else "nonin-df7"
        self._synced = False
        self._packet: list[tuple[int, int]] = []
        self.packets = 0  # complete packets whose slots held up

    def reset(self) -> None:
        super().reset()
        self._synced = False
        self._packet = []

    def _valid(self, i: int) -> bool:
        buf = self._buf
        if self.start_byte and buf[i] != 0x01:
            return False
        status = buf[i + 1] if self.start_byte else buf[i]
        if not status & 0x80:
            return False
        return (buf[i] + buf[i + 1] + buf[i + 2] + buf[i + 3]) & 0xFF == buf[i + 4]

    def _decode(self, host_time: datetime) -> list[Reading]:
        buf = self._buf
        out: list[Reading] = []
        i = 0
        while len(buf) - i >= 5:
            if not self._valid(i):
                if self._synced:
                    self.stats.rejected += 1
                    self._synced = False
                    self._packet = []
                self.stats.bytes_skipped += 1
                i += 1
                continue
            status = buf[i + 1] if self.start_byte else buf[i]
            value = buf[i + 3]
            i += 5
            self._synced = True
            self.stats.frames += 1
            out.extend(self._frame(status, value, host_time))
        del buf[:i]
        return out

    def _frame(self, status: int, value: int, host_time: datetime) -> list[Reading]:
        if status & SYNC:
            if self._packet:
                self.stats.rejected += 1  # SYNC came early: frames were lost
            self._packet = [(status, value)]
            return []
        if not self._packet:
            return []  # waiting for the first frame of a packet
        self._packet.append((status, value))
        if len(self._packet) < FRAMES_PER_PACKET:
            return []
        packet, self._packet = self._packet, []
        return self._packet_readings(packet, host_time)

    def _packet_readings(self, packet: list[tuple[int, int]], host_time: datetime) -> list[Reading]:
        floats = [v for _, v in packet]
        if any(v > 0x7F for v in floats):
            self.stats.rejected += 1  # FLOAT is 7-bit by spec: this packet is corrupt
            return []
        # The MSB slots of HR and HR-D carry 2 bits; a display SpO2 of 101-126 is no code a
        # device sends. Either means the packet is not what it claims to be.
        if floats[0] & ~0x03 or floats[19] & ~0x03 or 100 < floats[8] < MISSING_SPO2:
            self.stats.rejected += 1
            return []
        spo2 = floats[8]
        hr = (floats[19] & 0x03) << 7 | floats[20]
        self.packets += 1
        statuses = [s for s, _ in packet]
        bad: str | None = None
        if any(s & SNSD for s in statuses):
            bad = "sensor_disconnected"
        elif any(s & SNSA for s in statuses):
            bad = "sensor_alarm"
        doubt: str | None = None
        if any(s & OOT for s in statuses):
            doubt = "out_of_track"
        elif any(s & ARTF for s in statuses):
            doubt = "artifact"
        elif any(s & RPRF and not s & GPRF for s in statuses):
            doubt = "low_perfusion"
        return _pair(self.protocol, spo2, hr, bad, doubt, host_time)

    @property
    def complete_units(self) -> int:
        """Whole packets, not frames (see BaseDecoder.complete_units)."""
        return self.packets


def NoninDF7Decoder(ranges: PlausibleRanges | None = None) -> NoninPacketDecoder:
    """Decoder for `nonin-df7`."""
    return NoninPacketDecoder(start_byte=False, ranges=ranges)


def NoninDF2Decoder(ranges: PlausibleRanges | None = None) -> NoninPacketDecoder:
    """Decoder for `nonin-df2` (an extension beyond the contract's protocol list)."""
    return NoninPacketDecoder(start_byte=True, ranges=ranges)


# ---------------------------------------------------------------- simulator and descriptions


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


def _simulate_df8(f: SimFrame) -> bytes:
    v = f.vitals
    frame = (
        nonin_df8_frame(v.hr, v.spo2) if v is not None else nonin_df8_frame(511, 127, status2=SNSA)
    )
    if f.corrupt:  # no checksum in DF8: a flipped high bit breaks the frame shape
        frame = frame[:2] + bytes([frame[2] | 0x80]) + frame[3:]
    return frame


def _simulate_packet(start_byte: bool) -> Callable[[SimFrame], bytes]:
    def simulate(f: SimFrame) -> bytes:
        v = f.vitals
        if v is None:
            return nonin_packet(511, 127, status=SNSA, start_byte=start_byte, phase=f.n)
        corrupt = 12 if f.corrupt else None
        return nonin_packet(v.hr, v.spo2, start_byte=start_byte, phase=f.n, corrupt_frame=corrupt)

    return simulate


SPECS: tuple[ProtocolSpec, ...] = (
    ProtocolSpec(
        key="nonin-df8",
        label="Nonin Data Format #8",
        decoder=lambda settings: NoninDF8Decoder(ranges_of(settings)),
        simulate=_simulate_df8,
        tick_s=1.0,  # one frame a second (devices.md §1.2)
        silence_s=3.0,
    ),
    ProtocolSpec(
        key="nonin-df7",
        label="Nonin Data Format #7",
        decoder=lambda settings: NoninDF7Decoder(ranges_of(settings)),
        simulate=_simulate_packet(start_byte=False),
        tick_s=1 / 3,  # 25 frames at 75 frames/s: a packet every third of a second
        silence_s=3.0,
    ),
    ProtocolSpec(
        key="nonin-df2",
        label="Nonin Data Format #2",
        decoder=lambda settings: NoninDF2Decoder(ranges_of(settings)),
        simulate=_simulate_packet(start_byte=True),
        tick_s=1 / 3,
        silence_s=3.0,
        contract=False,  # an extension beyond CONTRACTS.md's list
    ),
)
