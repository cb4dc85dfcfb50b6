"""A page view for PDF previews (issue 18, paper): the pages one under another at a readable size,
with zoom — fit width (the default, and kept while the window is resized), − and + in steps.

The pages arrive as QImages rendered once at RENDER_DPI (on a worker thread, see
ui.printing.render_pages); zooming only rescales them, so it needs no new rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

# Rendered once at this resolution: sharp up to about 155 % on a 96 dpi screen (a letter page
# 1275 px wide, what fit width gives on a 1366 px wide screen), about 8 MB a page in memory.
RENDER_DPI = 150
SCREEN_DPI = 96  # 100 % = the paper's real size on a common desktop screen
ZOOM_STEPS = (0.5, 0.67, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
PAGE_GAP = 12
# Pages put on screen per turn of the event loop: a long note must not freeze the GUI.
PAGES_PER_TURN = 4
SIDE_PX = 230  # the controls' column beside the pages (side_controls)


class _Scroll(QScrollArea):
    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()


class PageView(QWidget):
    """Pages of a document with zoom controls: fit width, −, + and the zoom in percent."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None, *, side_controls: bool = False) -> None:
        """`side_controls` puts the zoom controls in a column left of the pages (the reading
        view: a row above them would take height from the pages on a 768 px screen); `controls`
        is that column's (or the bar's) layout, for a host to add its own widgets to."""
        super().__init__(parent)
        self._images: list[QImage] = []
        self._labels: list[QLabel] = []
        self._zoom = 1.0
        self._fit_width = True
        self._token = 0

        self.fit_btn = QPushButton("Fit &width")
        self.fit_btn.setCheckable(True)
        self.fit_btn.setChecked(True)
        self.fit_btn.setToolTip("Scale the pages to the width of the panel")
        self.out_btn = QPushButton("−")
        self.out_btn.setToolTip("Zoom out (Ctrl+−)")
        self.out_btn.setShortcut("Ctrl+-")
        self.in_btn = QPushButton("+")
        self.in_btn.setToolTip("Zoom in (Ctrl++)")
        self.in_btn.setShortcut("Ctrl++")
        for b in (self.out_btn, self.in_btn):
            b.setFixedWidth(36)
        self.zoom_label = QLabel("")
        self.zoom_label.setMinimumWidth(48)
        self.page_count = QLabel("")
        zoom_row = QHBoxLayout()
        zoom_row.addWidget(QLabel("Zoom"))
        zoom_row.addWidget(self.out_btn)
        zoom_row.addWidget(self.zoom_label)
        zoom_row.addWidget(self.in_btn)
        self.controls: QBoxLayout
        if side_controls:
            self.controls = QVBoxLayout()
            zoom_row.addStretch(1)
            self.controls.addLayout(zoom_row)
            self.controls.addWidget(self.fit_btn)
            self.controls.addWidget(self.page_count)
            self.controls.addStretch(1)
        else:
            self.controls = zoom_row
            zoom_row.addWidget(self.fit_btn)
            zoom_row.addStretch(1)
            zoom_row.addWidget(self.page_count)

        self.pages = QWidget()
        self.pages.setStyleSheet("background:#8a8f96;")
        self.pages_layout = QVBoxLayout(self.pages)
        self.pages_layout.setSpacing(PAGE_GAP)
        self.pages_layout.setContentsMargins(PAGE_GAP, PAGE_GAP, PAGE_GAP, PAGE_GAP)
        self.pages_layout.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.scroll_area = _Scroll()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(self.pages)
        self.scroll_area.resized.connect(self._on_resized)

        layout: QBoxLayout
        if side_controls:
            layout = QHBoxLayout(self)
            self.side = QWidget()
            self.side.setFixedWidth(SIDE_PX)
            self.side.setLayout(self.controls)
            self.controls.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(self.side)
        else:
            layout = QVBoxLayout(self)
            layout.addLayout(self.controls)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll_area, 1)

        self.fit_btn.clicked.connect(self.fit_width)
        self.out_btn.clicked.connect(self.zoom_out)
        self.in_btn.clicked.connect(self.zoom_in)
        self._update_controls()

    # ------------------------------------------------------------ pages

    @property
    def zoom(self) -> float:
        """The zoom: 1.0 shows the paper at its real size on a 96 dpi screen."""
        return self._zoom

    def images(self) -> list[QImage]:
        """The pages shown, as rendered (another view can show the same pages)."""
        return list(self._images)

    def page_labels(self) -> list[QLabel]:
        """The page widgets on screen, in order (for tests and screenshots)."""
        return list(self._labels)

    def clear(self) -> None:
        """No pages (pages still queued from an earlier document are dropped)."""
        self._token += 1
        self._images = []
        for label in self._labels:
            label.setParent(None)  # gone from the view now, freed by Qt later
            label.deleteLater()
        self._labels = []
        self.page_count.setText("")
        self._update_controls()

    def set_pages(self, images: Sequence[QImage]) -> None:
        """Show `images` (rendered at RENDER_DPI) at the current zoom, or fitted to the width."""
        self.clear()
        self._images = list(images)
        self.page_count.setText(f"{len(self._images)} page(s)")
        if self._fit_width:
            self._zoom = self._fit_zoom()
        self._add_pages(self._token, 0)
        self._update_controls()

    def _add_pages(self, token: int, start: int) -> None:
        """A few pages now, the rest on later turns of the event loop (unless cleared since)."""
        if token != self._token:
            return
        end = min(start + PAGES_PER_TURN, len(self._images))
        for i in range(start, end):
            label = QLabel()
            label.setObjectName(f"page{i + 1}")
            label.setStyleSheet("background:white; border:1px solid #555;")
            label.setPixmap(self._scaled(self._images[i]))
            self.pages_layout.addWidget(label, 0, Qt.AlignmentFlag.AlignHCenter)
            self._labels.append(label)
        if end < len(self._images):
            QTimer.singleShot(0, lambda: self._add_pages(token, end))

    def _scaled(self, image: QImage) -> QPixmap:
        width = max(1, round(image.width() * self._zoom * SCREEN_DPI / RENDER_DPI))
        return QPixmap.fromImage(
            image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        )

    # ------------------------------------------------------------ zoom

    def _fit_zoom(self) -> float:
        if not self._images:
            return self._zoom
        bar = self.scroll_area.verticalScrollBar().sizeHint().width()
        room = self.scroll_area.viewport().width() - 2 * PAGE_GAP - bar - 4
        widest = max(i.width() for i in self._images) * SCREEN_DPI / RENDER_DPI
        return max(ZOOM_STEPS[0], min(ZOOM_STEPS[-1], room / widest))

    def set_zoom(self, zoom: float, *, fit: bool = False) -> None:
        """Show the pages at `zoom` (clamped to the steps' range); `fit` keeps fitting the width
        when the panel is resized."""
        self._fit_width = fit
        self.fit_btn.setChecked(fit)
        zoom = max(ZOOM_STEPS[0], min(ZOOM_STEPS[-1], zoom))
        if abs(zoom - self._zoom) > 1e-3:
            self._zoom = zoom
            for label, image in zip(self._labels, self._images, strict=False):
                label.setPixmap(self._scaled(image))
            self.zoom_changed.emit(zoom)
        self._update_controls()

    def fit_width(self) -> None:
        """Scale the pages to the panel's width, and keep doing so when it is resized."""
        self.set_zoom(self._fit_zoom(), fit=True)

    def zoom_in(self) -> None:
        """The next larger zoom step."""
        bigger = [z for z in ZOOM_STEPS if z > self._zoom + 1e-3]
        self.set_zoom(bigger[0] if bigger else ZOOM_STEPS[-1])

    def zoom_out(self) -> None:
        """The next smaller zoom step."""
        smaller = [z for z in ZOOM_STEPS if z < self._zoom - 1e-3]
        self.set_zoom(smaller[-1] if smaller else ZOOM_STEPS[0])

    def _on_resized(self) -> None:
        if self._fit_width and self._images:
            self.set_zoom(self._fit_zoom(), fit=True)

    def _update_controls(self) -> None:
        has = bool(self._images)
        self.zoom_label.setText(f"{round(self._zoom * 100)} %" if has else "")
        self.out_btn.setEnabled(has and self._zoom > ZOOM_STEPS[0] + 1e-3)
        self.in_btn.setEnabled(has and self._zoom < ZOOM_STEPS[-1] - 1e-3)
        self.fit_btn.setEnabled(has)
