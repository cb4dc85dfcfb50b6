"""The 7-day tracker of SPRAVATO REMS Patient Monitoring Forms (issue 17): for the administrator
and the charge nurse. One row per treated Spravato session: due date (session date + 7 days),
days left, overdue rows highlighted, the submission once recorded. Selecting a row lets the user
record the submission (date, how, confirmation number); a refusal names the field and keeps
what was typed."""

from __future__ import annotations

from PySide6.QtCore import QDate
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import spravato
from nursestation.app.record import clinic_zone
from nursestation.errors import DomainError
from nursestation.ui.station import Station
from nursestation.wording import REMS_SUBMISSION_METHOD_LABELS

COLUMNS = ("Patient", "MRN", "Session", "Due", "Days left", "Form", "Status")
OVERDUE_BG = QColor("#fde2e2")
OVERDUE_FG = QColor("#b71c1c")
DONE_FG = QColor("#1b5e20")


def _days_text(row: spravato.TrackerRow) -> str:
    if row.submission is not None:
        return "—"
    if row.days_left < 0:
        return f"{-row.days_left} day(s) overdue"
    return "due today" if row.days_left == 0 else f"{row.days_left}"


def _status_text(row: spravato.TrackerRow) -> str:
    sub = row.submission
    if sub is not None:
        how = REMS_SUBMISSION_METHOD_LABELS.get(sub.method, sub.method)
        return f"Submitted {sub.submitted_on.isoformat()} via {how}, confirmation {sub.confirmation}"
    return "OVERDUE — not submitted" if row.overdue else "Not submitted"


class RemsTrackerDialog(QDialog):
    """The tracker table and the submission form below it."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.setWindowTitle("SPRAVATO REMS forms — 7-day tracker")
        self.resize(980, 460)
        self.rows: tuple[spravato.TrackerRow, ...] = ()
        lay = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)
        lay.addWidget(self.table, 1)

        form = QFormLayout()
        self.target = QLabel("Select a session above.")
        form.addRow("Session", self.target)
        self.submitted_on = QDateEdit()
        self.submitted_on.setCalendarPopup(True)
        self.submitted_on.setDisplayFormat("yyyy-MM-dd")
        today = station.ctx.now().astimezone(clinic_zone(station.ctx)).date()
        self.submitted_on.setDate(QDate(today.year, today.month, today.day))
        form.addRow("Submitted on", self.submitted_on)
        self.method = QComboBox()
        methods = spravato.config(station.ctx).submission_methods
        for key in methods:
            self.method.addItem(REMS_SUBMISSION_METHOD_LABELS.get(key, key), key)
        form.addRow("How", self.method)
        self.confirmation = QLineEdit()
        self.confirmation.setPlaceholderText("REMS confirmation number")
        form.addRow("Confirmation number", self.confirmation)
        lay.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b71c1c;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.record_button = QPushButton("Record submission")
        self.record_button.setEnabled(False)
        self.record_button.clicked.connect(self.record)
        buttons.addWidget(self.record_button)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the tracker (the most urgent first, submitted ones last)."""
        self.rows = self.station.read(spravato.tracker)
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            cells = (
                r.patient_name,
                r.mrn,
                f"{r.session_date.isoformat()} (S-{r.session_id})",
                r.due_date.isoformat(),
                _days_text(r),
                "complete" if r.form_complete else "incomplete",
                _status_text(r),
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r.overdue:
                    item.setBackground(QBrush(OVERDUE_BG))
                    item.setForeground(QBrush(OVERDUE_FG))
                elif r.submission is not None:
                    item.setForeground(QBrush(DONE_FG))
                self.table.setItem(i, j, item)
        pending = sum(1 for r in self.rows if r.submission is None)
        overdue = sum(1 for r in self.rows if r.overdue)
        self.summary.setText(
            f"{pending} form(s) to submit, {overdue} overdue · "
            f"{len(self.rows) - pending} submitted"
        )
        self._selected()

    def selected_row(self) -> spravato.TrackerRow | None:
        """The tracker row selected in the table."""
        idx = self.table.currentRow()
        if not self.table.selectedItems() or not 0 <= idx < len(self.rows):
            return None
        return self.rows[idx]

    def _selected(self) -> None:
        row = self.selected_row()
        self.record_button.setEnabled(row is not None)
        if row is None:
            self.target.setText("Select a session above.")
            return
        self.target.setText(f"{row.patient_name} · {row.session_date.isoformat()}")

    def record(self) -> None:
        """Record the submission of the selected session's form (refusals keep the input)."""
        row = self.selected_row()
        if row is None:
            return
        d = self.submitted_on.date()
        try:
            self.station.write(
                spravato.record_submission,
                row.session_id,
                submitted_on=f"{d.year():04d}-{d.month():02d}-{d.day():02d}",
                method=str(self.method.currentData()),
                confirmation=self.confirmation.text(),
            )
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.error.setText("")
        self.confirmation.clear()
        self.refresh()

