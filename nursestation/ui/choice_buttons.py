"""A row of toggle buttons for one answer (Yes / No, Negative / Positive, Resolved / Not
resolved): one click instead of open-a-list-then-pick, and the answer stays in view. It offers the
part of QComboBox's interface the forms use (addItem with data, findData, currentIndex,
setCurrentIndex, currentData, currentIndexChanged), so a combo can be swapped for it. An item
whose data is None is the "not answered" state: no button is shown for it and it is the index
when no button is down; clicking the pressed button again returns to it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QWidget

CHECKED_STYLE = "QPushButton:checked { background: #1565c0; color: white; font-weight: bold; }"


class ChoiceButtons(QWidget):
    """Exclusive toggle buttons with combo-box-like access by index and data."""

    currentIndexChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[str, Any, QPushButton | None]] = []
        self._index = -1
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(4)
        self._lay.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def addItem(self, text: str, data: Any = None) -> None:
        """Add a choice; data None is "not answered" (no button)."""
        i = len(self._items)
        button: QPushButton | None = None
        if data is not None:
            button = QPushButton(text)
            button.setCheckable(True)
            button.setStyleSheet(CHECKED_STYLE)
            button.setAccessibleName(text)
            button.clicked.connect(lambda checked, i=i: self._clicked(i, checked))
            self._lay.insertWidget(self._lay.count() - 1, button)
        self._items.append((text, data, button))
        if self._index < 0 and data is None:
            self._index = i

    def count(self) -> int:
        """Number of choices, the "not answered" one included."""
        return len(self._items)

    def itemText(self, i: int) -> str:
        """The words of choice `i`."""
        return self._items[i][0]

    def itemData(self, i: int) -> Any:
        """The value of choice `i`."""
        return self._items[i][1]

    def findData(self, data: Any) -> int:
        """The index of the choice holding `data` (compared by identity for True/False/None, so
        False is not 0), or -1."""
        for i, (_t, d, _b) in enumerate(self._items):
            if d is data or (type(d) is type(data) and d == data):
                return i
        return -1

    def currentIndex(self) -> int:
        """The index of the pressed choice, or of "not answered"."""
        return self._index

    def currentData(self) -> Any:
        """The value of the pressed choice (None when none is pressed)."""
        return self._items[self._index][1] if 0 <= self._index < len(self._items) else None

    def currentText(self) -> str:
        """The words of the pressed choice."""
        return self._items[self._index][0] if 0 <= self._index < len(self._items) else ""

    def setCurrentIndex(self, i: int) -> None:
        """Press choice `i` (the others come up)."""
        for j, (_t, _d, b) in enumerate(self._items):
            if b is not None:
                b.setChecked(j == i)
        if i != self._index:
            self._index = i
            self.currentIndexChanged.emit(i)

    def buttons(self) -> list[QPushButton]:
        """The buttons, in order (tests, keyboard)."""
        return [b for _t, _d, b in self._items if b is not None]

    def _clicked(self, i: int, checked: bool) -> None:
        if checked:
            self.setCurrentIndex(i)
            return
        # The pressed answer clicked again: back to "not answered".
        none = next((j for j, (_t, d, _b) in enumerate(self._items) if d is None), -1)
        self.setCurrentIndex(none)
