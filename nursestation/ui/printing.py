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
from collections.abc import Sequence
from io import BytesIO

from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QApplication, QDialog, QWidget

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


def paint_pages(printer: QPrinter, images: Sequence[QImage]) -> int:
    """Paint each image on its own printer page, scaled to the paper and centred; the number of
    pages printed (0 when the printer could not be opened)."""
    if not images:
        return 0
    painter = QPainter()
    if not painter.begin(printer):
        raise DomainError("not_available", "The printer could not be opened.")
    try:
        for i, image in enumerate(images):
            if i:
                printer.newPage()
            area = QRectF(printer.pageLayout().fullRectPixels(printer.resolution()))
            scale = min(area.width() / image.width(), area.height() / image.height())
            w, h = image.width() * scale, image.height() * scale
            target = QRectF(
                area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h
            )
            painter.drawImage(target, image)
    finally:
        painter.end()
    return len(images)


def print_pdf(
    parent: QWidget | None,
    pdf: bytes,
    title: str,
) -> int | None:
    """Ask for a printer with the print dialog, then print `pdf` on it; the number of pages
    printed, or None when the nurse cancelled. Raises DomainError when it cannot print."""
    if not pdftoppm_available():
        raise DomainError("not_available", NO_PDFTOPPM)
    printer = new_printer(pdf, title)
    if not ask_printer(parent, printer):
        return None
    pages = chosen_pages(printer, len(page_sizes_pt(pdf)))
    dpi = min(PRINT_DPI, printer.resolution())
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        images = render_pages(pdf, dpi, pages)
        return paint_pages(printer, images)
    finally:
        QApplication.restoreOverrideCursor()
