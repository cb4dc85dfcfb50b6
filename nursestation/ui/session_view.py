"""The session view: patient header, dose calculation, the infusion timer and its controls, the
pre-infusion checklist, and tabs for vitals, medications, discharge and the note."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import sessions
from nursestation.app.board import PHASE_LABELS, board_cards
from nursestation.app.sessions import SessionSummary
from nursestation.errors import CHANGED_ELSEWHERE, DomainError
from nursestation.infusion import NOT_TREATED_REASONS, PAUSE_REASONS, STOP_REASONS
from nursestation.spravato import is_spravato
from nursestation.ui.alarm_strip import AlarmStrip
from nursestation.ui.due_strip import DueStrip, due_items
from nursestation.ui.feedback import ask_text, show_refusal
from nursestation.ui.infusion_dialogs import ChecklistDialog, RateDialog, ReasonDialog
from nursestation.ui.note_reader import NoteReader
from nursestation.ui.refresh import Coalescer, defer_while_hidden
from nursestation.ui.scale_entry import OutcomesBox
from nursestation.ui.spravato_panel import SpravatoPanel
from nursestation.ui.station import Station
from nursestation.ui.style import PHASE_COLOURS, clinic_zone, local_hm
from nursestation.wording import duration_words, protocol_text, session_type_label

TAB_TITLES = ("Vitals", "Medications", "Discharge", "Session note")
# The tab labels as shown, with their Alt+letter (TAB_TITLES stay the panels' keys).
TAB_LABELS = {
    "Vitals": "&Vitals",
    "Medications": "&Medications",
    "Discharge": "D&ischarge",
    "Session note": "Session &note",
}
BACK_TEXT = "◀ &Board"
# The alarm band's fixed height: three alarm lines beside Acknowledge / Pause audio; more
# alarms scroll inside it. Fixed so that nothing below moves when alarms come and go.
ALARM_BAND_PX = 96
SPRAVATO_MAX_PX = 210  # the Spravato panel beside the timer: status, next device, questions
CHECKLIST_MAX_PX = 90
DUE_REREAD_S = 5.0  # the session view's reminders are read at most this often without an entry  # about four items; blocking ones first, the rest scroll


# A tab panel's class: built as `(station, parent)`, with set_session().
PanelClass = Callable[[Station, QWidget], QWidget]


def panel_classes() -> tuple[PanelClass, ...]:
    """The session's tab panels, in TAB_TITLES order; each is `(station, parent)` with
    set_session(). Imported here, not at start-up: they bring in pyqtgraph, numpy and reportlab."""
    from nursestation.ui.discharge_panel import DischargePanel
    from nursestation.ui.medications_panel import MedicationsPanel
    from nursestation.ui.note_panel import NotePanel
    from nursestation.ui.vitals_panel import VitalsPanel

    return (VitalsPanel, MedicationsPanel, DischargePanel, NotePanel)


# Panel modules are imported on this thread after sign-in (imports make no Qt object), so the
# nurse's first click on a chair does not stall the GUI for the import (about a second).
_IMPORTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panel import")
# After the board's first fill: start-up and the first paint come first.
PREPARE_AFTER_MS = 1500


STATUS_MARKS = {"ok": "✓", "warning": "!", "hard_stop": "✗", "missing": "?"}


class TabPage(QScrollArea):
    """A tab page that gives its panel the whole visible area and scrolls only when the area is
    smaller than the panel's minimum size. (QScrollArea's own resizable mode sizes a panel with
    wrapped text to its preferred height for the width, and scrolled at every size.)"""

    def __init__(self, panel: QWidget) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(panel)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Fit the panel to the visible area, never below its minimum size."""
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        panel = self.widget()
        if panel is None:
            return
        least = panel.minimumSizeHint().expandedTo(panel.minimumSize())
        area = self.maximumViewportSize()
        w, h = max(area.width(), least.width()), max(area.height(), least.height())
        # A scroll bar in one direction takes room from the other.
        if w > area.width():
            h = max(least.height(), area.height() - self.horizontalScrollBar().sizeHint().height())
        if h > area.height():
            w = max(least.width(), area.width() - self.verticalScrollBar().sizeHint().width())
        panel.resize(w, h)

    def event(self, event: QEvent) -> bool:
        """Refit when the panel's minimum size changes (LayoutRequest from its layout)."""
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return super().event(event)


class SessionTabs(QTabWidget):
    """The session's tabs. Each panel sits in a TabPage; callers name the panel itself
    (`setCurrentWidget(panel)`, `indexOf(panel)`, `currentWidget() is panel`), as before."""

    def _page(self, widget: QWidget) -> QWidget:
        page = widget.parentWidget()
        while page is not None and not isinstance(page, TabPage):
            page = page.parentWidget()
        return page if page is not None and page.widget() is widget else widget

    def setCurrentWidget(self, widget: QWidget) -> None:
        """Bring the tab of `widget` (a panel or its page) to the front."""
        super().setCurrentWidget(self._page(widget))

    def indexOf(self, widget: QWidget) -> int:
        """The index of the tab of `widget` (a panel or its page), or -1."""
        return super().indexOf(self._page(widget))

    def currentWidget(self) -> QWidget:
        """The panel in front (not its scrolling page)."""
        page = super().currentWidget()
        inner = page.widget() if isinstance(page, TabPage) else None
        return inner if inner is not None else page


class SessionView(QWidget):
    """Everything about one chair's session; `back` returns to the board."""

    back = Signal()

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.summary: SessionSummary | None = None
        # The reminders' last read (see _render_due).
        self._due_key: tuple[object, ...] | None = None
        self._due_read_at: datetime | None = None
        # The infusion prompt now open (Stop, Pause, Rate, Not treated, Checklist), if any, and
        # the session version it was opened on (sent with its change: app/concurrency.py).
        self.dialog: QDialog | None = None
        self._dialog_version: int | None = None

        root = QVBoxLayout(self)
        root.setContentsMargins(6, 4, 6, 4)
        root.setSpacing(4)
        top = QHBoxLayout()
        self.back_btn = QPushButton(BACK_TEXT)
        self.back_btn.setToolTip("Back to the chair board (Ctrl+B)")
        self.back_btn.clicked.connect(self.back)
        self.header = QLabel()
        self.header.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.header.setWordWrap(False)  # the patient's name and MRN never break
        # The patient's chart (issue 16), under the Board button: no width taken from the row.
        self.chart_btn = QPushButton("Patient chart…")
        self.chart_btn.clicked.connect(self.open_chart)
        self.subheader = QLabel()
        self.subheader.setWordWrap(True)
        # The patient (name and MRN over the details) and the session's scales on one row: the
        # scales' two rows of buttons beside the patient lines instead of a box of their own
        # under the checklist (which left the flowsheet six rows at 1366×768).
        who = QVBoxLayout()
        who.setSpacing(0)
        who.addWidget(self.header)
        who.addWidget(self.subheader)
        nav = QVBoxLayout()
        nav.setSpacing(2)
        nav.addWidget(self.back_btn)
        nav.addWidget(self.chart_btn)
        top.addLayout(nav, 0)
        top.addLayout(who, 1)
        top.addWidget(self._outcomes_box(), 0, Qt.AlignmentFlag.AlignTop)
        # The patient row and the infusion row are widgets so that the note's reading view can
        # take their place (show_reader) whatever their children show.
        self.top_row = QWidget()
        self.top_row.setLayout(top)
        top.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.top_row)
        # The chair's alarms, always in the same place and of the same height whether there are
        # none or five (issue 18: a strip that appeared pushed everything below it down ~140 px
        # and clicks landed on the wrong control). More alarms than fit scroll inside the band;
        # the most urgent is first.
        self.alarm_strip = AlarmStrip(station, None, self)
        self.alarm_area = QScrollArea()
        self.alarm_area.setObjectName("alarm-area")
        self.alarm_area.setWidgetResizable(True)
        self.alarm_area.setFrameShape(QFrame.Shape.NoFrame)
        self.alarm_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.alarm_area.setWidget(self.alarm_strip)
        self.alarm_area.setFixedHeight(ALARM_BAND_PX)
        root.addWidget(self.alarm_area)

        mid = QHBoxLayout()
        mid.setSpacing(6)
        mid.setContentsMargins(0, 0, 0, 0)
        self.mid_row = QWidget()
        self.mid_row.setLayout(mid)
        root.addWidget(self.mid_row)
        # Never taller than their content: the room left goes to the tabs (the flowsheet).
        timer = self._timer_box()
        timer.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        mid.addWidget(timer, 3)
        right = QVBoxLayout()
        box = self._checklist_box()
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        right.addWidget(box)
        mid.addLayout(right, 2)
        # A Spravato session's devices, REMS checks and form (hidden for IV sessions).
        self.spravato_panel = SpravatoPanel(station)
        self.spravato_area = QScrollArea()
        self.spravato_area.setWidgetResizable(True)
        self.spravato_area.setWidget(self.spravato_panel)
        self.spravato_area.setVisible(False)
        # No taller than the infusion row can be: the panel scrolls inside it, the tabs below
        # keep their room (at full height it took ~430 px and left the Vitals tab ~120 px).
        self.spravato_area.setMaximumHeight(SPRAVATO_MAX_PX)
        mid.addWidget(self.spravato_area, 4)

        # The area panels (charts, PDF preview…) are built when a session is first opened, so
        # start-up does not pay for them.
        self.tabs = SessionTabs()
        # Vitals due and PRN reassessments due or overdue (as on the board), overdue styled as
        # alarms: beside the tab titles, in view whichever tab is open, at no row's cost.
        self.due_strip = DueStrip(self)
        self.tabs.setCornerWidget(self.due_strip, Qt.Corner.TopRightCorner)
        self.panels: dict[str, QWidget] = {}
        root.addWidget(self.tabs, 1)
        self._root = root
        # The note's reading view while it is on screen (show_reader), else None.
        self.reader: NoteReader | None = None
        self._spare_corner = QWidget()

        # One refresh per event-loop turn for the tick and change notices, none while the view
        # is not on screen (the board is): ui/refresh.py.
        self._soon = Coalescer(self, self._auto_refresh)
        self._tick = QTimer(self)
        self._tick.timeout.connect(self._soon.request)
        self._tick.start(1000)
        station.changed.connect(self._soon.request)

    def prepare_panels(self, delay_ms: int = PREPARE_AFTER_MS) -> None:
        """Import the panel modules off the GUI thread, then build one panel per event-loop
        turn, so opening the first chair costs no import and no construction."""
        self._imported: Future[tuple[PanelClass, ...]] | None = None

        def start() -> None:
            self._imported = _IMPORTER.submit(panel_classes)
            self._prepare.start(50)

        def step() -> None:
            if self.panels_ready() or self._imported is None:
                self._prepare.stop()
                return
            if not self._imported.done():
                return  # polled: the import thread never touches a widget
            self._imported.result()  # an import error surfaces here, on the GUI thread
            panel = self._add_panel()
            if self.session_id is not None and hasattr(panel, "set_session"):
                panel.set_session(self.session_id)  # a chair opened while panels were built

        self._prepare = QTimer(self)
        self._prepare.timeout.connect(step)
        QTimer.singleShot(delay_ms, self, start)

    def panels_ready(self) -> bool:
        """True once every tab panel exists."""
        return len(self.panels) == len(TAB_TITLES)

    def _add_panel(self) -> QWidget:
        i = len(self.panels)
        panel = panel_classes()[i](self.station, self)
        self.panels[TAB_TITLES[i]] = panel
        # Each tab page scrolls inside the tab when it needs more room than the screen leaves
        # (1366×768): the session view itself never grows past the screen.
        page = TabPage(panel)
        page.setObjectName(f"tab-{TAB_TITLES[i]}")
        self.tabs.addTab(page, TAB_LABELS.get(TAB_TITLES[i], TAB_TITLES[i]))
        return panel

    def show_tab(self, title: str) -> None:
        """Bring a tab to the front by its title (TAB_TITLES)."""
        panel = self.panels.get(title)
        if panel is not None:
            self.tabs.setCurrentIndex(TAB_TITLES.index(title))

    def current_tab(self) -> str:
        """The title (TAB_TITLES) of the tab in front."""
        return TAB_TITLES[self.tabs.currentIndex()]

    # ---------------------------------------------------------------- reading view

    def show_reader(self, reader: NoteReader) -> None:
        """Give the note's reading view everything under the alarm band: the patient row, the
        infusion row and the tabs step aside until close_reader(). The alarm band stays on
        screen and working (a reading view never hides the chair's alarms) and the reminders
        move into the reader's column, so nothing due is hidden either."""
        if self.reader is reader:
            return
        self.close_reader()
        self.reader = reader
        reader.set_subject(self.header.text())
        for row in (self.top_row, self.mid_row, self.tabs):
            row.hide()
        # The tabs keep an empty corner meanwhile (the reminders cannot be in two places).
        self.tabs.setCornerWidget(self._spare_corner, Qt.Corner.TopRightCorner)
        self.due_strip.set_stacked(True)
        reader.hold_reminders(self.due_strip)
        self._root.addWidget(reader, 1)
        reader.show()
        reader.page_view.scroll_area.setFocus()  # arrows and Page Down scroll the pages

    def close_reader(self) -> None:
        """Back from the reading view to the session as it was (nothing else changes)."""
        reader, self.reader = self.reader, None
        if reader is None:
            return
        reader.hide()
        self._root.removeWidget(reader)
        self.due_strip.set_stacked(False)
        self.tabs.setCornerWidget(self.due_strip, Qt.Corner.TopRightCorner)
        self.due_strip.show()
        for row in (self.top_row, self.mid_row, self.tabs):
            row.show()

    # ---------------------------------------------------------------- layout

    def _timer_box(self) -> QGroupBox:
        box = QGroupBox("Infusion")
        g = QGridLayout(box)
        g.setContentsMargins(6, 4, 6, 4)
        g.setVerticalSpacing(2)
        self.phase = QLabel()
        self.phase.setStyleSheet("font-size: 14pt; font-weight: bold; padding: 2px 6px;")
        self.big = QLabel()
        self.big.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.big.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.dose = QLabel()
        self.dose.setWordWrap(True)
        self.dose.setStyleSheet("color: #333;")
        g.addWidget(self.phase, 0, 0, 1, 2)
        g.addWidget(self.big, 0, 2, 1, 4)
        g.addWidget(self.detail, 1, 0, 1, 6)
        g.addWidget(self.dose, 2, 0, 1, 6)
        # Mnemonics (Alt+letter) on every action: the nurse can run the infusion by keyboard.
        self.start_btn = QPushButton("▶ &Start")
        self.pause_btn = QPushButton("❚❚ &Pause…")
        self.resume_btn = QPushButton("▶ &Resume")
        self.rate_btn = QPushButton("R&ate…")
        self.stop_btn = QPushButton("■ S&top…")
        self.not_treated_btn = QPushButton("&End — not treated…")
        for i, b in enumerate(
            (
                self.start_btn,
                self.pause_btn,
                self.resume_btn,
                self.rate_btn,
                self.stop_btn,
                self.not_treated_btn,
            )
        ):
            b.setMinimumHeight(34)
            g.addWidget(b, 3, i)
        self.start_btn.clicked.connect(self.on_start)
        self.pause_btn.clicked.connect(self.on_pause)
        self.resume_btn.clicked.connect(self.on_resume)
        self.rate_btn.clicked.connect(self.on_rate)
        self.stop_btn.clicked.connect(self.on_stop)
        self.not_treated_btn.clicked.connect(self.on_not_treated)
        return box

    def _checklist_box(self) -> QGroupBox:
        box = QGroupBox("Pre-infusion checklist")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(2)
        self.checklist = QListWidget()
        # Blocking items are listed first (see _render_checklist), so the lines in view are the
        # ones that matter; the rest scroll.
        self.checklist.setMinimumHeight(60)
        self.checklist.setMaximumHeight(CHECKLIST_MAX_PX)
        self.checklist.setWordWrap(True)
        lay.addWidget(self.checklist, 1)
        row = QHBoxLayout()
        self.checklist_btn = QPushButton("&Complete / correct…")
        self.checklist_btn.clicked.connect(self.on_checklist)
        row.addWidget(self.checklist_btn)
        self.override_btn = QPushButton("&Override hard stops…")
        self.override_btn.clicked.connect(self.on_override)
        row.addWidget(self.override_btn)
        row.addStretch(1)
        lay.addLayout(row)
        return box

    def _outcomes_box(self) -> QWidget:
        # The place to enter the scales of the session (issue 18 layout: in the header row).
        self.outcomes = OutcomesBox(self.station, self)
        self.outcomes.setToolTip("Outcome measures and scales")
        self.outcomes.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        return self.outcomes

    # ---------------------------------------------------------------- data

    def _ensure_panels(self) -> None:
        while not self.panels_ready():
            self._add_panel()

    def set_session(self, session_id: int | None) -> None:
        """Show a session (None clears the view)."""
        self.close_reader()  # a chair opened again starts at its controls, not in a note
        self.session_id = session_id
        self._ensure_panels()
        for panel in self.panels.values():
            if hasattr(panel, "set_session"):
                panel.set_session(session_id)
        self.refresh()

    def _auto_refresh(self) -> None:
        # Timer and change notices: not while the board is on screen, once when shown again.
        if not defer_while_hidden(self, self.refresh):
            self.refresh()

    def refresh(self) -> None:
        """Re-read the session and redraw (every second while visible, and after changes)."""
        self._soon.cancel()  # this refresh answers the notices already waiting
        if self.session_id is None or self.station.signed_in is None or self.station.locked:
            return
        try:
            self.summary = self.station.read(sessions.get_summary, self.session_id)
        except DomainError as exc:
            self.header.setText(exc.message)
            return
        if self.summary.state.phase == "dose_complete":
            # time alone completes the dose: raise its alarm even if the board is not ticking
            self.summary = self.station.read(sessions.dose_complete_alarm, self.session_id)
        # An ended session's chair may hold the next patient: their alarms are not this session's.
        ended = self.summary.ended_at is not None
        chair = None if ended else self.summary.chair
        if chair != self.alarm_strip.chair:
            self.alarm_strip.set_chair(chair)
        self._render(self.summary)
        self._render_due(None if ended else self.summary.chair)

    def _render_due(self, chair: str | None) -> None:
        """Vitals due and reassessments pending for this chair, from the board's own read (the
        same reminders as the chair card, in the same words)."""
        if chair is None:
            self.due_strip.show_items([])
            return
        # Read again when an entry was stored (ctx.other_version: a vitals reading, a dose, a
        # response) or DUE_REREAD_S passed: the texts change by the minute, and the monitor
        # stream alone does not move a reminder.
        ctx = self.station.ctx
        now = ctx.now()
        key = (chair, self.session_id, ctx.other_version)
        if (
            key == self._due_key
            and self._due_read_at is not None
            and abs((now - self._due_read_at).total_seconds()) < DUE_REREAD_S
        ):
            return
        self._due_key, self._due_read_at = key, now
        try:
            cards = self.station.read(board_cards)
        except DomainError:
            self.due_strip.show_items([])
            return
        card = next((c for c in cards if c.chair == chair), None)
        tz = clinic_zone(self.station.ctx)
        self.due_strip.show_items(due_items(card, self.station.ctx.now(), tz) if card else [])

    def _render(self, sm: SessionSummary) -> None:
        p = sm.patient
        self.outcomes.set_session(sm.id, p.mrn, ended=sm.ended_at is not None)
        tz = clinic_zone(self.station.ctx)
        age = p.age_on(sm.checked_in_at.astimezone(tz).date())
        allergies = ", ".join(p.allergies) if p.allergies else "no known allergies"
        self.header.setText(f"Chair {sm.chair} — {p.name}  ·  MRN {p.mrn}")
        self.subheader.setText(
            f"DOB {p.dob:%Y-%m-%d} ({age} y) · {p.weight_kg:g} kg (weighed {p.weight_date:%Y-%m-%d}) · "
            f"Allergies: {allergies} · Session #{sm.session_number} · "
            f"{session_type_label(sm.session_type)} · checked in {local_hm(sm.checked_in_at, tz)}"
        )
        st = sm.state
        label = PHASE_LABELS[st.phase]
        self.phase.setText(label.upper())
        self.phase.setStyleSheet(
            f"font-size: 14pt; font-weight: bold; padding: 2px 6px; background: {PHASE_COLOURS[st.phase]};"
        )
        if st.phase == "not_treated":
            self.big.setText("no ketamine given · chair freed")
            self.detail.setText(
                f"Ended {local_hm(sm.ended_at, tz)} without treatment: {sm.end_detail or ''}"
            )
        elif st.phase == "checked_in":
            self.big.setText("not started")
            self.detail.setText(
                f"Planned {st.planned_total_mg:g} mg over {st.planned_duration_min:g} min"
            )
        elif st.phase == "dose_complete":
            self.big.setText(f"{_clock(st.infused_s)} infused · DOSE COMPLETE")
            self.detail.setText(
                f"Delivered {st.delivered_mg:.1f} of {st.planned_total_mg:g} mg at "
                f"{local_hm(st.dose_complete_at, tz)} · stop the pump and press Stop"
            )
        elif st.phase in ("infusing", "paused"):
            over = f" · OVER by {_clock(st.overrun_s)}" if st.overrun_s > 0 else ""
            self.big.setText(
                f"{_clock(st.infused_s)} infused · {_clock(st.remaining_s)} left{over}"
            )
            rate = _rate_text(st.current_rate_mg_per_h, st.current_rate_ml_per_h)
            if not st.is_running:
                rate = f"pump paused (set {_rate_text(st.set_rate_mg_per_h, st.set_rate_ml_per_h)})"
            paused = (
                f" · paused since {local_hm(st.paused_at, tz)}: {st.pause_reason}"
                if st.phase == "paused"
                else ""
            )
            self.detail.setText(
                f"Delivered {st.delivered_mg:.1f} of {st.planned_total_mg:g} mg · {rate} · "
                f"started {local_hm(st.started_at, tz)}{paused}"
            )
        else:
            remaining = st.observation_remaining_s or 0.0
            obs = (
                f"minimum observation reached ({st.min_observation_min:g} min)"
                if remaining <= 0
                else f"{_clock(remaining)} until the {st.min_observation_min:g}-min minimum "
                f"(at {local_hm(sm.state.now + timedelta(seconds=remaining), tz)})"
            )
            self.big.setText(f"Observation {_clock(st.observation_elapsed_s)}")
            self.detail.setText(
                f"Infused {st.infused_min:.1f} min · delivered {st.delivered_mg:.1f} mg · "
                f"stopped {local_hm(st.stopped_at, tz)} · {obs}"
            )
        lot = f" · lot {sm.ketamine_lot}" if sm.ketamine_lot else ""
        self.dose.setText(" | ".join(sm.dose.lines()) + lot)
        self._render_spravato(sm)
        pump = st.pump
        can = self.station.can
        open_session = sm.ended_at is None
        self.start_btn.setEnabled(open_session and pump == "not_started" and can("start_infusion"))
        infusing = open_session and not st.dose_complete
        self.pause_btn.setEnabled(infusing and pump == "running" and can("pause_infusion"))
        self.resume_btn.setEnabled(infusing and pump == "paused" and can("resume_infusion"))
        self.rate_btn.setEnabled(infusing and pump in ("running", "paused") and can("change_rate"))
        self.stop_btn.setEnabled(
            open_session and pump in ("running", "paused") and can("stop_infusion")
        )
        before_start = open_session and pump == "not_started"
        self.not_treated_btn.setEnabled(before_start and can("end_not_treated"))
        self.checklist_btn.setEnabled(before_start and can("check_in"))
        self._render_checklist(sm)

    def _render_spravato(self, sm: SessionSummary) -> None:
        """A Spravato session has no pump: its devices and REMS checks replace the buttons."""
        sp = is_spravato(sm.session_type)
        self.spravato_area.setVisible(sp)
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.rate_btn, self.stop_btn):
            b.setVisible(not sp)
        if not sp:
            return
        st = sm.state
        tz = clinic_zone(self.station.ctx)
        self.dose.setText(
            protocol_text(sm.session_type, 0, 0, 0, total_mg=sm.dose.total_mg)
        )
        if st.phase == "checked_in":
            self.big.setText("no device given")
            self.detail.setText("Pre-dose BP, REMS checks, then the first device")
        elif st.stopped_at is not None and st.phase != "not_treated":
            remaining = st.observation_remaining_s or 0.0
            obs = (
                f"minimum observation reached ({st.min_observation_min:g} min)"
                if remaining <= 0
                else f"{_clock(remaining)} until the {st.min_observation_min:g}-min minimum "
                f"(at {local_hm(st.now + timedelta(seconds=remaining), tz)})"
            )
            self.big.setText(f"Observation {_clock(st.observation_elapsed_s)}")
            self.detail.setText(f"first device {local_hm(st.stopped_at, tz)} · {obs}")
        if self.spravato_panel.session_id != sm.id:
            self.spravato_panel.set_session(sm.id)
            self.spravato_area.verticalScrollBar().setValue(0)
        else:
            self.spravato_panel.refresh()
        v = self.spravato_panel.view
        if v is not None and v.reminders:
            # The BP reminders stay in sight beside the timer, whatever the panel's scroll.
            lines = [("OVERDUE: " if r.overdue else "") + r.text for r in v.reminders]
            self.dose.setText(self.dose.text() + "\n" + "\n".join(lines))

    def _render_checklist(self, sm: SessionSummary) -> None:
        items = (sm.checklist_result or {}).get("items")
        if not items and sm.state.pump == "not_started":
            try:
                items = self.station.read(sessions.preview_checklist, sm.id)
            except DomainError as exc:
                items = [{"status": "missing", "label": "Checklist", "message": exc.message}]
        self.checklist.clear()
        # What stops the start first: the lines in view are the ones to act on.
        order = {"hard_stop": 0, "missing": 1, "warning": 2}
        items = sorted(
            items or [], key=lambda it: (bool(it.get("overridden")), order.get(it["status"], 3))
        )
        for it in items:
            mark = STATUS_MARKS.get(it["status"], "?")
            extra = " (overridden)" if it.get("overridden") else ""
            QListWidgetItem(f"{mark} {it['label']}: {it['message']}{extra}", self.checklist)
        blocking = [
            it
            for it in items or []
            if it["status"] in ("hard_stop", "missing") and not it.get("overridden")
        ]
        self.override_btn.setEnabled(
            bool(blocking)
            and sm.state.pump == "not_started"
            and self.station.can("override_checklist")
        )

    # ---------------------------------------------------------------- actions

    def _version(self) -> int | None:
        """The session's version on screen: a change sent on it is refused when another
        station changed the session meanwhile (changed_elsewhere), not applied over it."""
        return self.summary.version if self.summary is not None else None

    def _do(self, fn: Callable[..., object], *args: object) -> bool:
        try:
            self.station.write(fn, self.session_id, *args, expected_version=self._version())
            self.refresh()  # the nurse's own action shows at once, not on the next turn
            return True
        except DomainError as exc:
            self.refresh()  # a change made elsewhere shows behind the message
            show_refusal(self, exc)
            return False

    def on_start(self) -> None:
        """Start the pump (the service checks the checklist and the baseline vitals)."""
        self._do(sessions.start_infusion)

    def open_chart(self) -> QWidget | None:
        """The patient's chart (issue 16) in its own window, beside the session."""
        from nursestation.ui.patient_chart import open_chart

        if self.summary is None:
            return None
        return open_chart(self.station, self.summary.patient.mrn, self)

    def _write(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        # Inside a dialog: a refusal propagates so the dialog shows it and keeps its values.
        # The change is sent on the version the dialog was opened on; when another station
        # changed the session since, the refusal says so, the screen behind shows the change,
        # and pressing OK again (now on the version shown) is the nurse's informed decision.
        try:
            self.station.write(
                fn, self.session_id, *args, expected_version=self._dialog_version, **kwargs
            )
        except DomainError as exc:
            if exc.code == CHANGED_ELSEWHERE:
                self._dialog_version = getattr(exc, "current_version", None)
                self.refresh()
            raise

    def _open(self, dialog: QDialog) -> QDialog:
        """Show an infusion prompt without blocking; it closes only on success or Cancel."""
        if self.dialog is not None:
            self.dialog.close()
        self._dialog_version = self._version()
        self.dialog = dialog
        dialog.finished.connect(lambda _r, d=dialog: self._closed(d))
        dialog.open()
        return dialog

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
        self.refresh()

    def on_pause(self) -> None:
        """Ask to confirm the pause with a reason from the list; Cancel changes nothing."""
        self._open(
            ReasonDialog(
                "Pause infusion",
                "Pause the infusion now? Choose the reason.",
                PAUSE_REASONS,
                lambda reason, _key, _text: self._write(sessions.pause_infusion, reason),
                self,
                what="pause",
                ok_text="Pause infusion",
            )
        )

    def on_resume(self) -> None:
        """Resume at the last set rate."""
        self._do(sessions.resume_infusion)

    def on_rate(self) -> None:
        """A new pump rate in mg/h or mL/h; faster than the order needs a written reason."""
        if self.summary is None:
            return
        sm = self.summary
        self._open(
            RateDialog(
                concentration_mg_per_ml=sm.dose.concentration_mg_per_ml,
                current_mg_per_h=sm.state.current_rate_mg_per_h,
                remaining_mg=sm.state.remaining_mg,
                ordered_mg_per_h=sm.dose.rate_mg_per_h,
                on_rate=lambda rate, unit, reason, confirm: self._write(
                    sessions.change_rate, rate, reason, unit=unit, confirm_reason=confirm
                ),
                parent=self,
            )
        )

    def on_stop(self) -> None:
        """Ask to confirm the stop with a reason from the list; Cancel changes nothing."""
        self._open(
            ReasonDialog(
                "Stop infusion",
                "Stop the infusion now? Observation starts. Choose the reason.",
                STOP_REASONS,
                lambda reason, _key, _text: self._write(sessions.stop_infusion, reason),
                self,
                what="stop",
                ok_text="Stop infusion",
            )
        )

    def on_not_treated(self) -> None:
        """End the session without treatment: the chair and the patient are freed."""
        self._open(
            ReasonDialog(
                "End session — not treated",
                "End this session without treatment? The chair is freed; the record is kept "
                "and the note says NOT TREATED with the reason.",
                NOT_TREATED_REASONS,
                lambda _reason, key, text: self._write(sessions.end_not_treated, key, text),
                self,
                what="session ended not treated",
                ok_text="End — not treated",
            )
        )

    def on_checklist(self) -> None:
        """Complete or correct the pre-infusion checklist at the chair (before the start)."""
        if self.summary is None:
            return
        self._open(
            ChecklistDialog(
                dict(self.summary.checklist),
                clinic_zone(self.station.ctx),
                lambda answers: self._write(sessions.update_checklist, answers),
                self,
            )
        )

    def on_override(self) -> None:
        """Charge nurse: let the start go ahead despite overridable hard stops, with a reason."""
        reason = ask_text(self, "Override hard stops", "Written reason for the override:")
        if reason:
            self._do(sessions.override_checklist, reason)


def _clock(seconds: float) -> str:
    """A running timer spelled with its seconds ("12 min 30 s"): it ticks visibly, and never
    reads like a clock time as "12:30" did."""
    return duration_words(seconds, with_seconds=True)


def _rate_text(mg_per_h: float | None, ml_per_h: float | None) -> str:
    """A rate in mg/h with its mL/h beside it (pumps are programmed in mL/h)."""
    if mg_per_h is None:
        return "—"
    ml = f" ({ml_per_h:.1f} mL/h)" if ml_per_h is not None else ""
    return f"{mg_per_h:.1f} mg/h{ml}"
