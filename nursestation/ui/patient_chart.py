"""The patient chart (issue 16): demographics, allergies with reaction and severity, contact
details (editable by nurses and charge nurses; every saved change asks why and keeps the old
value in the History tab), the weights measured at each visit, and the course: the plan
(phase, sessions done vs planned, next appointment), every session with its order, dose,
adverse events, medications and signed notes, and the outcome trend.

Opened from the session view ("Patient chart…") and from the main window's toolbar (search by
MRN or name). Viewing needs the view_session permission, editing edit_patient; a refusal keeps
everything typed."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import course_plan, notes, patients
from nursestation.app.course_plan import CourseSession, PlanView
from nursestation.app.patients import Allergy, PatientInfo
from nursestation.app.record import clinic_zone
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.ui.feedback import show_refusal
from nursestation.ui.outcome_trend import OutcomeTrend
from nursestation.ui.station import Station
from nursestation.wording import (
    CHART_FIELD_LABELS,
    NONE_RECORDED,
    chart_field_label,
    chart_value_text,
    course_phase_label,
    date_hm,
    num,
    wall_time_in,
)

SEX_CHOICES = ("", *patients.SEXES)
REPRO_CHOICES = (("", None), ("yes", True), ("no", False))
ALLERGY_COLUMNS = ("Substance", "Reaction", "Severity")
COURSE_COLUMNS = (
    "#",
    "Date",
    "Order",
    "Dose",
    "Weight",
    "Outcome scores",
    "Adverse events",
    "Medications given",
    "Signed note",
)
WEIGHT_COLUMNS = ("Measured", "Weight", "Last visit", "Change", "Confirmed by", "By", "Session")
HISTORY_COLUMNS = ("When", "Field", "Old value", "New value", "By", "Reason")


def _table(columns: tuple[str, ...]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.setWordWrap(True)
    header = t.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return t


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeRowsToContents()


class CoursePlanDialog(QDialog):
    """Set the course plan: phase, sessions planned, phase start, next appointment, notes."""

    def __init__(
        self, station: Station, mrn: str, plan: PlanView | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.mrn = mrn
        self.plan: PlanView | None = None
        self.setWindowTitle("Course plan")
        form = QFormLayout(self)
        self.phase = QComboBox()
        for key in station.ctx.settings.get("chart.course.phases"):
            self.phase.addItem(course_phase_label(key), key)
        self.sessions = QSpinBox()
        self.sessions.setRange(
            1, int(station.ctx.settings.get("chart.course.max_sessions_planned"))
        )
        self.sessions.setValue(int(station.ctx.settings.get("chart.course.induction_sessions")))
        self.start = QLineEdit()
        self.start.setPlaceholderText("YYYY-MM-DD (empty: first session, or today)")
        self.next = QLineEdit()
        self.next.setPlaceholderText("YYYY-MM-DD HH:MM (empty: not booked)")
        self.notes = QLineEdit()
        if plan is not None:  # the plan in force, to change
            self.phase.setCurrentIndex(self.phase.findData(plan.phase))
            self.sessions.setValue(plan.sessions_planned)
            self.start.setText(plan.phase_start.isoformat())
            if plan.next_appointment is not None:
                tz = clinic_zone(station.ctx)
                self.next.setText(plan.next_appointment.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
            self.notes.setText(plan.notes or "")
        form.addRow("Phase", self.phase)
        form.addRow("Sessions planned", self.sessions)
        form.addRow("Phase started", self.start)
        form.addRow("Next appointment", self.next)
        form.addRow("Notes", self.notes)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.on_save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def on_save(self) -> None:
        """Store the plan; a refusal names the field and keeps the form."""
        try:
            start = _typed_date(self.start.text(), "phase_start", "Phase started")
            nxt = _typed_time(self.station, self.next.text())
            self.plan = self.station.write(
                course_plan.set_course_plan,
                self.mrn,
                phase=str(self.phase.currentData()),
                sessions_planned=self.sessions.value(),
                phase_start=start,
                next_appointment=nxt,
                notes=self.notes.text(),
            )
        except DomainError as exc:
            show_refusal(self, exc)
            return
        self.accept()


def _typed_date(text: str, field: str, label: str) -> date | None:
    value = text.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(
            BAD_INPUT, f"{label} '{value}' is not a date: enter it as YYYY-MM-DD.", field=field
        ) from None


def _typed_time(station: Station, text: str) -> datetime | None:
    value = text.strip()
    if not value:
        return None
    try:
        naive = datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        raise DomainError(
            BAD_INPUT,
            f"Next appointment '{value}' is not a time: enter it as YYYY-MM-DD HH:MM.",
            field="next_appointment",
        ) from None
    return wall_time_in(naive, clinic_zone(station.ctx))


class PatientChart(QDialog):
    """One patient's chart. `mrn` None: search first (the toolbar's entry)."""

    def __init__(self, station: Station, mrn: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.station = station
        self.mrn: str | None = None
        self.patient: PatientInfo | None = None
        self.plan: PlanView | None = None
        self.course: list[CourseSession] = []
        self.opened_path: Path | None = None  # the last signed note opened (tests read it)
        self.can_edit = station.can("edit_patient")
        self.setWindowTitle("Patient chart")
        self.resize(1100, 760)
        root = QVBoxLayout(self)

        # --- search (only when opened without a patient)
        self.search_box = QWidget()
        sl = QHBoxLayout(self.search_box)
        sl.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by MRN or name")
        self.search.textChanged.connect(self._search)
        self.results = QListWidget()
        self.results.setMaximumHeight(110)
        self.results.itemSelectionChanged.connect(self._pick)
        sl.addWidget(self.search, 1)
        sl.addWidget(self.results, 2)
        root.addWidget(self.search_box)

        self.header = QLabel("Choose a patient.")
        self.header.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.header.setWordWrap(True)
        root.addWidget(self.header)
        self.subheader = QLabel()
        self.subheader.setWordWrap(True)
        root.addWidget(self.subheader)

        self.tabs = QTabWidget()
        root.addWidget(self.tabs, 1)
        self.tabs.addTab(self._details_tab(), "Chart")
        self.tabs.addTab(self._course_tab(), "Course")
        self.weights = _table(WEIGHT_COLUMNS)
        self.tabs.addTab(self.weights, "Weights")
        self.history = _table(HISTORY_COLUMNS)
        self.tabs.addTab(self.history, "History")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        root.addWidget(close)

        for w in self._edit_widgets():
            w.setEnabled(self.can_edit)
        self.save_btn.setVisible(self.can_edit)
        self.plan_btn.setVisible(self.can_edit)
        self.tabs.setEnabled(False)
        if mrn is not None:
            self.search_box.setVisible(False)
            self.load(mrn)
        else:
            self._search("")

    # ---------------------------------------------------------------- building

    def _details_tab(self) -> QWidget:
        tab = QWidget()
        lay = QHBoxLayout(tab)
        left = QVBoxLayout()
        right = QVBoxLayout()
        lay.addLayout(left, 1)
        lay.addLayout(right, 1)
        demo = QGroupBox("Demographics")
        df = QFormLayout(demo)
        self.mrn_label = QLabel()
        self.name = QLineEdit()
        self.dob = QLineEdit()
        self.dob.setPlaceholderText("YYYY-MM-DD")
        self.sex = QComboBox()
        self.sex.addItems(list(SEX_CHOICES))
        self.repro = QComboBox()
        for label, value in REPRO_CHOICES:
            self.repro.addItem(label or NONE_RECORDED, value)
        df.addRow("MRN", self.mrn_label)
        df.addRow(CHART_FIELD_LABELS["name"], self.name)
        df.addRow(CHART_FIELD_LABELS["dob"], self.dob)
        df.addRow(CHART_FIELD_LABELS["sex"], self.sex)
        df.addRow(CHART_FIELD_LABELS["reproductive_potential"], self.repro)
        left.addWidget(demo)
        contact = QGroupBox("Contact details")
        cf = QFormLayout(contact)
        self.contact: dict[str, QLineEdit] = {}
        for key in patients.CONTACT_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(f"contact.{key}")
            self.contact[key] = edit
            cf.addRow(chart_field_label(f"contact.{key}"), edit)
        left.addWidget(contact)
        left.addStretch(1)

        abox = QGroupBox("Allergies (an empty list: no known allergies)")
        al = QVBoxLayout(abox)
        self.allergy_table = QTableWidget(0, len(ALLERGY_COLUMNS))
        self.allergy_table.setHorizontalHeaderLabels(list(ALLERGY_COLUMNS))
        self.allergy_table.verticalHeader().setVisible(False)
        self.allergy_table.horizontalHeader().setStretchLastSection(True)
        self.allergy_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        al.addWidget(self.allergy_table)
        row = QHBoxLayout()
        self.add_allergy_btn = QPushButton("Add allergy")
        self.add_allergy_btn.clicked.connect(lambda: self.add_allergy_row(Allergy("")))
        self.remove_allergy_btn = QPushButton("Remove selected")
        self.remove_allergy_btn.clicked.connect(self._remove_allergy)
        row.addWidget(self.add_allergy_btn)
        row.addWidget(self.remove_allergy_btn)
        row.addStretch(1)
        al.addLayout(row)
        right.addWidget(abox, 1)
        save = QGroupBox("Save changes")
        sf = QFormLayout(save)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why the chart is changed (kept with the old value)")
        self.save_btn = QPushButton("Save changes")
        self.save_btn.clicked.connect(self.on_save)
        sf.addRow("Reason", self.reason)
        sf.addRow("", self.save_btn)
        right.addWidget(save)
        return tab

    def _course_tab(self) -> QWidget:
        tab = QWidget()
        lay = QVBoxLayout(tab)
        top = QHBoxLayout()
        self.plan_label = QLabel()
        self.plan_label.setStyleSheet("font-weight: bold;")
        self.plan_label.setWordWrap(True)
        self.plan_btn = QPushButton("Set course plan…")
        self.plan_btn.clicked.connect(self.on_plan)
        top.addWidget(self.plan_label, 1)
        top.addWidget(self.plan_btn)
        lay.addLayout(top)
        self.course_table = _table(COURSE_COLUMNS)
        lay.addWidget(self.course_table, 1)
        # The outcome trend over the course (engineer "course"'s widget, embedded as is).
        self.trend = OutcomeTrend.for_station(self.station)
        self.trend.setMinimumHeight(260)
        lay.addWidget(self.trend, 1)
        return tab

    def _edit_widgets(self) -> list[QWidget]:
        return [
            self.name,
            self.dob,
            self.sex,
            self.repro,
            *self.contact.values(),
            self.allergy_table,
            self.add_allergy_btn,
            self.remove_allergy_btn,
            self.reason,
        ]

    # ---------------------------------------------------------------- search

    def _search(self, text: str) -> None:
        self.results.clear()
        try:
            found = self.station.read(patients.find_patients, text)
        except DomainError as exc:
            self.header.setText(exc.message)
            return
        for p in found:
            item = QListWidgetItem(f"{p.name} · {p.mrn} · {p.dob:%Y-%m-%d}")
            item.setData(Qt.ItemDataRole.UserRole, p.mrn)
            self.results.addItem(item)

    def _pick(self) -> None:
        items = self.results.selectedItems()
        if items:
            self.load(str(items[0].data(Qt.ItemDataRole.UserRole)))

    # ---------------------------------------------------------------- loading

    def load(self, mrn: str) -> None:
        """Read the patient's chart, course, weights and history and show them."""
        try:
            p = self.station.read(patients.get_patient, mrn)
            self.plan = self.station.read(course_plan.course_plan, mrn)
            self.course = self.station.read(course_plan.course_sessions, mrn)
            weights = self.station.read(patients.weight_history, mrn)
            history = self.station.read(patients.chart_history, mrn)
        except DomainError as exc:
            self.header.setText(exc.message)
            self.tabs.setEnabled(False)
            return
        self.mrn = mrn
        self.patient = p
        self.tabs.setEnabled(True)
        tz = clinic_zone(self.station.ctx)
        today = self.station.ctx.now().astimezone(tz).date()
        self.setWindowTitle(f"Patient chart — {p.name} · MRN {p.mrn}")
        self.header.setText(f"{p.name}  ·  MRN {p.mrn}")
        allergies = "; ".join(a.text() for a in p.allergy_details) or "no known allergies"
        self.subheader.setText(
            f"DOB {p.dob:%Y-%m-%d} ({p.age_on(today)} y) · {num(p.weight_kg)} kg "
            f"(weighed {p.weight_date:%Y-%m-%d}) · Allergies: {allergies}"
        )
        self._show_details(p)
        self._show_course(tz)
        try:
            self.trend.load(self.station, mrn)
        except DomainError as exc:  # the chart stays usable; the trend says why it is empty
            self.trend.summary.setText(exc.message)
        _fill(
            self.weights,
            [
                [
                    w.measured_on.isoformat(),
                    f"{num(w.weight_kg)} kg",
                    f"{num(w.previous_kg)} kg" if w.previous_kg is not None else "—",
                    f"{w.change_pct:+.1f} %" if w.change_pct is not None else "—",
                    w.confirmed_by or "—",
                    w.by_name,
                    f"#{w.session_id}" if w.session_id else "chart",
                ]
                for w in weights
            ],
        )
        _fill(
            self.history,
            [
                [
                    date_hm(c.at, tz),
                    chart_field_label(c.field),
                    chart_value_text(c.field, c.old),
                    chart_value_text(c.field, c.new),
                    c.by_name,
                    c.reason,
                ]
                for c in history
            ],
        )

    def _show_details(self, p: PatientInfo) -> None:
        self.mrn_label.setText(p.mrn)
        self.name.setText(p.name)
        self.dob.setText(p.dob.isoformat())
        self.sex.setCurrentText(p.sex or "")
        self.repro.setCurrentIndex(self.repro.findData(p.reproductive_potential))
        for key, edit in self.contact.items():
            edit.setText(p.contact.get(key, ""))
        self.allergy_table.setRowCount(0)
        for a in p.allergy_details:
            self.add_allergy_row(a)

    def _show_course(self, tz: Any) -> None:
        if self.plan is None:
            self.plan_label.setText("No course plan set.")
        else:
            text = f"Course plan — {self.plan.line(tz)}"
            if self.plan.notes:
                text += f" · {self.plan.notes}"
            self.plan_label.setText(text)
        t = self.course_table
        t.setRowCount(0)  # drops the previous load's note buttons with their rows
        t.setRowCount(len(self.course))
        for r, c in enumerate(self.course):
            cells = [
                str(c.session_number) if c.treated else "—",
                date_hm(c.checked_in_at, tz),
                c.protocol if c.treated else f"{c.protocol} — not treated",
                c.dose,
                f"{num(c.weight_kg)} kg",
                ", ".join(c.outcome_scores) or "—",
                "; ".join(c.adverse_events) or "none recorded",
                "; ".join(c.medications) or "none",
            ]
            for col, text in enumerate(cells):
                t.setItem(r, col, QTableWidgetItem(text))
            if c.notes:
                note_id, version = c.notes[-1]
                btn = QPushButton(f"Open note v{version}")
                btn.setObjectName(f"note-{c.session_id}")
                btn.clicked.connect(lambda _=False, n=note_id: self.open_note(n))
                t.setCellWidget(r, len(cells), btn)
            else:
                t.setItem(r, len(cells), QTableWidgetItem("not signed"))
        t.resizeRowsToContents()

    # ---------------------------------------------------------------- allergies

    def add_allergy_row(self, a: Allergy) -> None:
        """A row of the allergy table (its severity picked from the clinic's list)."""
        t = self.allergy_table
        r = t.rowCount()
        t.insertRow(r)
        t.setItem(r, 0, QTableWidgetItem(a.substance))
        t.setItem(r, 1, QTableWidgetItem(a.reaction or ""))
        sev = QComboBox()
        sev.addItem("", None)  # not recorded
        for key in self.station.ctx.settings.get("chart.allergy_severities"):
            sev.addItem(key, key)
        if a.severity:
            sev.setCurrentIndex(sev.findData(a.severity))
        sev.setEnabled(self.can_edit)
        t.setCellWidget(r, 2, sev)

    def _remove_allergy(self) -> None:
        rows = sorted({i.row() for i in self.allergy_table.selectedIndexes()}, reverse=True)
        for r in rows:
            self.allergy_table.removeRow(r)

    def typed_allergies(self) -> list[dict[str, Any]]:
        """The allergy table as typed (blank rows left out)."""
        out = []
        t = self.allergy_table
        for r in range(t.rowCount()):
            sub_item, reaction_item = t.item(r, 0), t.item(r, 1)
            sub = sub_item.text() if sub_item is not None else ""
            reaction = reaction_item.text() if reaction_item is not None else ""
            combo = t.cellWidget(r, 2)
            severity = combo.currentData() if isinstance(combo, QComboBox) else None
            if sub.strip() or reaction.strip() or severity:
                out.append(
                    {"substance": sub, "reaction": reaction.strip() or None, "severity": severity}
                )
        return out

    # ---------------------------------------------------------------- saving

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the chart as loaded."""
        p = self.patient
        assert p is not None
        out: dict[str, Any] = {}
        if self.name.text().strip() != p.name:
            out["name"] = self.name.text()
        if self.dob.text().strip() != p.dob.isoformat():
            out["dob"] = self.dob.text()
        if (self.sex.currentText() or None) != p.sex:
            out["sex"] = self.sex.currentText() or None
        if self.repro.currentData() != p.reproductive_potential:
            out["reproductive_potential"] = self.repro.currentData()
        for key, edit in self.contact.items():
            if edit.text().strip() != p.contact.get(key, ""):
                out[f"contact.{key}"] = edit.text()
        typed = self.typed_allergies()
        if typed != [a.as_json() for a in p.allergy_details]:
            out["allergies"] = typed
        return out

    def on_save(self) -> None:
        """Save the changed fields with the reason; on refusal everything typed stays."""
        if self.mrn is None:
            return
        changes = self.changes()
        try:
            if not changes:
                raise DomainError(BAD_INPUT, "Nothing was changed on the chart.", field="changes")
            self.station.write(patients.edit_patient, self.mrn, changes, self.reason.text())
        except DomainError as exc:
            show_refusal(self, exc)
            return
        self.reason.clear()
        self.load(self.mrn)

    def on_plan(self) -> None:
        """Open the course plan form; the chart shows the new plan once saved."""
        if self.mrn is None:
            return
        dlg = CoursePlanDialog(self.station, self.mrn, self.plan, self)
        if dlg.exec():
            self.load(self.mrn)

    def open_note(self, note_id: int) -> None:
        """Open a signed note of the course in the PDF viewer (saved to a private temp file)."""
        try:
            pdf = self.station.read(notes.note_pdf, note_id)
        except DomainError as exc:
            show_refusal(self, exc, "Cannot open")
            return
        folder = Path(tempfile.gettempdir()) / "nursestation-notes"
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"chart-note-{note_id}.pdf"
        path.write_bytes(pdf)
        self.opened_path = path
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def open_chart(station: Station, mrn: str | None, parent: QWidget | None = None) -> PatientChart:
    """Show the chart without blocking (role-checked by every read it makes)."""
    chart = PatientChart(station, mrn, parent)
    chart.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    chart.show()
    return chart
