"""The Vitals tab of a session: the entry form, the live trend chart and the flowsheet.

The flowsheet is a model (`FlowsheetModel`) fed by appends and changes: device readings one row
per clinic-set interval (last value, flagged minimum/maximum), manual entries, every flagged
reading and corrections in full (nursestation.flowsheet); "Show every reading" switches to the raw
stream and a double-click on an interval row lists the readings it covers. Only readings stored
since the last look are read, and nothing is read while the tab is hidden.

Opening a session reads its newest half hour only (app.flowsheet.flowsheet_open): older rows are
read a page at a time when the nurse scrolls to the bottom (the model's canFetchMore/fetchMore),
and the trend's older part follows per interval, one page per event-loop turn after the session
is on screen (app.flowsheet.trend_history), so opening a 4-hour session costs what opening a
1-hour one does.

Values outside a limit are flagged by colour AND text ("185 ▲ACTION"); corrected originals stay
visible, struck through, with "corrected by #n"; late entries and the source (manual by whom, or
which device) have their own column. HR from an oximeter's pulse rate is marked "PR".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import vitals as vitals_service
from nursestation.app.flowsheet import (
    FlowsheetDelta,
    RowInfo,
    flowsheet_older,
    flowsheet_open,
    flowsheet_since,
    trend_history,
)
from nursestation.app.vitals import VitalsRecord
from nursestation.errors import DomainError
from nursestation.flowsheet import FlowRow, FlowsheetBuilder, Reading
from nursestation.limits import TIER_RANK, LimitBreach
from nursestation.scales import SEDATION_SCALES
from nursestation.ui.alarm_strip import AlarmStrip
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone, local_hm
from nursestation.ui.trend_chart import TrendChart
from nursestation.ui.vitals_entry import MessageLabel, VitalsEntryDialog, VitalsEntryForm
from nursestation.wording import hms, num

# (title, vital param or None, fixed width in px): fixed widths, so no column is re-measured
# when rows arrive.
COLUMNS: tuple[tuple[str, str | None, int], ...] = (
    ("#", None, 40),
    ("Observed", None, 76),
    ("SBP", "sbp", 0),
    ("DBP", "dbp", 0),
    ("HR", "hr", 0),
    ("SpO2", "spo2", 0),
    ("RR", "rr", 0),
    ("MAP", "map", 0),
    ("EtCO2", "etco2", 70),
    ("Temp", "temp_c", 64),
    ("Sedation", "sedation", 100),
    ("Source", None, 220),
    ("Notes", None, 280),
)
# Width 0: as wide as the widest flagged value in bold ("153.3 ▲CRITICAL"), measured in the
# view's font, so a flag is never cut to "212 ▲CRITI…". The values a nurse reads off the
# monitor (BP, HR, SpO2, RR) come first; MAP, derived, after them.
WIDEST_VALUE = {"map": "188.8 ▲CRITICAL", "temp_c": "38.8 ▲CRITICAL"}
WIDEST_WHOLE = "288 ▲CRITICAL"  # the whole-number vitals
# Rows the flowsheet shows at least (issue 18: one row at 1366×768 before).
MIN_ROWS = 10
TITLES = [c for c, _, _ in COLUMNS]
# Tier backgrounds: light tints so the text mark stays readable (colour is the second signal).
TIER_COLOURS = {"advisory": "#d8f6fa", "action": "#fff0a8", "critical": "#ffc9c9"}
INTERVAL_BG = "#f6f8fa"
REFRESH_MS = 2000  # device readings arrive without station.changed
# The trend's older part is read after the chart has been painted (so never while the tab is
# hidden): the first page this long after the paint (the rest of the open's events first), then
# a page at a time with a pause between pages for the rest of the event loop.
HISTORY_FIRST_MS, HISTORY_STEP_MS = 250, 10


def _mark(b: LimitBreach) -> str:
    return ("▲" if b.direction == "high" else "▼") + b.tier.upper()


def _worst(flags: Iterable[LimitBreach]) -> LimitBreach | None:
    return max(flags, key=lambda b: TIER_RANK[b.tier], default=None)


class FlowsheetModel(QAbstractTableModel):
    """Flowsheet rows, newest first, kept up to date by `add` (row inserts and dataChanged, never
    a reset except on `load` or a change of mode)."""

    def __init__(self, interval_s: int, tz: tzinfo, *, every_reading: bool = False) -> None:
        super().__init__()
        self.tz = tz  # the clinic's display zone: every time in the rows is shown in it
        self.interval_s = interval_s
        self.every_reading = every_reading
        self.builder = FlowsheetBuilder(interval_s, every_reading=every_reading)
        self._rows: list[FlowRow] = []  # oldest first, as the builder keeps them
        # Older history not read yet: readings observed before `older_from`, read by
        # `fetch_older` (the panel's) when the view scrolls to the bottom (Qt's fetchMore).
        self.older_from: datetime | None = None
        self.fetch_older: Callable[[], None] | None = None

    # -- feeding ---------------------------------------------------------------------------------

    def load(self, readings: Iterable[Reading], *, interval_s: int | None = None) -> None:
        """Start over with these readings (one model reset)."""
        self.beginResetModel()
        self.interval_s = interval_s or self.interval_s
        self.builder = FlowsheetBuilder(self.interval_s, every_reading=self.every_reading)
        self.builder.add(readings)
        self._rows = list(self.builder.rows)
        self.endResetModel()

    def set_every_reading(self, on: bool) -> None:
        """Switch between interval rows and the raw stream (a reset: the user asked for it)."""
        if on == self.every_reading:
            return
        readings = sorted(self.builder.readings.values(), key=lambda r: r.id)
        self.every_reading = on
        self.load(readings)

    def add(self, readings: Sequence[Reading]) -> None:
        """Take new readings: inserted rows, removed rows and dataChanged, as the core reports."""
        if not readings:
            return
        ch = self.builder.add(readings)
        root = QModelIndex()
        for i in ch.removed:  # indexes into the previous list, highest first
            v = len(self._rows) - 1 - i
            self.beginRemoveRows(root, v, v)
            del self._rows[i]
            self.endRemoveRows()
        for i in ch.inserted:  # indexes into the new list, lowest first
            v = len(self._rows) - i  # newest first: list position i is view row n - i
            self.beginInsertRows(root, v, v)
            self._rows.insert(i, self.builder.rows[i])
            self.endInsertRows()
        last = len(COLUMNS) - 1
        for i in ch.changed:
            self._rows[i] = self.builder.rows[i]
            v = len(self._rows) - 1 - i
            self.dataChanged.emit(self.index(v, 0), self.index(v, last))

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        """True while older history remains unread (Qt asks when the view reaches the bottom)."""
        return not parent.isValid() and self.older_from is not None and self.fetch_older is not None

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        """Read the next older page (rows inserted at the bottom, no reset)."""
        if self.canFetchMore(parent):
            assert self.fetch_older is not None
            self.fetch_older()

    # -- access ----------------------------------------------------------------------------------

    def row_at(self, view_row: int) -> FlowRow:
        """The flowsheet row shown at `view_row` (0 = newest)."""
        return self._rows[len(self._rows) - 1 - view_row]

    def readings_of(self, row: FlowRow) -> list[Reading]:
        """The raw readings a row covers (for expansion)."""
        return [self.builder.readings[i] for i in row.reading_ids]

    # -- Qt model --------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        fr = self.row_at(index.row())
        col = index.column()
        key = COLUMNS[col][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(fr, col, self.tz)
        if role == Qt.ItemDataRole.UserRole:
            return fr.reading.id if fr.reading is not None else None
        corrected = fr.reading is not None and fr.reading.superseded_by is not None
        flag = _flag(fr, key)
        if role == Qt.ItemDataRole.BackgroundRole:
            if flag is not None and not corrected:
                return QBrush(QColor(TIER_COLOURS[flag.tier]))
            if fr.kind == "interval":
                return QBrush(QColor(INTERVAL_BG))
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if flag is not None:
                return flag.text
            if fr.kind == "interval" and key is not None and key in fr.summary:
                s = fr.summary[key]
                return f"last {num(s.last)}, min {num(s.low)}, max {num(s.high)}"
            if key == "hr" and fr.hr_from_pulse:
                return "pulse rate from the oximeter (no ECG heart rate)"
            return None
        if role == Qt.ItemDataRole.FontRole:
            if corrected:
                f = QFont()
                f.setStrikeOut(col not in (0, len(COLUMNS) - 1))
                return f
            if flag is not None and flag.tier != "advisory":
                f = QFont()
                f.setBold(True)
                return f
            return None
        if role == Qt.ItemDataRole.ForegroundRole and corrected:
            return QBrush(QColor("#888888"))
        return None


def _flag(fr: FlowRow, key: str | None) -> LimitBreach | None:
    if key is None:
        return None
    if fr.reading is not None:
        return fr.reading.flags.get(key)
    s = fr.summary.get(key)
    return _worst(s.flags) if s is not None else None


def cell_text(fr: FlowRow, col: int, tz: tzinfo) -> str:
    """The text of one flowsheet cell (times in the clinic's display zone `tz`)."""
    title, key, _ = COLUMNS[col]
    r = fr.reading
    info: RowInfo | None = r.payload if r is not None else None
    if title == "#":
        return f"#{r.id}" if r is not None else f"×{fr.count}"
    if title == "Observed":
        if info is None:
            return f"{local_hm(fr.at, tz)}–{local_hm(fr.end, tz)}"
        if r is not None and r.source == "device":
            # A monitor reading shown in full carries its second: several may share a minute.
            return hms(info.observed_at, tz)
        return local_hm(info.observed_at, tz) + (" (late)" if info.late else "")
    if title == "Source":
        if info is None:
            return f"device, {fr.count} readings" + (
                " (pulse rate as HR)" if fr.hr_from_pulse else ""
            )
        return info.source_detail
    if title == "Notes":
        return _notes(fr, info, tz)
    if key == "sedation":
        if info is None or info.sedation_scale is None or info.sedation_score is None:
            return ""
        scale = SEDATION_SCALES.get(info.sedation_scale)
        text = f"{scale.name if scale else info.sedation_scale} {num(info.sedation_score)}"
        flag = r.flags.get("sedation") if r is not None else None
        return f"{text} {_mark(flag)}" if flag is not None else text
    assert key is not None
    value = fr.value(key)
    if value is None:
        return ""
    text = num(value) + (" PR" if key == "hr" and fr.hr_from_pulse else "")
    if r is not None:
        flag = r.flags.get(key)
        return f"{text} {_mark(flag)}" if flag is not None else text
    s = fr.summary[key]
    worst = _worst(s.flags)
    if worst is None:
        return text
    extreme = s.low if worst.direction == "low" else s.high
    if extreme == value:
        return f"{text} {_mark(worst)}"
    label = "min" if worst.direction == "low" else "max"
    return f"{text} ({label} {num(extreme)} {_mark(worst)})"


def _notes(fr: FlowRow, info: RowInfo | None, tz: tzinfo) -> str:
    if info is None:
        flagged = [
            f"{k.upper() if k != 'spo2' else 'SpO2'} {'min' if b.direction == 'low' else 'max'} "
            f"{num(b.value)} {_mark(b)}"
            for k, s in fr.summary.items()
            for b in s.flags
        ]
        return "; ".join(flagged)
    notes = []
    if info.late:
        notes.append(f"late entry (entered {local_hm(info.recorded_at, tz)})")
    if info.supersedes_id is not None:
        notes.append(f"corrects #{info.supersedes_id}: {info.correction_reason}")
    if fr.reading is not None and fr.reading.superseded_by is not None:
        notes.append(f"corrected by #{fr.reading.superseded_by}")
    return "; ".join(notes)


def row_height(view: QWidget) -> int:
    """The flowsheet's fixed row height: the font's line and a little air."""
    view.ensurePolished()
    return view.fontMetrics().height() + 5


def ten_rows_height(view: QTableView) -> int:
    """The table height that shows MIN_ROWS whole rows below the header, with the horizontal
    scroll bar the wide flowsheet has at 1366 px."""
    header = view.horizontalHeader()
    header.ensurePolished()
    return (
        header.sizeHint().height()
        + MIN_ROWS * row_height(view)
        + view.horizontalScrollBar().sizeHint().height()
        + 2 * view.frameWidth()
    )


def flowsheet_view(model: FlowsheetModel, parent: QWidget | None = None) -> QTableView:
    """A table view for the model: fixed column widths and row height (nothing is measured per
    cell), whole-row single selection, read-only."""
    view = QTableView(parent)
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    vh = view.verticalHeader()
    vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vh.setDefaultSectionSize(row_height(view))
    hh = view.horizontalHeader()
    hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.ensurePolished()  # the application style sheet's font size, not the default
    bold = QFont(view.font())
    bold.setBold(True)
    metrics = QFontMetrics(bold)
    for i, (_t, key, width) in enumerate(COLUMNS):
        widest = WIDEST_VALUE.get(key or "", WIDEST_WHOLE)
        hh.resizeSection(i, width or metrics.horizontalAdvance(widest) + 14)
    hh.setStretchLastSection(True)
    return view


class ReadingsDialog(QDialog):
    """The raw readings one interval row stands for."""

    def __init__(
        self, readings: Sequence[Reading], interval_s: int, tz: tzinfo, title: str, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.model = FlowsheetModel(interval_s, tz, every_reading=True)
        self.model.load(readings)
        lay = QVBoxLayout(self)
        self.view = flowsheet_view(self.model, self)
        lay.addWidget(self.view)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(1100, 520)


class VitalsPanel(QWidget):
    """Entry, trend and flowsheet of one session; `set_session(None)` empties it."""

    def __init__(
        self, station: Station, parent: QWidget | None = None, *, with_alarm_strip: bool = False
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self._last_id = 0
        self._basis: tuple[Any, ...] | None = None
        self._markers: tuple[Any, ...] | None = None
        # The chart: readings at full resolution from `_chart_from` on (the first page) and any
        # stored after the first read (id above `_first_last_id`); before it, per-interval
        # history read a page per event-loop turn back from `_history_before`.
        self._chart_from: datetime | None = None
        self._first_last_id = 0
        self._history_before: datetime | None = None
        self._generation = 0  # a pending history step of an earlier load does nothing
        self._history_paused = False  # stopped by a lock or sign-out: the next refresh resumes
        self._history_after_paint = False  # set by a new load; the chart's next paint starts it
        self._history_replace = False  # the next page read replaces the older part on screen

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 2, 0, 0)
        root.setSpacing(2)
        self.alarm_strip: AlarmStrip | None = None
        if with_alarm_strip:
            self.alarm_strip = AlarmStrip(station, None, self)
            root.addWidget(self.alarm_strip)

        # Entry | flowsheet | trend side by side, each the tab's full height: the flowsheet
        # shows at least MIN_ROWS rows at 1366×768 (stacked below the chart it showed one).
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        entry_box = QGroupBox("Record vital signs (Ctrl+Shift+V)")
        eb = QVBoxLayout(entry_box)
        eb.setContentsMargins(6, 4, 6, 4)
        self.form = VitalsEntryForm(station, entry_box)
        eb.addWidget(self.form)
        eb.addStretch(1)
        entry_scroll = QScrollArea()
        entry_scroll.setWidgetResizable(True)
        entry_scroll.setFrameShape(QFrame.Shape.NoFrame)
        entry_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        entry_scroll.setWidget(entry_box)
        entry_scroll.setMinimumWidth(entry_box.minimumSizeHint().width() + 16)
        split.addWidget(entry_scroll)

        from nursestation.flowsheet import FlowsheetSettings

        self.model = FlowsheetModel(
            FlowsheetSettings.from_settings(station.ctx.settings).interval_s,
            clinic_zone(station.ctx),
        )
        self.table = flowsheet_view(self.model)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self._expand)
        self.table.setMinimumHeight(ten_rows_height(self.table))

        # The title sits in the bar (a group-box title row would cost the tenth row at 768 px).
        sheet_box = QGroupBox()
        sb = QVBoxLayout(sheet_box)
        sb.setContentsMargins(6, 4, 6, 4)
        sb.setSpacing(2)
        bar = QHBoxLayout()
        self.legend = QLabel("<b>Flowsheet</b> · ▲ above / ▼ below limit")
        self.legend.setToolTip(
            "▲ above / ▼ below limit · ADVISORY · ACTION · CRITICAL · (late) = entered late · "
            "PR = pulse rate as HR · shaded rows: monitor data per interval (double-click to "
            "expand) · older rows load as you scroll down"
        )
        self.legend.setStyleSheet("color: #555;")
        self.every_box = QCheckBox("Show every readin&g")
        self.every_box.toggled.connect(self.model.set_every_reading)
        self.correct_btn = QPushButton("Correct selecte&d…")
        self.correct_btn.setEnabled(False)
        self.correct_btn.clicked.connect(self.correct_selected)
        bar.addWidget(self.legend, 1)
        bar.addWidget(self.every_box)
        bar.addWidget(self.correct_btn)
        sb.addLayout(bar)
        sb.addWidget(self.table, 1)
        split.addWidget(sheet_box)

        self.chart = TrendChart(self)
        self.chart.set_zone(clinic_zone(station.ctx), station.ctx.now())
        self.chart.layout_.viewport().installEventFilter(self)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 1)
        root.addWidget(split, 1)
        self.message = MessageLabel()  # no room taken while there is nothing to say
        root.addWidget(self.message)

        station.changed.connect(self._tick)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(REFRESH_MS)

    # -- session -------------------------------------------------------------------------------

    def set_session(self, session_id: int | None) -> None:
        """Show another session (None: empty panel)."""
        self.session_id = session_id
        self._last_id = 0
        self._basis = None
        self._markers = None
        self._generation += 1
        self._history_before = None
        self.model.older_from = None
        self.model.load([])
        self.chart.clear()
        self.form.set_session(session_id)
        if self.alarm_strip is not None:
            chair = None
            if session_id is not None:
                from nursestation.app.sessions import get_summary

                chair = self.station.read(get_summary, session_id).chair
            self.alarm_strip.set_chair(chair)
        self.refresh()
        self.chart.redraw()

    def _tick(self) -> None:
        # Nothing is read for a tab nobody sees; showEvent catches up.
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Read the readings stored since the last look and feed them to the flowsheet model and
        the chart (no-op when nothing new arrived)."""
        if self.session_id is None or self.station.signed_in is None or self.station.locked:
            return
        try:
            if self._basis is None:
                delta = self.station.read(flowsheet_open, self.session_id)
            else:
                delta = self.station.read(flowsheet_since, self.session_id, self._last_id)
                if delta.basis != self._basis:
                    # Another baseline, other limits or interval: judge everything again.
                    delta = self.station.read(flowsheet_open, self.session_id)
            markers = self.station.read(vitals_service.chart_markers, self.session_id)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        self.message.setText("")
        if delta.basis != self._basis:
            self._reload(delta)
        elif delta.readings:
            self._append(delta)
        if self._history_paused:
            self._history_paused = False
            self._next_history_step()
        if markers != self._markers:
            self._markers = markers
            self.chart.set_markers(markers)

    def _reload(self, delta: FlowsheetDelta) -> None:
        """Start over from a first page (flowsheet_open): one model reset."""
        self._basis = delta.basis
        self._last_id = self._first_last_id = delta.last_id
        self._chart_from = delta.start
        self.model.load(delta.readings, interval_s=delta.interval_s)
        self.model.older_from = delta.start if delta.older else None
        self.model.fetch_older = self.fetch_older
        self.chart.set_readings(list(delta.readings))
        self._restart_history()

    def _append(self, delta: FlowsheetDelta) -> None:
        self._last_id = delta.last_id
        selected = self.selected_id()
        self.model.add(delta.readings)
        if any(r.supersedes is not None for r in delta.readings):
            # A correction takes an earlier point off the chart: give it the current readings,
            # and read the older part again (the original may be there).
            self.chart.set_readings(self._chart_readings())
            self._restart_history()
        else:
            self.chart.append(delta.readings)
        if selected is not None and self.selected_id() != selected:
            self._select(selected)

    def _chart_readings(self) -> list[Reading]:
        # The older pages the flowsheet read on scrolling are in the chart's history already.
        start, first_last = self._chart_from, self._first_last_id
        return [
            r
            for r in self.model.builder.readings.values()
            if start is None or r.observed_at >= start or r.id > first_last
        ]

    def fetch_older(self) -> None:
        """Read the flowsheet's next older page (the model asks when the view reaches the
        bottom); rows are inserted at the bottom, the newest rows stay where they are."""
        before = self.model.older_from
        if self.session_id is None or before is None or self.station.locked:
            return
        try:
            page = self.station.read(flowsheet_older, self.session_id, before)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        if page.basis != self._basis:
            self._basis = None  # judged differently since: the next refresh starts over
            self.refresh()
            return
        self.model.older_from = page.start if page.older else None
        self.model.add(page.readings)

    # -- the trend's older part -------------------------------------------------------------------

    def _restart_history(self) -> None:
        # The older part on screen stays until the first page read again replaces it (a
        # correction re-reads it: no blank stretch meanwhile).
        self._generation += 1
        self._history_paused = False
        self._history_replace = True
        self._history_before = self._chart_from
        self._history_after_paint = self._history_before is not None
        if self._history_before is None:
            self.chart.clear_history()

    def eventFilter(self, watched: Any, event: QEvent) -> bool:
        """The chart's first paint after a load starts reading its older part."""
        if event.type() == QEvent.Type.Paint and self._history_after_paint:
            self._history_after_paint = False
            self._next_history_step(HISTORY_FIRST_MS)
        return False

    def _next_history_step(self, after_ms: int = HISTORY_STEP_MS) -> None:
        generation = self._generation
        QTimer.singleShot(after_ms, self, lambda: self._history_step(generation))

    def _history_step(self, generation: int) -> None:
        """One page of the trend's older part (an hour, per interval in SQL), then the next on
        a later event-loop turn: the session is on screen and usable meanwhile."""
        before = self._history_before
        if generation != self._generation or before is None or self.session_id is None:
            return
        if self.station.signed_in is None or self.station.locked:
            self._history_paused = True
            return
        try:
            page = self.station.read(trend_history, self.session_id, before)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        if self._history_replace:
            self._history_replace = False
            self.chart.clear_history()
        self.chart.add_history(page.points)
        self._history_before = page.start if page.older else None
        if self._history_before is not None:
            self._next_history_step()

    @property
    def history_pending(self) -> bool:
        """Whether the trend's older part is still being read (for tests and benches)."""
        return self._history_before is not None

    # -- flowsheet -----------------------------------------------------------------------------

    @property
    def rows(self) -> list[FlowRow]:
        """The flowsheet rows, newest first."""
        return [self.model.row_at(i) for i in range(self.model.rowCount())]

    def cell_text(self, row: int, title: str) -> str:
        """The text of a flowsheet cell (row 0 = newest), for tests."""
        return str(self.model.data(self.model.index(row, TITLES.index(title))) or "")

    def selected_id(self) -> int | None:
        """The reading id of the selected row (None for an interval row)."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.data(rows[0], Qt.ItemDataRole.UserRole) if rows else None

    def _select(self, reading_id: int) -> None:
        for i in range(self.model.rowCount()):
            fr = self.model.row_at(i)
            if fr.reading is not None and fr.reading.id == reading_id:
                self.table.selectRow(i)
                return

    def _selected_row(self) -> FlowRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def _selection_changed(self, *_: Any) -> None:
        fr = self._selected_row()
        self.correct_btn.setEnabled(
            fr is not None
            and fr.reading is not None
            and fr.reading.superseded_by is None
            and self.station.can("correct_vitals")
        )

    def _expand(self, index: QModelIndex) -> None:
        fr = self.model.row_at(index.row())
        if fr.kind != "interval":
            return
        tz = self.model.tz
        self.expanded = ReadingsDialog(
            self.model.readings_of(fr),
            self.model.interval_s,
            tz,
            f"Readings {local_hm(fr.at, tz)}–{local_hm(fr.end, tz)} "
            f"({len(fr.reading_ids)} not flagged; "
            "flagged readings are rows of their own)",
            self,
        )
        self.expanded.open()

    def correct_selected(self) -> None:
        """Open the form pre-filled with the selected reading to correct it (with a reason)."""
        fr = self._selected_row()
        if fr is None or fr.reading is None or self.session_id is None:
            return
        dlg = VitalsEntryDialog(self.station, self.session_id, self, correcting=_record(fr.reading))
        dlg.exec()


def _record(r: Reading) -> VitalsRecord:
    """The reading as the entry form's correction mode expects it (HR: the ECG HR only)."""
    info: RowInfo = r.payload
    v = r.values
    return VitalsRecord(
        id=r.id,
        observed_at=info.observed_at,
        recorded_at=info.recorded_at,
        sbp=v.get("sbp"),
        dbp=v.get("dbp"),
        map=v.get("map"),
        hr=None if r.hr_from_pulse else v.get("hr"),
        spo2=v.get("spo2"),
        rr=v.get("rr"),
        etco2=v.get("etco2"),
        temp_c=v.get("temp_c"),
        sedation_scale=info.sedation_scale,
        sedation_score=info.sedation_score,
        source=r.source,
        source_detail=info.source_detail,
        late=info.late,
        supersedes_id=info.supersedes_id,
        correction_reason=info.correction_reason,
        superseded_by=r.superseded_by,
    )
