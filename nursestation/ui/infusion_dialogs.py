"""The infusion prompts of the session view: a reason from a list (Stop, Pause, Not treated), the
rate change in mg/h or mL/h, and the pre-infusion checklist completed at the chair.

Each dialog is opened non-modally by the view (`open()`), submits through a callback that runs
the use case, and closes only when the use case accepted. A refusal is shown inside the dialog
with everything typed kept. Cancel (or Escape, or closing the window) calls nothing at all:
Cancel means cancel, and no reason is ever filled in for the nurse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nursestation.dosing import ML_PER_H, RATE_UNITS
from nursestation.errors import CONFIRMATION_REQUIRED, DomainError
from nursestation.infusion import reason_text
from nursestation.wording import date_hm, pregnancy_choices, wall_time_in

ERROR_STYLE = "color: #b00020; font-weight: bold;"


class _Submitting(QDialog):
    """OK runs `submit`; a DomainError keeps the dialog open with its message."""

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_btn: QPushButton = self.buttons.addButton(
            "OK", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_btn: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        # Enter must never confirm a clinical action by accident.
        self.ok_btn.setAutoDefault(False)
        self.ok_btn.setDefault(False)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        self.last_error: DomainError | None = None

    def _on_ok(self) -> None:
        try:
            self.submit()
        except DomainError as exc:
            self.last_error = exc
            self.error.setText(exc.message)
            return
        self.accept()

    def submit(self) -> None:  # pragma: no cover - every subclass defines it
        """Run the use case with what was entered (raise DomainError to stay open)."""
        raise NotImplementedError


class ReasonDialog(_Submitting):
    """A confirmation with a reason chosen from a list; 'other' needs a written text.

    `on_reason(wording, key, text)` receives the stored wording (e.g. "adverse event:
    vomiting"), the chosen key and the written text (None when blank).
    """

    def __init__(
        self,
        title: str,
        question: str,
        choices: Sequence[tuple[str, str]],
        on_reason: Callable[[str, str, str | None], Any],
        parent: QWidget | None = None,
        *,
        what: str,
        ok_text: str = "OK",
    ) -> None:
        super().__init__(title, parent)
        self.choices = tuple(choices)
        self.on_reason = on_reason
        self.what = what
        lay = QVBoxLayout(self)
        q = QLabel(question)
        q.setWordWrap(True)
        q.setStyleSheet("font-weight: bold;")
        lay.addWidget(q)
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        for key, label in self.choices:
            rb = QRadioButton(label)
            rb.setMinimumHeight(32)
            self.group.addButton(rb)
            self.radios[key] = rb
            lay.addWidget(rb)
        self.text = QLineEdit()
        self.text.setPlaceholderText("details (required for 'other')")
        lay.addWidget(self.text)
        lay.addWidget(self.error)
        self.ok_btn.setText(ok_text)
        lay.addWidget(self.buttons)

    def chosen(self) -> str | None:
        """The key of the chosen reason, or None when nothing is chosen (nothing preselected)."""
        return next((k for k, rb in self.radios.items() if rb.isChecked()), None)

    def choose(self, key: str) -> None:
        """Select a reason (what a click on its radio button does)."""
        self.radios[key].setChecked(True)

    def submit(self) -> None:
        """Validate the choice and run the action with the stored wording."""
        key = self.chosen()
        reason = reason_text(self.choices, key, self.text.text(), what=self.what)
        assert key is not None  # reason_text refused an empty choice
        self.on_reason(reason, key, self.text.text().strip() or None)


class RateDialog(_Submitting):
    """A new pump rate typed in mg/h or mL/h, shown in both units with the time it leaves; a rate
    faster than the order needs a written confirmation (the use case decides, this shows it)."""

    def __init__(
        self,
        *,
        concentration_mg_per_ml: float,
        current_mg_per_h: float | None,
        remaining_mg: float,
        ordered_mg_per_h: float,
        on_rate: Callable[[float, str, str | None, str | None], Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Change infusion rate", parent)
        self.conc = float(concentration_mg_per_ml)
        self.remaining_mg = float(remaining_mg)
        self.ordered = float(ordered_mg_per_h)
        self.on_rate = on_rate
        lay = QVBoxLayout(self)
        now = (
            f"Now {current_mg_per_h:g} mg/h ({current_mg_per_h / self.conc:g} mL/h)"
            if current_mg_per_h
            else "Pump paused"
        )
        head = QLabel(
            f"{now} · ordered {self.ordered:g} mg/h ({self.ordered / self.conc:g} mL/h) · "
            f"{self.remaining_mg:.1f} mg still to give · bag {self.conc:g} mg/mL"
        )
        head.setWordWrap(True)
        lay.addWidget(head)
        form = QFormLayout()
        self.value = QLineEdit()
        self.value.setPlaceholderText("new rate")
        self.unit = QComboBox()
        self.unit.addItems(list(RATE_UNITS))
        self.unit.setCurrentText(ML_PER_H)  # pumps are programmed in mL/h
        self.converted = QLabel()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why the rate changes (optional)")
        self.confirm_reason = QLineEdit()
        self.confirm_reason.setPlaceholderText("required when faster than the order")
        form.addRow("New rate", self.value)
        form.addRow("Unit", self.unit)
        form.addRow("", self.converted)
        form.addRow("Reason", self.reason)
        form.addRow("Above the order: reason", self.confirm_reason)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.value.textChanged.connect(self._update)
        self.unit.currentTextChanged.connect(self._update)
        self._update()

    def number(self) -> float | None:
        """The typed value as a float ('nan' and 'inf' parse, and the use case refuses them)."""
        try:
            return float(self.value.text().strip().replace(",", "."))
        except ValueError:
            return None

    def _update(self) -> None:
        v = self.number()
        if v is None or not math.isfinite(v) or v <= 0:
            self.converted.setText("")
            return
        mg = v * self.conc if self.unit.currentText() == ML_PER_H else v
        left = self.remaining_mg / mg * 60.0
        above = " · FASTER THAN THE ORDER" if mg > self.ordered + 1e-9 else ""
        self.converted.setText(
            f"= {mg:.1f} mg/h = {mg / self.conc:.1f} mL/h · {left:.0f} min left{above}"
        )

    def submit(self) -> None:
        """Run the rate change; a refused confirmation moves the focus to its reason."""
        v = self.number()
        unit = self.unit.currentText()
        if v is None:
            field = "rate_ml_per_h" if unit == ML_PER_H else "rate_mg_per_h"
            raise DomainError("out_of_range", f"New rate must be a number in {unit}.", field=field)
        try:
            self.on_rate(
                v,
                unit,
                self.reason.text().strip() or None,
                self.confirm_reason.text().strip() or None,
            )
        except DomainError as exc:
            if exc.code == CONFIRMATION_REQUIRED:
                self.confirm_reason.setFocus()
            raise


# The checklist answers the chair can complete or correct, as (key, label, kind).
CHECKLIST_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("consent_confirmed", "Consent confirmed for this session", "bool"),
    ("identity_two_identifiers", "Identity confirmed with two identifiers", "bool"),
    ("last_solids_at", "Last solids (YYYY-MM-DD HH:MM, local)", "time"),
    ("last_clear_liquids_at", "Last clear liquids (YYYY-MM-DD HH:MM, local)", "time"),
    ("escort_name", "Escort name", "text"),
    ("escort_phone", "Escort phone", "text"),
    ("pregnancy_screen", "Pregnancy screen", "pregnancy"),
    ("contraindications_screened", "Contraindications screened", "bool"),
    ("contraindications", "Contraindications (comma separated)", "list"),
    ("interacting_medications_screened", "Interacting medications screened", "bool"),
    ("interacting_medications", "Interacting meds today (comma separated)", "list"),
    ("iv_site", "IV site", "text"),
    ("iv_gauge", "IV gauge (G)", "gauge"),
    ("iv_patent", "IV patent", "bool"),
)


class ChecklistDialog(_Submitting):
    """Complete or correct the pre-infusion checklist at the chair, before the start.

    Widgets start from the stored answers; an item never answered starts empty (a check box
    unticked, a time blank, the gauge at 'not answered'). Only the items the nurse changed are
    sent, so nothing unanswered is turned into an answer by opening the dialog.
    """

    def __init__(
        self,
        answers: dict[str, Any],
        tz: tzinfo,
        on_answers: Callable[[dict[str, Any]], Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Pre-infusion checklist", parent)
        self.tz = tz  # the clinic's display zone: times are shown and typed in it
        self.on_answers = on_answers
        self.widgets: dict[str, QWidget] = {}
        lay = QVBoxLayout(self)
        form = QFormLayout()
        for key, label, kind in CHECKLIST_FIELDS:
            w = self._widget(kind, label, answers.get(key))
            self.widgets[key] = w
            form.addRow(w) if kind == "bool" else form.addRow(label, w)
        lay.addLayout(form)
        lay.addWidget(self.error)
        self.ok_btn.setText("Save checklist")
        lay.addWidget(self.buttons)
        self.initial = self._values()

    def _widget(self, kind: str, label: str, value: Any) -> QWidget:
        if kind == "bool":
            cb = QCheckBox(label)
            cb.setChecked(bool(value))
            return cb
        if kind == "pregnancy":
            combo = QComboBox()
            for text, key in pregnancy_choices():
                combo.addItem(text, key)
            combo.setCurrentIndex(max(0, combo.findData(value)) if value else 0)
            return combo
        if kind == "gauge":
            spin = QSpinBox()
            spin.setRange(0, 30)
            spin.setSpecialValueText("not answered")  # 0 = no answer, never a default gauge
            spin.setValue(int(value) if value else 0)
            return spin
        line = QLineEdit()
        if kind == "list":
            line.setText(", ".join(value or []))
        elif kind == "time" and value:
            when = datetime.fromisoformat(str(value))
            line.setText(date_hm(when, self.tz))
        elif value:
            line.setText(str(value))
        return line

    def _values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, _label, kind in CHECKLIST_FIELDS:
            w = self.widgets[key]
            if isinstance(w, QCheckBox):
                out[key] = w.isChecked()
            elif isinstance(w, QComboBox):
                out[key] = w.currentData() or None
            elif isinstance(w, QSpinBox):
                out[key] = w.value() or None
            elif isinstance(w, QLineEdit):
                text = w.text().strip()
                if kind == "list":
                    out[key] = [x.strip() for x in text.split(",") if x.strip()]
                else:
                    out[key] = text or None
        return out

    def changed(self) -> dict[str, Any]:
        """The answers the nurse changed, converted for the use case (times to ISO UTC)."""
        now = self._values()
        out: dict[str, Any] = {}
        for key, label, kind in CHECKLIST_FIELDS:
            if now[key] == self.initial[key]:
                continue
            value = now[key]
            if kind == "time" and value is not None:
                try:
                    naive = datetime.strptime(value, "%Y-%m-%d %H:%M")
                except ValueError:
                    raise DomainError(
                        "bad_input",
                        f"{label.split(' (')[0]} must be written as YYYY-MM-DD HH:MM.",
                        field=key,
                    ) from None
                value = wall_time_in(naive, self.tz).isoformat()
            out[key] = value
        return out

    def submit(self) -> None:
        """Send the changed answers (nothing changed: nothing is stored, the dialog closes)."""
        changes = self.changed()
        if changes:
            self.on_answers(changes)
