"""Sign-in and the first-run wizard that sets up the clinic and its first administrator.

The sign-in dialog is the first thing painted at start-up, so this module stays light: the use
cases (and SQLAlchemy under them) are imported when a button is pressed, and the dialog accepts
a ContextLoader whose database is still opening in the background."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from nursestation.errors import BAD_PASSWORD, LOCKED_OUT, DomainError
from nursestation.ui.station import ContextLoader

if TYPE_CHECKING:
    from nursestation.app.context import Actor, AppContext

LOCAL_ZONE = "local"  # general.timezone_display: each station's own zone


class LoginDialog(QDialog):
    """User name and password; `actor` is set on success. Failures say why (lockout delay).

    At start-up `ctx` is a ContextLoader: the dialog is up and takes typing while the database
    opens behind it. If the database turns out to have no user yet, the dialog closes with
    FIRST_RUN so the launcher can run the first-run wizard."""

    FIRST_RUN = 2

    def __init__(
        self,
        ctx: AppContext | ContextLoader,
        parent: QWidget | None = None,
        *,
        title: str = "Sign in",
        username: str = "",
        hint: str = "",
    ) -> None:
        super().__init__(parent)
        self._source = ctx
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
        self.wait_label = QLabel()
        self.wait_label.setStyleSheet("color: #c62828; font-weight: bold;")
        lay.addWidget(self.wait_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons = buttons
        buttons.accepted.connect(self.try_sign_in)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        (self.password if username else self.username).setFocus()
        if isinstance(ctx, ContextLoader):
            ctx.ready.connect(self._context_ready)
            if ctx.is_ready():
                QTimer.singleShot(0, self._context_ready)

    @property
    def ctx(self) -> AppContext:
        """The open context (waits for the start-up loader if it is still opening)."""
        if isinstance(self._source, ContextLoader):
            return self._source.wait()
        return self._source

    def _context_ready(self) -> None:
        """The database is open: a station without any user goes to the first-run wizard; an
        error opening it is shown where the sign-in error would be."""
        from nursestation.app import users

        try:
            empty = users.user_count(self.ctx) == 0
        except Exception as exc:  # shown, not swallowed: OK retries and raises it again
            self.error.setText(f"The station database could not be opened: {exc}")
            # The sentence names the server and what to check: grow to show all of it.
            self.setMinimumWidth(max(self.width(), 420))
            self.adjustSize()
            return
        if empty and self.isVisible():
            self.done(self.FIRST_RUN)

    def try_sign_in(self) -> None:
        """Check the password; on failure keep the user name and clear the password. A user
        whose password an administrator set must choose a new one before going on."""
        ctx = self.ctx  # first: waits for the start-up loader, which may be importing these
        from nursestation.app import access, users

        password = self.password.text()
        try:
            actor = access.sign_in(ctx, self.username.text().strip(), password)
        except DomainError as exc:
            self.error.setText(exc.message)
            self.password.clear()
            if exc.code in (BAD_PASSWORD, LOCKED_OUT):
                self._start_countdown()
            return
        if users.must_change_password(ctx, actor):
            change = ChangePasswordDialog(ctx, actor, password, self)
            if not change.exec():
                self.error.setText(
                    "Choose a new password to continue: the one you were given is temporary."
                )
                self.password.clear()
                return
        self.actor = actor
        self.accept()

    def _start_countdown(self) -> None:
        """While the account is locked out, count the seconds down and hold the OK button."""
        from nursestation.app import access

        self._wait_user = self.username.text().strip()
        if access.wait_seconds(self.ctx, self._wait_user) <= 0:
            return
        if not hasattr(self, "_countdown"):
            self._countdown = QTimer(self)
            self._countdown.timeout.connect(self._tick)
        self._countdown.start(1000)
        self._tick()

    def _tick(self) -> None:
        from nursestation.app import access

        wait = access.wait_seconds(self.ctx, self._wait_user)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if wait <= 0 or self.username.text().strip() != self._wait_user:
            self._countdown.stop()
            ok.setEnabled(True)
            self.wait_label.setText("")
            return
        ok.setEnabled(False)
        self.wait_label.setText(f"Too many failed attempts: try again in {wait} s.")


class ChangePasswordDialog(QDialog):
    """First sign-in with a password set by an administrator: choose a new one (Part 11
    §11.300: only the genuine owner knows it). Re-wraps the personal signing key."""

    def __init__(
        self, ctx: AppContext, actor: Actor, old_password: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.actor = actor
        self._old = old_password
        self.setWindowTitle("NurseStation — choose your password")
        lay = QVBoxLayout(self)
        intro = QLabel(
            f"{actor.full_name}: the password you were given is temporary. Choose your own; "
            "nobody else, administrators included, should know it."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.new_password = QLineEdit()
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit()
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("New password", self.new_password)
        form.addRow("Repeat new password", self.repeat)
        lay.addLayout(form)
        from nursestation.security import password_rules

        self.rules = QLabel("Password: " + "; ".join(password_rules()) + ".")
        self.rules.setWordWrap(True)
        self.rules.setStyleSheet("color: #555;")
        lay.addWidget(self.rules)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.change)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.new_password.setFocus()

    def change(self) -> None:
        """Store the new password; policy refusals are shown and the fields kept."""
        from nursestation.app import users

        new = self.new_password.text()
        if new != self.repeat.text():
            self.error.setText("The two new passwords differ.")
            return
        if new == self._old:
            self.error.setText("The new password must differ from the temporary one.")
            return
        try:
            users.change_password(self.ctx, self.actor, self._old, new)
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.accept()


class FirstRunDialog(QDialog):
    """The first run of a clinic: its name, phone and time zone, its signing CA (a passphrase
    that is never stored) and the first administrator, all asked before anything is created
    (app/first_run.py). The password rules are shown from the start."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        from nursestation.app.first_run import MAX_CLINIC_NAME, needs_ca
        from nursestation.security import password_rules

        super().__init__(parent)
        self.ctx = ctx
        self.created: str | None = None
        self.existing_ca = needs_ca(ctx)
        self.setWindowTitle("NurseStation — first run")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Welcome. Set up this clinic: its name (printed on every note and in the clinic's "
            "signing certificate), its signing key, and the administrator account. The "
            "administrator adds nurses and charge nurses, sets clinic limits and exports "
            "signed notes."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)

        clinic = QGroupBox("Clinic")
        cform = QFormLayout(clinic)
        self.clinic_name = QLineEdit()
        self.clinic_name.setMaxLength(MAX_CLINIC_NAME)
        self.clinic_name.setPlaceholderText("e.g. Riverside Ketamine Clinic")
        self.phone = QLineEdit()
        self.phone.setPlaceholderText("for patients, printed on the instruction sheet")
        self.time_zone = QComboBox()
        self.time_zone.setEditable(True)
        self.time_zone.addItem(f"{LOCAL_ZONE} (each station's own clock)", LOCAL_ZONE)
        for zone in sorted(available_timezones()):
            if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "posix/", "right/")):
                self.time_zone.addItem(zone, zone)
        cform.addRow("Clinic name", self.clinic_name)
        cform.addRow("Phone", self.phone)
        cform.addRow("Time zone", self.time_zone)
        lay.addWidget(clinic)

        self.ca_box = QGroupBox("Clinic signing key")
        kbox = QVBoxLayout(self.ca_box)
        kform = QFormLayout()
        ca_text = QLabel(
            "Notes are signed with keys issued by the clinic's own certificate authority. "
            "Its passphrase is stored nowhere: it is asked whenever a nurse or charge nurse is "
            "added or a certificate renewed. Keep it in the clinic's password safe."
        )
        ca_text.setWordWrap(True)
        # In the dialog's own column, not inside the group box: Qt does not pass a wrapped
        # label's height-for-width up through a group box, and under a real X display the last
        # line was cut (a form row clips it too).
        lay.addWidget(ca_text)
        self.ca_text = ca_text
        kbox.addLayout(kform)
        self.ca_passphrase = QLineEdit()
        self.ca_passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.ca_passphrase2 = QLineEdit()
        self.ca_passphrase2.setEchoMode(QLineEdit.EchoMode.Password)
        kform.addRow("CA passphrase", self.ca_passphrase)
        kform.addRow("Repeat passphrase", self.ca_passphrase2)
        lay.addWidget(self.ca_box)
        if self.existing_ca is not None:
            # The clinic's CA exists already (set up by IT, or imported): it names the clinic.
            self.clinic_name.setText(self.existing_ca)
            self.clinic_name.setReadOnly(True)
            self.ca_box.setVisible(False)
            self.ca_text.setVisible(False)

        admin = QGroupBox("Administrator")
        form = QFormLayout(admin)
        self.username = QLineEdit()
        self.username.setPlaceholderText("e.g. ad.dana")
        self.full_name = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password2 = QLineEdit()
        self.password2.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("User name", self.username)
        form.addRow("Full name", self.full_name)
        form.addRow("Password", self.password)
        form.addRow("Repeat password", self.password2)
        lay.addWidget(admin)

        self.rules = QLabel("Passwords and the CA passphrase: " + "; ".join(password_rules()) + ".")
        self.rules.setWordWrap(True)
        self.rules.setStyleSheet("color: #555;")
        lay.addWidget(self.rules)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.create_account)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.clinic_name.setFocus()

    def showEvent(self, event: QShowEvent) -> None:
        """As tall as the wrapped texts need at the width the dialog got."""
        super().showEvent(event)
        # Qt sized the dialog from the texts' heights before the style's 11 pt font applied:
        # under a real X display it was 682 px high and squeezed the administrator's fields.
        layout = self.layout()
        needed = layout.totalHeightForWidth(self.width()) if layout is not None else -1
        if needed > self.height():
            self.resize(self.width(), needed)

    def _zone(self) -> str:
        text = self.time_zone.currentText().strip()
        index = self.time_zone.findText(text)
        data = self.time_zone.itemData(index) if index >= 0 else None
        return str(data) if data else text

    def create_account(self) -> None:
        """Set up the clinic; every field is kept when something is refused."""
        from nursestation.app.first_run import ClinicSetUp, set_up_clinic

        if self.existing_ca is None and self.ca_passphrase.text() != self.ca_passphrase2.text():
            self.error.setText("The two CA passphrases differ.")
            return
        if self.password.text() != self.password2.text():
            self.error.setText("The two passwords differ.")
            return
        try:
            username = set_up_clinic(
                self.ctx,
                ClinicSetUp(
                    clinic_name=self.clinic_name.text(),
                    phone=self.phone.text(),
                    time_zone=self._zone(),
                    ca_passphrase=self.ca_passphrase.text(),
                    username=self.username.text().strip(),
                    full_name=self.full_name.text().strip(),
                    password=self.password.text(),
                ),
            )
        except DomainError as exc:
            self.error.setText(exc.message)
            return
        self.created = username
        self.accept()
