"""The audit trail viewer (administrators): filter by date, user, action and entity, read the
before/after of each row, and check the hash chain."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, tzinfo

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import audit
from nursestation.app.audit import AuditEntry, AuditFilter
from nursestation.errors import DomainError
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone
from nursestation.wording import date_hms, wall_time_in

COLUMNS = ("#", "Time", "User", "Station", "Action", "Entity")
DEFAULT_DAYS = 7


def _local_day_start(d: QDate, tz: tzinfo) -> datetime:
    """Midnight of a calendar day in the clinic's display zone `tz`, as an aware UTC datetime."""
    return wall_time_in(datetime.combine(date(d.year(), d.month(), d.day()), time(0, 0)), tz)


def _pretty(value: object) -> str:
    if value is None:
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


class AuditViewer(QDialog):
    """Read-only view of the audit trail; needs view_audit."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.entries: list[AuditEntry] = []
        self.setWindowTitle("NurseStation — audit trail")
        self.resize(1100, 700)
        root = QVBoxLayout(self)

        filters = QGridLayout()
        today = station.ctx.now().astimezone(clinic_zone(station.ctx)).date()
        first = today - timedelta(days=DEFAULT_DAYS)
        self.date_from = QDateEdit(QDate(first.year, first.month, first.day))
        self.date_to = QDateEdit(QDate(today.year, today.month, today.day))
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        self.user = QComboBox()
        self.user.setEditable(True)
        self.action = QLineEdit()
        self.action.setPlaceholderText("starts with, e.g. sign_in, screen, user.")
        self.entity_type = QLineEdit()
        self.entity_type.setPlaceholderText("e.g. session, user, note")
        self.entity_id = QLineEdit()
        self.entity_id.setPlaceholderText("id")
        filters.addWidget(QLabel("From"), 0, 0)
        filters.addWidget(self.date_from, 0, 1)
        filters.addWidget(QLabel("To (inclusive)"), 0, 2)
        filters.addWidget(self.date_to, 0, 3)
        filters.addWidget(QLabel("User"), 0, 4)
        filters.addWidget(self.user, 0, 5)
        filters.addWidget(QLabel("Action"), 1, 0)
        filters.addWidget(self.action, 1, 1)
        filters.addWidget(QLabel("Entity"), 1, 2)
        filters.addWidget(self.entity_type, 1, 3)
        filters.addWidget(QLabel("Id"), 1, 4)
        filters.addWidget(self.entity_id, 1, 5)
        self.apply_btn = QPushButton("Show")
        self.apply_btn.setDefault(True)
        self.apply_btn.clicked.connect(self.refresh)
        filters.addWidget(self.apply_btn, 0, 6, 2, 1)
        root.addLayout(filters)

        self.count = QLabel()
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        root.addWidget(self.error)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.table.itemSelectionChanged.connect(self._show_detail)
        split.addWidget(self.table)
        detail = QWidget()
        dl = QFormLayout(detail)
        self.before = QPlainTextEdit()
        self.before.setReadOnly(True)
        self.after = QPlainTextEdit()
        self.after.setReadOnly(True)
        self.hash = QLabel()
        self.hash.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        both = QHBoxLayout()
        both.addWidget(self.before)
        both.addWidget(self.after)
        dl.addRow(QLabel("Before  |  After"), both)
        dl.addRow("Row hash", self.hash)
        split.addWidget(detail)
        split.setSizes([450, 220])
        root.addWidget(split, 1)

        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        self.chain = QLabel()
        self.chain.setWordWrap(True)
        bottom.addWidget(self.chain, 2)
        self.check_btn = QPushButton("Check chain")
        self.check_btn.clicked.connect(self.check_chain)
        bottom.addWidget(self.check_btn)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom.addWidget(close)
        root.addLayout(bottom)

        self._load_users()
        self.refresh()

    def _load_users(self) -> None:
        try:
            names = self.station.read(audit.audit_usernames)
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.user.clear()
        self.user.addItem("")  # any user
        self.user.addItems(names)

    def current_filter(self) -> AuditFilter:
        """The filter as the form shows it (dates are calendar days in the clinic's display zone,
        both inclusive)."""
        tz = clinic_zone(self.station.ctx)
        return AuditFilter(
            since=_local_day_start(self.date_from.date(), tz),
            until=_local_day_start(self.date_to.date().addDays(1), tz),
            username=self.user.currentText().strip() or None,
            action=self.action.text().strip() or None,
            entity_type=self.entity_type.text().strip() or None,
            entity_id=self.entity_id.text().strip() or None,
        )

    def refresh(self) -> None:
        """Query with the current filters; a refusal is shown and the filters kept."""
        try:
            page = self.station.read(audit.list_audit, self.current_filter())
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.error.setText("")
        self.entries = list(page.entries)
        self.table.setRowCount(len(self.entries))
        tz = clinic_zone(self.station.ctx)
        for r, e in enumerate(self.entries):
            entity = f"{e.entity_type or ''} {e.entity_id or ''}".strip()
            values = (
                str(e.id),
                date_hms(e.at, tz),
                e.username or "",
                e.station,
                e.action,
                entity,
            )
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        more = f" (newest {len(self.entries)} shown)" if page.truncated else ""
        self.count.setText(f"{page.total} rows match{more}")
        self.before.setPlainText("")
        self.after.setPlainText("")
        self.hash.setText("")

    def _show_detail(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        e = self.entries[rows[0].row()]
        self.before.setPlainText(_pretty(e.before))
        self.after.setPlainText(_pretty(e.after))
        self.hash.setText(e.hash)

    def check_chain(self) -> None:
        """Walk the whole chain and say plainly whether it is intact."""
        try:
            result = self.station.read(audit.check_chain)
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        if result.ok:
            self.chain.setText(f"✓ Audit trail intact: {result.rows} rows, hash chain verified.")
            self.chain.setStyleSheet("color: #2e7d32; font-weight: bold;")
        else:
            self.chain.setText(
                f"✗ AUDIT TRAIL BROKEN: {result.problem}. Rows from #{result.first_bad_id} on "
                "cannot be trusted; keep a copy of the database and tell the clinic's IT."
            )
            self.chain.setStyleSheet("color: #c62828; font-weight: bold;")
        self.refresh()
