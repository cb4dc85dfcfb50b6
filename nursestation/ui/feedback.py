"""How refusals and confirmations reach the nurse: one clear sentence, never a traceback."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from nursestation.errors import DomainError


def show_refusal(parent: QWidget | None, exc: DomainError, title: str = "Not saved") -> None:
    """A modal message naming what was refused and why; the form behind it keeps its values."""
    QMessageBox.warning(parent, title, exc.message)


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    """Yes/No question; No is the default so Enter never confirms by accident."""
    answer = QMessageBox.question(
        parent,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_text(parent: QWidget | None, title: str, label: str) -> str | None:
    """A one-line text (e.g. a reason); None when cancelled or left empty."""
    text, ok = QInputDialog.getText(parent, title, label)
    return text.strip() if ok and text.strip() else None


def ask_password(parent: QWidget | None, title: str, label: str) -> str | None:
    """Re-ask the password (signatures, approvals); None when cancelled."""
    text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Password)
    return text if ok and text else None
