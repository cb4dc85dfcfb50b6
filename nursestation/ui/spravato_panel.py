"""The Spravato part of the session view (issue 17): REMS enrolment, the concomitant-medication
questions, the pre-dose BP and the prescriber's decision, each 28 mg device with its lot (the
next one allowed 5 min after the last), the BP reminders, and the REMS Patient Monitoring Form's
fields the nurse completes. It replaces the pump buttons for a Spravato session. Refusals are
shown with their message; what was typed stays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from nursestation.app import spravato
from nursestation.errors import DomainError
from nursestation.spravato import NURSE_KEYS, YES_NO_KEYS
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone, local_hm
from nursestation.wording import REMS_CONMED_LABELS, REMS_FORM_LABELS, wall_time_in

ANSWER_ITEMS = (("", None), ("No", False), ("Yes", True))  # unanswered first: nothing assumed


def _yes_no_combo() -> QComboBox:
    box = QComboBox()
    for text, value in ANSWER_ITEMS:
        box.addItem(text, value)
    return box


class SpravatoPanel(QGroupBox):
    """Shown in the session view of a Spravato session."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__("Spravato (esketamine) · SPRAVATO REMS", parent)
        self.station = station
        self.session_id: int | None = None
        self.view: spravato.SpravatoView | None = None
        g = QGridLayout(self)
        self.status = QLabel()
        self.status.setWordWrap(True)
        g.addWidget(self.status, 0, 0, 1, 3)
        self.reminder = QLabel()
        self.reminder.setWordWrap(True)
        g.addWidget(self.reminder, 1, 0, 1, 3)
        self.devices = QLabel()
        self.devices.setWordWrap(True)
        g.addWidget(self.devices, 2, 0, 1, 3)
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("device lot number (required)")
        self.device_btn = QPushButton("Record device")
        self.device_btn.clicked.connect(self.give_device)
        g.addWidget(QLabel("Lot"), 3, 0)
        g.addWidget(self.lot, 3, 1)
        g.addWidget(self.device_btn, 3, 2)

        # The concomitant-medication questions, before the first device.
        self.conmed_box = QGroupBox("Concomitant medications (REMS form)")
        cf = QFormLayout(self.conmed_box)
        self.conmeds: dict[str, QComboBox] = {}
        for key in spravato.config(station.ctx).concomitant_medications:
            self.conmeds[key] = _yes_no_combo()
            cf.addRow(REMS_CONMED_LABELS.get(key, key), self.conmeds[key])
        self.conmed_btn = QPushButton("Save answers")
        self.conmed_btn.clicked.connect(self.save_conmeds)
        cf.addRow(self.conmed_btn)
        g.addWidget(self.conmed_box, 4, 0, 1, 3)

        # The prescriber's decision on a pre-dose BP above the limit.
        self.decision_box = QGroupBox("Pre-dose BP above the limit: prescriber's decision")
        df = QFormLayout(self.decision_box)
        self.decision = QComboBox()
        self.decision.addItem("", None)
        self.decision.addItem("Proceed with the dose", "proceed")
        self.decision.addItem("Delay the dose", "delay")
        self.prescriber = QLineEdit()
        self.reason = QLineEdit()
        self.decision_btn = QPushButton("Record decision")
        self.decision_btn.clicked.connect(self.record_decision)
        df.addRow("Decision", self.decision)
        df.addRow("Prescriber", self.prescriber)
        df.addRow("Reason", self.reason)
        df.addRow(self.decision_btn)
        g.addWidget(self.decision_box, 5, 0, 1, 3)

        # The REMS form: the nurse's fields.
        self.form_box = QGroupBox("REMS Patient Monitoring Form — nurse's fields")
        ff = QFormLayout(self.form_box)
        self.form_fields: dict[str, QWidget] = {}
        for key in NURSE_KEYS:
            w: QWidget = _yes_no_combo() if key in YES_NO_KEYS else QLineEdit()
            if key == "ready_to_leave_at":
                assert isinstance(w, QLineEdit)
                w.setPlaceholderText("HH:MM (clinic time)")
            self.form_fields[key] = w
            ff.addRow(REMS_FORM_LABELS[key], w)
        row = QHBoxLayout()
        self.form_btn = QPushButton("Save form")
        self.form_btn.clicked.connect(self.save_form)
        self.pdf_btn = QPushButton("Form PDF…")
        self.pdf_btn.clicked.connect(self.save_pdf)
        row.addWidget(self.form_btn)
        row.addWidget(self.pdf_btn)
        ff.addRow(row)
        self.form_state = QLabel()
        self.form_state.setWordWrap(True)
        ff.addRow(self.form_state)
        g.addWidget(self.form_box, 6, 0, 1, 3)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b71c1c; font-weight: bold;")
        g.addWidget(self.error, 7, 0, 1, 3)

    # ---------------------------------------------------------------- reading

    def set_session(self, session_id: int | None) -> None:
        """Show a Spravato session (None clears)."""
        if session_id != self.session_id:
            self.error.setText("")
            self.lot.clear()
        self.session_id = session_id
        self.refresh()

    def refresh(self) -> None:
        """Re-read the session's Spravato view and redraw."""
        if self.session_id is None:
            return
        try:
            v = self.station.read(spravato.get_spravato, self.session_id)
        except DomainError as exc:
            self.status.setText(exc.message)
            return
        self.view = v
        tz = clinic_zone(self.station.ctx)
        enrol = (
            f"REMS enrolled ({v.enrolment.rems_patient_id}, {v.enrolment.enrolled_on.isoformat()})"
            if v.enrolment
            else "NOT ENROLLED in the REMS"
        )
        pre = v.predose.text(tz) if v.predose else "no BP before the dose yet"
        decision = ""
        if v.predose_above_limit:
            decision = (
                f" · prescriber {v.decision.prescriber}: {v.decision.decision}"
                if v.decision
                else " · ABOVE the limit: prescriber's decision needed"
            )
        self.status.setText(
            f"<b>{v.dose_mg} mg</b> ({v.planned_devices} devices) · {enrol} · "
            f"pre-dose BP {pre}{decision} · observation at least {v.min_observation_min:g} min "
            f"from the first device"
        )
        lines = [f"Device {d.number}: {local_hm(d.at, tz)} · lot {d.lot}" for d in v.devices]
        if not v.dosing_complete:
            nxt = (
                f"device {len(v.devices) + 1} allowed from {local_hm(v.next_device_at, tz)}"
                if v.next_device_at
                else f"device {len(v.devices) + 1}: ready when the checks pass"
            )
            lines.append(nxt)
        self.devices.setText("<br>".join(lines))
        texts = []
        for r in v.reminders:
            colour = "#b71c1c" if r.overdue else "#7a4f00"
            word = "OVERDUE: " if r.overdue else ""
            texts.append(f"<span style='color:{colour}; font-weight:bold'>{word}{r.text}</span>")
        self.reminder.setText("<br>".join(texts))
        self.reminder.setVisible(bool(texts))
        open_ = not v.ended
        can_give = self.station.can("give_spravato_device")
        self.device_btn.setEnabled(open_ and not v.dosing_complete and can_give)
        self.device_btn.setText(f"Record device {min(len(v.devices) + 1, v.planned_devices)}")
        self.lot.setEnabled(open_ and not v.dosing_complete)
        before = not v.devices and open_
        self.conmed_box.setVisible(before or bool(v.unanswered_conmeds))
        self.conmed_btn.setEnabled(before and self.station.can("check_in"))
        for key, box in self.conmeds.items():
            if key in v.conmeds and box.currentData() is None:
                box.setCurrentIndex(box.findData(v.conmeds[key]))
        self.decision_box.setVisible(before and v.predose_above_limit)
        self.form_box.setVisible(bool(v.devices))
        missing = [f.label for f in v.form.missing]
        self.form_state.setText(
            "Form complete." if not missing else "Missing: " + "; ".join(missing)
        )
        self.pdf_btn.setEnabled(bool(v.devices))
        self.form_btn.setEnabled(bool(v.devices) and self.station.can("complete_rems_form"))

    # ---------------------------------------------------------------- actions

    def _write(self, fn: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            self.station.write(fn, *args, **kwargs)
        except DomainError as exc:
            self.error.setText(exc.message)
            return False
        self.error.setText("")
        self.refresh()
        return True

    def give_device(self) -> None:
        """Record the next device now, with the lot typed (the lot stays for the next one)."""
        if self.session_id is not None:
            self._write(spravato.give_device, self.session_id, lot=self.lot.text())

    def save_conmeds(self) -> None:
        """Save the questions answered (an empty choice stays unanswered)."""
        answers = {k: b.currentData() for k, b in self.conmeds.items() if b.currentData() is not None}
        if self.session_id is not None:
            self._write(spravato.answer_conmeds, self.session_id, answers)

    def record_decision(self) -> None:
        """Record the prescriber's decision on the pre-dose BP."""
        if self.session_id is not None:
            self._write(
                spravato.record_bp_decision,
                self.session_id,
                decision=str(self.decision.currentData() or ""),
                prescriber=self.prescriber.text(),
                reason=self.reason.text(),
            )

    def form_answers(self) -> dict[str, Any]:
        """The nurse's form fields as entered (empty ones left out: nothing assumed)."""
        out: dict[str, Any] = {}
        tz = clinic_zone(self.station.ctx)
        for key, w in self.form_fields.items():
            if isinstance(w, QComboBox):
                if w.currentData() is not None:
                    out[key] = bool(w.currentData())
            elif isinstance(w, QLineEdit) and w.text().strip():
                text = w.text().strip()
                if key == "ready_to_leave_at":
                    out[key] = self._time_of(text, tz)
                else:
                    out[key] = text
        return out

    def _time_of(self, text: str, tz: Any) -> datetime | str:
        """HH:MM on the session's date in clinic time; anything else is passed on as typed
        (and refused by the use case, naming the field)."""
        if self.view is None:
            return text
        try:
            hh, mm = (int(x) for x in text.split(":"))
            naive = datetime(
                self.view.session_date.year, self.view.session_date.month,
                self.view.session_date.day, hh, mm,
            )  # fmt: skip
        except ValueError:
            return text
        return wall_time_in(naive, tz)

    def save_form(self) -> None:
        """Save the nurse's fields of the REMS form."""
        if self.session_id is not None:
            self._write(spravato.complete_form, self.session_id, self.form_answers())

    def save_pdf(self) -> None:
        """Write the form as a PDF where the user chooses."""
        if self.session_id is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the REMS form", f"rems_form_S-{self.session_id}.pdf", "PDF (*.pdf)"
        )
        if not path:
            return
        try:
            pdf = self.station.read(spravato.form_pdf, self.session_id)
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        with open(path, "wb") as f:
            f.write(pdf)
