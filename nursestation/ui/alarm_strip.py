"""The alarm strip of one chair: every active alarm with its marker, symbol and text (colour is
never the only signal), Acknowledge, and "Pause audio 2 min" with its countdown. Also the
functions the chair board can use to style an alarm badge, and the station's alarm banner.

Audio: the strip makes no sound. The main window's AlarmSound (ui/alarm_sound.py) plays the
station's signal for every chair whatever is on screen, so a tone is never doubled by the open
session. The bedside monitor stays the primary alarm device; this is a secondary display
(clinical.md §7.2).
"""

from __future__ import annotations

from datetime import tzinfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from nursestation.alarms import KIND_SYMBOLS, MARKERS, AlarmDisplay, ChairAlarmState
from nursestation.app import alarms
from nursestation.app.alarms import AlarmBadge, StationAlarms
from nursestation.errors import DomainError
from nursestation.ui.feedback import show_refusal
from nursestation.ui.station import Station
from nursestation.ui.style import ALARM_COLOURS, ALARM_TEXT_COLOURS
from nursestation.wording import duration_words, hm

FLASH_MS = 125  # toggle resolution; each alarm flashes at its own rate (0.6 Hz, 2 Hz)


def countdown_words(seconds: float) -> str:
    """Time left of an audio pause, to the second ("1 min 52 s", "45 s"): wording's spelled
    duration, never a bare M:SS that reads like a clock time."""
    return duration_words(seconds, with_seconds=True)


def badge_text(badge: AlarmBadge) -> str:
    """The alarm line of a chair card, readable without colour."""
    kind = "TECHNICAL " if badge.technical else ""
    ack = " (acknowledged)" if badge.acknowledged else ""
    more = f" +{badge.count - 1} more" if badge.count > 1 else ""
    paused = (
        f" [audio paused, tone returns in {countdown_words(badge.audio_paused_s)}]"
        if badge.audio_paused_s
        else ""
    )
    return f"{badge.marker} {badge.symbol} {kind}{badge.text}{ack}{more}{paused}"


def badge_style(priority: str, lit: bool = True) -> str:
    """Style sheet of an alarm label: IEC colours when lit, plain when the flash is off."""
    bg = ALARM_COLOURS.get(priority, "#ffffff") if lit else "#ffffff"
    fg = ALARM_TEXT_COLOURS.get(priority, "#000000") if lit else "#000000"
    border = ALARM_COLOURS.get(priority, "#999999")
    return (
        f"background: {bg}; color: {fg}; border: 2px solid {border}; border-radius: 4px;"
        " font-weight: bold; padding: 3px 6px;"
    )


def flash_lit(flash_hz: float, t_ms: int) -> bool:
    """Whether a flashing signal is in its on phase at `t_ms` (steady when flash_hz is 0)."""
    if flash_hz <= 0:
        return True
    period = 1000.0 / flash_hz
    return (t_ms % period) < period / 2


class AlarmStrip(QFrame):
    """Active alarms of one chair with Acknowledge and audio pause (refreshes every second)."""

    acknowledged = Signal()

    def __init__(self, station: Station, chair: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.chair = chair
        self.state: ChairAlarmState | None = None
        self._labels: list[tuple[QLabel, AlarmDisplay]] = []
        self._spare: list[QLabel] = []
        self._t_ms = 0
        self.setFrameShape(QFrame.Shape.StyledPanel)

        root = QHBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        self.list_box = QVBoxLayout()
        self.list_box.setSpacing(2)
        self.empty = QLabel("No active alarms")
        self.empty.setStyleSheet("color: #555;")
        self.list_box.addWidget(self.empty)
        root.addLayout(self.list_box, 1)
        buttons = QVBoxLayout()
        self.ack_btn = QPushButton("Acknowledge")
        self.ack_btn.setToolTip("Acknowledge every alarm of this chair")
        self.ack_btn.clicked.connect(self.acknowledge)
        pause_s = alarms.alarm_center(station.ctx).config.audio_pause_s
        self.pause_label = f"Pause audio {duration_words(pause_s)}"
        self.pause_btn = QPushButton(self.pause_label)
        self.pause_btn.clicked.connect(self.pause_audio)
        self.countdown = QLabel("")
        buttons.addWidget(self.ack_btn)
        buttons.addWidget(self.pause_btn)
        buttons.addWidget(self.countdown)
        root.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)
        self._flash = QTimer(self)
        self._flash.timeout.connect(self._flash_step)
        self._flash.start(FLASH_MS)
        station.changed.connect(self.refresh)
        self.refresh()

    def set_chair(self, chair: str | None) -> None:
        """Show another chair (None: nothing)."""
        self.chair = chair
        self.refresh()

    # -- reading ----------------------------------------------------------------------------

    def alarm_lines(self) -> list[str]:
        """The alarm texts as shown, most urgent first (for tests and accessibility)."""
        return [label.text() for label, _ in self._labels]

    def refresh(self) -> None:
        """Re-read the chair's alarms (ticks the alarm center: countdowns, escalation)."""
        if self.chair is None:
            self.state = None
        else:
            self.state = alarms.chair_alarms(self.station.ctx, self.chair)
        self._render()

    def _render(self) -> None:
        st = self.state
        shown = st.alarms if st else ()
        self.empty.setVisible(not shown)
        # Labels are reused (not rebuilt each second) so the strip never flickers.
        pool = [label for label, _ in self._labels] + self._spare
        while len(pool) < len(shown):
            label = QLabel()
            label.setWordWrap(True)
            self.list_box.addWidget(label)
            pool.append(label)
        self._labels = []
        for label, d in zip(pool, shown, strict=False):
            a = d.alarm
            extra = []
            if a.kind == "technical":
                extra.append("TECHNICAL")
            if a.acknowledged:
                extra.append(f"acknowledged by {a.acknowledged_by}")
            if a.state == "latched":
                extra.append("condition over, acknowledge to clear")
            suffix = f"  [{'; '.join(extra)}]" if extra else ""
            label.setText(f"{d.label}{suffix}")
            label.setProperty("priority", a.priority)
            label.setStyleSheet(badge_style(a.priority, True))
            label.show()
            self._labels.append((label, d))
        for label in pool[len(shown) :]:
            label.hide()
            label.setText("")
        self._spare = pool[len(shown) :]
        can_ack = self.station.can("acknowledge_alarm")
        unacked = any(not d.alarm.acknowledged for d in shown)
        self.ack_btn.setEnabled(can_ack and unacked)
        remaining = st.audio_paused_remaining_s if st else 0.0
        if remaining > 0:
            self.pause_btn.setText(f"Audio paused {countdown_words(remaining)}")
            self.pause_btn.setEnabled(False)
            self.countdown.setText(f"Tone returns in {countdown_words(remaining)}")
        else:
            self.pause_btn.setText(self.pause_label)
            self.pause_btn.setEnabled(bool(shown) and self.station.can("pause_alarm_audio"))
            on = st is not None and st.audio_on
            self.countdown.setText(f"Tone on: {st.audio_priority}" if on and st else "")

    def _flash_step(self) -> None:
        self._t_ms += FLASH_MS
        for label, d in self._labels:
            # Acknowledged or audio-paused alarms stay lit (steady), as the manager reports.
            hz = 0.0 if d.alarm.acknowledged else d.flash_hz
            label.setStyleSheet(badge_style(d.alarm.priority, flash_lit(hz, self._t_ms)))

    # -- actions ------------------------------------------------------------------------------

    def acknowledge(self) -> None:
        """Acknowledge every alarm of the chair as the signed-in nurse."""
        if self.chair is None:
            return
        try:
            self.station.write(alarms.acknowledge_alarm, self.chair)
        except DomainError as exc:
            show_refusal(self, exc, "Not acknowledged")
            return
        self.acknowledged.emit()
        self.refresh()

    def pause_audio(self) -> None:
        """Pause the chair's tones for the clinic's pause time; a higher alarm breaks through."""
        if self.chair is None:
            return
        try:
            self.station.write(alarms.pause_alarm_audio, self.chair)
        except DomainError as exc:
            show_refusal(self, exc, "Audio not paused")
            return
        self.refresh()


class StationAlarmBanner(QLabel):
    """One line in the main window's toolbar, on every screen: escalated alarms of any chair
    (for the charge nurse), running audio pauses with their countdown, and the technical
    warning of a station that cannot make a sound. It takes the toolbar's free width and no
    height of its own, so nothing below it moves when it appears; text too long for the width
    ends in "…" and is read in full in its tooltip. The window shows it only when there is
    something to say (has_content)."""

    SEPARATOR = "  ·  "

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(40)  # never makes the window wider: the text is elided instead
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        """Everything the banner says, unelided (also its tooltip)."""
        return self._full

    def has_content(self) -> bool:
        """True when there is something to show."""
        return bool(self._full)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Elide again for the new width."""
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(0, self.contentsRect().width() - 12)  # the style's padding
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        if shown != self.text():
            self.setText(shown)

    def show_state(self, state: StationAlarms | None, problem: str | None, tz: tzinfo) -> None:
        """Show what the station's alarm sound reported (see ui/alarm_sound.AlarmSound)."""
        parts: list[str] = []
        escalated = state.escalated if state else ()
        for a in escalated:
            parts.append(
                f"{MARKERS[a.priority]} ESCALATED chair {a.chair}: {a.text}, not acknowledged "
                f"since {hm(a.raised_at, tz)}: charge nurse, respond"
            )
        for chair, left in state.paused if state else ():
            parts.append(f"Chair {chair}: audio paused, tone returns in {countdown_words(left)}")
        if problem:
            parts.append(f"{KIND_SYMBOLS['technical']} TECHNICAL: {problem}")
        full = self.SEPARATOR.join(parts)
        if full != self._full:
            self._full = full
            self.setToolTip(full)
            self._elide()
        if escalated:
            style = badge_style("high", True)
        elif problem:
            style = badge_style("medium", True)
        else:
            style = "padding: 3px 6px; font-weight: bold;"
        if style != self.styleSheet():
            self.setStyleSheet(style)
