"""Signing keys in the users dialog (issue 15): an administrator renews a nurse's certificate or
resets a password (a new key) by typing the clinic CA passphrase, which the station never holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog
from sqlalchemy import select

from nursestation.app import users
from nursestation.db.models import User
from nursestation.errors import DomainError
from nursestation.ui.station import Station
from nursestation.ui.users_dialog import UsersDialog

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TEMPORARY = "Temp-pass-2026"


@pytest.fixture
def dialog(qtbot, ctx, people) -> UsersDialog:  # type: ignore[no-untyped-def]
    ctx.ca_passphrase = None  # a station holds no CA passphrase
    station = Station(ctx)
    station.set_actor(people["admin"])
    dlg = UsersDialog(station)
    qtbot.addWidget(dlg)
    dlg.resize(900, 700)
    dlg.show()
    return dlg


def _select(dlg: UsersDialog, username: str) -> None:
    dlg.table.selectRow([u.username for u in dlg.users].index(username))


def _cert(ctx: Any, username: str) -> str | None:
    with ctx.read_tx() as s:
        return s.execute(select(User.certificate_pem).where(User.username == username)).scalar()


def test_renewing_a_certificate_asks_the_ca_passphrase(qtbot, dialog: UsersDialog, ctx) -> None:  # type: ignore[no-untyped-def]
    _select(dialog, "ad.dana")
    assert not dialog.renew_btn.isEnabled()  # an administrator has no signing key
    _select(dialog, "rn.ana")
    assert dialog.renew_btn.isEnabled()
    before = _cert(ctx, "rn.ana")
    qtbot.mouseClick(dialog.renew_btn, Qt.MouseButton.LeftButton)
    assert "CA passphrase is needed" in dialog.message.text() and _cert(ctx, "rn.ana") == before
    qtbot.keyClicks(dialog.ca_passphrase, "Wrong-passphrase-1")
    qtbot.mouseClick(dialog.renew_btn, Qt.MouseButton.LeftButton)
    assert "not correct" in dialog.message.text() and _cert(ctx, "rn.ana") == before
    dialog.ca_passphrase.clear()
    qtbot.keyClicks(dialog.ca_passphrase, os.environ["NURSESTATION_CA_PASSPHRASE"])
    qtbot.mouseClick(dialog.renew_btn, Qt.MouseButton.LeftButton)
    assert "renewed: valid until" in dialog.message.text(), dialog.message.text()
    assert _cert(ctx, "rn.ana") != before and dialog.ca_passphrase.text() == ""
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "users_dialog_keys.png"))


def test_a_password_reset_gives_a_new_key(
    qtbot, dialog: UsersDialog, ctx, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    answers = iter([(TEMPORARY, True), (TEMPORARY, True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: next(answers))
    _select(dialog, "rn.ana")
    qtbot.keyClicks(dialog.ca_passphrase, os.environ["NURSESTATION_CA_PASSPHRASE"])
    qtbot.mouseClick(dialog.reset_btn, Qt.MouseButton.LeftButton)
    assert "temporary password" in dialog.message.text(), dialog.message.text()
    actor = users.authenticate(ctx, "rn.ana", TEMPORARY)
    assert users.must_change_password(ctx, actor)
    answers = iter([(TEMPORARY, True), ("Other-pass-2026", True)])
    _select(dialog, "cn.ben")
    qtbot.mouseClick(dialog.reset_btn, Qt.MouseButton.LeftButton)
    assert "differ" in dialog.message.text()
    with pytest.raises(DomainError):
        users.authenticate(ctx, "cn.ben", TEMPORARY)  # nothing changed
