"""Entering an outcome measure or an in-session scale (issue 16).

`ScaleEntryDialog`: the nurse types each item's answer (a whole number); an answer outside the
item's range is refused at once with a message naming the item and the range, and every other
answer stays as typed. Closing the dialog (Cancel, Escape, the window's close button) without
recording keeps what was typed as a draft (app.outcomes.save_scale_draft): the next time the
scale is opened at that timepoint the answers are back. Nothing entered is lost.

`PatientScaleScreen`: the same scale for the patient to answer on the station, full screen, with
nothing else on it: no name, no MRN, no other patient's data, no navigation. Only the nurse's
password takes the station back; the patient's answers then go back into the nurse's dialog,
which records them as self-report typed on the station.

Both are built as `(station, session_id, scale, …)` so the patient chart can open them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nursestation import outcome_scales as oc
from nursestation.app import outcomes
from nursestation.errors import DomainError
from nursestation.ui.station import Station

ERROR_STYLE = "color: #b00020; font-weight: bold;"
BAD_FIELD_STYLE = "border: 2px solid #b00020;"


def _parse(text: str) -> int | str | None:
    """What the nurse typed: empty -> None, a whole number -> int, anything else as typed (the
    core refuses it with the item's range)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


class ScaleEntryDialog(QDialog):
    """One scale at one timepoint for one session; OK records it, closing keeps a draft."""

    def __init__(
        self,
        station: Station,
        session_id: int,
        scale: str,
        parent: QWidget | None = None,
        *,
        timepoint: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id = session_id
        self.settings = outcomes.outcome_settings(station.ctx)
        self.d = self.settings.scale(scale)
        self.recorded: outcomes.OutcomeView | None = None
        self.on_station = False  # the answers came from the patient-facing screen
        self.patient_screen: PatientScaleScreen | None = None
        self._draft_kept = False  # once per closing: Cancel and the close event both end here
        self.setWindowTitle(f"{self.d.name}")
        self.setMinimumWidth(640)

        root = QVBoxLayout(self)
        head = QFormLayout()
        self.timepoint = QComboBox()
        for tp in self.d.timepoints:
            self.timepoint.addItem(oc.timepoint_label(tp), tp)
        if timepoint is not None:
            self.timepoint.setCurrentIndex(max(0, self.timepoint.findData(timepoint)))
        head.addRow("Timepoint", self.timepoint)
        self.administered = QComboBox()
        self.administered.addItem("Self-report (patient's answers)", oc.SELF_REPORT)
        self.administered.addItem("Clinician-administered", oc.CLINICIAN)
        self.administered.setCurrentIndex(self.administered.findData(self.d.administered))
        head.addRow("Given as", self.administered)
        root.addLayout(head)
        if not self.d.texts_embedded:
            note = QLabel(
                f"{self.d.name}: item wording is not shown here (licence: see the clinic's "
                "scales settings). Ask from the clinic's own licensed form and type each answer."
            )
            note.setWordWrap(True)
            root.addWidget(note)
        if self.d.stem:
            stem = QLabel(self.d.stem)
            stem.setWordWrap(True)
            stem.setStyleSheet("font-weight: bold;")
            root.addWidget(stem)
        hint = QLabel(self._answer_hint())
        hint.setWordWrap(True)
        root.addWidget(hint)

        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        self.fields: list[QLineEdit] = []
        for n in range(1, self.d.items + 1):
            label = QLabel(f"{n}. {self.d.item_label(n)}")
            label.setWordWrap(True)
            field = QLineEdit()
            field.setMaximumWidth(60)
            field.setPlaceholderText(f"{self.d.item_min}–{self.d.item_max}")
            field.setAccessibleName(f"{self.d.name} item {n}")
            field.editingFinished.connect(lambda n=n: self._check_one(n))
            field.textEdited.connect(lambda _t: self._apply_gating())
            grid.addWidget(label, n - 1, 0)
            grid.addWidget(field, n - 1, 1)
            self.fields.append(field)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        root.addWidget(scroll, 1)

        self.total = QLabel()
        root.addWidget(self.total)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        root.addWidget(self.error)
        row = QHBoxLayout()
        self.patient_btn = QPushButton("Hand to the patient…")
        self.patient_btn.setEnabled(self.d.administered == oc.SELF_REPORT)
        self.patient_btn.clicked.connect(self.open_patient_screen)
        row.addWidget(self.patient_btn)
        row.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_btn = self.buttons.addButton("Record", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_btn.setAutoDefault(False)  # Enter never records by accident
        self.ok_btn.setDefault(False)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        row.addWidget(self.buttons)
        root.addLayout(row)
        self.timepoint.currentIndexChanged.connect(lambda _i: self._load_draft())
        self._load_draft()

    # ---------------------------------------------------------------- answers

    def _answer_hint(self) -> str:
        labels = self.d.answer_labels
        if labels and len(labels) == self.d.item_max - self.d.item_min + 1:
            pairs = ", ".join(
                f"{v} = {lab}" for v, lab in zip(range(self.d.item_min, self.d.item_max + 1), labels,
                                                  strict=True)
            )  # fmt: skip
            return f"Type each answer as a number: {pairs}."
        return f"Type each answer as a whole number {self.d.item_min}–{self.d.item_max}."

    def answers(self) -> list[Any]:
        """The answers as typed (None where empty), in item order."""
        return [_parse(f.text()) for f in self.fields]

    def set_answers(self, answers: Sequence[int | None]) -> None:
        """Fill the fields (a draft, or the patient's answers)."""
        for f, v in zip(self.fields, answers, strict=False):
            f.setText("" if v is None else str(v))
        self._apply_gating()
        self._show_total()

    def current_timepoint(self) -> str:
        """The timepoint chosen."""
        return str(self.timepoint.currentData())

    def _check_one(self, n: int) -> bool:
        """Check item `n` as soon as it is typed: refused answers are named, nothing is cleared."""
        value = _parse(self.fields[n - 1].text())
        field = self.fields[n - 1]
        if value is None:
            field.setStyleSheet("")
            self._show_total()
            return True
        try:
            oc.check_item(self.d, n, value)
        except DomainError as exc:
            field.setStyleSheet(BAD_FIELD_STYLE)
            self.error.setText(exc.message)
            return False
        field.setStyleSheet("")
        if self.error.text().startswith(f"{self.d.name} item {n} "):
            self.error.clear()
        self._show_total()
        return True

    def _apply_gating(self) -> None:
        """C-SSRS: Q3-Q5 only after a yes to Q2, "within 3 months" only after a yes to Q6."""
        given = [v if isinstance(v, int) else None for v in self.answers()]
        asked = oc.applicable(self.d, given)
        for f, on in zip(self.fields, asked, strict=True):
            f.setEnabled(on)
            if not on and f.text():
                f.clear()

    def _show_total(self) -> None:
        given = [v for v in self.answers() if isinstance(v, int)]
        self.total.setText(
            f"{sum(given)} of {self.d.total_max} so far ({len(given)} of {self.d.items} answered)"
            if self.d.key != oc.CSSRS
            else f"{len(given)} answered"
        )

    # ---------------------------------------------------------------- record, draft

    def submit(self) -> None:
        """Record the scale; a refusal stays in the dialog with every answer kept."""
        for n in range(1, self.d.items + 1):
            if not self._check_one(n):
                return
        try:
            self.recorded = self.station.write(
                outcomes.record_outcome, self.session_id, self.d.key,
                [None if not f.isEnabled() else v for f, v in zip(self.fields, self.answers(),
                                                                   strict=True)],
                timepoint=self.current_timepoint(),
                administered=str(self.administered.currentData()),
                on_station=self.on_station,
            )  # fmt: skip
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.accept()

    def keep_draft(self) -> outcomes.DraftView | None:
        """Save what was typed (answers in range only; a refused one is left out, as the
        message said) so it is there the next time; None when nothing was typed."""
        given: list[int | None] = []
        for n, v in enumerate(self.answers(), 1):
            try:
                given.append(None if v is None else oc.check_item(self.d, n, v))
            except DomainError:
                given.append(None)
        if all(v is None for v in given):
            return None
        try:
            return self.station.write(outcomes.save_scale_draft, self.session_id, self.d.key,
                                      self.current_timepoint(), given)  # fmt: skip
        except DomainError as exc:
            self.error.setText(exc.message)
            return None

    def _load_draft(self) -> None:
        draft = self.station.read(
            outcomes.open_draft, self.session_id, self.d.key, self.current_timepoint()
        )
        self.set_answers(draft.answers if draft is not None else [None] * self.d.items)
        if draft is not None:
            self.error.setText(f"A draft with {draft.answered} answer(s) was kept: continue it.")

    def reject(self) -> None:
        """Cancel, Escape or close: nothing is recorded, but what was typed is kept as a draft."""
        if self.recorded is None and not self._draft_kept:
            self._draft_kept = True
            self.keep_draft()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window's close button is a cancel too (the draft is kept)."""
        if self.recorded is None and not self._draft_kept:
            self._draft_kept = True
            self.keep_draft()
        super().closeEvent(event)

    # ---------------------------------------------------------------- patient-facing

    def open_patient_screen(self) -> PatientScaleScreen:
        """Hand the station to the patient: the scale alone, full screen."""
        given = [v if isinstance(v, int) else None for v in self.answers()]
        screen = PatientScaleScreen(self.station, self.d, given, on_done=self._from_patient)
        self.patient_screen = screen
        screen.showFullScreen()
        return screen

    def _from_patient(self, answers: list[int | None]) -> None:
        self.on_station = True
        self.administered.setCurrentIndex(self.administered.findData(oc.SELF_REPORT))
        self.set_answers(answers)
        self.patient_screen = None
        if any(v is not None for v in answers):
            self.keep_draft()  # the patient's answers are kept before the nurse records them


class PatientScaleScreen(QWidget):
    """The scale for the patient: the questions and answer buttons, nothing else. Closing needs
    the nurse's password (app.outcomes.end_patient_entry)."""

    def __init__(
        self,
        station: Station,
        d: oc.ScaleDef,
        answers: Sequence[int | None],
        *,
        on_done: Any,
    ) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        self.station = station
        self.d = d
        self.on_done = on_done
        self.released = False
        self.setWindowTitle(d.name)
        root = QVBoxLayout(self)
        title = QLabel(d.name)
        title.setStyleSheet("font-size: 20pt; font-weight: bold;")
        root.addWidget(title)
        if d.stem:
            stem = QLabel(d.stem)
            stem.setWordWrap(True)
            stem.setStyleSheet("font-size: 14pt;")
            root.addWidget(stem)
        host = QWidget()
        form = QVBoxLayout(host)
        self.groups: list[QButtonGroup] = []
        values = list(range(d.item_min, d.item_max + 1))
        labels = (
            d.answer_labels if len(d.answer_labels) == len(values) else [str(v) for v in values]
        )
        for n in range(1, d.items + 1):
            q = QLabel(f"{n}. {d.item_label(n)}")
            q.setWordWrap(True)
            q.setStyleSheet("font-size: 13pt;")
            form.addWidget(q)
            row = QHBoxLayout()
            group = QButtonGroup(self)
            for v, text in zip(values, labels, strict=True):
                rb = QRadioButton(text)
                rb.setMinimumHeight(40)
                group.addButton(rb, v)
                row.addWidget(rb)
                if n <= len(answers) and answers[n - 1] == v:
                    rb.setChecked(True)
            row.addStretch(1)
            form.addLayout(row)
            self.groups.append(group)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(host)
        root.addWidget(scroll, 1)
        self.finished_btn = QPushButton("I have finished")
        self.finished_btn.setMinimumHeight(48)
        self.finished_btn.clicked.connect(self.finish)
        root.addWidget(self.finished_btn)
        # The nurse's part: hidden until the patient has finished (or the nurse needs it back).
        self.nurse_box = QWidget()
        nl = QHBoxLayout(self.nurse_box)
        self.handback = QLabel("Thank you. Please hand the station back to your nurse.")
        self.handback.setStyleSheet("font-size: 14pt; font-weight: bold;")
        nl.addWidget(self.handback, 1)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("nurse's password")
        self.password.returnPressed.connect(self.release)
        nl.addWidget(self.password)
        self.release_btn = QPushButton("Nurse: take back")
        self.release_btn.clicked.connect(self.release)
        nl.addWidget(self.release_btn)
        root.addWidget(self.nurse_box)
        self.error = QLabel()
        self.error.setStyleSheet(ERROR_STYLE)
        root.addWidget(self.error)
        self.nurse_box.setVisible(False)
        self.nurse_link = QPushButton("Nurse")
        self.nurse_link.setFlat(True)
        self.nurse_link.clicked.connect(lambda: self.nurse_box.setVisible(True))
        root.addWidget(self.nurse_link, 0, Qt.AlignmentFlag.AlignRight)

    def answers(self) -> list[int | None]:
        """The patient's answers so far (None where not chosen)."""
        return [g.checkedId() if g.checkedButton() is not None else None for g in self.groups]

    def finish(self) -> None:
        """The patient is done: show the hand-back message and the nurse's password field."""
        self.nurse_box.setVisible(True)
        self.password.setFocus()

    def release(self) -> None:
        """The nurse's password takes the station back; a wrong one keeps the screen."""
        try:
            self.station.read(outcomes.end_patient_entry, self.password.text())
        except DomainError as exc:
            self.password.clear()
            self.error.setText(exc.message)
            return
        self.released = True
        self.on_done(self.answers())
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Only the nurse's password closes it."""
        if not self.released:
            event.ignore()
            self.nurse_box.setVisible(True)
            return
        super().closeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape does not leave the screen."""
        if event.key() == Qt.Key.Key_Escape:
            event.ignore()
            return
        super().keyPressEvent(event)


class SafetyAssessmentDialog(QDialog):
    """The charge nurse's safety assessment and plan after a positive screen, or the re-check
    before discharge. Nothing is preselected: "proceed" must be chosen (CONVENTIONS.md 12)."""

    def __init__(
        self, station: Station, session_id: int, kind: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id = session_id
        self.kind = kind
        first = kind == outcomes.PRE_INFUSION
        self.setWindowTitle(
            "Safety assessment before the infusion" if first else "Re-check before discharge"
        )
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.assessment = QLineEdit()
        self.assessment.setPlaceholderText(
            "what was found (risk, intent, plan, protective factors)"
        )
        form.addRow("Assessment", self.assessment)
        self.plan = QLineEdit()
        self.plan.setPlaceholderText("the safety plan")
        form.addRow("Plan", self.plan)
        lay.addLayout(form)
        self.proceed_yes = QRadioButton(
            "The infusion may proceed" if first else "May leave with the plan"
        )
        self.proceed_no = QRadioButton(
            "Do not proceed with the infusion" if first else "Not safe to leave"
        )
        self.group = QButtonGroup(self)
        for rb in (self.proceed_yes, self.proceed_no):
            self.group.addButton(rb)
            lay.addWidget(rb)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_btn = buttons.addButton("Record", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_btn.setAutoDefault(False)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.status: outcomes.SafetyStatus | None = None

    def submit(self) -> None:
        """Record it; a refusal stays in the dialog with the text kept."""
        if self.group.checkedButton() is None:
            self.error.setText("Choose whether to proceed.")
            return
        try:
            self.status = self.station.write(
                outcomes.record_safety_assessment, self.session_id, self.kind,
                self.assessment.text(), self.plan.text(),
                proceed=self.proceed_yes.isChecked(),
            )  # fmt: skip
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.accept()


class OutcomesBox(QWidget):
    """The session view's place for the scales: one button per scale, the course trend, the
    safety flag and (for a charge nurse) the safety assessment."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.mrn: str | None = None
        self.dialog: QDialog | None = None
        self.trend_window: QWidget | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.flag = QLabel()
        self.flag.setWordWrap(True)
        self.flag.setStyleSheet("background: #fde7e9; color: #b00020; font-weight: bold;")
        self.flag.setVisible(False)
        lay.addWidget(self.flag)
        row = QHBoxLayout()
        self.scale_btns: dict[str, QPushButton] = {}
        for key in oc.ALL_SCALES:
            b = QPushButton(oc.NAMES[key].replace(" screener", ""))
            b.clicked.connect(lambda _c=False, k=key: self.open_scale(k))
            row.addWidget(b)
            self.scale_btns[key] = b
        lay.addLayout(row)
        row2 = QHBoxLayout()
        self.trend_btn = QPushButton("Course trend…")
        self.trend_btn.clicked.connect(self.open_trend)
        row2.addWidget(self.trend_btn)
        self.safety_btn = QPushButton("Safety assessment…")
        self.safety_btn.clicked.connect(self.open_safety)
        row2.addWidget(self.safety_btn)
        row2.addStretch(1)
        lay.addLayout(row2)
        self.status: outcomes.SafetyStatus | None = None
        self._stale = True  # read the safety status at the next set_session
        station.changed.connect(self._mark_stale)

    def _mark_stale(self) -> None:
        self._stale = True

    def set_session(self, session_id: int | None, mrn: str | None, *, ended: bool) -> None:
        """Follow the session view (called on its every-second refresh); the safety status is
        read again only for another session or after something was written."""
        again = self._stale or session_id != self.session_id
        self.session_id, self.mrn = session_id, mrn
        for b in self.scale_btns.values():
            b.setEnabled(session_id is not None and not ended)
        self.trend_btn.setEnabled(mrn is not None)
        if again:
            self._stale = False
            self.status = (
                self.station.read(outcomes.safety_status, session_id)
                if session_id is not None
                else None
            )
        text = self.status.flag_text() if self.status is not None else None
        self.flag.setText(text or "")
        self.flag.setVisible(bool(text))
        actor = self.station.signed_in
        assessors = outcomes.outcome_settings(self.station.ctx).safety_assessors
        self.safety_btn.setEnabled(
            bool(self.status and self.status.flagged) and not ended and actor is not None
            and any(r in actor.roles for r in assessors)
        )  # fmt: skip

    def open_scale(self, scale: str) -> ScaleEntryDialog:
        """Open a scale's entry (non-modal)."""
        assert self.session_id is not None
        dlg = ScaleEntryDialog(self.station, self.session_id, scale, self)
        self._show(dlg)
        return dlg

    def open_safety(self) -> SafetyAssessmentDialog:
        """The safety assessment (before the start) or the re-check (after it)."""
        assert self.session_id is not None and self.status is not None
        kind = outcomes.PRE_INFUSION if self.status.start_held else outcomes.DISCHARGE_RECHECK
        dlg = SafetyAssessmentDialog(self.station, self.session_id, kind, self)
        self._show(dlg)
        return dlg

    def open_trend(self) -> QWidget:
        """The patient's course trend in its own window."""
        from nursestation.ui.outcome_trend import OutcomeTrend

        assert self.mrn is not None
        w = OutcomeTrend.for_station(self.station)
        w.setWindowTitle("Outcome measures over the course")
        w.load(self.station, self.mrn)
        w.resize(760, 480)
        w.show()
        self.trend_window = w
        return w

    def _show(self, dlg: QDialog) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dlg
        dlg.finished.connect(lambda _r: self.station.changed.emit())
        dlg.open()
