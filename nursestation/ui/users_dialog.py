"""User administration (administrators): list accounts, add one with roles and an initial
password (the user must change it at first sign-in), disable or enable an account."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import pki, users
from nursestation.app.users import UserInfo
from nursestation.errors import DomainError
from nursestation.permissions import ROLE_LABELS, ROLES
from nursestation.security import password_rules
from nursestation.ui.station import Station

COLUMNS = ("User name", "Full name", "Credentials", "Roles", "Status")


class UsersDialog(QDialog):
    """Accounts are never deleted (the audit trail and signatures refer to them): disable."""

    def __init__(self, station: Station, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.users: list[UserInfo] = []
        self.setWindowTitle("NurseStation — users")
        self.resize(900, 600)
        root = QVBoxLayout(self)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        root.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.disable_btn = QPushButton("Disable")
        self.disable_btn.clicked.connect(lambda: self._set_disabled(True))
        self.enable_btn = QPushButton("Enable")
        self.enable_btn.clicked.connect(lambda: self._set_disabled(False))
        # Signing keys (app/pki.py): both need the clinic CA passphrase typed below.
        self.renew_btn = QPushButton("Renew signing certificate")
        self.renew_btn.clicked.connect(self.renew_certificate)
        self.reset_btn = QPushButton("Reset password…")
        self.reset_btn.clicked.connect(self.reset_password)
        row.addWidget(self.disable_btn)
        row.addWidget(self.enable_btn)
        row.addWidget(self.renew_btn)
        row.addWidget(self.reset_btn)
        row.addStretch(1)
        root.addLayout(row)

        box = QGroupBox("Add a user")
        form = QFormLayout(box)
        self.username = QLineEdit()
        self.username.setPlaceholderText("e.g. rn.ana")
        self.full_name = QLineEdit()
        self.full_name.setPlaceholderText("as printed on signatures, e.g. Ana Ruiz, RN")
        self.credentials = QLineEdit()
        self.credentials.setPlaceholderText("e.g. RN, BSN")
        self.role_boxes: dict[str, QCheckBox] = {}
        roles_row = QHBoxLayout()
        for r in ROLES:
            cb = QCheckBox(ROLE_LABELS[r])
            self.role_boxes[r] = cb
            roles_row.addWidget(cb)
        roles_row.addStretch(1)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password2 = QLineEdit()
        self.password2.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.username)
        form.addRow("Full name", self.full_name)
        form.addRow("Credentials", self.credentials)
        form.addRow("Roles", roles_row)
        # A nurse or charge nurse gets a signing key from the clinic CA, whose passphrase is
        # never stored: the administrator types it here (app/pki.py).
        self.ca_passphrase = QLineEdit()
        self.ca_passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.ca_passphrase.setPlaceholderText("needed for nurses and charge nurses (signing key)")
        form.addRow("Initial password", self.password)
        form.addRow("Repeat password", self.password2)
        hint = QLabel(
            "Password: " + "; ".join(password_rules()) + ". The user must choose a new "
            "password at first sign-in."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555;")
        form.addRow("", hint)
        self.add_btn = QPushButton("Add user")
        self.add_btn.clicked.connect(self.add_user)
        form.addRow("", self.add_btn)
        root.addWidget(box)
        ca_row = QFormLayout()
        ca_row.addRow("Clinic CA passphrase", self.ca_passphrase)
        ca_hint = QLabel(
            "Needed to add a nurse or charge nurse, renew a signing certificate or reset a "
            "clinical user's password (a new signing key). It is stored nowhere."
        )
        ca_hint.setWordWrap(True)
        ca_hint.setStyleSheet("color: #555;")
        ca_row.addRow("", ca_hint)
        root.addLayout(ca_row)

        self.message = QLabel()
        self.message.setWordWrap(True)
        root.addWidget(self.message)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        root.addWidget(close)
        self.refresh()

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828;" if error else "color: #2e7d32;")

    def refresh(self) -> None:
        """Re-read the accounts."""
        try:
            self.users = self.station.read(users.list_users)
        except DomainError as exc:
            self._say(exc.message, error=True)
            return
        self.table.setRowCount(len(self.users))
        for r, u in enumerate(self.users):
            status = "disabled" if u.disabled else "active"
            if u.must_change_password and not u.disabled:
                status += " · must change password"
            roles = ", ".join(ROLE_LABELS[x] for x in ROLES if x in u.roles)
            for c, v in enumerate((u.username, u.full_name, u.credentials, roles, status)):
                self.table.setItem(r, c, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        self._selection_changed()

    def selected(self) -> UserInfo | None:
        """The account selected in the table."""
        rows = self.table.selectionModel().selectedRows()
        return self.users[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        u = self.selected()
        me = self.station.signed_in
        own = u is not None and me is not None and u.username == me.username
        self.disable_btn.setEnabled(u is not None and not u.disabled and not own)
        self.enable_btn.setEnabled(u is not None and u.disabled)
        clinical = u is not None and bool(u.roles & {"nurse", "charge_nurse"})
        self.renew_btn.setEnabled(u is not None and clinical and not u.disabled)
        self.reset_btn.setEnabled(u is not None and not own)

    def renew_certificate(self) -> None:
        """A new certificate for the selected user's signing key (CA passphrase typed)."""
        u = self.selected()
        if u is None:
            return
        try:
            until = self.station.write(pki.renew_certificate, u.username, self.ca_passphrase.text())
        except DomainError as exc:
            self._say(exc.message, error=True)
            return
        self.ca_passphrase.clear()
        self._say(f"{u.username}'s signing certificate renewed: valid until {until}.")

    def reset_password(self) -> None:
        """Give the selected user a temporary password (asked twice); a clinical user gets a
        new signing key under it (CA passphrase typed)."""
        u = self.selected()
        if u is None:
            return
        first, ok = QInputDialog.getText(
            self, "Reset password", f"Temporary password for {u.username}:",
            QLineEdit.EchoMode.Password,
        )  # fmt: skip
        if not ok:
            return
        second, ok = QInputDialog.getText(
            self, "Reset password", "Repeat the temporary password:", QLineEdit.EchoMode.Password
        )
        if not ok:
            return
        if first != second:
            self._say("The two passwords differ.", error=True)
            return
        try:
            self.station.write(
                users.reset_password, u.username, first, self.ca_passphrase.text() or None
            )
        except DomainError as exc:
            self._say(exc.message, error=True)
            return
        self.ca_passphrase.clear()
        self._say(f"{u.username} has a temporary password; they choose their own at sign-in.")
        self.refresh()

    def _set_disabled(self, disabled: bool) -> None:
        u = self.selected()
        if u is None:
            return
        try:
            self.station.write(users.set_disabled, u.username, disabled)
        except DomainError as exc:
            self._say(exc.message, error=True)
            return
        self._say(f"{u.username} {'disabled' if disabled else 'enabled'}.")
        self.refresh()

    def add_user(self) -> None:
        """Create the account; on a refusal every field is kept and the message names it."""
        if self.password.text() != self.password2.text():
            self._say("The two passwords differ.", error=True)
            return
        roles = {r for r, cb in self.role_boxes.items() if cb.isChecked()}
        try:
            info = self.station.write(
                users.create_user,
                username=self.username.text().strip(),
                full_name=self.full_name.text().strip(),
                roles=roles,
                password=self.password.text(),
                credentials=self.credentials.text().strip(),
                ca_passphrase=self.ca_passphrase.text() or None,
            )
        except DomainError as exc:
            self._say(exc.message, error=True)
            return
        self._say(f"Added {info.username}; they choose their own password at first sign-in.")
        for w in (
            self.username,
            self.full_name,
            self.credentials,
            self.password,
            self.password2,
            self.ca_passphrase,
        ):
            w.clear()
        for cb in self.role_boxes.values():
            cb.setChecked(False)
        self.refresh()
