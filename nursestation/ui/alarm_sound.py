"""The station's alarm sound (issue 18): one per main window, whatever is on screen (board, any
chair's session, a dialog), so an alarm on chair 3 is heard while chair 1 or the board is shown.

Every `TICK_MS` it asks the alarm center what the whole station must signal
(app/alarms.station_alarms: the most urgent sounding alarm of every chair, audio pauses,
escalations) on a reader thread (the read may store an escalation and so wait for the monitor
writer's transaction: never on the GUI thread), then on the GUI thread lets the pure
ToneScheduler (nursestation/alarm_tones.py) decide whether a burst starts now and hands the
generated samples to an AudioSink.

The sink is QtMultimedia's QAudioSink (PySide6-Addons, the same vendor and release as the Qt the
app already uses; it plays raw samples we generate, needs no recorded files and on Linux talks
to PulseAudio/PipeWire through libpulse). A station where no audio output can be opened says so
as a technical warning (`problem`) instead of staying silently mute.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from nursestation.alarm_tones import (
    Burst,
    TonePattern,
    ToneScheduler,
    patterns_from_settings,
    render_pcm,
)
from nursestation.app import alarms
from nursestation.app.alarms import StationAlarms
from nursestation.clock import Clock
from nursestation.ui.station import Station

TICK_MS = 250  # how often the station's alarm state is read: a burst starts within 1/4 s
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alarm sound reader")

NO_DEVICE = "No audio output device: alarm tones cannot be heard at this station."


class AudioSink(Protocol):
    """Where the station's alarm bursts go."""

    def problem(self) -> str | None:
        """Why nothing can be heard (no device, no audio library), None when it can play."""
        ...

    def play(self, pattern: TonePattern, pcm: bytes) -> None:
        """Start one burst now (a burst still playing is cut off)."""
        ...

    def stop(self) -> None:
        """Silence at once."""
        ...


class QtAudioSink:
    """The default sink: QAudioSink on the system's default output, 16-bit mono."""

    def __init__(self, sample_rate_hz: int) -> None:
        self._problem: str | None = None
        self._sink: Any = None  # QAudioSink once a device is found
        self._buffer: Any = None  # the QBuffer it reads
        # Loaded here, not at start-up: a test or demo with a RecordingSink never needs it. It
        # is a declared dependency (PySide6-Addons, and libpulse0 from scripts/system-deps.sh).
        from PySide6.QtMultimedia import QAudioFormat, QAudioSink, QMediaDevices

        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            self._problem = NO_DEVICE
            return
        fmt = QAudioFormat()
        fmt.setSampleRate(sample_rate_hz)
        fmt.setChannelCount(1)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        if not device.isFormatSupported(fmt):
            self._problem = f"{NO_DEVICE} (the device '{device.description()}' refuses 16-bit mono)"
            return
        self._sink = QAudioSink(device, fmt)

    def problem(self) -> str | None:
        """See AudioSink."""
        return self._problem

    def play(self, pattern: TonePattern, pcm: bytes) -> None:
        """See AudioSink."""
        if self._sink is None:
            return
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        self._sink.stop()
        buffer = QBuffer()
        buffer.setData(QByteArray(pcm))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._buffer = buffer  # kept alive while the sink reads it
        self._sink.start(buffer)

    def stop(self) -> None:
        """See AudioSink."""
        if self._sink is not None:
            self._sink.stop()


@dataclass(frozen=True)
class Played:
    """One burst a RecordingSink was given."""

    at: datetime
    priority: str
    pulses: int
    pcm_bytes: int


class RecordingSink:
    """A sink that records what was played and when (tests; a station with sound switched off
    for a demonstration). `clock` gives the time stamps (the context's clock)."""

    def __init__(self, clock: Clock, problem: str | None = None) -> None:
        self.clock = clock
        self.played: list[Played] = []
        self.stops: list[datetime] = []
        self._problem = problem

    def problem(self) -> str | None:
        """See AudioSink."""
        return self._problem

    def play(self, pattern: TonePattern, pcm: bytes) -> None:
        """See AudioSink."""
        self.played.append(
            Played(self.clock.now(), pattern.priority, pattern.pulse_count, len(pcm))
        )

    def stop(self) -> None:
        """See AudioSink."""
        self.stops.append(self.clock.now())


class AlarmSound(QObject):
    """Plays the station's alarm signal for any chair; tells the window what to show."""

    state_changed = Signal()  # new StationAlarms (escalations, pauses) for the window's banner
    _read = Signal(object)  # StationAlarms or the exception (reader thread)

    def __init__(self, station: Station, sink: AudioSink | None = None) -> None:
        super().__init__(station)
        self.station = station
        self.patterns = patterns_from_settings(station.ctx.settings)
        rate = next(iter(self.patterns.values())).sample_rate_hz
        self.sink: AudioSink = sink if sink is not None else QtAudioSink(rate)
        self.scheduler = ToneScheduler(self.patterns)
        self._pcm: dict[str, bytes] = {}
        self.state: StationAlarms | None = None
        self.last_burst: Burst | None = None
        self.read_error: str | None = None
        self._reading = False
        self._read.connect(self._on_read, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.step)
        self._timer.start(TICK_MS)

    def problem(self) -> str | None:
        """The technical warning to show, None when alarm tones can be heard and the alarm
        state can be read."""
        problems = [p for p in (self.sink.problem(), self.read_error) if p]
        return " ".join(problems) or None

    def pcm(self, priority: str) -> bytes:
        """The samples of a priority's burst, generated once."""
        if priority not in self._pcm:
            self._pcm[priority] = render_pcm(self.patterns[priority])
        return self._pcm[priority]

    def step(self) -> None:
        """Ask for the station's alarms on the reader thread (the timer calls this); the answer
        is applied on the GUI thread. One read at a time: a slow one is not queued up behind."""
        if self._reading:
            return
        self._reading = True
        ctx = self.station.ctx

        def read() -> None:  # reader thread: no widget touched
            try:
                result: object = alarms.station_alarms(ctx)
            except Exception as exc:  # shown as a technical warning, never lost in the thread
                result = exc
            with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
                self._read.emit(result)

        _READER.submit(read)

    def step_now(self) -> None:
        """Read and apply on this thread (tests with a fake clock; a first read at start)."""
        self._apply(alarms.station_alarms(self.station.ctx))

    def _on_read(self, result: object) -> None:
        self._reading = False
        if isinstance(result, StationAlarms):
            self._apply(result)
        else:
            self.read_error = f"Alarm state could not be read: {result}"
            self.state_changed.emit()

    def _apply(self, state: StationAlarms) -> None:
        """Start a burst when one is due, silence when nothing should sound."""
        self.state = state
        self.read_error = None
        self.state_changed.emit()
        was = self.scheduler.sounding
        burst = self.scheduler.step(self.station.ctx.now(), state.audio_priority, state.audio_chair)
        if burst is not None:
            self.last_burst = burst
            self.sink.play(self.patterns[burst.priority], self.pcm(burst.priority))
        elif was is not None and self.scheduler.sounding is None:
            self.sink.stop()  # acknowledged, paused or cleared: silence now, not after the burst

    def stop(self) -> None:
        """The window closes: silence and stop reading."""
        self._timer.stop()
        self.sink.stop()
