"""The note tab of the session view: preview the session note, sign it (password re-asked), add a
signed addendum, open the signed PDF, and see whether its signatures verify.

Rendering, signing and verifying take from a tenth of a second to a few seconds, so they run on
QThreadPool workers; the GUI thread only shows results.

Preview decision: PySide6-Essentials has no QtPdf, so pages are rasterised with poppler's
`pdftoppm` (the same bytes the nurse is about to sign, exactly as printed) when it is installed,
and shown in a page view with zoom (ui.page_view: fit width, −, +); without pdftoppm the preview
shows the note's text extracted with pypdf, which still lets the nurse read every section before
signing. Pages pass to and from pdftoppm through pipes (ui.printing), so the preview writes no
copy of the note to disk. "Print note…" prints the signed note through the Qt print dialog.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import notes
from nursestation.errors import DomainError
from nursestation.ui import printing
from nursestation.ui.feedback import ask_password, show_refusal
from nursestation.ui.note_reader import ReaderHost
from nursestation.ui.page_view import RENDER_DPI, PageView
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone, local_hm

if TYPE_CHECKING:
    from nursestation.ui.note_reader import NoteReader

OK_STYLE = "background:#dcefdc; color:#1b5e20; font-weight:bold; padding:4px;"
BAD_STYLE = "background:#fde2e1; color:#b71c1c; font-weight:bold; padding:4px;"
INFO_STYLE = "background:#ececec; color:#333; padding:4px;"
READ_TEXT = "⤢ Read in &full view"


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    """Runs `fn()` on a pool thread; `done(result)` or `failed(exception)` on the GUI thread."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # delivered to the GUI thread, shown there
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


def pdf_pages_as_images(pdf: bytes, dpi: int = RENDER_DPI) -> list[QImage] | None:
    """Every page of `pdf` as a QImage (on a worker thread), or None when pdftoppm is not
    installed. Nothing is written to disk (ui.printing.render_pages uses pipes)."""
    if not printing.pdftoppm_available():
        return None
    return printing.render_pages(pdf, dpi)


def pdf_text(pdf: bytes) -> str:
    """The note's text, page by page (the preview without pdftoppm)."""
    from io import BytesIO

    from pypdf import PdfReader

    pages = PdfReader(BytesIO(pdf)).pages
    return "\n\n".join(
        f"— page {i} of {len(pages)} —\n{p.extract_text()}" for i, p in enumerate(pages, 1)
    )


class NotePanel(QWidget):
    """Preview, sign, addendum, open and verification status of one session's note."""

    busy_changed = Signal(bool)
    job_finished = Signal(str)  # "preview", "sign", "addendum", "verify": for tests and the lead

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.session_id: int | None = None
        self.latest: notes.NoteInfo | None = None
        self._jobs: set[_Job] = set()
        self._busy = False
        self._verified_sha: str | None = None
        self._generation = 0  # results of a previous session are dropped
        self._worker_started = False

        self.status = QLabel("No session selected.")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(INFO_STYLE)
        self.verify_label = QLabel("")
        self.verify_label.setWordWrap(True)

        self.preview_btn = QPushButton("Preview note")
        # The tab leaves the pages about 175 px at 1366×768: the reading view gives them the
        # session view's height under the alarm band (ui/note_reader.py).
        self.read_btn = QPushButton(READ_TEXT)
        self.read_btn.setToolTip(
            "Read the note at full height; the chair's alarms stay in view. Esc returns."
        )
        self.reader: NoteReader | None = None  # built on first use
        self.sign_btn = QPushButton("Sign note…")
        self.open_btn = QPushButton("Open signed note")
        self.print_btn = QPushButton("Print note…")
        self.print_btn.setToolTip("Print the signed note (the print dialog; no copy is kept)")
        self.verify_btn = QPushButton("Verify again")
        buttons = QHBoxLayout()
        # The addendum form opens on demand: kept open it takes a third of a 768 px screen
        # from the preview.
        self.addendum_toggle = QPushButton("A&ddendum…")
        self.addendum_toggle.setCheckable(True)
        self.addendum_toggle.setToolTip("Add a signed late entry to the signed note")
        for b in (
            self.preview_btn,
            self.read_btn,
            self.sign_btn,
            self.open_btn,
            self.print_btn,
            self.verify_btn,
            self.addendum_toggle,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.addendum_box = QGroupBox("Addendum (late entry after signing)")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("e.g. Late entry, correction of …")
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText("What is added to the record, with the original time")
        self.text_edit.setFixedHeight(70)
        self.addendum_btn = QPushButton("Sign addendum…")
        form = QFormLayout(self.addendum_box)
        form.addRow("Reason", self.reason_edit)
        form.addRow("Entry", self.text_edit)
        form.addRow("", self.addendum_btn)

        self.preview_info = QLabel("Press “Preview note” to see the note before signing.")
        self.page_view = PageView()
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        self.preview_text.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.verify_label)
        layout.addLayout(buttons)
        layout.addWidget(self.addendum_box)
        layout.addWidget(self.preview_info)
        layout.addWidget(self.page_view, 1)
        layout.addWidget(self.preview_text, 1)

        self.preview_btn.clicked.connect(self.preview)
        self.read_btn.clicked.connect(self.open_reader)
        self.sign_btn.clicked.connect(self.sign)
        self.open_btn.clicked.connect(self.open_signed)
        self.print_btn.clicked.connect(self.print_note)
        self.verify_btn.clicked.connect(lambda: self._verify(force=True))
        self.addendum_btn.clicked.connect(self.add_addendum)
        self.addendum_toggle.toggled.connect(self._addendum_toggled)
        station.changed.connect(self.refresh)
        self.refresh()

    @property
    def tz(self) -> tzinfo:
        """The clinic's display zone: every time on this panel is shown in it."""
        return clinic_zone(self.station.ctx)

    def showEvent(self, event: QShowEvent) -> None:
        """The first time the panel is shown, start the signing process in the background, so
        the nurse's first signature does not wait for its imports."""
        if not self._worker_started:
            self._worker_started = True
            from nursestation.report import worker

            worker.warm_up()
        super().showEvent(event)

    # ------------------------------------------------------------ state

    def set_session(self, session_id: int | None) -> None:
        """Show the note of `session_id` (None clears the panel)."""
        if session_id != self.session_id:
            self.close_reader()
            self._generation += 1
            self._verified_sha = None
            self._clear_preview()
            self.reason_edit.clear()
            self.text_edit.clear()
            self.addendum_toggle.setChecked(False)
        self.session_id = session_id
        self.refresh()

    def refresh(self) -> None:
        """Re-read the stored note; verify it in the background when its bytes changed."""
        self.latest = None
        if self.session_id is not None and self.station.can("view_note"):
            try:
                self.latest = self.station.read(notes.latest_note, self.session_id)
            except DomainError as exc:
                self.status.setText(exc.message)
        self._show_status()
        self._update_buttons()
        if self.latest is not None and self.latest.sha256 != self._verified_sha:
            self._verify()

    def _show_status(self) -> None:
        n = self.latest
        if self.session_id is None:
            self.status.setText("No session selected.")
        elif n is None:
            self.status.setText("Not signed yet. Preview the note, then sign it.")
            self.verify_label.setText("")
            self.verify_label.setStyleSheet("")
            self.verify_label.hide()  # an empty line would take height from the preview
        else:
            text = (
                f"Note {n.label} version {n.version}: signed by {n.signed_by} at "
                f"{local_hm(n.signed_at, self.tz)}"
            )
            if n.countersigned_by:
                text += (
                    f"; approved for discharge by {n.countersigned_by} at "
                    f"{local_hm(n.countersigned_at, self.tz)}"
                )
            if n.addendum_reason:
                text += f". Addendum: {n.addendum_reason}"
            self.status.setText(text + ".")
        self.status.setStyleSheet(INFO_STYLE)

    def _update_buttons(self) -> None:
        has_session = self.session_id is not None and not self._busy
        signed = self.latest is not None
        self.preview_btn.setEnabled(has_session and self.station.can("view_session"))
        self.read_btn.setEnabled(bool(self.page_view.images()))
        self.sign_btn.setEnabled(has_session and not signed and self.station.can("sign_note"))
        self.open_btn.setEnabled(has_session and signed)
        self.print_btn.setEnabled(has_session and signed)
        self.verify_btn.setEnabled(has_session and signed)
        may_add = has_session and signed and self.station.can("add_addendum")
        self.addendum_box.setEnabled(may_add)
        self.addendum_toggle.setEnabled(may_add)
        self.addendum_box.setVisible(signed and self.addendum_toggle.isChecked())

    def _addendum_toggled(self, shown: bool) -> None:
        self._update_buttons()
        if shown:
            self.reason_edit.setFocus()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()
        self.busy_changed.emit(busy)

    # ------------------------------------------------------------ background work

    def _run(
        self,
        kind: str,
        fn: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[Exception], None] | None = None,
        busy: bool = True,
    ) -> None:
        job = _Job(fn)
        generation = self._generation
        self._jobs.add(job)

        def finish(result: Any, ok: bool) -> None:
            self._jobs.discard(job)
            if busy:
                self._set_busy(False)
            if generation == self._generation:  # the nurse has not switched sessions meanwhile
                if ok:
                    done(result)
                elif failed is not None:
                    failed(result)
                else:
                    self._refused(result)
            self.job_finished.emit(kind)

        job.signals.done.connect(lambda r: finish(r, True))
        job.signals.failed.connect(lambda e: finish(e, False))
        if busy:
            self._set_busy(True)
        QThreadPool.globalInstance().start(job)

    def _refused(self, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            show_refusal(self, exc, "Not signed")
        else:
            show_refusal(self, DomainError("error", f"{type(exc).__name__}: {exc}"), "Error")

    # ------------------------------------------------------------ preview

    def preview(self) -> None:
        """Render the unsigned note in the background and show its pages."""
        if self.session_id is None:
            return
        ctx, actor, sid = self.station.ctx, self.station.actor, self.session_id

        def work() -> tuple[list[QImage] | None, str]:
            pdf = notes.preview_note(ctx, actor, sid)
            pages = pdf_pages_as_images(pdf)
            return pages, "" if pages is not None else pdf_text(pdf)

        self.preview_info.setText("Rendering the note…")
        self._run("preview", work, self._show_preview)

    def _clear_preview(self) -> None:
        self.page_view.clear()
        self.preview_text.clear()
        self._update_buttons()

    def _show_preview(self, result: tuple[list[QImage] | None, str]) -> None:
        pages, text = result
        self._clear_preview()
        if pages is None:
            self.page_view.hide()
            self.preview_text.show()
            self.preview_text.setPlainText(text)
            self.preview_info.setText("Preview (text only: pdftoppm is not installed).")
            return
        self.preview_text.hide()
        self.page_view.show()
        self.page_view.set_pages(pages)
        self._update_buttons()
        self._set_info(
            f"Preview of the note as it will be signed: {len(pages)} page(s). Not yet signed."
        )

    def _set_info(self, text: str) -> None:
        """The line above the pages, repeated in the reading view (new pages shown there)."""
        self.preview_info.setText(text)
        if self.reader is not None and self.reader.isVisible():
            self.reader.show_pages(self.page_view.images(), text)

    # ------------------------------------------------------------ reading view

    def open_reader(self) -> None:
        """The pages at full height (ui/note_reader.py): in the session view, in place of
        everything under the alarm band; a panel on its own opens it as a window."""
        images = self.page_view.images()
        if not images:
            return
        if self.reader is None:
            from nursestation.ui.note_reader import NoteReader

            self.reader = NoteReader()
            self.reader.back_requested.connect(self.close_reader)
        # On screen first, then the pages: they are fitted to the width the reader has there
        # (pages laid out in a hidden widget kept their old height, cut top and bottom).
        host = self._reading_host()
        if host is not None:
            host.show_reader(self.reader)
        else:
            self.reader.setWindowTitle("Session note")
            self.reader.setParent(self.window(), Qt.WindowType.Window)
            self.reader.resize(self.window().size())
            self.reader.show()
            self.reader.page_view.scroll_area.setFocus()
        self.reader.show_pages(images, self.preview_info.text())

    def close_reader(self) -> None:
        """Back from the reading view to the note tab; nothing else changes."""
        reader = self.reader
        if reader is None or not reader.isVisible():
            return
        host = self._reading_host()
        if host is not None and host.reader is reader:
            host.close_reader()
        else:
            reader.hide()
        if self.read_btn.isVisible():
            self.read_btn.setFocus()

    def _reading_host(self) -> ReaderHost | None:
        """The session view this panel is in (it hosts the reader), or None on its own."""
        w = self.parentWidget()
        while w is not None:
            if isinstance(w, ReaderHost):
                return w
            w = w.parentWidget()
        return None

    # ------------------------------------------------------------ sign and addendum

    def sign(self) -> None:
        """Ask the password again, then sign in the background."""
        if self.session_id is None:
            return
        password = ask_password(
            self, "Sign session note", "Your password, to sign the note as documented by you:"
        )
        if password is None:
            return
        ctx, actor, sid = self.station.ctx, self.station.actor, self.session_id
        self._run("sign", lambda: notes.sign_note(ctx, actor, sid, password), self._after_signing)

    def add_addendum(self) -> None:
        """Sign the typed addendum; on a refusal the reason and text stay in their fields."""
        if self.session_id is None:
            return
        reason, text = self.reason_edit.text().strip(), self.text_edit.toPlainText().strip()
        if not reason or not text:
            missing = "reason" if not reason else "text"
            show_refusal(
                self,
                DomainError("bad_input", f"An addendum needs a {missing}.", field=missing),
                "Not signed",
            )
            (self.reason_edit if not reason else self.text_edit).setFocus()
            return
        password = ask_password(self, "Sign addendum", "Your password, to sign the addendum:")
        if password is None:
            return
        ctx, actor, sid = self.station.ctx, self.station.actor, self.session_id

        def done(info: notes.NoteInfo) -> None:
            self.reason_edit.clear()
            self.text_edit.clear()
            self.addendum_toggle.setChecked(False)  # signed: the form closes
            self._after_signing(info)

        self._run(
            "addendum", lambda: notes.add_addendum(ctx, actor, sid, reason, text, password), done
        )

    def _after_signing(self, info: notes.NoteInfo) -> None:
        self.station.changed.emit()  # every view re-reads; refresh() verifies the new bytes
        ctx, actor = self.station.ctx, self.station.actor

        def work() -> tuple[list[QImage] | None, str]:
            pdf = notes.note_pdf(ctx, actor, info.note_id)
            pages = pdf_pages_as_images(pdf)
            return pages, "" if pages is not None else pdf_text(pdf)

        def show(result: tuple[list[QImage] | None, str]) -> None:
            self._show_preview(result)
            self._set_info(
                f"Signed note {info.label} version {info.version}, as stored (with its signatures)."
            )

        self._run("signed_pages", work, show, busy=False)

    # ------------------------------------------------------------ open and verify

    def open_signed(self) -> None:
        """Save the latest signed PDF to a temporary file and open it in the PDF viewer."""
        if self.latest is None:
            return
        try:
            pdf = self.station.read(notes.note_pdf, self.latest.note_id)
        except DomainError as exc:
            show_refusal(self, exc, "Cannot open")
            return
        folder = Path(tempfile.gettempdir()) / "nursestation-notes"
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / self.latest.file_name
        path.write_bytes(pdf)
        self.opened_path = path
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def print_note(self) -> None:
        """Print the latest signed note (with its signatures) through the print dialog; the
        pages are rasterised and printed on a worker thread. No copy is written to disk unless
        the nurse prints to a file."""
        if self.latest is None:
            return
        latest = self.latest
        try:
            pdf = self.station.read(notes.note_pdf, latest.note_id)
            printer = printing.prepare_printer(self, pdf, latest.file_name.removesuffix(".pdf"))
        except DomainError as exc:
            show_refusal(self, exc, "Not printed")
            return
        if printer is None:
            return  # cancelled in the dialog: nothing printed, nothing written

        def done(pages: int) -> None:
            self.preview_info.setText(
                f"Sent {pages} page(s) of note {latest.label} to the printer."
            )

        def failed(exc: Exception) -> None:
            self.preview_info.setText(f"Note {latest.label} was not printed.")
            message = (
                exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
            )
            show_refusal(self, DomainError("not_available", message), "Not printed")

        self.preview_info.setText(f"Printing note {latest.label}…")
        self._run("print", lambda: printing.print_on(printer, pdf), done, failed)

    def _verify(self, force: bool = False) -> None:
        n = self.latest
        if n is None or not self.station.can("verify_note"):
            return
        if not force and n.sha256 == self._verified_sha:
            return
        self._verified_sha = n.sha256
        ctx, actor, note_id = self.station.ctx, self.station.actor, n.note_id
        self.verify_label.show()
        self.verify_label.setText("Verifying signatures…")
        self.verify_label.setStyleSheet(INFO_STYLE)
        self._run(
            "verify",
            lambda: notes.verify_note(ctx, actor, note_id),
            self._show_verification,
            failed=self._verify_failed,
            busy=False,
        )

    def _show_verification(self, check: notes.NoteCheck) -> None:
        count = len([line for line in check.lines if line.startswith(("OK", "FAILED"))])
        if check.ok:
            head = f"✔ Verified: {count} signature(s) intact and trusted by the clinic CA."
            self.verify_label.setStyleSheet(OK_STYLE)
        else:
            head = "✘ VERIFICATION FAILED — do not rely on this document; tell the administrator."
            self.verify_label.setStyleSheet(BAD_STYLE)
        self.verify_label.setText(head + "\n" + "\n".join(check.lines))

    def _verify_failed(self, exc: Exception) -> None:
        self.verify_label.setStyleSheet(BAD_STYLE)
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        self.verify_label.setText(f"✘ Could not verify: {message}")
