"""Export signed notes (administrators): filter, formats, destination, then a background export
with a progress bar and Cancel. The service writes into a temporary folder and moves it into
place at the end, so Cancel (or an error) leaves nothing behind."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QObject, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nursestation.app.context import Actor, AppContext
from nursestation.app.export import (
    FORMATS,
    STATUS_HELP,
    STATUSES,
    ExportFilter,
    ExportResult,
    export_notes,
)
from nursestation.app.record import clinic_zone
from nursestation.errors import DomainError
from nursestation.ui.feedback import show_refusal
from nursestation.ui.station import Station

OK_STYLE = "background:#dcefdc; color:#1b5e20; padding:4px;"
BAD_STYLE = "background:#fde2e1; color:#b71c1c; padding:4px;"
INFO_STYLE = "background:#ececec; color:#333; padding:4px;"
_FORMAT_LABELS = {"pdf": "Signed PDFs", "csv": "CSV (one row per session)", "fhir": "FHIR R4 JSON"}


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class ExportWorker(QObject):
    """Runs `export_notes` on a QThread; signals arrive on the GUI thread."""

    progressed = Signal(int, int)
    done = Signal(object)  # ExportResult
    failed = Signal(object)  # Exception

    def __init__(self, ctx: AppContext, actor: Actor, args: dict[str, Any]) -> None:
        super().__init__()
        self.ctx, self.actor, self.args = ctx, actor, args
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the export to stop at the next session (thread-safe)."""
        self._cancel.set()

    def _progress(self, done: int, total: int) -> bool:
        self.progressed.emit(done, total)
        return not self._cancel.is_set()

    def run(self) -> None:
        """The export itself (worker thread)."""
        try:
            result = export_notes(self.ctx, self.actor, progress=self._progress, **self.args)
        except Exception as exc:  # shown on the GUI thread as one sentence
            self.failed.emit(exc)
        else:
            self.done.emit(result)


class ExportDialog(QDialog):
    """The administrator's export screen. `last_export` holds the last finished export
    (`result()` stays QDialog's accept/reject code)."""

    export_finished = Signal(object)  # ExportResult, or the exception that stopped it

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.last_export: ExportResult | None = None
        self._thread: QThread | None = None
        self._worker: ExportWorker | None = None
        self.setWindowTitle("Export signed notes")
        self.resize(640, 520)
        today = station.ctx.now().astimezone(clinic_zone(station.ctx)).date()

        filters = QGroupBox("Which notes")
        form = QFormLayout(filters)
        self.date_from = QDateEdit(_qdate(today.replace(day=1)))
        self.date_to = QDateEdit(_qdate(today))
        for w in (self.date_from, self.date_to):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        form.addRow("Session dates", dates)
        self.mrn = QLineEdit()
        self.mrn.setPlaceholderText("any patient (exact MRN)")
        form.addRow("Patient MRN", self.mrn)
        self.chair = QComboBox()
        self.chair.addItem("any chair", None)
        for c in station.ctx.settings.get("general.chairs") or []:
            self.chair.addItem(f"Chair {c}", str(c))
        form.addRow("Chair", self.chair)
        self.signer = QLineEdit()
        self.signer.setPlaceholderText("anyone (user name or full name)")
        form.addRow("Signed by", self.signer)
        self.status = QComboBox()
        self.status.addItem("any status", None)
        for st in STATUSES:
            self.status.addItem(f"{st} — {STATUS_HELP[st]}", st)
        form.addRow("Status", self.status)

        what = QGroupBox("Formats")
        wl = QVBoxLayout(what)
        self.format_boxes: dict[str, QCheckBox] = {}
        for f in FORMATS:
            box = QCheckBox(_FORMAT_LABELS[f])
            box.setChecked(True)
            self.format_boxes[f] = box
            wl.addWidget(box)
        self.include_failed = QCheckBox(
            "Also include notes that fail signature verification (marked in the manifest)"
        )
        wl.addWidget(self.include_failed)

        where = QHBoxLayout()
        self.destination = QLineEdit()
        self.destination.setPlaceholderText("a new folder, e.g. /exports/notes-2026-03")
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self.browse)
        where.addWidget(self.destination, 1)
        where.addWidget(self.browse_button)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.export_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addWidget(filters)
        layout.addWidget(what)
        layout.addWidget(QLabel("Destination folder (must be new or empty)"))
        layout.addLayout(where)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self._field_widgets: dict[str, QWidget] = {
            "from": self.date_from, "to": self.date_to, "status": self.status,
            "format": self.format_boxes["pdf"], "out": self.destination,
        }  # fmt: skip
        if not station.can("export_notes"):
            self.export_button.setEnabled(False)
            self._say("Only an administrator can export notes.", BAD_STYLE)

    # ------------------------------------------------------------ form

    def _say(self, text: str, style: str = INFO_STYLE) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(style)

    def browse(self) -> None:
        """Pick the parent folder; the export gets a new folder named after the date range."""
        parent = QFileDialog.getExistingDirectory(self, "Export into which folder?")
        if parent:
            name = f"notes-export_{_pydate(self.date_from.date())}_{_pydate(self.date_to.date())}"
            self.destination.setText(str(Path(parent) / name))

    def chosen_formats(self) -> tuple[str, ...]:
        """The ticked formats in canonical order."""
        return tuple(f for f in FORMATS if self.format_boxes[f].isChecked())

    def export_args(self) -> dict[str, Any]:
        """The service arguments from the form (bad_input names the field)."""
        flt = ExportFilter(
            _pydate(self.date_from.date()),
            _pydate(self.date_to.date()),
            mrn=self.mrn.text().strip() or None,
            chair=self.chair.currentData(),
            signer=self.signer.text().strip() or None,
            status=self.status.currentData(),
        )
        dest = self.destination.text().strip()
        if not dest:
            raise DomainError("bad_input", "Choose a destination folder.", field="out")
        return {
            "flt": flt,
            "out_dir": dest,
            "formats": self.chosen_formats(),
            "include_failed": self.include_failed.isChecked(),
        }

    # ------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        """True while an export runs in the background."""
        return self._thread is not None

    def start(self) -> None:
        """Validate the form and start the export off the GUI thread."""
        if self.running:
            return
        try:
            actor = self.station.actor
            self.station.ctx.require(actor, "export_notes")
            args = self.export_args()
            from nursestation.app.export import parse_formats

            parse_formats(args["formats"])
        except DomainError as exc:
            self._refused(exc)
            return
        worker = ExportWorker(self.station.ctx, actor, args)
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progressed.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker = thread, worker
        self._set_running(True)
        self._say("Exporting… every note is verified before it is written.")
        thread.start()

    def cancel(self) -> None:
        """Stop the running export; nothing it wrote is kept."""
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…")

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(True)
        if running:
            self.progress.setRange(0, 0)  # busy until the first progress report
        for w in (self.export_button, self.browse_button, self.destination):
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done if total else 1)
        self.progress.setFormat(f"{done} of {total} sessions")

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._thread, self._worker = None, None
        self._set_running(False)

    def _on_done(self, result: ExportResult) -> None:
        self._stop_thread()
        self.last_export = result
        if result.cancelled:
            self.progress.setValue(0)
        self._say(result.summary(), OK_STYLE if result.ok else BAD_STYLE)
        self.export_finished.emit(result)

    def _on_failed(self, exc: Exception) -> None:
        self._stop_thread()
        self.progress.setValue(0)
        self._refused(exc)
        self.export_finished.emit(exc)

    def _refused(self, exc: Exception) -> None:
        if not isinstance(exc, DomainError):
            exc = DomainError("error", f"The export failed and nothing was written: {exc}")
        self._say(exc.message, BAD_STYLE)
        widget = self._field_widgets.get(exc.field or "")
        if widget is not None:
            widget.setFocus()
        show_refusal(self, exc, "Not exported")

    def reject(self) -> None:
        """Closing while an export runs cancels it first (nothing half-written stays)."""
        if self._worker is not None:
            self._worker.cancel()
            if self._thread is not None:
                self._thread.quit()
                self._thread.wait()
        super().reject()
