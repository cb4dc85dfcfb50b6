"""The session's medications tab: the ketamine infusion and every PRN dose, reassessment timers
with a prompt to record the response, the give-dose dialog and the response dialog.

Thin: the formulary and the dose checks run in nursestation.app.medications; this module shows
the result and keeps whatever the nurse typed when a dose is refused.
"""

from __future__ import annotations

from datetime import tzinfo

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import medications as meds
from nursestation.errors import CONFIRMATION_REQUIRED, INDICATION_NOT_MET, DomainError
from nursestation.ui.feedback import ask_text, confirm, show_refusal
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone, local_hm
from nursestation.vitals import fmt_number
from nursestation.wording import reassessment_text

COLUMNS = ("Time", "Drug", "Dose", "Route", "Indication", "Pre-dose vitals", "Response", "Nurse")
STATUS_STYLE = {
    "upcoming": "color: #2e7d32;",
    "due": "color: #b26a00; font-weight: bold;",
    "overdue": "color: #ffffff; background: #c62828; font-weight: bold; padding: 2px;",
}
# Quick answers offered in the response dialog per reassessment measure (wording only).
RESPONSE_SUGGESTIONS = {
    "nausea": ("Nausea resolved", "Nausea improved", "No change", "Vomited"),
    "bp": ("BP falling", "BP at goal", "No change", "Dizzy when upright"),
    "sedation": ("Calm, rousable to voice", "Anxiety settled", "More sedated"),
}
BIG = "font-size: 12pt; padding: 8px 14px;"


# ---------------------------------------------------------------- give-dose dialog


class GiveDoseDialog(QDialog):
    """Log a PRN dose: indication, drug (filtered), dose and route prefilled from the formulary;
    the pre-dose vitals are linked by the service; nurse and time are the signed-in user and now."""

    def __init__(
        self,
        station: Station,
        session_id: int,
        parent: QWidget | None = None,
        indication: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id = session_id
        self.record: meds.AdministrationRecord | None = None
        self._choices: list[meds.DrugChoice] = []
        self.setWindowTitle("Give medication")
        self.setMinimumWidth(520)

        form = QFormLayout()
        self.indication = QComboBox()
        for key in meds.prn_indications(station.ctx):
            self.indication.addItem(meds.indication_label(key), key)
        self.drug = QComboBox()
        self.dose = QLineEdit()
        self.dose.setObjectName("dose")
        self.unit = QLabel()
        dose_row = QHBoxLayout()
        dose_row.addWidget(self.dose, 1)
        dose_row.addWidget(self.unit)
        self.route = QComboBox()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("needed only above the usual maximum")
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("optional")
        self.limits = QLabel()
        self.limits.setWordWrap(True)
        self.trigger = QLabel()
        self.trigger.setWordWrap(True)
        self.caution = QLabel()
        self.caution.setWordWrap(True)
        self.caution.setStyleSheet("color: #8a4b00;")
        now = local_hm(station.ctx.now(), self.tz)
        self.given_by = QLabel(f"{station.actor.full_name}, now ({now})")
        form.addRow("Indication", self.indication)
        form.addRow("Drug", self.drug)
        form.addRow("Dose", dose_row)
        form.addRow("Route", self.route)
        form.addRow("Reason above usual max", self.reason)
        form.addRow("Lot", self.lot)
        form.addRow("Given by", self.given_by)

        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828; font-weight: bold;")
        self.buttons = QDialogButtonBox()
        self.save_btn = self.buttons.addButton("Give", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_btn.setStyleSheet(BIG)
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setStyleSheet(BIG)
        self.save_btn.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)

        root = QVBoxLayout(self)
        root.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # wrapped text never clips
        root.addLayout(form)
        # Wrapped text sits outside the form layout, which does not grow rows for wrapped labels.
        root.addWidget(self.trigger)
        root.addWidget(self.limits)
        root.addWidget(self.caution)
        root.addWidget(self.error)
        root.addWidget(self.buttons)

        self.indication.currentIndexChanged.connect(self._load_drugs)
        self.drug.currentIndexChanged.connect(self._prefill)
        self.dose.textChanged.connect(self._dose_changed)
        if indication is not None:
            i = self.indication.findData(indication)
            if i >= 0:
                self.indication.setCurrentIndex(i)
        self._load_drugs()

    # ---------------------------------------------------------------- form behaviour

    @property
    def tz(self) -> tzinfo:
        """The clinic's display zone: every time here is shown in it."""
        return clinic_zone(self.station.ctx)

    def choice(self) -> meds.DrugChoice | None:
        """The drug picked, with its formulary values."""
        i = self.drug.currentIndex()
        return self._choices[i] if 0 <= i < len(self._choices) else None

    def _load_drugs(self) -> None:
        key = self.indication.currentData()
        self._choices = self.station.read(meds.drug_choices, self.session_id, key)
        self.drug.blockSignals(True)
        self.drug.clear()
        for c in self._choices:
            self.drug.addItem(
                f"{c.drug.name} — usual {fmt_number(c.drug.usual_dose)} {c.drug.unit}", c.drug.key
            )
        self.drug.blockSignals(False)
        self._prefill()

    def _prefill(self) -> None:
        c = self.choice()
        if c is None:
            return
        self.dose.setText(fmt_number(c.drug.usual_dose))
        self.unit.setText(c.drug.unit)
        self.route.clear()
        self.route.addItems(list(c.drug.routes))
        self.reason.clear()
        band = (
            f"usual max {fmt_number(c.drug.soft_max_single)} {c.drug.unit} (above it a reason), "
            if c.drug.has_soft_band
            else ""
        )
        nxt = ""
        if c.next_allowed_at is not None and c.next_allowed_at > self.station.ctx.now():
            nxt = f" · next dose allowed at {local_hm(c.next_allowed_at, self.tz)}"
        self.limits.setText(
            f"Limits: {band}max single {fmt_number(c.drug.hard_max_single)} {c.drug.unit} · every "
            f"{c.drug.min_interval_min} min · session max {fmt_number(c.drug.cumulative_max)} {c.drug.unit} "
            f"(given {fmt_number(c.given_so_far)} {c.drug.unit}){nxt}"
        )
        self.caution.setText(c.drug.caution)
        pre = self.station.read(meds.pre_dose_vitals, self.session_id, c.drug.key)
        if pre is None:
            self.trigger.setText("Pre-dose vitals: none recorded yet")
        else:
            extra = f" — {pre.breaches[0]}" if pre.breaches else ""
            at = local_hm(pre.observed_at, self.tz)
            self.trigger.setText(f"Pre-dose vitals: {pre.text} at {at}{extra}")
        # Said before Give is pressed: the indication names a vital no current reading meets.
        unmet = self.station.read(
            meds.indication_problem,
            self.session_id,
            c.drug.key,
            str(self.indication.currentData() or ""),
        )
        if unmet:
            self.trigger.setText(f"{self.trigger.text()}\n⚠ {unmet}")
            self.trigger.setStyleSheet("color: #8a5a00;")
        else:
            self.trigger.setStyleSheet("")
        self.error.clear()
        self._dose_changed()
        self.adjustSize()  # the caution text differs per drug: never clip it

    def _dose_changed(self) -> None:
        c = self.choice()
        value = self._dose_value()
        above = c is not None and value is not None and value > c.drug.soft_max_single
        self.reason.setEnabled(bool(above))

    def _dose_value(self) -> float | None:
        try:
            return float(self.dose.text().strip().replace(",", "."))
        except ValueError:
            return None

    # ---------------------------------------------------------------- save

    def save(self) -> None:
        """Give the dose; on a refusal show why and keep every field as typed."""
        c = self.choice()
        if c is None:
            self._refuse(DomainError("bad_input", "Choose a drug.", field="drug"))
            return
        value = self._dose_value()
        if value is None:
            self._refuse(
                DomainError(
                    "out_of_range",
                    f"Dose '{self.dose.text()}' is not a number: enter the {c.drug.name} dose in "
                    f"{c.drug.unit} (max {fmt_number(c.drug.hard_max_single)} {c.drug.unit}).",
                    field="dose",
                )
            )
            return
        override: str | None = None
        while True:
            try:
                self.record = self.station.write(
                    meds.give_medication,
                    self.session_id,
                    drug=c.drug.key,
                    dose=value,
                    unit=c.drug.unit,
                    route=self.route.currentText(),
                    indication=str(self.indication.currentData()),
                    confirm_reason=self.reason.text().strip() or None,
                    lot=self.lot.text().strip() or None,
                    indication_override_reason=override,
                )
            except DomainError as exc:
                if exc.code == CONFIRMATION_REQUIRED and not self.reason.text().strip():
                    reason = ask_text(self, "Above the usual maximum", exc.message + "\n\nReason:")
                    if reason:
                        self.reason.setEnabled(True)
                        self.reason.setText(reason)
                        continue
                if (
                    exc.code == INDICATION_NOT_MET
                    and override is None
                    and self.station.can("override_prn_indication")
                ):
                    # Only a charge nurse is asked; Cancel gives nothing (the refusal stands).
                    override = ask_text(
                        self,
                        "Indication not met",
                        exc.message + "\n\nGive anyway? Charge nurse's reason:",
                    )
                    if override:
                        continue
                self._refuse(exc)
                return
            self.accept()
            return

    def _refuse(self, exc: DomainError) -> None:
        self.error.setText(exc.message)
        self.adjustSize()
        show_refusal(self, exc, "Dose not given")
        target = {"dose": self.dose, "route": self.route, "soft_reason": self.reason}.get(
            exc.field or ""
        )
        if target is not None:
            target.setFocus()


# ---------------------------------------------------------------- response dialog


class ResponseDialog(QDialog):
    """Record the response to one dose: optional BP/HR (stored as vitals) and a short text."""

    def __init__(
        self,
        station: Station,
        administration: meds.AdministrationRecord,
        parent: QWidget | None = None,
        due: meds.ReassessmentInfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.administration = administration
        self.response: meds.ResponseRecord | None = None
        measure = due.measure if due else ""
        if not measure:
            choices = [c for c in station.read(meds.drug_choices, administration.session_id)]
            measure = next(
                (c.drug.reassess_measure for c in choices if c.drug.key == administration.drug_key),
                "",
            )
        self.measure = measure
        self.setWindowTitle(f"Response to {administration.drug_name}")
        head = f"{administration.dose_text} at {local_hm(administration.given_at, self.tz)}"
        if due is not None:
            head += f" — {meds.measure_label(due.measure)} check {due.offset_min} min after"
        self.heading = QLabel(head)
        self.heading.setStyleSheet("font-weight: bold;")
        form = QFormLayout()
        self.sbp = QLineEdit()
        self.dbp = QLineEdit()
        self.hr = QLineEdit()
        bp = QHBoxLayout()
        bp.addWidget(self.sbp)
        bp.addWidget(QLabel("/"))
        bp.addWidget(self.dbp)
        bp.addWidget(QLabel("mmHg"))
        form.addRow("BP", bp)
        form.addRow("HR", self.hr)
        self.text = QComboBox()
        self.text.setEditable(True)
        self.text.addItem("")
        self.text.addItems(list(RESPONSE_SUGGESTIONS.get(measure, ())))
        form.addRow("Response", self.text)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828; font-weight: bold;")
        buttons = QDialogButtonBox()
        self.save_btn = buttons.addButton("Save response", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_btn.setStyleSheet(BIG)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.save_btn.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        root = QVBoxLayout(self)
        root.addWidget(self.heading)
        root.addLayout(form)
        root.addWidget(self.error)
        root.addWidget(buttons)
        (self.sbp if measure == "bp" else self.text).setFocus()

    @property
    def tz(self) -> tzinfo:
        """The clinic's display zone: every time here is shown in it."""
        return clinic_zone(self.station.ctx)

    def save(self) -> None:
        """Save; vitals outside the usual range ask for confirmation; a refusal keeps the form."""
        values = {"sbp": self.sbp.text(), "dbp": self.dbp.text(), "hr": self.hr.text()}
        values = {k: v.strip() for k, v in values.items() if v.strip()}
        soft = False
        while True:
            try:
                self.response = self.station.write(
                    meds.record_response,
                    self.administration.id,
                    text=self.text.currentText().strip(),
                    vitals=values or None,
                    soft_confirmed=soft,
                )
            except DomainError as exc:
                question = exc.message + "\n\nSave it as entered?"
                if (
                    exc.code == CONFIRMATION_REQUIRED
                    and not soft
                    and confirm(self, "Unusual value", question)
                ):
                    soft = True
                    continue
                self.error.setText(exc.message)
                show_refusal(self, exc, "Response not saved")
                return
            self.accept()
            return


# ---------------------------------------------------------------- the panel


class MedicationsPanel(QWidget):
    """The medications tab of the session view."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.data: meds.MedicationList | None = None
        # None: nothing shown yet, so the first fill (even of no reassessment) is drawn.
        self._due_key: tuple[tuple[int, int, str], ...] | None = None

        root = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.give_btn = QPushButton("&Give medication…")
        self.give_btn.setStyleSheet(BIG)
        self.give_btn.clicked.connect(lambda: self.open_give_dialog())
        self.response_btn = QPushButton("Recor&d response…")
        self.response_btn.setStyleSheet(BIG)
        self.response_btn.clicked.connect(self._response_for_selected)
        self.totals = QLabel()
        bar.addWidget(self.give_btn)
        bar.addWidget(self.response_btn)
        bar.addWidget(self.totals, 1)
        root.addLayout(bar)

        self.reassess_box = QGroupBox("Reassessments")
        self.reassess_layout = QVBoxLayout(self.reassess_box)
        self.reassess_rows: list[tuple[QLabel, QPushButton, meds.ReassessmentInfo]] = []
        root.addWidget(self.reassess_box)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        root.addWidget(self.table, 1)

        self._tick = QTimer(self)
        self._tick.timeout.connect(self.tick)
        self._tick.start(1000)
        station.changed.connect(self.refresh)
        self.refresh()

    # ---------------------------------------------------------------- state

    @property
    def tz(self) -> tzinfo:
        """The clinic's display zone: every time here is shown in it."""
        return clinic_zone(self.station.ctx)

    def set_session(self, session_id: int | None) -> None:
        """Show `session_id` (None clears the panel)."""
        self.session_id = session_id
        self.refresh()

    def refresh(self) -> None:
        """Re-read the session's medications (after any write, and on set_session)."""
        self.data = None
        if self.session_id is not None and self.station.can("view_session"):
            try:
                self.data = self.station.read(meds.medication_list, self.session_id)
            except DomainError:
                self.data = None
        self._fill_table()
        self._fill_reassessments(list(self.data.reassessments) if self.data else [])
        self._update_buttons()

    def tick(self) -> None:
        """Once a second: update the countdowns and turn prompts due on time."""
        if self.session_id is None or self.data is None:
            return
        items = meds.reassessments_for_chair(self.station.ctx, self.session_id)
        self._fill_reassessments(items)

    # ---------------------------------------------------------------- table

    def _fill_table(self) -> None:
        d = self.data
        self.table.setRowCount(0)
        if d is None:
            self.totals.setText("")
            return
        k = d.ketamine
        rows: list[tuple[str, ...]] = [
            (
                local_hm(k.started_at, self.tz) if k.started_at else "not started",
                "Ketamine (infusion)",
                f"{fmt_number(k.ordered_mg)} mg ordered · {k.delivered_mg:.1f} mg delivered",
                "IV",
                f"{fmt_number(k.dose_mg_per_kg)} mg/kg over {fmt_number(k.duration_min)} min",
                f"{fmt_number(k.concentration_mg_per_ml)} mg/mL · lot {k.lot or 'not recorded'}",
                "",
                "",
            )
        ]
        for a in d.administrations:
            response = "; ".join(
                f"{local_hm(r.at, self.tz)} " + ", ".join(t for t in (r.vital_text, r.text) if t)
                for r in a.responses
            )
            dose = f"{fmt_number(a.dose)} {a.unit}"
            if a.soft_max_reason:
                dose += f" (reason: {a.soft_max_reason})"
            rows.append(
                (
                    local_hm(a.given_at, self.tz),
                    a.drug_name,
                    dose,
                    a.route,
                    a.indication_label,
                    a.pre_vitals_text,
                    response or "—",
                    a.given_by_name,
                )
            )
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if r == 0:
                    item.setBackground(Qt.GlobalColor.lightGray)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self.totals.setText(
            ("Session totals: " if d.totals else "")
            + " · ".join(
                f"{t.drug} {fmt_number(t.total)} / {fmt_number(t.cumulative_max)} {t.unit}"
                for t in d.totals
            )
        )

    def row_texts(self, row: int) -> list[str]:
        """The cells of one table row as shown (row 0 is the ketamine infusion)."""
        return [
            item.text() if (item := self.table.item(row, c)) is not None else ""
            for c in range(self.table.columnCount())
        ]

    # ---------------------------------------------------------------- reassessments

    def _fill_reassessments(self, items: list[meds.ReassessmentInfo]) -> None:
        key = tuple((r.administration_id, r.offset_min, r.status) for r in items)
        if key != self._due_key:
            self._due_key = key
            while self.reassess_layout.count():
                child = self.reassess_layout.takeAt(0)
                w = child.widget() if child is not None else None
                if w is not None:
                    w.deleteLater()
                elif child is not None and (lay := child.layout()) is not None:
                    while lay.count():
                        sub = lay.takeAt(0)
                        inner = sub.widget() if sub is not None else None
                        if inner is not None:
                            inner.deleteLater()
            self.reassess_rows = []
            for r in items:
                row = QHBoxLayout()
                label = QLabel()
                btn = QPushButton("Record response…")
                btn.setEnabled(self.station.can("record_response"))
                btn.clicked.connect(lambda _=False, info=r: self.open_response_dialog(info))
                row.addWidget(label, 1)
                row.addWidget(btn)
                self.reassess_layout.addLayout(row)
                self.reassess_rows.append((label, btn, r))
            if not items:
                none = QLabel("No reassessment pending.")
                none.setStyleSheet("color: #555;")
                self.reassess_layout.addWidget(none)
        by_key = {(r.administration_id, r.offset_min): r for r in items}
        now = self.station.ctx.now()
        for label, _btn, old in self.reassess_rows:
            r = by_key.get((old.administration_id, old.offset_min), old)
            label.setText(reassessment_text(r, now, self.tz))
            label.setStyleSheet(STATUS_STYLE.get(r.status, ""))

    def prompts(self) -> list[str]:
        """The reassessment lines as shown, due and overdue ones first."""
        return [label.text() for label, _b, _r in self.reassess_rows]

    # ---------------------------------------------------------------- actions

    def _selected_administration(self) -> meds.AdministrationRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or self.data is None:
            return None
        i = rows[0].row() - 1  # row 0 is the ketamine infusion
        return self.data.administrations[i] if 0 <= i < len(self.data.administrations) else None

    def _update_buttons(self) -> None:
        open_ = self.data is not None and self.data.open
        self.give_btn.setEnabled(open_ and self.station.can("give_medication"))
        self.response_btn.setEnabled(
            open_
            and self.station.can("record_response")
            and self._selected_administration() is not None
        )

    def open_give_dialog(self, indication: str | None = None) -> GiveDoseDialog | None:
        """Open the give-dose dialog (modal); returns it after it closes."""
        if self.session_id is None:
            return None
        dlg = self.make_give_dialog(indication)
        dlg.exec()
        return dlg

    def make_give_dialog(self, indication: str | None = None) -> GiveDoseDialog:
        """The give-dose dialog for this session, not yet shown (tests drive it directly)."""
        assert self.session_id is not None
        return GiveDoseDialog(self.station, self.session_id, self, indication)

    def _response_for_selected(self) -> None:
        a = self._selected_administration()
        if a is not None:
            ResponseDialog(self.station, a, self).exec()

    def open_response_dialog(self, due: meds.ReassessmentInfo) -> None:
        """The response dialog for the dose a reassessment prompt belongs to."""
        dlg = self.make_response_dialog(due)
        if dlg is not None:
            dlg.exec()

    def make_response_dialog(self, due: meds.ReassessmentInfo) -> ResponseDialog | None:
        """The response dialog for a prompt, not yet shown."""
        if self.data is None:
            return None
        adm = next((a for a in self.data.administrations if a.id == due.administration_id), None)
        return ResponseDialog(self.station, adm, self, due) if adm is not None else None
