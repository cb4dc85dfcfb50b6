"""Sign-in and the first-run wizard that creates the first administrator."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import users
from nursestation.app.context import Actor, AppContext
from nursestation.errors import DomainError


class LoginDialog(QDialog):
    """User name and password; `actor` is set on success. Failures say why (lockout delay)."""

    def __init__(
        self,
        ctx: AppContext,
        parent: QWidget | None = None,
        *,
        title: str = "Sign in",
        username: str = "",
        hint: str = "",
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.actor: Actor | None = None
        self.setWindowTitle(f"NurseStation — {title}")
        lay = QVBoxLayout(self)
        clinic = QLabel(ctx.settings.get("general.clinic_name"))
        clinic.setStyleSheet("font-size: 14pt; font-weight: bold;")
        lay.addWidget(clinic)
        if hint:
            h = QLabel(hint)
            h.setWordWrap(True)
            lay.addWidget(h)
        form = QFormLayout()
        self.username = QLineEdit(username)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        lay.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.try_sign_in)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        (self.password if username else self.username).setFocus()

    def try_sign_in(self) -> None:
        """Check the password; on failure keep the user name and clear the password."""
        try:
            self.actor = users.authenticate(
                self.ctx, self.username.text().strip(), self.password.text()
            )
        except DomainError as exc:
            self.error.setText(exc.message)
            self.password.clear()
            return
        self.accept()


class FirstRunDialog(QDialog):
    """Create the first administrator account on an empty database."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.created: str | None = None
        self.setWindowTitle("NurseStation — first run")
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Welcome. Create the administrator account for this clinic. The administrator adds "
            "nurses and charge nurses, sets clinic limits and exports signed notes."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.username = QLineEdit()
        self.full_name = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password2 = QLineEdit()
        self.password2.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.username)
        form.addRow("Full name", self.full_name)
        form.addRow("Password", self.password)
        form.addRow("Repeat password", self.password2)
        lay.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.create)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def create(self) -> None:
        """Create the account; every field is kept when something is refused."""
        if self.password.text() != self.password2.text():
            self.error.setText("The two passwords differ.")
            return
        try:
            info = users.create_user(
                self.ctx,
                None,
                username=self.username.text().strip(),
                full_name=self.full_name.text().strip(),
                roles={"administrator"},
                password=self.password.text(),
            )
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.created = info.username
        self.accept()
