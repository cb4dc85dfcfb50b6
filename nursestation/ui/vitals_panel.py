"""The Vitals tab of a session: the entry form, the live trend chart and the flowsheet.

Flowsheet values outside a limit are flagged by colour AND text ("185 ▲ACTION"); corrected
originals stay visible, struck through, with "corrected by #n"; late entries and the source
(manual by whom, or which device) have their own column.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import vitals as vitals_service
from nursestation.app.vitals import FlowsheetRow
from nursestation.errors import DomainError
from nursestation.scales import SEDATION_SCALES
from nursestation.ui.alarm_strip import AlarmStrip
from nursestation.ui.station import Station
from nursestation.ui.style import fmt_num, local_hm
from nursestation.ui.trend_chart import TrendChart
from nursestation.ui.vitals_entry import VitalsEntryDialog, VitalsEntryForm

COLUMNS = (
    ("#", None),
    ("Observed", None),
    ("SBP", "sbp"),
    ("DBP", "dbp"),
    ("MAP", "map"),
    ("HR", "hr"),
    ("SpO2", "spo2"),
    ("RR", "rr"),
    ("EtCO2", "etco2"),
    ("Temp", "temp_c"),
    ("Sedation", "sedation"),
    ("Source", None),
    ("Notes", None),
)
# Tier backgrounds: light tints so the text mark stays readable (colour is the second signal).
TIER_COLOURS = {"advisory": "#d8f6fa", "action": "#fff0a8", "critical": "#ffc9c9"}
REFRESH_MS = 2000  # device readings arrive without station.changed


class VitalsPanel(QWidget):
    """Entry, trend and flowsheet of one session; `set_session(None)` empties it."""

    def __init__(
        self, station: Station, parent: QWidget | None = None, *, with_alarm_strip: bool = False
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.rows: list[FlowsheetRow] = []

        root = QVBoxLayout(self)
        self.alarm_strip: AlarmStrip | None = None
        if with_alarm_strip:
            self.alarm_strip = AlarmStrip(station, None, self)
            root.addWidget(self.alarm_strip)

        top = QSplitter(Qt.Orientation.Horizontal)
        entry_box = QGroupBox("Record vital signs (Ctrl+Shift+V)")
        eb = QVBoxLayout(entry_box)
        self.form = VitalsEntryForm(station, entry_box)
        eb.addWidget(self.form)
        eb.addStretch(1)
        top.addWidget(entry_box)
        self.chart = TrendChart(self)
        top.addWidget(self.chart)
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 3)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c for c, _ in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        sheet_box = QGroupBox("Flowsheet")
        sb = QVBoxLayout(sheet_box)
        bar = QHBoxLayout()
        self.legend = QLabel(
            "▲ above / ▼ below limit · ADVISORY · ACTION · CRITICAL · (late) = entered late"
        )
        self.legend.setStyleSheet("color: #555;")
        self.correct_btn = QPushButton("Correct selected…")
        self.correct_btn.setEnabled(False)
        self.correct_btn.clicked.connect(self.correct_selected)
        bar.addWidget(self.legend, 1)
        bar.addWidget(self.correct_btn)
        sb.addLayout(bar)
        sb.addWidget(self.table)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(sheet_box)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        root.addWidget(split, 1)
        self.message = QLabel("")
        root.addWidget(self.message)

        station.changed.connect(self.refresh)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)

    # -- session -------------------------------------------------------------------------------

    def set_session(self, session_id: int | None) -> None:
        """Show another session (None: empty panel)."""
        self.session_id = session_id
        self.form.set_session(session_id)
        if self.alarm_strip is not None:
            chair = None
            if session_id is not None:
                from nursestation.app.sessions import get_summary

                chair = self.station.read(get_summary, session_id).chair
            self.alarm_strip.set_chair(chair)
        self.refresh()
        self.chart.redraw()

    def refresh(self) -> None:
        """Re-read the flowsheet and queue the chart (it redraws on its own timer)."""
        if self.session_id is None or self.station.signed_in is None or self.station.locked:
            self.rows = []
            self.table.setRowCount(0)
            return
        try:
            self.rows = self.station.read(vitals_service.flowsheet, self.session_id)
            trend = self.station.read(vitals_service.trend_data, self.session_id)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        self.message.setText("")
        self.chart.set_data(trend)
        self._fill_table()

    # -- flowsheet -----------------------------------------------------------------------------

    def _fill_table(self) -> None:
        selected = self.selected_id()
        rows = list(reversed(self.rows))  # newest first
        self.table.setRowCount(len(rows))
        for i, fr in enumerate(rows):
            r = fr.record
            corrected = fr.corrected_by is not None
            for j, (_title, key) in enumerate(COLUMNS):
                item = QTableWidgetItem(self._cell(fr, j, key))
                item.setData(Qt.ItemDataRole.UserRole, r.id)
                flag = fr.flags.get(key) if key else None
                if flag is not None and not corrected:
                    item.setBackground(QBrush(QColor(TIER_COLOURS[flag.tier])))
                    item.setToolTip(flag.text)
                    if flag.tier != "advisory":
                        f = item.font()
                        f.setBold(True)
                        item.setFont(f)
                if corrected:
                    f = QFont(item.font())
                    f.setStrikeOut(j not in (0, len(COLUMNS) - 1))
                    item.setFont(f)
                    item.setForeground(QBrush(QColor("#888888")))
                self.table.setItem(i, j, item)
            if r.id == selected:
                self.table.selectRow(i)

    def _cell(self, fr: FlowsheetRow, col: int, key: str | None) -> str:
        r = fr.record
        title = COLUMNS[col][0]
        if title == "#":
            return f"#{r.id}"
        if title == "Observed":
            return local_hm(r.observed_at) + (" (late)" if r.late else "")
        if title == "Source":
            return r.source_detail
        if title == "Notes":
            notes = []
            if r.late:
                notes.append(f"late entry (entered {local_hm(r.recorded_at)})")
            if r.supersedes_id is not None:
                notes.append(f"corrects #{r.supersedes_id}: {r.correction_reason}")
            if fr.corrected_by is not None:
                notes.append(f"corrected by #{fr.corrected_by}")
            return "; ".join(notes)
        if key == "sedation":
            if r.sedation_scale is None or r.sedation_score is None:
                return ""
            name = (
                SEDATION_SCALES[r.sedation_scale].name
                if r.sedation_scale in SEDATION_SCALES
                else r.sedation_scale
            )
            text = f"{name} {fmt_num(r.sedation_score)}"
        else:
            value = getattr(r, key) if key else None
            if value is None:
                return ""
            text = fmt_num(value)
        flag = fr.flags.get(key) if key else None
        return f"{text} {flag.mark}" if flag is not None else text

    def cell_text(self, row: int, title: str) -> str:
        """The text of a flowsheet cell (row 0 = newest), for tests."""
        col = [c for c, _ in COLUMNS].index(title)
        item = self.table.item(row, col)
        return item.text() if item else ""

    def selected_id(self) -> int | None:
        """The reading id of the selected row."""
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _selection_changed(self) -> None:
        rid = self.selected_id()
        row = next((fr for fr in self.rows if fr.record.id == rid), None)
        self.correct_btn.setEnabled(
            row is not None and row.corrected_by is None and self.station.can("correct_vitals")
        )

    def correct_selected(self) -> None:
        """Open the form pre-filled with the selected reading to correct it (with a reason)."""
        rid = self.selected_id()
        row = next((fr for fr in self.rows if fr.record.id == rid), None)
        if row is None or self.session_id is None:
            return
        dlg = VitalsEntryDialog(self.station, self.session_id, self, correcting=row.record)
        dlg.exec()
