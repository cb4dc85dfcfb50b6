"""The capture watchdog: noise is "unreadable" within the silence time; a quiet pause or a frame
being confirmed never is (issue 13). LinkWatch on plain numbers (a fake clock), then the real
worker over loop:// with a fake monotonic clock driven by the test."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import pytest
import serial

from nursestation.devices.capture import (
    DISCONNECTED,
    RECEIVING,
    SILENT,
    UNREADABLE,
    CaptureWorker,
    LinkWatch,
)
from nursestation.devices.simulator import masimo_line, nonin_df8_frame
from tests.devices.test_capture import Recorder, loop_factory, wait_for

SILENCE = 3.0
UNREADABLE_S = 5.0  # the shipped default is above the silence time: noise must not wait for it


def noise_watch() -> LinkWatch:
    return LinkWatch(SILENCE, UNREADABLE_S, opened=0.0)


def test_noise_is_unreadable_at_the_silence_time_not_before() -> None:
    w = noise_watch()
    w.on_bytes(0.0, 100, 100, framed=True)  # frames until t=0
    t = 0.1
    while t < SILENCE:  # then 100 bytes of noise every 100 ms, all skipped
        w.on_bytes(t, 100, 100, framed=False)
        assert w.verdict(t) is None, t  # just inside the silence time: nothing yet
        t = round(t + 0.1, 6)
    assert w.verdict(SILENCE) == UNREADABLE  # at the silence time: unreadable, not silent


def test_quiet_pause_is_silent_never_unreadable() -> None:
    w = noise_watch()
    w.on_bytes(0.0, 80, 0, framed=True)
    assert w.verdict(SILENCE - 0.01) is None  # a pause just under the silence time: nothing
    assert w.verdict(SILENCE) == SILENT
    assert w.verdict(60.0) == SILENT  # however long, a pause is no noise


def test_bytes_resuming_after_a_pause_are_not_unreadable() -> None:
    w = noise_watch()
    w.on_bytes(0.0, 80, 0, framed=True)
    # 10 s pause, then a line arrives in pieces: the first piece is not a frame yet.
    w.on_bytes(10.0, 20, 20, framed=False)  # even if the decoder drops this first piece
    assert w.verdict(10.0) == SILENT
    assert w.verdict(10.0 + w.sustain_s - 0.01) == SILENT
    w.on_bytes(10.05, 60, 0, framed=True)
    assert w.verdict(10.05) is None


def test_a_frame_in_progress_is_no_junk() -> None:
    # Bytes the decoder keeps (not skipped) for longer than the silence time: silent, not
    # unreadable (e.g. an HL7 message trickling in, or a DF8 lock being confirmed).
    w = noise_watch()
    for k in range(40):
        w.on_bytes(k * 0.1, 4, 0, framed=False)
    assert w.verdict(3.95) == SILENT


def test_half_skipped_is_not_noise_more_than_half_is() -> None:
    w = noise_watch()
    for k in range(40):
        w.on_bytes(k * 0.1, 4, 2, framed=False)  # exactly half thrown away
    assert w.verdict(3.95) == SILENT
    w = noise_watch()
    for k in range(40):
        w.on_bytes(k * 0.1, 4, 3, framed=False)
    assert w.verdict(3.95) == UNREADABLE


def test_noise_that_stops_turns_unreadable_into_silent() -> None:
    w = noise_watch()
    for k in range(40):
        w.on_bytes(k * 0.1, 50, 50, framed=False)
    assert w.verdict(3.95) == UNREADABLE
    assert w.verdict(3.9 + SILENCE) == SILENT  # no byte for the silence time: just quiet


def test_unreadable_after_is_the_shorter_of_the_two_times() -> None:
    assert LinkWatch(30.0, 5.0, 0.0).unreadable_after == 5.0  # HL7: 30 s silence
    assert LinkWatch(3.0, 5.0, 0.0).unreadable_after == 3.0


# ------------------------------------------------------------------ the worker, fake clock


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds


@pytest.fixture
def loop() -> serial.SerialBase:
    return serial.serial_for_url("loop://", timeout=0.02)


def start_worker(loop: serial.SerialBase, protocol: str, clock: FakeMonotonic) -> tuple:
    rec = Recorder()
    worker = CaptureWorker(
        "loop://",
        protocol,
        rec.on_readings,
        rec.on_state,
        port_factory=loop_factory(loop),
        silence_s=SILENCE,
        unreadable_s=UNREADABLE_S,
        monotonic=clock,
    )
    worker.start()
    return worker, rec


def step(loop: serial.SerialBase, clock: FakeMonotonic, seconds: float) -> None:
    """Let the worker read what was written (at the current fake time), then advance the fake
    clock: the worker sees bytes and time in the order the test wrote them, however busy the
    machine is."""
    assert wait_for(lambda: loop.in_waiting == 0)
    time.sleep(0.03)  # the read returned; its time stamp was taken before the advance below
    clock.advance(seconds)


def test_worker_reports_noise_as_unreadable_within_the_silence_time(
    loop: serial.SerialBase,
) -> None:
    clock = FakeMonotonic()
    worker, rec = start_worker(loop, "masimo-ascii", clock)
    try:
        line = masimo_line(datetime(2026, 3, 2, 14, 0), None)
        loop.write(line)
        assert wait_for(lambda: worker.state == RECEIVING)
        rnd = random.Random(5)
        for _ in range(int(SILENCE / 0.5) + 1):  # noise every 0.5 s for 3.5 s
            loop.write(rnd.randbytes(200))
            step(loop, clock, 0.5)
        assert wait_for(lambda: worker.state == UNREADABLE)
    finally:
        worker.stop()
    names = rec.names()
    assert SILENT not in names[: names.index(UNREADABLE)]  # no "no data" before "unreadable"
    assert not [r for r in rec.readings if r.quality == "valid" and r.param == "spo2"]


def test_worker_quiet_pause_raises_nothing_then_only_silent(loop: serial.SerialBase) -> None:
    clock = FakeMonotonic()
    worker, rec = start_worker(loop, "nonin-df8", clock)
    frame = nonin_df8_frame(72, 97)
    try:
        loop.write(frame * 3)
        assert wait_for(lambda: worker.state == RECEIVING)
        step(loop, clock, SILENCE - 0.5)  # a pause of a few seconds, under the silence time
        assert worker.state == RECEIVING
        loop.write(frame)  # the monitor goes on
        assert wait_for(lambda: len(rec.readings) == 8)
        step(loop, clock, 10.0)  # now a long pause: values stale, but nothing is unreadable
        assert wait_for(lambda: worker.state == SILENT)
        loop.write(frame[:2])  # it comes back in pieces
        step(loop, clock, 0.3)
        loop.write(frame[2:])
        assert wait_for(lambda: worker.state == RECEIVING)
    finally:
        worker.stop()
    assert UNREADABLE not in rec.names()


def test_worker_df8_glitch_relocks_without_unreadable(loop: serial.SerialBase) -> None:
    clock = FakeMonotonic()
    worker, rec = start_worker(loop, "nonin-df8", clock)
    good = nonin_df8_frame(72, 97)
    bad = good[:2] + bytes([good[2] | 0x80]) + good[3:]  # one bit flipped on the line
    try:
        loop.write(good * 3)
        assert wait_for(lambda: worker.state == RECEIVING)
        for frame in [good, bad, good, good, good, good]:  # 1 frame per second
            loop.write(frame)
            step(loop, clock, 1.0)
        assert wait_for(lambda: len(rec.readings) == 2 * 8)
    finally:
        worker.stop()
    assert UNREADABLE not in rec.names()


def test_reopen_after_long_noise_keeps_unreadable_without_link_lost(
    loop: serial.SerialBase,
) -> None:
    clock = FakeMonotonic()
    rec = Recorder()
    worker = CaptureWorker(
        "loop://",
        "nonin-df7",
        rec.on_readings,
        rec.on_state,
        port_factory=loop_factory(loop),
        silence_s=SILENCE,
        unreadable_s=UNREADABLE_S,
        reopen_silent_s=10.0,
        monotonic=clock,
    )
    worker.start()
    rnd = random.Random(9)
    try:
        for _ in range(30):  # 15 s of noise: unreadable at 3 s, a reopen at 10 s
            loop.write(rnd.randbytes(100))
            step(loop, clock, 0.5)
        assert wait_for(lambda: worker.connections >= 2)
        assert worker.state == UNREADABLE
    finally:
        worker.stop()
    names = rec.names()
    assert names[:2] == ["connecting", UNREADABLE]
    assert DISCONNECTED not in names[:-1]  # only the final stop
    assert names[-1] == DISCONNECTED
