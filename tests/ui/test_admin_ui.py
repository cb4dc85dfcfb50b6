"""Administrators add and disable users through the dialog; a new user must choose a password at
first sign-in; the sign-in screen explains lockouts and disabled accounts; the audit viewer
filters, shows before/after and checks the chain."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from support import PASSWORD, T0

from nursestation.app import audit, users
from nursestation.app.users import authenticate
from nursestation.db.audit import ChainCheck
from nursestation.errors import DomainError
from nursestation.ui import login
from nursestation.ui.audit_viewer import AuditViewer
from nursestation.ui.login import LoginDialog
from nursestation.ui.station import Station
from nursestation.ui.users_dialog import UsersDialog

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CAL_FIRST = "Cal-first-2026"
CAL_OWN = "Cal-own-pass-77"


@pytest.fixture
def admin_station(ctx, people) -> Station:
    st = Station(ctx)
    st.set_actor(people["admin"])
    return st


def _click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _add_cal(qtbot, dlg: UsersDialog, repeat: str = CAL_FIRST) -> None:
    qtbot.keyClicks(dlg.username, "rn.cal")
    qtbot.keyClicks(dlg.full_name, "Cal Tran, RN")
    qtbot.keyClicks(dlg.credentials, "RN")
    dlg.role_boxes["nurse"].setChecked(True)
    qtbot.keyClicks(dlg.password, CAL_FIRST)
    qtbot.keyClicks(dlg.password2, repeat)
    _click(qtbot, dlg.add_btn)


def _row_of(dlg: UsersDialog, username: str) -> int:
    return [u.username for u in dlg.users].index(username)


def test_admin_adds_and_disables_a_user(qtbot, admin_station, ctx) -> None:
    dlg = UsersDialog(admin_station)
    qtbot.addWidget(dlg)
    assert {u.username for u in dlg.users} == {"rn.ana", "cn.ben", "ad.dana"}
    _add_cal(qtbot, dlg, repeat="Cal-first-2025")
    assert "differ" in dlg.message.text()
    assert dlg.username.text() == "rn.cal" and dlg.role_boxes["nurse"].isChecked()
    dlg.password2.clear()
    dlg.password.clear()
    qtbot.keyClicks(dlg.password, "short")
    qtbot.keyClicks(dlg.password2, "short")
    _click(qtbot, dlg.add_btn)
    assert "too short" in dlg.message.text() and dlg.full_name.text() == "Cal Tran, RN"
    dlg.password.clear()
    dlg.password2.clear()
    qtbot.keyClicks(dlg.password, CAL_FIRST)
    qtbot.keyClicks(dlg.password2, CAL_FIRST)
    # A station holds no CA passphrase (only set-up processes do): the administrator types it.
    admin_station.ctx.ca_passphrase = None
    _click(qtbot, dlg.add_btn)
    assert "CA passphrase is needed" in dlg.message.text() and dlg.username.text() == "rn.cal"
    qtbot.keyClicks(dlg.ca_passphrase, os.environ["NURSESTATION_CA_PASSPHRASE"])
    _click(qtbot, dlg.add_btn)
    assert "Added rn.cal" in dlg.message.text() and dlg.username.text() == ""
    assert dlg.ca_passphrase.text() == ""  # not kept on screen
    r = _row_of(dlg, "rn.cal")
    assert dlg.table.item(r, 3).text() == "Nurse"
    assert dlg.table.item(r, 4).text() == "active · must change password"
    SHOTS.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(SHOTS / "users_dialog.png"))

    own = _row_of(dlg, "ad.dana")
    dlg.table.selectRow(own)
    assert not dlg.disable_btn.isEnabled()  # an administrator cannot lock themself out here
    dlg.table.selectRow(r)
    _click(qtbot, dlg.disable_btn)
    r = _row_of(dlg, "rn.cal")
    assert dlg.table.item(r, 4).text() == "disabled"
    info = {u.username: u for u in users.list_users(ctx, admin_station.actor)}["rn.cal"]
    assert info.disabled and info.must_change_password and info.roles == {"nurse"}


def _login(qtbot, ctx, username: str, password: str) -> LoginDialog:
    dlg = LoginDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.username.setText(username)
    qtbot.keyClicks(dlg.password, password)
    _click(qtbot, dlg.buttons.button(dlg.buttons.StandardButton.Ok))
    return dlg


def test_first_sign_in_asks_for_a_new_password(qtbot, ctx, people, monkeypatch) -> None:
    users.create_user(
        ctx,
        people["admin"],
        username="rn.cal",
        full_name="Cal Tran, RN",
        roles={"nurse"},
        password=CAL_FIRST,
    )
    # Cancelling the change leaves nobody signed in.
    monkeypatch.setattr(login.ChangePasswordDialog, "exec", lambda self: 0)
    dlg = _login(qtbot, ctx, "rn.cal", CAL_FIRST)
    assert dlg.actor is None and dlg.result() == 0 and "new password" in dlg.error.text()

    asked: list[str] = []

    def choose(self) -> int:  # the nurse types her own password twice
        asked.append(self.actor.username)
        qtbot.keyClicks(self.new_password, CAL_FIRST)
        qtbot.keyClicks(self.repeat, CAL_FIRST)
        self.change()
        assert "differ from the temporary" in self.error.text()
        for w in (self.new_password, self.repeat):
            w.clear()
            qtbot.keyClicks(w, CAL_OWN)
        self.change()
        return self.result()

    monkeypatch.setattr(login.ChangePasswordDialog, "exec", choose)
    dlg = _login(qtbot, ctx, "rn.cal", CAL_FIRST)
    assert asked == ["rn.cal"]
    assert dlg.actor is not None and dlg.actor.username == "rn.cal"
    assert not users.must_change_password(ctx, dlg.actor)
    assert authenticate(ctx, "rn.cal", CAL_OWN).username == "rn.cal"
    with pytest.raises(DomainError):
        authenticate(ctx, "rn.cal", CAL_FIRST)
    # Next time: no question asked.
    asked.clear()
    dlg = _login(qtbot, ctx, "rn.cal", CAL_OWN)
    assert dlg.actor is not None and asked == []


def test_sign_in_screen_counts_down_a_lockout(qtbot, ctx, people, clock) -> None:
    dlg = LoginDialog(ctx)
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    dlg.username.setText("rn.ana")
    for i in range(3):
        qtbot.keyClicks(dlg.password, f"wrong-{i}")
        _click(qtbot, ok)
    assert "try again in 30 s" in dlg.error.text()
    assert dlg.wait_label.text() == "Too many failed attempts: try again in 30 s."
    assert not ok.isEnabled() and dlg.username.text() == "rn.ana"
    clock.advance(seconds=12)
    dlg._tick()
    assert dlg.wait_label.text().endswith("try again in 18 s.")
    clock.advance(seconds=19)
    dlg._tick()
    assert ok.isEnabled() and dlg.wait_label.text() == ""
    qtbot.keyClicks(dlg.password, PASSWORD)
    _click(qtbot, ok)
    assert dlg.actor == people["nurse"]


def test_sign_in_screen_names_a_disabled_account(qtbot, ctx, people) -> None:
    users.set_disabled(ctx, people["admin"], "cn.ben", True)
    dlg = _login(qtbot, ctx, "cn.ben", PASSWORD)
    assert dlg.actor is None and "disabled" in dlg.error.text()
    dlg = _login(qtbot, ctx, "cn.ben", "a-guess-1234")
    assert "disabled" not in dlg.error.text() and "not correct" in dlg.error.text()


def test_audit_viewer_filters_and_checks_the_chain(
    qtbot, admin_station, ctx, people, clock, monkeypatch
) -> None:
    clock.set(T0 + timedelta(hours=1))
    users.set_disabled(ctx, people["admin"], "rn.ana", True)
    viewer = AuditViewer(admin_station)
    qtbot.addWidget(viewer)
    viewer.resize(1100, 700)
    assert viewer.table.rowCount() == len(viewer.entries) > 4
    assert "rows match" in viewer.count.text()
    names = [viewer.user.itemText(i) for i in range(viewer.user.count())]
    assert {"ad.dana", "rn.ana", "cn.ben"} <= set(names)

    qtbot.keyClicks(viewer.action, "user.disable")
    _click(qtbot, viewer.apply_btn)
    assert viewer.table.rowCount() == 1
    assert viewer.table.item(0, 4).text() == "user.disable"
    assert viewer.table.item(0, 2).text() == "ad.dana"
    viewer.table.selectRow(0)
    assert json.loads(viewer.before.toPlainText()) == {"disabled": False}
    assert json.loads(viewer.after.toPlainText()) == {"disabled": True}
    assert len(viewer.hash.text()) == 64

    viewer.action.clear()
    viewer.user.setCurrentText("rn.ana")
    _click(qtbot, viewer.apply_btn)
    assert {viewer.table.item(r, 2).text() for r in range(viewer.table.rowCount())} == {"rn.ana"}
    # A day range before anything happened: nothing.
    viewer.user.setCurrentText("")
    viewer.date_from.setDate(QDate(2026, 2, 1))
    viewer.date_to.setDate(QDate(2026, 2, 2))
    _click(qtbot, viewer.apply_btn)
    assert viewer.table.rowCount() == 0 and viewer.count.text() == "0 rows match"

    _click(qtbot, viewer.check_btn)
    assert viewer.chain.text().startswith("✓ Audit trail intact")
    viewer.date_from.setDate(QDate(2026, 3, 1))
    viewer.date_to.setDate(QDate(2026, 3, 3))
    _click(qtbot, viewer.apply_btn)
    viewer.table.selectRow(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    viewer.grab().save(str(SHOTS / "audit_viewer.png"))

    monkeypatch.setattr(
        audit, "check_chain", lambda c, a: ChainCheck(False, 9, 4, "audit row 4 was altered")
    )
    _click(qtbot, viewer.check_btn)
    assert "BROKEN: audit row 4 was altered" in viewer.chain.text()


def test_audit_viewer_refuses_a_nurse(qtbot, ctx, people) -> None:
    st = Station(ctx)
    st.set_actor(people["nurse"])
    viewer = AuditViewer(st)
    qtbot.addWidget(viewer)
    assert viewer.table.rowCount() == 0
    assert "may not view audit" in viewer.error.text()
