"""Printing a PDF (the session note, the patient's instruction sheet) through the Qt print dialog,
and rasterising PDF pages for the note preview (issue 18, paper).

Why raster: PySide6-Essentials has QtPrintSupport but no QtPdf, so a PDF cannot be handed to
QPrinter as vectors; its pages are rasterised by poppler's `pdftoppm` (at up to PRINT_DPI, plenty
for text on paper) and painted onto the printer page by page.

Why no file: the PDF goes to pdftoppm on its standard input and each page comes back on its
standard output, so no copy of the patient's record is written anywhere, not even for a moment
in a temporary folder. A file exists only when the nurse chooses one (the dialog's "Print to
file", or a "Save a copy" button).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from io import BytesIO

from PySide6.QtCore import QObject, QRectF, QRunnable, QSizeF, QThreadPool, Signal
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QDialog, QWidget

from nursestation.errors import DomainError

# Enough for 7.5 pt text on paper; a printer's own 600/1200 dpi would mean 30-120 MB a page.
PRINT_DPI = 300
NO_PDFTOPPM = (
    "Printing needs poppler's pdftoppm, which is not installed on this station. "
    "Ask IT to install poppler-utils."
)


def pdftoppm_available() -> bool:
    """Whether poppler's pdftoppm is installed (preview pages and printing need it)."""
    return shutil.which("pdftoppm") is not None


def page_sizes_pt(pdf: bytes) -> list[tuple[float, float]]:
    """Each page's size in points (width, height), from its media box."""
    from pypdf import PdfReader

    return [
        (float(p.mediabox.width), float(p.mediabox.height)) for p in PdfReader(BytesIO(pdf)).pages
    ]


def render_page_png(pdf: bytes, page: int, dpi: int) -> bytes:
    """Page `page` (1-based) of `pdf` as PNG bytes at `dpi`, through pdftoppm's standard input
    and output (nothing written to disk)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise DomainError("not_available", NO_PDFTOPPM)
    done = subprocess.run(
        [exe, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", "-"],
        input=pdf,
        check=True,
        capture_output=True,
        timeout=60,
    )
    if not done.stdout.startswith(b"\x89PNG"):
        raise DomainError("error", f"pdftoppm returned no image for page {page}.")
    return done.stdout


def render_pages(pdf: bytes, dpi: int, pages: Sequence[int] | None = None) -> list[QImage]:
    """The chosen pages (1-based; all when None) as QImages. Safe on a worker thread (QImage,
    unlike QPixmap, may be made there)."""
    numbers = list(pages) if pages is not None else list(range(1, len(page_sizes_pt(pdf)) + 1))
    # The format is read from the PNG signature (PySide6 6.11's stubs and run time disagree on
    # the type of the format argument).
    return [QImage.fromData(render_page_png(pdf, n, dpi)) for n in numbers]


def new_printer(pdf: bytes, title: str) -> QPrinter:
    """A printer set up for `pdf`: its first page's paper size, no extra margins (the PDF has
    its own), the document named `title` in the print queue."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setDocName(title)
    printer.setFullPage(True)
    sizes = page_sizes_pt(pdf)
    if sizes:
        w, h = sizes[0]
        printer.setPageSize(
            QPageSize(QSizeF(w, h), QPageSize.Unit.Point, "", QPageSize.SizeMatchPolicy.FuzzyMatch)
        )
        printer.setPageOrientation(
            QPageLayout.Orientation.Landscape if w > h else QPageLayout.Orientation.Portrait
        )
    printer.setFromTo(1, max(1, len(sizes)))
    return printer


def ask_printer(parent: QWidget | None, printer: QPrinter) -> bool:
    """The Qt print dialog (printer, pages, copies); True when the nurse pressed Print.

    Tests replace this function (the test seam) to point the printer at a PDF file instead."""
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle(f"Print {printer.docName()}")
    dialog.setOption(QPrintDialog.PrintDialogOption.PrintPageRange, True)
    return dialog.exec() == QDialog.DialogCode.Accepted


def chosen_pages(printer: QPrinter, page_count: int) -> list[int]:
    """The 1-based page numbers the dialog asked for (all when no range was chosen)."""
    first, last = printer.fromPage(), printer.toPage()
    if printer.printRange() != QPrinter.PrintRange.PageRange or first == 0:
        return list(range(1, page_count + 1))
    return list(range(max(1, first), min(page_count, last or page_count) + 1))


def _draw(painter: QPainter, printer: QPrinter, image: QImage) -> None:
    """`image` scaled to the paper (aspect kept) and centred on the current page."""
    area = QRectF(printer.pageLayout().fullRectPixels(printer.resolution()))
    scale = min(area.width() / image.width(), area.height() / image.height())
    w, h = image.width() * scale, image.height() * scale
    target = QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)
    painter.drawImage(target, image)


def print_on(printer: QPrinter, pdf: bytes) -> int:
    """Print the pages of `pdf` the printer's range asks for, one page rendered at a time (a
    page at 300 dpi is about 33 MB); the number of pages printed.

    Runs on a worker thread (QPainter may paint on a QPrinter outside the GUI thread): a note
    takes seconds to rasterise on a busy station, which must not freeze the screen."""
    pages = chosen_pages(printer, len(page_sizes_pt(pdf)))
    dpi = min(PRINT_DPI, printer.resolution())
    painter = QPainter()
    if not painter.begin(printer):
        raise DomainError("not_available", "The printer could not be opened.")
    try:
        for i, number in enumerate(pages):
            image = QImage.fromData(render_page_png(pdf, number, dpi))
            if i:
                printer.newPage()
            _draw(painter, printer, image)
    finally:
        painter.end()
    return len(pages)


def prepare_printer(parent: QWidget | None, pdf: bytes, title: str) -> QPrinter | None:
    """The print dialog for `pdf`: the chosen printer, or None when the nurse cancelled.
    DomainError when this station cannot print (no pdftoppm)."""
    if not pdftoppm_available():
        raise DomainError("not_available", NO_PDFTOPPM)
    printer = new_printer(pdf, title)
    return printer if ask_printer(parent, printer) else None


class _Signals(QObject):
    done = Signal(int)
    failed = Signal(object)


class _PrintJob(QRunnable):
    def __init__(self, printer: QPrinter, pdf: bytes) -> None:
        super().__init__()
        self.setAutoDelete(False)  # kept in _RUNNING until its result reached the GUI thread
        self.printer, self.pdf = printer, pdf
        self.signals = _Signals()

    def run(self) -> None:
        try:
            pages = print_on(self.printer, self.pdf)
        except Exception as exc:  # delivered to the GUI thread, shown there
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(pages)


_RUNNING: set[_PrintJob] = set()


def print_in_background(
    printer: QPrinter,
    pdf: bytes,
    done: Callable[[int], None],
    failed: Callable[[Exception], None],
) -> None:
    """Print on a pool thread; `done(pages)` or `failed(exception)` on the GUI thread."""
    job = _PrintJob(printer, pdf)
    _RUNNING.add(job)

    def finish(result: object, ok: bool) -> None:
        _RUNNING.discard(job)
        if ok:
            done(int(result))  # type: ignore[call-overload]
        else:
            failed(result if isinstance(result, Exception) else RuntimeError(str(result)))

    job.signals.done.connect(lambda n: finish(n, True))
    job.signals.failed.connect(lambda e: finish(e, False))
    QThreadPool.globalInstance().start(job)
