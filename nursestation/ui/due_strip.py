"""What is due at a chair, in the session view: the vitals reminder and each PRN dose's pending
reassessment, in the words and clock times the chair card uses (wording.vitals_due_text,
wording.reassessment_text). Overdue items are styled as a high alarm (red, bold, white text)
and due ones as a medium alarm; the words say it too ("OVERDUE", "DUE"), colour only repeats
them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QSizePolicy, QWidget

from nursestation.app.board import ChairCard
from nursestation.ui.style import ALARM_COLOURS, ALARM_TEXT_COLOURS, DUE_COLOURS
from nursestation.wording import reassessment_text, vitals_due_text


@dataclass(frozen=True)
class DueItem:
    """One reminder line: its text and status (ok / upcoming, due, overdue)."""

    text: str
    status: str


def due_items(card: ChairCard, now: datetime, tz: tzinfo) -> list[DueItem]:
    """The chair's reminders, most urgent first: overdue, then due, then upcoming."""
    items: list[DueItem] = []
    due = card.vitals_due
    text = vitals_due_text(due, tz)
    if text and due is not None:
        items.append(DueItem(text, due.status))
    for r in card.reassessments:
        items.append(DueItem(reassessment_text(r, now, tz), r.status))
    rank = {"overdue": 0, "due": 1}
    return sorted(items, key=lambda i: rank.get(i.status, 2))


def due_style(status: str) -> str:
    """Overdue as a high alarm, due as a medium one, the rest as plain coloured text."""
    if status == "overdue":
        bg, fg = ALARM_COLOURS["high"], ALARM_TEXT_COLOURS["high"]
    elif status == "due":
        bg, fg = ALARM_COLOURS["medium"], ALARM_TEXT_COLOURS["medium"]
    else:
        return f"color: {DUE_COLOURS['ok']}; padding: 2px 6px;"
    return (
        f"background: {bg}; color: {fg}; font-weight: bold; padding: 2px 6px; border-radius: 4px;"
    )


class DueStrip(QWidget):
    """A row of reminders (wrapping labels); "Nothing due" when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(6)
        self._labels: list[QLabel] = []
        self.none = QLabel("Nothing due")
        self.none.setStyleSheet("color: #555;")
        self._lay.addWidget(self.none)
        self._lay.addStretch(1)
        self._shown: list[DueItem] | None = None
        self._stacked = False
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def show_items(self, items: list[DueItem]) -> None:
        """Show these reminders (labels reused; nothing is redone when unchanged)."""
        if items == self._shown:
            return
        self._shown = list(items)
        while len(self._labels) < len(items):
            label = QLabel()
            label.setWordWrap(self._stacked)
            self._lay.insertWidget(len(self._labels), label)
            self._labels.append(label)
        for label, item in zip(self._labels, items, strict=False):
            label.setText(item.text)
            label.setStyleSheet(due_style(item.status))
            label.setProperty("status", item.status)
            label.show()
        for label in self._labels[len(items) :]:
            label.hide()
        self.none.setVisible(not items)

    def set_stacked(self, stacked: bool) -> None:
        """One reminder under the other, wrapped (in a narrow column: the note's reading view),
        or side by side (beside the tab titles)."""
        self._stacked = stacked
        direction = (
            QBoxLayout.Direction.TopToBottom if stacked else QBoxLayout.Direction.LeftToRight
        )
        self._lay.setDirection(direction)
        for label in (*self._labels, self.none):
            label.setWordWrap(stacked)

    def lines(self) -> list[tuple[str, str]]:
        """(text, status) of every reminder shown, most urgent first (tests, accessibility)."""
        return [(i.text, i.status) for i in self._shown or []]
