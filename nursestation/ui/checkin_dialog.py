"""Check-in: find or register the patient, the ordered protocol with a live dose calculation, and
the pre-infusion checklist. A refusal keeps everything typed."""

from __future__ import annotations

import math
from datetime import date, datetime, tzinfo
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import course_plan, patients, sessions
from nursestation.app.course_plan import LastVisit
from nursestation.app.patients import PatientInfo
from nursestation.app.spravato import check_in as spravato_check_in
from nursestation.app.spravato import config as spravato_config
from nursestation.dosing import DosingLimits, Protocol
from nursestation.errors import BAD_INPUT, CONFIRMATION_REQUIRED, DomainError
from nursestation.spravato import SESSION_TYPE as SPRAVATO
from nursestation.ui.feedback import confirm, show_refusal
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone
from nursestation.wording import date_hm, num, pregnancy_choices, session_type_label, wall_time_in


def _required(text: str, field: str, label: str, example: str) -> str:
    value = text.strip()
    if not value:
        raise DomainError(BAD_INPUT, f"{label} is required: enter it as {example}.", field=field)
    return value


def _parse_date(text: str, field: str, label: str) -> date:
    """A typed date (YYYY-MM-DD); empty or malformed is refused naming the field."""
    value = _required(text, field, label, "YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(
            BAD_INPUT, f"{label} '{value}' is not a date: enter it as YYYY-MM-DD.", field=field
        ) from None


def _parse_number(text: str, field: str, label: str) -> float:
    """A typed number (a decimal comma is accepted); empty or not a number is refused."""
    value = _required(text, field, label, "a number")
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise DomainError(BAD_INPUT, f"{label} '{value}' is not a number.", field=field)
    return number


def _parse_time(text: str, now: datetime, tz: tzinfo, field: str, label: str) -> datetime:
    """A time typed in the clinic's display zone `tz`: "HH:MM" (today there) or
    "YYYY-MM-DD HH:MM", as aware UTC."""
    value = _required(text, field, label, "HH:MM today or YYYY-MM-DD HH:MM")
    local_now = now.astimezone(tz)
    try:
        if len(value) <= 5:
            t = datetime.strptime(value, "%H:%M").time()
            when = datetime.combine(local_now.date(), t)
        else:
            when = datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        raise DomainError(
            BAD_INPUT,
            f"{label} '{value}' is not a time: enter HH:MM today or YYYY-MM-DD HH:MM.",
            field=field,
        ) from None
    return wall_time_in(when, tz)


class CheckInDialog(QDialog):
    """Seat a patient in a chair. `session_id` is set after a successful check-in."""

    def __init__(self, station: Station, chair: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.chair = chair
        self.session_id: int | None = None
        self.patient: PatientInfo | None = None
        self.setWindowTitle(f"Check in to chair {chair}")
        self.resize(1200, 640)
        limits = DosingLimits.from_settings(station.ctx.settings)
        proto = limits.default_protocol

        # Patient | order | checklist side by side: stacked, patient and order needed 813 px
        # (more than a 1366×768 screen) once the order gained its prescriber fields.
        root = QHBoxLayout(self)
        left = QVBoxLayout()
        middle = QVBoxLayout()
        right = QVBoxLayout()
        root.addLayout(left, 1)
        root.addLayout(middle, 1)
        root.addLayout(right, 1)

        # --- patient
        pbox = QGroupBox("Patient")
        pl = QVBoxLayout(pbox)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by MRN or name")
        self.search.textChanged.connect(self._search)
        self.results = QListWidget()
        self.results.itemSelectionChanged.connect(self._pick)
        pl.addWidget(self.search)
        pl.addWidget(self.results)
        new = QGroupBox("New patient")
        nf = QFormLayout(new)
        self.mrn = QLineEdit()
        self.name = QLineEdit()
        self.name.setPlaceholderText("Family, Given")
        # Date of birth and weight start empty (Convention 12): a date or weight nobody entered
        # would be taken for the patient's and would drive the dose.
        self.dob = QLineEdit()
        self.dob.setObjectName("dob")
        self.dob.setPlaceholderText("YYYY-MM-DD (required)")
        self.weight = QLineEdit()
        self.weight.setObjectName("weight")
        self.weight.setPlaceholderText("kg, measured (required)")
        self.allergies = QLineEdit()
        self.allergies.setPlaceholderText("comma separated, empty if none")
        self.sex = QComboBox()
        self.sex.addItems(["", "female", "male", "other"])
        self.repro = QCheckBox("Of reproductive potential")
        nf.addRow("MRN", self.mrn)
        nf.addRow("Name", self.name)
        nf.addRow("Date of birth", self.dob)
        nf.addRow("Weight", self.weight)
        nf.addRow("Allergies", self.allergies)
        nf.addRow("Sex", self.sex)
        nf.addRow("", self.repro)
        self.register_btn = QPushButton("Register patient")
        self.register_btn.clicked.connect(self.on_register)
        nf.addRow("", self.register_btn)
        pl.addWidget(new)
        self.chosen = QLabel("No patient chosen")
        self.chosen.setStyleSheet("font-weight: bold;")
        pl.addWidget(self.chosen)
        left.addWidget(pbox)

        # --- protocol
        obox = QGroupBox("Order")
        of = QFormLayout(obox)
        self.session_type = QComboBox()
        for key in station.ctx.settings.get("session.session_types"):
            self.session_type.addItem(session_type_label(key), key)  # words shown, key stored
        self.dose = self._spin(
            limits.dose_mg_per_kg.low, limits.dose_mg_per_kg.high, proto.dose_mg_per_kg, 2, " mg/kg"
        )
        self.duration = self._spin(
            limits.duration_min.low, limits.duration_min.high, proto.duration_min, 0, " min"
        )
        self.conc = self._spin(
            limits.concentration_mg_per_ml.low,
            limits.concentration_mg_per_ml.high,
            proto.concentration_mg_per_ml,
            2,
            " mg/mL",
        )
        self.lot = QLineEdit()
        self.calc = QLabel()
        self.calc.setWordWrap(True)
        self.calc.setStyleSheet("font-family: monospace;")
        for w in (self.dose, self.duration, self.conc):
            w.valueChanged.connect(self._update_calc)
        # Spravato (intranasal): the dose is 56 or 84 mg, nothing per kg, no rate, no IV; the
        # REMS enrolment is checked at check-in, the devices and their lots in the session view.
        self.spravato_dose = QComboBox()
        self.spravato_dose.addItem("", None)  # unanswered until the nurse picks the order
        for mg in spravato_config(station.ctx).doses_mg:
            self.spravato_dose.addItem(f"{mg} mg", mg)
        # Who ordered the treatment, the order as written and its date: optional, printed in
        # the note (issue 18); an order without its prescriber is refused by the use case.
        self.prescriber = QLineEdit()
        self.prescriber.setPlaceholderText("e.g. Dr. Mira Patel, MD")
        self.order_text = QLineEdit()
        self.order_text.setPlaceholderText("the order as written, e.g. 0.5 mg/kg IV over 40 min")
        self.order_date = QLineEdit()
        self.order_date.setPlaceholderText("YYYY-MM-DD")
        self.order_date.setMaxLength(10)
        of.addRow("Prescriber", self.prescriber)
        of.addRow("Order", self.order_text)
        of.addRow("Order date", self.order_date)
        # Today's weight (issue 16): the dose uses it; empty unless the chart's weight was
        # measured today (e.g. registered now), never the last visit's.
        self.today_weight = QLineEdit()
        self.today_weight.setObjectName("today_weight")
        self.today_weight.setPlaceholderText("kg, measured today (required)")
        self.today_weight.textChanged.connect(self._update_calc)
        of.addRow("Session type", self.session_type)
        of.addRow("Today's weight", self.today_weight)
        of.addRow("Dose", self.dose)
        of.addRow("Duration", self.duration)
        of.addRow("Concentration", self.conc)
        of.addRow("Ketamine lot", self.lot)
        of.addRow("Spravato dose", self.spravato_dose)
        of.addRow(self.calc)
        self.order_form = of
        middle.addWidget(obox)
        middle.addStretch(1)

        # --- checklist
        cbox = QGroupBox("Pre-infusion checklist")
        cf = QFormLayout(cbox)
        self.consent = QCheckBox("Consent confirmed for this session")
        self.identity = QCheckBox("Identity confirmed with two identifiers")
        # Fasting times start empty: the patient is asked, nothing is assumed.
        self.solids = QLineEdit()
        self.solids.setObjectName("last_solids_at")
        self.liquids = QLineEdit()
        self.liquids.setObjectName("last_clear_liquids_at")
        for fasting in (self.solids, self.liquids):
            fasting.setPlaceholderText("HH:MM today, or YYYY-MM-DD HH:MM (required)")
        self.escort_name = QLineEdit()
        self.escort_phone = QLineEdit()
        self.pregnancy = QComboBox()
        for text, key in pregnancy_choices():
            self.pregnancy.addItem(text, key)
        self.contra_screened = QCheckBox("Contraindications screened")
        self.contra = QLineEdit()
        self.contra.setPlaceholderText("findings, comma separated; empty if none")
        self.inter_screened = QCheckBox("Interacting medications screened")
        self.inter = QLineEdit()
        self.inter.setPlaceholderText("taken today, comma separated; empty if none")
        self.iv_site = QLineEdit()
        self.iv_gauge = QComboBox()
        self.iv_gauge.addItem("", None)  # unanswered until the nurse picks the cannula's gauge
        for g in range(14, 27):
            self.iv_gauge.addItem(f"{g} G", g)
        self.iv_patent = QCheckBox("IV patent")
        cf.addRow(self.consent)
        cf.addRow(self.identity)
        cf.addRow("Last solids", self.solids)
        cf.addRow("Last clear liquids", self.liquids)
        cf.addRow("Escort name", self.escort_name)
        cf.addRow("Escort phone", self.escort_phone)
        cf.addRow("Pregnancy screen", self.pregnancy)
        cf.addRow(self.contra_screened)
        cf.addRow("Contraindications", self.contra)
        cf.addRow(self.inter_screened)
        cf.addRow("Interacting meds", self.inter)
        cf.addRow("IV site", self.iv_site)
        cf.addRow("IV gauge", self.iv_gauge)
        cf.addRow(self.iv_patent)
        self.checklist_form = cf
        right.addWidget(cbox)
        # From the last visit (issue 16): offered, never filled in until the nurse ticks a field.
        self.last_box = QGroupBox("From the last visit — tick each value to use it")
        self.last_form = QFormLayout(self.last_box)
        self.last_visit: LastVisit | None = None
        self.carry: dict[str, QCheckBox] = {}
        self.last_box.setVisible(False)
        middle.insertWidget(middle.count() - 1, self.last_box)  # under the order, above the stretch
        note = QLabel("Baseline vitals are recorded in the session view before the start.")
        note.setWordWrap(True)
        right.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.checkin_btn = buttons.addButton("Check in", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_check_in)
        buttons.rejected.connect(self.reject)
        right.addWidget(buttons)
        self._search("")
        self._update_calc()
        self.session_type.currentIndexChanged.connect(self._type_changed)
        self._type_changed()

    def is_spravato(self) -> bool:
        """True when the Spravato session type is chosen."""
        return self.session_type.currentData() == SPRAVATO

    def _type_changed(self, *_: object) -> None:
        sp = self.is_spravato()
        order: tuple[QWidget, ...] = (self.dose, self.duration, self.conc, self.lot)
        for w in order:
            self.order_form.setRowVisible(w, not sp)
        self.order_form.setRowVisible(self.spravato_dose, sp)
        self.calc.setVisible(not sp)
        self.order_form.setRowVisible(self.today_weight, not sp)  # a fixed dose in mg
        iv: tuple[QWidget, ...] = (self.iv_site, self.iv_gauge, self.iv_patent)
        for w in iv:
            self.checklist_form.setRowVisible(w, not sp)

    @staticmethod
    def _spin(lo: float, hi: float, value: float, decimals: int, suffix: str) -> QDoubleSpinBox:
        w = QDoubleSpinBox()
        w.setDecimals(decimals)
        w.setRange(lo, hi)
        w.setValue(value)
        w.setSuffix(suffix)
        return w

    # ---------------------------------------------------------------- patient

    def _search(self, text: str) -> None:
        self.results.clear()
        try:
            found = self.station.read(patients.find_patients, text)
        except DomainError:
            return
        for p in found:
            item = QListWidgetItem(f"{p.name} · {p.mrn} · {p.dob:%Y-%m-%d} · {p.weight_kg:g} kg")
            item.setData(Qt.ItemDataRole.UserRole, p.mrn)
            self.results.addItem(item)

    def _pick(self) -> None:
        items = self.results.selectedItems()
        if not items:
            return
        mrn = items[0].data(Qt.ItemDataRole.UserRole)
        self.patient = self.station.read(patients.get_patient, mrn)
        self._show_patient()

    def _show_patient(self) -> None:
        p = self.patient
        if p is None:
            return
        allergies = "; ".join(a.text() for a in p.allergy_details) or "NKA"
        self.chosen.setText(
            f"{p.name} · MRN {p.mrn} · chart {p.weight_kg:g} kg (weighed "
            f"{p.weight_date:%Y-%m-%d}) · allergies: {allergies}"
        )
        if p.reproductive_potential is False:
            self.pregnancy.setCurrentIndex(self.pregnancy.findData("not_applicable"))
        tz = clinic_zone(self.station.ctx)
        today = self.station.ctx.now().astimezone(tz).date()
        self.today_weight.clear()
        if p.weight_measured and p.weight_date == today:
            self.today_weight.setText(num(p.weight_kg))  # measured today: today's weight
        self._show_last_visit()
        self._update_calc()

    # ---------------------------------------------------------------- from the last visit

    def _show_last_visit(self) -> None:
        while self.last_form.rowCount():
            self.last_form.removeRow(0)
        self.carry = {}
        self.last_visit = None
        if self.patient is None:
            self.last_box.setVisible(False)
            return
        try:
            last = self.station.read(course_plan.last_visit, self.patient.mrn)
        except DomainError:
            last = None
        self.last_visit = last
        self.last_box.setVisible(last is not None)
        if last is None:
            return
        tz = clinic_zone(self.station.ctx)
        self.last_form.addRow(QLabel(f"Session of {date_hm(last.checked_in_at, tz)}"))
        offers: list[tuple[str, str]] = []
        if last.session_type != SPRAVATO:
            offers.append(
                (
                    "protocol",
                    f"{num(last.dose_mg_per_kg)} mg/kg over {num(last.duration_min)} min at "
                    f"{num(last.concentration_mg_per_ml)} mg/mL",
                )
            )
        labels = {
            "escort_name": "Escort name",
            "escort_phone": "Escort phone",
            "iv_site": "IV site",
            "iv_gauge": "IV gauge",
        }
        for key, label in labels.items():
            if key in last.values:
                value = last.values[key]
                offers.append(
                    (key, f"{label}: {value} G" if key == "iv_gauge" else f"{label}: {value}")
                )
        for key, text in offers:
            box = QCheckBox(f"Use {text}")
            box.setObjectName(f"carry-{key}")
            box.toggled.connect(lambda on, k=key: self._carry(k, on))
            self.carry[key] = box
            self.last_form.addRow(box)

    def _carry(self, key: str, on: bool) -> None:
        """The nurse ticked (or unticked) one value of the last visit: fill its field. Unticking
        leaves what is in the field (it may have been corrected since)."""
        last = self.last_visit
        if last is None or not on:
            return
        if key == "protocol":
            self.dose.setValue(last.dose_mg_per_kg)
            self.duration.setValue(last.duration_min)
            self.conc.setValue(last.concentration_mg_per_ml)
        elif key == "iv_gauge":
            self.iv_gauge.setCurrentIndex(self.iv_gauge.findData(int(last.values[key])))
        else:
            self._carry_edit(key).setText(str(last.values[key]))

    def _carry_edit(self, key: str) -> QLineEdit:
        """The text field a carried-over checklist answer goes into."""
        edits = {
            "escort_name": self.escort_name,
            "escort_phone": self.escort_phone,
            "iv_site": self.iv_site,
        }
        return edits[key]

    def carried_over(self) -> list[str]:
        """The fields the nurse confirmed from the last visit (ticked and still as offered)."""
        last = self.last_visit
        if last is None:
            return []
        out = []
        for key, box in self.carry.items():
            if not box.isChecked():
                continue
            if key == "protocol":
                same = (self.dose.value(), self.duration.value(), self.conc.value()) == (
                    last.dose_mg_per_kg,
                    last.duration_min,
                    last.concentration_mg_per_ml,
                )
            elif key == "iv_gauge":
                same = self.iv_gauge.currentData() == last.values.get(key)
            else:
                same = self._carry_edit(key).text().strip() == str(last.values.get(key))
            if same:
                out.append(key)
        return out

    def on_register(self) -> None:
        """Register the new patient typed on the left and choose them (an empty or malformed
        date of birth or weight is refused naming the field; everything typed stays)."""
        try:
            dob = _parse_date(self.dob.text(), "dob", "Date of birth")
            weight = _parse_number(self.weight.text(), "weight_kg", "Weight")
            self.patient = self.station.write(
                patients.register_patient,
                mrn=self.mrn.text(),
                name=self.name.text(),
                dob=dob,
                weight_kg=weight,
                allergies=[a for a in self.allergies.text().split(",") if a.strip()],
                sex=self.sex.currentText() or None,
                reproductive_potential=self.repro.isChecked() if self.sex.currentText() else None,
            )
        except DomainError as exc:
            show_refusal(self, exc)
            return
        self._search(self.patient.mrn)
        self._show_patient()

    # ---------------------------------------------------------------- order

    def protocol(self) -> Protocol:
        """The order as typed."""
        return Protocol(self.dose.value(), self.duration.value(), self.conc.value())

    def weight_today(self) -> float:
        """Today's weight as typed; empty or not a number is refused naming the field."""
        return _parse_number(self.today_weight.text(), "weight_kg", "Today's weight")

    def _update_calc(self, *_: object) -> None:
        if self.patient is None:
            self.calc.setText("Choose a patient to see the dose calculation.")
            return
        if not self.today_weight.text().strip():
            self.calc.setText("Enter today's weight to see the dose calculation.")
            return
        try:
            calc = sessions.preview_dose(self.station.ctx, self.weight_today(), self.protocol())
            self.calc.setText("\n".join(calc.lines()))
        except DomainError as exc:
            self.calc.setText(exc.message)

    def answers(self) -> dict[str, Any]:
        """The checklist answers as typed (unanswered items stay out: an unticked box is not a
        "no" nobody said). A malformed or missing fasting time is refused naming the field."""
        now = self.station.ctx.now()
        tz = clinic_zone(self.station.ctx)
        a: dict[str, Any] = {
            "last_solids_at": _parse_time(
                self.solids.text(), now, tz, "last_solids_at", "Last solids"
            ).isoformat(),
            "last_clear_liquids_at": _parse_time(
                self.liquids.text(), now, tz, "last_clear_liquids_at", "Last clear liquids"
            ).isoformat(),
            "contraindications": [x.strip() for x in self.contra.text().split(",") if x.strip()],
            "interacting_medications": [
                x.strip() for x in self.inter.text().split(",") if x.strip()
            ],
        }
        for key, box in (
            ("consent_confirmed", self.consent),
            ("identity_two_identifiers", self.identity),
            ("contraindications_screened", self.contra_screened),
            ("interacting_medications_screened", self.inter_screened),
            ("iv_patent", self.iv_patent),
        ):
            if box.isChecked():
                a[key] = True
        if self.iv_gauge.currentData() is not None:
            a["iv_gauge"] = int(self.iv_gauge.currentData())
        for key, w in (
            ("escort_name", self.escort_name),
            ("escort_phone", self.escort_phone),
            ("iv_site", self.iv_site),
        ):
            if w.text().strip():
                a[key] = w.text().strip()
        if self.pregnancy.currentData():
            a["pregnancy_screen"] = self.pregnancy.currentData()
        return a

    def order(self) -> dict[str, str | None]:
        """The prescriber, order and order date as typed (empty is None; checked by the use
        case, whose message names the field)."""
        return {
            "prescriber": self.prescriber.text().strip() or None,
            "order_text": self.order_text.text().strip() or None,
            "order_date": self.order_date.text().strip() or None,
        }

    def on_check_in(self) -> None:
        """Check in; on refusal the dialog stays open with everything typed."""
        if self.patient is None:
            show_refusal(self, DomainError("bad_input", "Choose or register a patient first."))
            return
        try:
            checklist = self.answers()
            if self.is_spravato():
                for key in ("iv_site", "iv_gauge", "iv_patent"):
                    checklist.pop(key, None)  # hidden for a nasal spray: never sent
                summary = self.station.write(
                    spravato_check_in,
                    mrn=self.patient.mrn,
                    chair=self.chair,
                    dose_mg=self.spravato_dose.currentData(),
                    checklist=checklist,
                    **self.order(),
                )
                self.session_id = summary.id
                self.accept()
                return
            args: dict[str, Any] = {
                "mrn": self.patient.mrn,
                "chair": self.chair,
                "protocol": self.protocol(),
                "checklist": checklist,
                "session_type": str(self.session_type.currentData()),
                "ketamine_lot": self.lot.text().strip() or None,
                **self.order(),
                "weight_kg": self.weight_today(),
                "carried_over": self.carried_over(),
            }
            try:
                summary = self.station.write(sessions.check_in, **args)
            except DomainError as exc:
                if exc.code != CONFIRMATION_REQUIRED or exc.field != "weight_kg":
                    raise
                # Over the clinic's change limit: the nurse re-checks the scale and confirms.
                if not confirm(self, "Confirm today's weight", exc.message):
                    return
                summary = self.station.write(sessions.check_in, **args, confirm_weight_change=True)
        except DomainError as exc:
            show_refusal(self, exc)
            return
        self.session_id = summary.id
        self.accept()
