"""The note's reading view (issue 18, preview): the note tab's pages at the session view's whole
height, because at 1366×768 the tab leaves its page view about 175 px under the header, the
alarm band, the infusion row and the checklist, and nobody can read a note there.

The session view (ui/session_view.show_reader) puts this view in place of its patient row,
infusion row and tabs; its alarm band stays above it, on screen and working, and the station
toolbar (with the alarm banner) stays above that. Its controls sit in a column left of the
pages, so the pages get the height (a row above them would cost about 40 px of 600). "◀ Back
to session" or Escape returns to the note tab as it was: reading changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from nursestation.ui.page_view import PageView

BACK_TEXT = "◀ &Back to session (Esc)"


@runtime_checkable
class ReaderHost(Protocol):
    """A view that can give the reader its room (ui/session_view.SessionView)."""

    reader: NoteReader | None

    def show_reader(self, reader: NoteReader) -> None:
        """Show the reader in place of the host's own controls."""

    def close_reader(self) -> None:
        """Put the host's controls back."""


class NoteReader(QWidget):
    """The note's pages with zoom at full height; `back_requested` on ◀ Back or Escape."""

    back_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page_view = PageView(side_controls=True)
        self.back_btn = QPushButton(BACK_TEXT)
        self.back_btn.setToolTip("Return to the session's note tab (Escape)")
        self.back_btn.setMinimumHeight(34)
        self.back_btn.clicked.connect(self.back_requested)
        self.title = QLabel("Session note")
        self.title.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.subject = QLabel("")  # whose note: the chair, the patient and the MRN
        self.subject.setWordWrap(True)
        self.subject.setStyleSheet("font-weight: bold;")
        self.caption = QLabel("")  # preview or signed, how many pages
        self.caption.setWordWrap(True)
        column = self.page_view.controls
        for i, w in enumerate((self.back_btn, self.title, self.subject, self.caption)):
            column.insertWidget(i, w)
        column.insertSpacing(4, 8)
        # Where the host's reminders go (session view: what is due at the chair), under the
        # zoom controls and above the column's stretch.
        self._reminders_at = column.count() - 1

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.page_view)

        # Escape anywhere in the window while the reader is on screen (a dialog on top takes
        # its own Escape first: it is then the active window).
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape.setContext(Qt.ShortcutContext.WindowShortcut)
        self.escape.activated.connect(self.back_requested)

    def show_pages(self, images: Sequence[QImage], caption: str) -> None:
        """Show these pages (as rendered for the note tab) with a line saying what they are."""
        self.page_view.set_pages(images)
        self.caption.setText(caption)
        self.to_first_page()

    def to_first_page(self) -> None:
        """The top of the first page, once the pages are laid out at the reader's width (the
        fit-width zoom is recomputed when the reader is shown, which moved the view)."""
        bar = self.page_view.scroll_area.verticalScrollBar()
        bar.setValue(0)
        QTimer.singleShot(0, self, lambda: bar.setValue(0))

    def set_subject(self, text: str) -> None:
        """Whose note this is (the session view's header line)."""
        self.subject.setText(text)

    def hold_reminders(self, widget: QWidget) -> None:
        """Show the host's reminders (a widget it takes back later) in the column."""
        self.page_view.controls.insertWidget(self._reminders_at, widget)
        widget.show()
