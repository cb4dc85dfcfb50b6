"""The discharge tab of the session view: Modified Aldrete / PADSS / modified PADSS with every item
and its wording (pre-filled from recorded vitals for the nurse to confirm or change), the clinic
checklist answers, every criterion with why it fails and its evidence, charge-nurse override and
approval, and the patient's instruction sheet."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import discharge as dc
from nursestation.errors import CHANGED_ELSEWHERE, DomainError
from nursestation.scales import SEDATION_SCALES, clinician_check
from nursestation.ui import printing
from nursestation.ui.choice_buttons import ChoiceButtons
from nursestation.ui.feedback import ask_password, ask_text, show_refusal
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone, local_hm
from nursestation.wording import until_words

YES_NO = (("— not assessed", None), ("Yes", True), ("No", False))
# Yes/no questions in the order a nurse asks them at the chair: orientation and oxygen first,
# then the core's order (a new answer appears without an edit here); the intake suicide screen
# has its own wording (Negative / Positive) below them.
_ASKED_FIRST = ("alert_oriented", "on_room_air")
YES_NO_QUESTIONS = (
    *_ASKED_FIRST,
    *(k for k in dc.BOOL_ANSWERS if k not in _ASKED_FIRST and k != "suicide_screen_positive"),
)
READY_STYLE = "background:#d7f0ee; color:#0b5345; font-size:13pt; font-weight:bold; padding:3px 6px;"
NOT_READY_STYLE = (
    "background:#fff1cc; color:#7a4b00; font-size:13pt; font-weight:bold; padding:3px 6px;"
)
DONE_STYLE = "background:#ececec; color:#333; font-size:13pt; font-weight:bold; padding:3px 6px;"
FAIL_BG = QColor("#fde2e1")
CELL_MAX = 140
LABEL_MIN_PX = 270  # the discharge questions' labels: "On room air (no supplemental O2)"
HINT_MAX = 4  # failing criteria listed beside the approve button; more are only in the table
OVERRIDE_BG = QColor("#fff1cc")


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setMinimumWidth(LABEL_MIN_PX)
    return label


def _saved_label() -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: #2e7d32; font-size: 9pt;")
    return label


def sheet_title(sheet: dc.SheetView) -> str:
    """A score group's title: "Modified Aldrete (required)"."""
    return f"{sheet.name}{' (required)' if sheet.required else ''}"


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


class _SheetForm(QWidget):
    """One score: a row per item with its three published levels as radio buttons."""

    def __init__(self, sheet: dc.SheetView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scale = sheet.scale
        self.threshold = sheet.threshold
        self.required = sheet.required
        self.touched = False
        self.groups: dict[str, QButtonGroup] = {}
        self.buttons: dict[str, dict[int, QRadioButton]] = {}
        self.hints: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        for row, item in enumerate(sheet.items):
            name = QLabel(f"<b>{item.label}</b>")
            name.setWordWrap(True)
            name.setFixedWidth(150)
            grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
            levels = QVBoxLayout()
            levels.setSpacing(2)
            group = QButtonGroup(self)
            self.groups[item.id] = group
            self.buttons[item.id] = {}
            for score, text in zip((2, 1, 0), item.wording, strict=True):
                b = QRadioButton(f"{score} – {text}")
                b.setToolTip(text)
                group.addButton(b, score)
                self.buttons[item.id][score] = b
                levels.addWidget(b)
            group.idClicked.connect(self._clicked)
            hint = QLabel()
            hint.setStyleSheet("color:#555; font-size:9pt;")
            hint.setWordWrap(True)
            self.hints[item.id] = hint
            levels.addWidget(hint)
            levels.addSpacing(6)
            grid.addLayout(levels, row, 1)
        self.total = QLabel()
        self.total.setStyleSheet("font-weight:bold;")
        grid.addWidget(self.total, len(sheet.items), 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.show_sheet(sheet, select=True)

    def _clicked(self, _score: int) -> None:
        self.touched = True
        self._update_total()

    def show_sheet(self, sheet: dc.SheetView, *, select: bool) -> None:
        """Update the suggestions; with `select`, choose the stored entry, else the pre-fill."""
        for item in sheet.items:
            if item.prefilled is not None:
                self.hints[item.id].setText(
                    f"Suggested {item.prefilled} from recorded data: {item.prefill_evidence}"
                    " — confirm or change."
                )
            else:
                self.hints[item.id].setText("No recorded data for this item: the nurse scores it.")
            if select:
                choice = item.entered if item.entered is not None else item.prefilled
                group = self.groups[item.id]
                group.setExclusive(False)
                for b in self.buttons[item.id].values():
                    b.setChecked(False)
                group.setExclusive(True)
                if choice is not None:
                    self.buttons[item.id][choice].setChecked(True)
        if select:
            self.touched = False
        self._update_total()

    def values(self) -> dict[str, int]:
        """The selected score of every item the nurse has a value for."""
        return {i: g.checkedId() for i, g in self.groups.items() if g.checkedId() >= 0}

    def _update_total(self) -> None:
        vals = self.values()
        missing = len(self.groups) - len(vals)
        total = sum(vals.values())
        if missing:
            text = f"Total so far {total}/10 — {missing} item(s) not scored"
        else:
            verdict = "meets" if total >= self.threshold else "BELOW"
            text = f"Total {total}/10 — {verdict} the clinic threshold of ≥ {self.threshold}"
        self.total.setText(text)


class DischargePanel(QWidget):
    """Discharge assessment and approval for one session."""

    sheet_printed = Signal(int)  # pages sent to the printer (0: failed), for tests and status

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.view: dc.DischargeView | None = None
        # The session version the form was loaded on, sent with a save (app/concurrency.py).
        self.form_version: int | None = None
        self.sheet_forms: dict[str, _SheetForm] = {}

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 2, 0, 0)
        root.setSpacing(2)
        self.banner = QLabel("No session selected.")
        self.banner.setWordWrap(True)
        root.addWidget(self.banner)
        self.obs_label = QLabel()
        self.obs_label.setWordWrap(True)
        root.addWidget(self.obs_label)

        split = QSplitter()
        root.addWidget(split, 1)
        split.addWidget(self._form_side())
        split.addWidget(self._criteria_side())
        split.setSizes([620, 640])

        self._tick = QTimer(self)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start(1000)
        station.changed.connect(self.refresh)
        self._update_enabled()

    # ---------------------------------------------------------------- layout

    @property
    def tz(self) -> tzinfo:
        """The clinic's display zone: every time on this panel is shown in it."""
        return clinic_zone(self.station.ctx)

    def _form_side(self) -> QWidget:
        side = QWidget()
        lay = QVBoxLayout(side)
        lay.setContentsMargins(0, 0, 0, 0)
        # One readable form that scrolls as a whole (issue 18: four tabs of score sheets and a
        # checklist of combos, clipped and about 35 clicks): the questions first, one row each
        # with its answers as buttons, then each score as a group with its total.
        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.setContentsMargins(4, 4, 4, 4)

        questions = QGroupBox("Discharge checklist")
        form = QFormLayout(questions)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.answer_combos: dict[str, ChoiceButtons] = {}
        self.answer_labels: dict[str, QLabel] = {}
        for key in YES_NO_QUESTIONS:
            choice = ChoiceButtons()
            for text, value in YES_NO:
                choice.addItem(text, value)
            label = QLabel(dc.ANSWER_LABELS[key])
            label.setWordWrap(True)
            label.setMinimumWidth(LABEL_MIN_PX)  # one line each at 1366×768
            self.answer_combos[key] = choice
            self.answer_labels[key] = label
            form.addRow(label, choice)
        self.suicide_screen = ChoiceButtons()
        for text, value in (("— not recorded", None), ("Negative", False), ("Positive", True)):
            self.suicide_screen.addItem(text, value)
        form.addRow(_wrapped("Intake suicide screen"), self.suicide_screen)
        self.escort_name = QLineEdit()
        self.escort_rel = QLineEdit()
        self.escort_rel.setPlaceholderText("e.g. husband, friend")
        self.next_appt = QLineEdit()
        form.addRow("Escort name", self.escort_name)
        form.addRow(_wrapped("Escort relationship"), self.escort_rel)
        form.addRow(_wrapped("Next appointment"), self.next_appt)

        self.sedation_scale = QComboBox()
        self.sedation_score = QComboBox()
        # The wording is long ("responds readily to name…"): keep the form narrow.
        self.sedation_score.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.sedation_score.setMinimumContentsLength(18)
        for key, scale in SEDATION_SCALES.items():
            self.sedation_scale.addItem(scale.name, key)
        self.sedation_scale.currentIndexChanged.connect(self._fill_sedation_scores)
        self._fill_sedation_scores()
        sed_row = QHBoxLayout()
        sed_row.addWidget(self.sedation_scale)
        sed_row.addWidget(self.sedation_score, 1)
        form.addRow("Sedation now", sed_row)
        self.sedation_saved = _saved_label()
        form.addRow("", self.sedation_saved)
        self.dissociation = ChoiceButtons()
        for text, value in (
            ("— not checked now", None),
            ("Resolved (clinician check)", True),
            ("Not resolved", False),
        ):
            self.dissociation.addItem(text, value)
        form.addRow(_wrapped("Dissociation now"), self.dissociation)
        self.dissociation_saved = _saved_label()
        form.addRow("", self.dissociation_saved)
        self._body.addWidget(questions)
        # The score sheets follow, one group each (filled by _show_sheets).
        self._sheet_boxes: list[QGroupBox] = []
        self._body.addStretch(1)
        lay.addWidget(_scrolled(body), 1)
        # What was loaded from the record: sedation and dissociation are saved again only when
        # the nurse changes them (each save is a new assessment with its own time).
        self._loaded_sedation: tuple[Any, Any] | None = None
        self._loaded_dissociation: bool | None = None

        buttons = QHBoxLayout()
        # Alt+letters are taken by the session view's actions and tabs: Ctrl+S saves here.
        self.save_btn = QPushButton("Save assessment (Ctrl+S)")
        self.save_btn.setMinimumHeight(36)
        self.save_btn.clicked.connect(self.on_save)
        save_key = QShortcut(QKeySequence.StandardKey.Save, self)
        save_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save_key.activated.connect(self._save_key)
        self.print_btn = QPushButton("Print instr&uction sheet…")
        self.print_btn.setMinimumHeight(36)
        self.print_btn.clicked.connect(self.on_print)
        buttons.addWidget(self.save_btn)
        buttons.addWidget(self.print_btn)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        return side

    def _criteria_side(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(2, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(QLabel("<b>Discharge criteria</b>"))
        self.criteria_table = QTableWidget(0, 4)
        self.criteria_table.setHorizontalHeaderLabels(["Criterion", "Result", "Why", "Evidence"])
        self.criteria_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.criteria_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.criteria_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.criteria_table.setWordWrap(True)
        header = self.criteria_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.criteria_table.setColumnWidth(0, 170)
        self.criteria_table.setColumnWidth(1, 85)
        self.criteria_table.setColumnWidth(3, 170)
        self.criteria_table.verticalHeader().setVisible(False)
        self.criteria_table.itemSelectionChanged.connect(self._update_enabled)
        self.criteria_table.setMinimumHeight(90)
        lay.addWidget(self.criteria_table, 3)

        row = QHBoxLayout()
        self.override_btn = QPushButton("Override selected criterion…")
        self.override_btn.clicked.connect(self.on_override)
        self.approve_btn = QPushButton("Approve disc&harge…")
        self.approve_btn.setMinimumHeight(40)
        self.approve_btn.clicked.connect(self.on_approve)
        row.addWidget(self.override_btn)
        row.addStretch(1)
        row.addWidget(self.approve_btn)
        lay.addLayout(row)
        self.approve_hint = QLabel()
        self.approve_hint.setWordWrap(True)
        self.approve_hint.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        lay.addWidget(self.approve_hint)
        lay.addWidget(QLabel("<b>Assessments this session</b>"))
        self.history = QListWidget()
        self.history.setMinimumHeight(44)
        lay.addWidget(self.history, 1)
        return w

    def _fill_sedation_scores(self) -> None:
        self.sedation_score.clear()
        self.sedation_score.addItem("— not rated now", None)
        scale = SEDATION_SCALES[self.sedation_scale.currentData()]
        for score, text in scale.choices():
            self.sedation_score.addItem(text, score)

    # ---------------------------------------------------------------- data

    def set_session(self, session_id: int | None) -> None:
        """Show another session (None clears); the form is loaded from what is stored."""
        self.session_id = session_id
        self.view = None
        self.refresh(reload_form=True)

    def _on_tick(self) -> None:
        # The countdown only matters on screen; a hidden tab refreshes on `changed` and on show.
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: Any) -> None:
        """Catch up when the tab is shown (the timer skips hidden tabs)."""
        super().showEvent(event)
        self.refresh()

    def refresh(self, reload_form: bool = False) -> None:
        """Re-read the status (every second and on every change); the form the nurse is filling
        is only reloaded when asked (new session, after a save)."""
        if self.session_id is None or self.station.signed_in is None or self.station.locked:
            self._update_enabled()
            return
        try:
            view = self.station.read(dc.get_discharge, self.session_id)
        except DomainError as exc:
            self.banner.setText(exc.message)
            return
        first = self.view is None
        self.view = view
        self._show_sheets(view, reload_form or first)
        if reload_form or first:
            self._load_answers(view)
            self.form_version = view.version  # what the form's answers are based on
        self._show_upright(view)
        self._show_status(view.status)
        self._show_history(view)
        self._update_enabled()

    def _show_sheets(self, view: dc.DischargeView, reload: bool) -> None:
        if reload or not self.sheet_forms:
            for box in self._sheet_boxes:
                self._body.removeWidget(box)
                box.deleteLater()
            self._sheet_boxes = []
            self.sheet_forms = {}
            for i, sheet in enumerate(view.sheets):
                form = _SheetForm(sheet)
                self.sheet_forms[sheet.scale] = form
                box = QGroupBox(sheet_title(sheet))
                QVBoxLayout(box).addWidget(form)
                self._sheet_boxes.append(box)
                self._body.insertWidget(1 + i, box)
            return
        for sheet in view.sheets:
            self.sheet_forms[sheet.scale].show_sheet(sheet, select=False)

    def _load_answers(self, view: dc.DischargeView) -> None:
        a = view.answers
        for key, combo in self.answer_combos.items():
            combo.setCurrentIndex(max(0, combo.findData(a.get(key))) if key in a else 0)
        screen = a.get("suicide_screen_positive")
        self.suicide_screen.setCurrentIndex(
            max(0, self.suicide_screen.findData(screen)) if screen is not None else 0
        )
        self.escort_name.setText(view.escort_name)
        self.escort_rel.setText(str(a.get("escort_relationship") or ""))
        self.next_appt.setText(str(a.get("next_appointment") or ""))
        # The latest sedation and dissociation checks stay shown, marked as saved (issue 18:
        # the pickers went blank after a save).
        tz = self.tz
        sedation = next((h for h in reversed(view.history) if h.kind == "sedation"), None)
        self._loaded_sedation = None
        self.sedation_score.setCurrentIndex(0)
        self.sedation_saved.setText("")
        if sedation is not None and sedation.score is not None:
            scale_key = next(
                (k for k, sc in SEDATION_SCALES.items() if sc.name == sedation.name), None
            )
            if scale_key is not None:
                self.sedation_scale.setCurrentIndex(
                    max(0, self.sedation_scale.findData(scale_key))
                )
                score = int(sedation.score)
                self.sedation_score.setCurrentIndex(max(0, self.sedation_score.findData(score)))
                self._loaded_sedation = (scale_key, score)
                self.sedation_saved.setText(
                    f"Saved {local_hm(sedation.at, tz)} by {sedation.by}: {sedation.detail}"
                )
        dissociation = next((h for h in reversed(view.history) if h.kind == "dissociation"), None)
        self._loaded_dissociation = None
        self.dissociation.setCurrentIndex(0)
        self.dissociation_saved.setText("")
        if dissociation is not None:
            resolved = {
                clinician_check(True).text: True,
                clinician_check(False).text: False,
            }.get(dissociation.detail)
            if resolved is not None:
                self.dissociation.setCurrentIndex(self.dissociation.findData(resolved))
                self._loaded_dissociation = resolved
            self.dissociation_saved.setText(
                f"Saved {local_hm(dissociation.at, tz)} by {dissociation.by}: {dissociation.detail}"
            )

    def _show_upright(self, view: dc.DischargeView) -> None:
        needed = bool(view.upright_required_by)
        label = self.answer_labels["upright_tolerated"]
        label.setText(
            f"Tolerates upright posture (after {', '.join(view.upright_required_by)})"
            if needed
            else dc.ANSWER_LABELS["upright_tolerated"]
        )
        label.setVisible(needed)
        self.answer_combos["upright_tolerated"].setVisible(needed)

    def _show_status(self, st: dc.DischargeStatus) -> None:
        if st.approval is not None:
            self.banner.setStyleSheet(DONE_STYLE)
            self.banner.setText(
                f"DISCHARGED — {st.approval.meaning} by {st.approval.by} at "
                f"{local_hm(st.approval.at, self.tz)}"
            )
        elif st.ready:
            self.banner.setStyleSheet(READY_STYLE)
            self.banner.setText("READY FOR DISCHARGE — every criterion is met or overridden.")
        else:
            n = len(st.failing)
            self.banner.setStyleSheet(NOT_READY_STYLE)
            head = f"NOT READY — {n} criteri{'on' if n == 1 else 'a'} not met"
            # A short list fits the banner; a long one is in the table below.
            if n <= 3:
                head += ": " + ", ".join(c.label for c in st.failing)
            self.banner.setText(head)
        self.obs_label.setText(self._observation_text(st))
        table = self.criteria_table
        selected = self.selected_criterion()
        table.setRowCount(len(st.criteria))
        for r, c in enumerate(st.criteria):
            if c.met:
                result = "✔ met"
            elif c.override is not None:
                result = "overridden"
            elif c.required:
                result = "✘ NOT MET"
            else:
                result = "– optional"
            why = c.reason
            if c.override is not None:
                at = local_hm(c.override.at, self.tz)
                why = f"{c.reason} Overridden by {c.override.by} at {at}: "
                why += c.override.reason
            cells = (c.label, result, why, c.evidence)
            for col, text in enumerate(cells):
                # Long evidence (the whole instruction text) is cut; the tooltip has all of it.
                short = text if len(text) <= CELL_MAX else text[: CELL_MAX - 1] + "…"
                item = QTableWidgetItem(short)
                item.setToolTip(text)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, c.id)
                if c.required and not c.satisfied:
                    item.setBackground(FAIL_BG)
                elif c.override is not None:
                    item.setBackground(OVERRIDE_BG)
                table.setItem(r, col, item)
            if c.id == selected:
                table.selectRow(r)
        table.resizeRowsToContents()

    def _observation_text(self, st: dc.DischargeStatus) -> str:
        if st.stopped_at is None:
            return (
                f"Observation ({st.min_observation_min} min minimum) starts when the infusion "
                "is stopped."
            )
        done = st.observation_complete_at
        assert done is not None
        now = self.station.ctx.now()
        head = (
            f"Observation: {st.min_observation_min} min minimum after the infusion stop at "
            f"{local_hm(st.stopped_at, self.tz)}"
        )
        if now < done:
            left = (done - now).total_seconds()
            return f"{head} — will have elapsed at {local_hm(done, self.tz)} ({until_words(left)})."
        return f"{head} — elapsed at {local_hm(done, self.tz)}."

    def _show_history(self, view: dc.DischargeView) -> None:
        self.history.clear()
        for a in reversed(view.history):
            self.history.addItem(f"{local_hm(a.at, self.tz)}  {a.name}: {a.detail}  — {a.by}")

    # ---------------------------------------------------------------- state of the buttons

    def selected_criterion(self) -> str | None:
        """Id of the criterion selected in the table."""
        rows = self.criteria_table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.criteria_table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _criterion(self, cid: str | None) -> dc.CriterionView | None:
        if self.view is None or cid is None:
            return None
        return next((c for c in self.view.status.criteria if c.id == cid), None)

    def _update_enabled(self) -> None:
        st = self.view.status if self.view is not None else None
        open_session = st is not None and not st.ended
        stopped = st is not None and st.stopped_at is not None
        self.save_btn.setEnabled(
            open_session and stopped and self.station.can("discharge_assessment")
        )
        self.print_btn.setEnabled(st is not None and self.station.can("view_session"))
        c = self._criterion(self.selected_criterion())
        self.override_btn.setEnabled(
            open_session
            and stopped
            and self.station.can("override_discharge")
            and c is not None
            and c.required
            and not c.satisfied
            and c.id != "observation_time"
        )
        can_approve = self.station.can("approve_discharge")
        ready = st is not None and st.ready
        self.approve_btn.setEnabled(open_session and can_approve and ready)
        self.approve_hint.setText(self._approve_hint(st, can_approve))

    def _approve_hint(self, st: dc.DischargeStatus | None, can_approve: bool) -> str:
        if st is None:
            return ""
        if st.approval is not None:
            at = local_hm(st.approval.at, self.tz)
            return f"{st.approval.meaning} by {st.approval.by} at {at}."
        lines = []
        if not can_approve:
            lines.append("Only a charge nurse may approve discharge.")
        if len(st.failing) > HINT_MAX:
            lines.append(
                f"Approval is possible when the {len(st.failing)} criteria marked ✘ NOT MET "
                "in the table are met."
            )
        elif st.failing:
            lines.append("Approval is possible when these are met:")
            lines += [f"• {c.label}: {c.reason}" for c in st.failing]
        elif can_approve:
            lines.append("Every criterion is met or overridden: ready for your approval.")
        return "\n".join(lines)

    # ---------------------------------------------------------------- actions

    def collect(self) -> dict[str, Any]:
        """What the nurse entered, as record_assessment keyword arguments."""
        scores = {
            scale: form.values()
            for scale, form in self.sheet_forms.items()
            if (form.required or form.touched) and form.values()
        }
        answers: dict[str, Any] = {}
        upright_asked = self.view is not None and bool(self.view.upright_required_by)
        for key, combo in self.answer_combos.items():
            if key == "upright_tolerated" and not upright_asked:
                continue
            if combo.currentData() is not None:
                answers[key] = combo.currentData()
        if self.suicide_screen.currentData() is not None:
            answers["suicide_screen_positive"] = self.suicide_screen.currentData()
        for key, edit in (
            ("escort_name", self.escort_name),
            ("escort_relationship", self.escort_rel),
            ("next_appointment", self.next_appt),
        ):
            if edit.text().strip():
                answers[key] = edit.text().strip()
        sedation = None
        if self.sedation_score.currentData() is not None:
            sedation = (self.sedation_scale.currentData(), self.sedation_score.currentData())
        if sedation == self._loaded_sedation:
            sedation = None  # shown as saved, not assessed again
        dissociation = self.dissociation.currentData()
        if dissociation is not None and dissociation == self._loaded_dissociation:
            dissociation = None
        return {
            "scores": scores,
            "answers": answers,
            "sedation": sedation,
            "dissociation_resolved": dissociation,
        }

    def _save_key(self) -> None:
        if self.save_btn.isEnabled():
            self.on_save()

    def on_save(self) -> None:
        """Store the assessment; on a refusal the form keeps everything typed."""
        if self.session_id is None:
            return
        try:
            self.station.write(
                dc.record_assessment,
                self.session_id,
                **self.collect(),
                expected_version=self.form_version,
            )
        except DomainError as exc:
            if exc.code == CHANGED_ELSEWHERE:
                # Saved meanwhile at another station: the status and history now show it, the
                # form keeps what this nurse entered; saving again is a decision made on it.
                self.form_version = getattr(exc, "current_version", None)
                self.refresh()
            show_refusal(self, exc, "Discharge assessment not saved")
            return
        self.refresh(reload_form=True)

    def on_override(self) -> None:
        """A charge nurse accepts the selected failing criterion with a written reason."""
        c = self._criterion(self.selected_criterion())
        if self.session_id is None or c is None:
            return
        reason = ask_text(self, "Override discharge criterion", f"Why accept: {c.label}?")
        if reason is None:
            return
        try:
            self.station.write(dc.override_criterion, self.session_id, c.id, reason)
        except DomainError as exc:
            show_refusal(self, exc, "Override not recorded")

    def on_approve(self) -> None:
        """Charge-nurse approval: the password is asked again; the session then ends."""
        if self.session_id is None or self.view is None:
            return
        password = ask_password(
            self,
            "Approve discharge",
            f"Approved for discharge: {self.view.patient_name}.\n"
            f"{self.station.actor.full_name}, enter your password to sign:",
        )
        if password is None:
            return
        try:
            self.station.write(dc.approve_discharge, self.session_id, password)
        except DomainError as exc:
            show_refusal(self, exc, "Discharge not approved")

    def on_print(self) -> None:
        """Print the patient's instruction sheet through the print dialog, rendered on a worker
        thread (no copy is written to disk unless the nurse chooses to print to a file)."""
        if self.session_id is None or self.view is None:
            return
        try:
            pdf = self.station.read(dc.instruction_sheet_pdf, self.session_id)
            printer = printing.prepare_printer(
                self, pdf, f"Discharge instructions — {self.view.patient_name}"
            )
        except DomainError as exc:
            show_refusal(self, exc, "Instruction sheet not printed")
            return
        if printer is None:
            return

        def failed(exc: Exception) -> None:
            message = (
                exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
            )
            show_refusal(
                self, DomainError("not_available", message), "Instruction sheet not printed"
            )
            self.sheet_printed.emit(0)

        printing.print_in_background(printer, pdf, self.sheet_printed.emit, failed)
