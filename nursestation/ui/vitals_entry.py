"""Manual vital-signs entry at the chair: one small form, checked as the nurse types.

A hard problem (a value no living patient can have) is shown next to its field and disables Save;
a soft problem is shown in amber and asked about at Save. Nothing typed is lost on a refusal. The
same form corrects a stored reading (with a reason). `VitalsEntryDialog` wraps it for the
Ctrl+Shift+V shortcut the main window wires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimer, QTimeZone, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import vitals as vitals_service
from nursestation.app.vitals import VitalsRecord
from nursestation.errors import DomainError
from nursestation.scales import SEDATION_SCALES
from nursestation.ui.feedback import confirm, show_refusal
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone
from nursestation.vitals import (
    FIELD_INFO,
    VitalRanges,
    VitalsInput,
    is_late,
    range_key,
    validate_vitals,
)
from nursestation.wording import num, wall_time_in

# (VitalsInput attribute, optional?) in the order a nurse reads them off the monitor.
FIELDS: tuple[tuple[str, bool], ...] = (
    ("sbp", False),
    ("dbp", False),
    ("hr", False),
    ("spo2", False),
    ("rr", False),
    ("etco2", True),
    ("temp_c", True),
)
CLOCK_FOLLOW_MS = 1000  # the shown "now" moves with the clock to within a second
HARD_STYLE = "color: #b00020; font-weight: bold;"
SOFT_STYLE = "color: #8a5a00;"


class MessageLabel(QLabel):
    """A wrapped message line that takes no room while it is empty."""

    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.hide()

    def setText(self, text: str) -> None:
        """Show the text, or hide the line when there is none."""
        super().setText(text)
        self.setVisible(bool(text))


class VitalsEntryForm(QWidget):
    """SBP, DBP (MAP shown live), HR, SpO2, RR, optional EtCO2 and temperature, sedation score,
    observed time. Emits `saved(record)` after a successful save."""

    saved = Signal(object)

    def __init__(
        self,
        station: Station,
        parent: QWidget | None = None,
        *,
        session_id: int | None = None,
        correcting: VitalsRecord | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id = session_id
        self.correcting = correcting
        self.ranges = VitalRanges.from_settings(station.ctx.settings)
        self.edits: dict[str, QLineEdit] = {}
        self.messages: dict[str, QLabel] = {}

        # Two fields a row (SBP | DBP, MAP | HR, SpO2 | RR, EtCO2 | Temp), then sedation and the
        # observed time across: short enough for the session view at 1366×768. Each field's
        # message is a full-width wrapped line under the fields (issue 18: beside the field it
        # was clipped to "SBP 1200 mmHg is").
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        slots: list[tuple[str, bool]] = [FIELDS[0], FIELDS[1], ("map", True), *FIELDS[2:]]
        for i, (name, optional) in enumerate(slots):
            row, col = divmod(i, 2)
            col *= 3
            if name == "map":
                self.map_value = QLabel("MAP —")
                self.map_value.setObjectName("vitals-map")
                grid.addWidget(QLabel("MAP (calc.)"), row, col)
                grid.addWidget(self.map_value, row, col + 1, 1, 2)
                continue
            info = FIELD_INFO[range_key(name)]
            fr = self.ranges.for_field(name)
            usual = f"{num(fr.soft_min)}–{num(fr.soft_max)}"
            label = QLabel(info.label)
            edit = QLineEdit()
            edit.setObjectName(f"vitals-{name}")
            # An optional field says so where the value goes; its usual range is the tooltip.
            edit.setPlaceholderText("optional" if optional else usual)
            edit.setToolTip(
                f"{info.label}: usual {usual} {info.unit}" + (" (optional)" if optional else "")
            )
            edit.setMaximumWidth(72)
            edit.setAccessibleName(info.label)
            edit.textEdited.connect(self.revalidate)
            label.setBuddy(edit)
            self.edits[name] = edit
            grid.addWidget(label, row, col)
            grid.addWidget(edit, row, col + 1)
            grid.addWidget(QLabel(info.unit), row, col + 2)
        row = (len(slots) + 1) // 2
        # Sedation: a scale and a score picked from the scale's wording.
        self.scale = QComboBox()
        self.scale.addItem("— none —", None)
        for key, sc in SEDATION_SCALES.items():
            if key in self.ranges.sedation:
                self.scale.addItem(sc.name, key)
        self.score = QComboBox()
        # The wording is long ("responds readily to name…"): the list shows it whole.
        self.score.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.score.setMinimumContentsLength(12)
        self.scale.currentIndexChanged.connect(self._fill_scores)
        self.score.currentIndexChanged.connect(lambda _i: self.revalidate())
        sed = QHBoxLayout()
        sed.addWidget(self.scale)
        sed.addWidget(self.score, 1)
        grid.addWidget(QLabel("Sedation"), row, 0)
        grid.addLayout(sed, row, 1, 1, 5)
        row += 1
        self.observed = QDateTimeEdit()
        self.observed.setObjectName("vitals-observed")
        self.observed.setDisplayFormat("yyyy-MM-dd HH:mm")
        # Holds the clinic zone's wall-clock time as UTC (see _show_time): never the station's.
        self.observed.setTimeZone(QTimeZone.utc())
        self.observed.setCalendarPopup(True)
        self.observed.dateTimeChanged.connect(self._observed_changed)
        # Until the nurse changes it, the observed time is "now" and follows the station clock:
        # a form opened at 14:52 and saved at 15:02 stores 15:02, not the time it was opened.
        self.time_edited = False
        self._setting_time = False
        self._time_refusal = ""  # a refused observed time, shown until the time is changed
        self._clock_timer = QTimer(self)
        self._clock_timer.setInterval(CLOCK_FOLLOW_MS)
        self._clock_timer.timeout.connect(self.follow_clock)
        self._clock_timer.start()
        now_btn = QPushButton("No&w")
        now_btn.setToolTip("Observed time = now (follows the clock again)")
        now_btn.clicked.connect(self.reset_time)
        obs = QHBoxLayout()
        obs.addWidget(self.observed, 1)
        obs.addWidget(now_btn)
        grid.addWidget(QLabel("Observed at"), row, 0)
        grid.addLayout(obs, row, 1, 1, 5)
        row += 1
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why the values are corrected (required)")
        self.reason.textEdited.connect(lambda _t: self.revalidate())
        if correcting is not None:
            grid.addWidget(QLabel("Reason"), row, 0)
            grid.addWidget(self.reason, row, 1, 1, 5)
            row += 1
        grid.setColumnStretch(5, 1)

        # Messages: one wrapped line per field with a problem, in field order; hidden when empty.
        msg_box = QVBoxLayout()
        msg_box.setSpacing(1)
        for name in (*(n for n, _ in FIELDS[:2]), "map", *(n for n, _ in FIELDS[2:])):
            self.messages[name] = self._message_label(msg_box)
        self.messages["sedation_score"] = self._message_label(msg_box)
        self.late_label = self._message_label(msg_box)
        self.late_label.setStyleSheet(SOFT_STYLE)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.save_btn = QPushButton("Save correction" if correcting else "Save vitals")
        self.save_btn.setObjectName("vitals-save")
        self.save_btn.setDefault(True)
        self.save_btn.clicked.connect(self.save)
        self.save_btn.setToolTip("Enter in any field saves too")
        self.clear_btn = QPushButton("C&lear")
        self.clear_btn.clicked.connect(self.clear)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.clear_btn)
        bottom.addWidget(self.save_btn)

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(3)
        root.addLayout(grid)
        root.addLayout(msg_box)
        root.addWidget(self.status)
        root.addLayout(bottom)
        self._fill_scores()
        if correcting is not None:
            self._prefill(correcting)
        self.reset_time()
        self.revalidate()

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _message_label(box: QVBoxLayout) -> QLabel:
        label = MessageLabel()
        box.addWidget(label)
        return label

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter in any field saves the reading (as the Save button does), in the session
        view's embedded form as in the dialog; handled here so a dialog does not press its
        default button a second time."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            if self.save_btn.isEnabled():
                self.save()
            else:
                self.revalidate()
            return
        super().keyPressEvent(event)

    def set_session(self, session_id: int | None) -> None:
        """Enter vitals for another session (the typed values are kept)."""
        self.session_id = session_id
        self.revalidate()

    def _prefill(self, rec: VitalsRecord) -> None:
        for name, _ in FIELDS:
            value = getattr(rec, name)
            self.edits[name].setText("" if value is None else num(value))
        if rec.sedation_scale:
            self.scale.setCurrentIndex(max(0, self.scale.findData(rec.sedation_scale)))
            if rec.sedation_score is not None:
                self.score.setCurrentIndex(max(0, self.score.findData(int(rec.sedation_score))))
        self.observed.setEnabled(False)

    def _fill_scores(self) -> None:
        key = self.scale.currentData()
        self.score.blockSignals(True)
        self.score.clear()
        self.score.addItem("—", None)
        if key is not None:
            for score, text in SEDATION_SCALES[key].choices():
                self.score.addItem(text, score)
        self.score.blockSignals(False)
        self.score.setEnabled(key is not None)
        self.revalidate()

    def _show_time(self, when: datetime) -> None:
        # The editor shows the wall-clock time of the clinic's display zone (as the note does),
        # not the station's: it holds that wall time as a UTC QDateTime (UTC has no DST gaps),
        # and observed_at reads it back in the clinic zone.
        wall = when.astimezone(clinic_zone(self.station.ctx))
        self._setting_time = True
        try:
            self.observed.setDateTime(
                QDateTime(
                    QDate(wall.year, wall.month, wall.day),
                    QTime(wall.hour, wall.minute, wall.second),
                    QTimeZone.utc(),
                )
            )
        finally:
            self._setting_time = False

    def _observed_changed(self, _qdt: QDateTime) -> None:
        if not self._setting_time:
            self.time_edited = True  # the nurse chose a time: it stays until "Now" or Clear
            self._time_refusal = ""
        self._update_late()

    def reset_time(self) -> None:
        """Observed time back to now (the station clock), following the clock again."""
        when = self.correcting.observed_at if self.correcting else self.station.ctx.now()
        self.time_edited = False
        self._time_refusal = ""
        self._show_time(when)
        self._update_late()

    def follow_clock(self) -> None:
        """Keep the shown observed time on the station clock while the nurse has not changed
        it (runs on a timer; touches the widget only when the shown minute changes)."""
        if self.correcting is None and not self.time_edited:
            now = self.station.ctx.now()
            if int(now.timestamp()) // 60 != int(self.observed_at().timestamp()) // 60:
                self._show_time(now)

    def observed_at(self) -> datetime:
        """The observed time as an aware UTC datetime (minute precision as shown): the shown
        wall-clock time read in the clinic's display zone."""
        qdt = self.observed.dateTime()
        d, t = qdt.date(), qdt.time()
        naive = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), t.second())
        return wall_time_in(naive, clinic_zone(self.station.ctx))

    def _observed_for_save(self) -> datetime | None:
        # Not changed by the nurse: the exact station time of the save (None = now in the use
        # case), never the time the form was opened. Changed: exactly what the nurse chose.
        return self.observed_at() if self.time_edited else None

    def _update_late(self) -> None:
        if self._time_refusal:
            self.late_label.setText(self._time_refusal)
            self.late_label.setStyleSheet(HARD_STYLE)
            return
        if self.correcting is not None:
            self.late_label.setText("")
            return
        late_after = float(self.station.ctx.settings.get("general.late_entry_after_min"))
        late = is_late(self.observed_at(), self.station.ctx.now(), late_after)
        if self.late_label.styleSheet() != SOFT_STYLE:  # a restyle is not free: only on change
            self.late_label.setStyleSheet(SOFT_STYLE)
        self.late_label.setText(
            f"Late entry: observed more than {num(late_after)} min ago" if late else ""
        )

    def raw_values(self) -> dict[str, Any]:
        """What is typed, as text (blank fields left out) plus the sedation pick."""
        out: dict[str, Any] = {
            name: e.text().strip() for name, e in self.edits.items() if e.text().strip()
        }
        if self.scale.currentData() is not None and self.score.currentData() is not None:
            out["sedation_scale"] = self.scale.currentData()
            out["sedation_score"] = self.score.currentData()
        return out

    def values(self) -> VitalsInput:
        """The typed values as a VitalsInput (text that is not a number stays text)."""
        return VitalsInput.from_mapping(self.raw_values())

    def message_for(self, field: str) -> str:
        """The message shown next to a field (empty when fine)."""
        return self.messages[field].text()

    # -- live checking -------------------------------------------------------------------------

    def revalidate(self, *_args: object) -> None:
        """Check every field as typed; hard problems disable Save."""
        if not hasattr(self, "save_btn"):
            return
        v = self.values()
        result = validate_vitals(v, self.ranges)
        for label in self.messages.values():
            label.setText("")
            label.setStyleSheet("")
        for p in result.problems:
            key = "sedation_score" if p.field.startswith("sedation") else p.field
            msg = self.messages.get(key)
            if msg is None or (msg.text() and p.tier == "soft"):
                continue
            msg.setText(p.message if p.tier == "hard" else f"⚠ {p.message}")
            msg.setStyleSheet(HARD_STYLE if p.tier == "hard" else SOFT_STYLE)
        mean = v.mean_arterial if result.ok else result.computed_map
        self.map_value.setText(f"MAP {num(mean)} mmHg" if mean is not None else "MAP —")
        has_value = bool({k for k in v.as_dict() if k != "sedation_scale"})
        reason_ok = self.correcting is None or bool(self.reason.text().strip())
        ok = result.ok and has_value and reason_ok and self.session_id is not None
        self.save_btn.setEnabled(ok and self.station.can("record_vitals"))
        if result.hard:
            names = ", ".join(dict.fromkeys(_field_name(p.field) for p in result.hard))
            self.status.setText(f"Cannot save: {names} not possible (the reason is shown above).")
            self.status.setStyleSheet(HARD_STYLE)
        elif result.soft:
            self.status.setText("Unusual value(s): you will be asked to confirm.")
            self.status.setStyleSheet(SOFT_STYLE)
        elif self.correcting is not None and not reason_ok:
            self.status.setText("A correction needs a reason.")
            self.status.setStyleSheet("")
        else:
            self.status.setText("")
            self.status.setStyleSheet("")
        self._update_late()

    # -- saving --------------------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the form for the next reading."""
        for e in self.edits.values():
            e.clear()
        self.scale.setCurrentIndex(0)
        self.reason.clear()
        self.reset_time()
        self.revalidate()

    def save(self) -> VitalsRecord | None:
        """Store the reading (asking about soft values first); the form is kept on refusal."""
        if self.session_id is None:
            return None
        v = self.values()
        result = validate_vitals(v, self.ranges)
        if result.hard:
            self.revalidate()
            return None
        confirmed = False
        if result.soft:
            text = "\n".join(p.message for p in result.soft)
            if not confirm(self, "Confirm unusual values", f"{text}\n\nSave these values?"):
                self.status.setText("Not saved: check the values marked ⚠ and save again.")
                return None
            confirmed = True
        try:
            if self.correcting is not None:
                changed = {
                    k: val
                    for k, val in self.raw_values().items()
                    if k not in ("sedation_scale", "sedation_score")
                } | {
                    name: None
                    for name, e in self.edits.items()
                    if not e.text().strip() and getattr(self.correcting, name) is not None
                }
                sv = self.values()
                changed |= {
                    "sedation_scale": sv.sedation_scale,
                    "sedation_score": sv.sedation_score,
                }
                rec = self.station.write(
                    vitals_service.correct_vitals,
                    self.correcting.id,
                    changed,
                    self.reason.text().strip(),
                    soft_confirmed=confirmed,
                )
            else:
                rec = self.station.write(
                    vitals_service.record_vitals,
                    self.session_id,
                    v,
                    observed_at=self._observed_for_save(),
                    soft_confirmed=confirmed,
                )
        except DomainError as exc:
            field = exc.field if exc.field in self.messages else None
            if field:
                self.messages[field].setText(exc.message)
                self.messages[field].setStyleSheet(HARD_STYLE)
            elif exc.field == "observed_at":
                self._time_refusal = exc.message  # kept while the nurse fixes other fields
                self._update_late()
            show_refusal(self, exc, "Vitals not saved")
            return None
        self.status.setText(f"Saved #{rec.id}" + (" (late entry)" if rec.late else ""))
        self.status.setStyleSheet("color: #2e7d32;")
        if self.correcting is None:
            kept = self.status.text()
            self.clear()
            self.status.setText(kept)
            self.status.setStyleSheet("color: #2e7d32;")
        self.saved.emit(rec)
        return rec


def _field_name(field: str) -> str:
    """A field's label as the form shows it ("sbp" -> "SBP", "sedation_score" -> "Sedation")."""
    if field.startswith("sedation"):
        return "Sedation"
    info = FIELD_INFO.get(range_key(field))
    return info.label if info is not None else field.upper()


class VitalsEntryDialog(QDialog):
    """The entry form as a small dialog (Ctrl+Shift+V, or "Correct…" on the flowsheet)."""

    def __init__(
        self,
        station: Station,
        session_id: int,
        parent: QWidget | None = None,
        *,
        correcting: VitalsRecord | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(
            f"Correct vitals #{correcting.id}" if correcting else "Record vital signs"
        )
        self.form = VitalsEntryForm(station, self, session_id=session_id, correcting=correcting)
        self.record: VitalsRecord | None = None
        self.form.saved.connect(self._saved)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setObjectName("vitals-cancel")
        buttons.rejected.connect(self.reject)
        root = QVBoxLayout(self)
        root.addWidget(self.form)
        root.addWidget(buttons)
        first = self.form.edits["sbp"]
        first.setFocus(Qt.FocusReason.OtherFocusReason)

    def _saved(self, rec: VitalsRecord) -> None:
        self.record = rec
        self.accept()


def open_vitals_entry(
    station: Station, session_id: int, parent: QWidget | None = None
) -> VitalsRecord | None:
    """Show the entry dialog modally; the stored record, or None when cancelled."""
    dlg = VitalsEntryDialog(station, session_id, parent)
    dlg.exec()
    return dlg.record
