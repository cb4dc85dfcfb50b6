"""The chair board: every chair at a glance, refreshed every second from the stored data."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent, QPaintEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from nursestation.app.board import MONITOR_PROBLEMS, ChairCard, board_cards
from nursestation.devices.capture import RECEIVING
from nursestation.errors import DomainError
from nursestation.spravato import is_spravato
from nursestation.ui.refresh import Coalescer, defer_while_hidden
from nursestation.ui.station import Station
from nursestation.ui.style import (
    ALARM_COLOURS,
    ALARM_TEXT_COLOURS,
    DUE_COLOURS,
    PHASE_COLOURS,
    clinic_zone,
    local_hm,
)
from nursestation.wording import (
    duration_words,
    num,
    reassessment_text,
    until_words,
    vitals_due_text,
)

REFRESH_MS = 1000
# The board's periodic reads run here, one at a time, off the GUI thread (SQLite: its own
# connection and a deferred read transaction, so it neither waits for nor blocks the writer).
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board reader")


def timer_lines(card: ChairCard) -> list[str]:
    """The timer text of a card, derived from the session state: durations in words ("left 9
    min"), never a bare M:SS that reads like a clock time."""
    if card.session is None:
        return []
    st = card.session.state
    if is_spravato(card.session.session_type):  # nasal devices: no infusion, no mg/kg
        if st.phase == "checked_in":
            return [f"Spravato {card.session.dose.total_mg:g} mg · no device yet"]
        lines = [f"Spravato {card.session.dose.total_mg:g} mg · monitoring from the first device"]
    elif st.phase == "checked_in":
        return [f"Planned {card.session.dose.total_mg:g} mg over {st.planned_duration_min:g} min"]
    elif st.phase in ("infusing", "paused"):
        lines = [f"Infused {duration_words(st.infused_s)} · {_left(st.remaining_s)}"]
        if st.overrun_s > 0:
            lines = [
                f"Infused {duration_words(st.infused_s)} · OVER by {duration_words(st.overrun_s)}"
            ]
        lines.append(f"{st.delivered_mg:.1f} of {st.planned_total_mg:g} mg")
        if st.phase == "paused":
            lines.append(f"PAUSED: {st.pause_reason or ''}")
        return lines
    else:
        lines = [f"Infused {st.infused_min:.0f} min · {st.delivered_mg:.1f} mg"]
    if st.observation_remaining_s is not None:
        observed = duration_words(st.observation_elapsed_s)
        if st.observation_remaining_s > 0:
            lines.append(
                f"Observation {observed} · minimum {until_words(st.observation_remaining_s)}"
            )
        else:
            lines.append(f"Observation {observed} · minimum reached")
    return lines


def _left(seconds: float) -> str:
    """Time left of the dose, rounded up to the minute ("9 min left": 8 min 10 s to go)."""
    if seconds <= 0:
        return "dose time reached"
    return f"{duration_words(-(-int(seconds) // 60) * 60)} left"


def vitals_line(card: ChairCard, tz: tzinfo) -> str:
    """Latest BP, HR, SpO2, RR with their time (in the clinic's display zone `tz`)."""
    v = card.latest
    if v is None:
        return "No vitals yet"
    bp = f"{num(v.sbp)}/{num(v.dbp)} ({local_hm(v.bp_at, tz)})" if v.sbp is not None else "—/—"
    at = local_hm(v.observed_at, tz)
    return f"BP {bp}  HR {num(v.hr)}  SpO₂ {num(v.spo2)}  RR {num(v.rr)}  at {at}"


def due_line(card: ChairCard, tz: tzinfo) -> tuple[str, str]:
    """Vitals reminder text and its status key (times in the clinic's display zone `tz`)."""
    due = card.vitals_due
    if due is None or due.status == "none":
        return "", "none"
    return vitals_due_text(due, tz), due.status


class ChairCardWidget(QFrame):
    """One chair. Clicking it opens the session (or check-in for an empty chair)."""

    clicked = Signal(str)

    def __init__(self, chair: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chair = chair
        self.setObjectName(f"chair-{chair}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumSize(260, 170)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        # Reachable by keyboard: Tab / arrow keys move between chairs, Enter or Space opens one.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(f"Chair {chair}")
        lay = QVBoxLayout(self)
        lay.setSpacing(2)
        self.title = QLabel(f"Chair {chair}")  # the skeleton shows this before the first query
        self.title.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.patient = QLabel()
        self.patient.setStyleSheet("font-size: 12pt;")
        self.phase = QLabel()
        self.phase.setStyleSheet("font-weight: bold;")
        self.timers = QLabel()
        self.vitals = QLabel()
        self.due = QLabel()
        self.extra = QLabel()
        self.monitor = QLabel()
        self.monitor.setObjectName("monitor")
        self.alarm = QLabel()
        self.alarm.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.alarm.setWordWrap(True)
        for w in (self.patient, self.timers, self.vitals, self.due, self.extra, self.monitor):
            # Long lines wrap inside the card: every card keeps the grid's size.
            w.setWordWrap(True)
        for w in (
            self.title,
            self.patient,
            self.phase,
            self.timers,
            self.vitals,
            self.due,
            self.extra,
            self.monitor,
            self.alarm,
        ):
            lay.addWidget(w)
        lay.addStretch(1)
        self._flash_on = True
        self._card: ChairCard | None = None
        self._locked = False
        self._tz: tzinfo | None = None
        self._styles: dict[int, str] = {}

    def _style(self, widget: QWidget, css: str) -> None:
        # Setting a style sheet re-polishes the widget even when unchanged: skip repeats (the
        # board refreshes every second, 12 cards).
        if self._styles.get(id(widget)) != css:
            self._styles[id(widget)] = css
            widget.setStyleSheet(css)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter, Return or Space opens the chair; other keys (arrows) go to the board."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit(self.chair)
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._restyle_frame()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._restyle_frame()

    def _restyle_frame(self) -> None:
        if self._card is not None:
            self._paint()

    def _frame_css(self, bg: str, border: str) -> str:
        # The chair with keyboard focus has a thick blue dashed frame (an alarm's frame is solid).
        if self.hasFocus():
            border = "4px dashed #1565c0"
        return f"#chair-{self.chair} {{ background: {bg}; border: {border}; border-radius: 6px; }}"

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.chair)
        super().mouseReleaseEvent(event)

    def show_card(self, card: ChairCard, tz: tzinfo, hide_patient: bool = False) -> None:
        """Render the card, times in the clinic's display zone `tz`; `hide_patient` keeps only
        chair, phase and alarms (locked screen)."""
        self._card = card
        self._locked = hide_patient
        self._tz = tz
        self.title.setText(f"Chair {card.chair}")
        if card.session is None:
            self.patient.setText("— click to check a patient in —")
        elif hide_patient:
            self.patient.setText("(locked)")
        else:
            p = card.session.patient
            self.patient.setText(f"{p.name} · {p.mrn}")
        self.phase.setText(card.phase_label.upper())
        show_details = not hide_patient
        self.timers.setText("\n".join(timer_lines(card)) if show_details else "")
        self.vitals.setText(vitals_line(card, tz) if card.session and show_details else "")
        text, status = due_line(card, tz)
        self.due.setText(text if show_details else "")
        self._style(self.due, f"color: {DUE_COLOURS[status]}; font-weight: bold;")
        extras = [f"⚠ {card.safety_flag}"] if card.safety_flag else []
        if card.session is not None:
            extras += [reassessment_text(r, card.session.state.now, tz) for r in card.reassessments]
        extras += card.spravato_reminders
        if card.course_plan is not None:  # the course plan: sessions done vs planned
            extras.append(card.course_plan.progress())
        self.extra.setText("\n".join(extras) if show_details else "")
        # The monitor link is about the chair, not the patient: shown on a locked screen too.
        self.monitor.setText(card.monitor_label)
        # Colour only repeats what the words say (a problem in bold).
        if card.monitor in MONITOR_PROBLEMS:
            css = "color: #8a4b00; font-weight: bold;"
        else:
            css = "color: #2d572c;" if card.monitor == RECEIVING else "color: #555;"
        self._style(self.monitor, css)
        self._paint()

    def alarm_text(self) -> str:
        """The alarm line as shown (empty when no alarm)."""
        return self.alarm.text()

    def flash(self) -> None:
        """Toggle the flashing of a high or medium alarm (called by the board's flash timer)."""
        self._flash_on = not self._flash_on
        self._paint()

    def _paint(self) -> None:
        card = self._card
        if card is None:
            return
        bg = PHASE_COLOURS.get(card.phase, "#ffffff")
        badge = card.alarm
        if badge is None:
            self.alarm.setText("")
            self._style(self.alarm, "")
            self._style(self, self._frame_css(bg, "1px solid #999"))
            return
        kind = "TECHNICAL " if getattr(badge, "technical", False) else ""
        ack = " (acknowledged)" if getattr(badge, "acknowledged", False) else ""
        more = f" +{badge.count - 1} more" if getattr(badge, "count", 1) > 1 else ""
        self.alarm.setText(f"{badge.marker} {badge.symbol} {kind}{badge.text}{ack}{more}")
        colour = ALARM_COLOURS.get(badge.priority, "#ffffff")
        text_colour = ALARM_TEXT_COLOURS.get(badge.priority, "#000")
        flashing = badge.flash_hz > 0 and not ack and badge.audio_paused_s is None
        lit = self._flash_on or not flashing
        self._style(
            self.alarm,
            f"background: {colour if lit else '#ffffff'}; color: {text_colour if lit else '#000'};"
            " font-weight: bold; padding: 4px; border-radius: 4px;",
        )
        self._style(self, self._frame_css(bg, f"3px solid {colour}"))


class ChairBoard(QWidget):
    """Grid of chair cards; emits `chair_clicked(chair)`."""

    chair_clicked = Signal(str)
    _cards_read = Signal(int, object)  # generation, cards or the exception (reader thread)

    def __init__(
        self, station: Station, parent: QWidget | None = None, columns: int | None = None
    ) -> None:
        super().__init__(parent)
        self.station = station
        chairs = len(station.ctx.settings.get("general.chairs"))
        # Up to nine chairs in three columns; more in four, so twelve chairs are three rows of
        # cards that still fit 1366×768 with their lines.
        self.columns = columns or (3 if chairs <= 9 else 4)
        self._cards: dict[str, ChairCardWidget] = {}
        self._grid = QGridLayout(self)
        self._grid.setSpacing(10)
        self.message = QLabel()
        # The tick and change notices ask; one refresh per event-loop turn runs, none while the
        # board is hidden behind a session (ui/refresh.py).
        self._soon = Coalescer(self, self._auto_refresh)
        self._reading = False
        self._read_again = False
        self._generation = 0
        self._cards_read.connect(self._on_cards_read, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._soon.request)
        self._timer.start(REFRESH_MS)
        # High alarms flash at 2 Hz (1.4–2.8 Hz band, clinical.md §7.1): toggle every 250 ms.
        self._flash = QTimer(self)
        self._flash.timeout.connect(self._flash_cards)
        self._flash.start(250)
        # Change notices: at once for what a nurse, an alarm or a monitor link changed; the
        # monitor stream's "rows stored" (the device bridge, every 500 ms) waits for the tick:
        # one refresh per tick while data arrives (issue 19).
        self._seen: tuple[int, dict[str, str]] | None = None
        station.changed.connect(self._changed)
        station.actor_changed.connect(self._soon.request)
        # Locking hides patient details at once (privacy), not on the next turn.
        station.locked_changed.connect(lambda _locked: self.refresh())
        # A skeleton first (the chairs of the clinic settings as empty frames, no query), then the
        # first fill on the turn of the event loop after the skeleton was painted (a zero timer
        # set here would run before the first paint); the 1 s timer fills a board never painted.
        self._filled = False
        self._fill_queued = False
        self._ensure_cards([str(c) for c in station.ctx.settings.get("general.chairs")])

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint; after the first paint of the skeleton, fill it from the database."""
        super().paintEvent(event)
        if not self._filled and not self._fill_queued:
            self._fill_queued = True
            QTimer.singleShot(0, self.refresh)

    def card(self, chair: str) -> ChairCardWidget:
        """The widget of one chair (filled now if the first refresh has not run yet)."""
        if not self._filled:
            self.refresh()
        return self._cards[chair]

    def _ensure_cards(self, chairs: list[str]) -> None:
        if list(self._cards) == chairs:
            return
        for w in self._cards.values():
            w.setParent(None)
        self._cards.clear()
        for i, chair in enumerate(chairs):
            w = ChairCardWidget(chair, self)
            w.clicked.connect(self.chair_clicked)
            self._cards[chair] = w
            self._grid.addWidget(w, i // self.columns, i % self.columns)
        # Equal stretch for every row and column: every card has the same size.
        for c in range(self.columns):
            self._grid.setColumnStretch(c, 1)
        for r in range((len(chairs) + self.columns - 1) // self.columns):
            self._grid.setRowStretch(r, 1)

    def chairs(self) -> list[str]:
        """The chairs in board order."""
        return list(self._cards)

    def focus_chair(self, chair: str) -> None:
        """Give a chair the keyboard focus (Alt+number, arrow keys)."""
        if chair in self._cards:
            self._cards[chair].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Arrow keys move the focus from chair to chair in the grid."""
        steps = {
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Up: -self.columns,
            Qt.Key.Key_Down: self.columns,
        }
        step = steps.get(Qt.Key(event.key()))
        chairs = self.chairs()
        focused = next((c for c, w in self._cards.items() if w.hasFocus()), None)
        if step is None or not chairs:
            super().keyPressEvent(event)
            return
        i = chairs.index(focused) + step if focused is not None else 0
        self.focus_chair(chairs[max(0, min(len(chairs) - 1, i))])

    def _state(self) -> tuple[int, dict[str, str]]:
        """What a change notice must show at once when it moved: any write other than the
        monitor stream's (ctx.other_version: a nurse's entry, an alarm raised or cleared, each
        audited) and the monitor links' states."""
        ctx = self.station.ctx
        return ctx.other_version, dict(getattr(ctx, "device_states", {}))

    def _changed(self) -> None:
        if self._seen is None or self._state() != self._seen:
            self._soon.request()
        # else only monitor rows were stored: the 1 s tick shows them

    def _auto_refresh(self) -> None:
        # Timer and change notices: not while hidden behind a session (once when shown again),
        # and read off the GUI thread: the event loop only renders the cards.
        if defer_while_hidden(self, self.refresh):
            return
        actor = self.station.signed_in
        if actor is None:
            return
        if self._reading:
            self._read_again = True  # one more read when the running one is shown
            return
        self._reading = True
        self._seen = self._state()  # before the read: a change during it asks again
        generation = self._generation
        ctx = self.station.ctx

        def read() -> None:  # reader thread: own read transaction, no widget touched
            try:
                result: object = board_cards(ctx, actor)
            except DomainError as exc:
                result = exc
            except Exception as exc:  # shown, never lost in the thread
                result = exc
            with contextlib.suppress(RuntimeError):  # the board was closed meanwhile
                self._cards_read.emit(generation, result)

        _READER.submit(read)

    def _on_cards_read(self, generation: int, result: object) -> None:
        self._reading = False
        if generation == self._generation:  # not overtaken by a synchronous refresh
            if isinstance(result, DomainError):
                self.message.setText(result.message)
            elif isinstance(result, Exception):
                self.message.setText(f"Board not refreshed: {result}")
            else:
                self._show(result)  # type: ignore[arg-type]
        if self._read_again:
            self._read_again = False
            self._soon.request()

    def refresh(self) -> None:
        """Re-read every chair from the database now, on this thread (one read transaction,
        bounded whatever the history: app/board.py)."""
        self._soon.cancel()  # this refresh answers the notices already waiting
        self._generation += 1  # a background read still running is out of date
        actor = self.station.signed_in
        if actor is None:
            return
        self._seen = self._state()
        try:
            cards = board_cards(self.station.ctx, actor)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        self._show(cards)

    def _show(self, cards: list[ChairCard]) -> None:
        self._ensure_cards([c.chair for c in cards])
        locked = self.station.locked
        tz = clinic_zone(self.station.ctx)
        for c in cards:
            widget = self._cards[c.chair]
            if widget._card == c and widget._locked == locked and widget._tz == tz:
                continue  # unchanged (an empty chair, a card with no timer): nothing to redo
            widget.show_card(c, tz, hide_patient=locked)
        self._filled = True

    def _flash_cards(self) -> None:
        for w in self._cards.values():
            if w._card is not None and w._card.alarm is not None:
                w.flash()
