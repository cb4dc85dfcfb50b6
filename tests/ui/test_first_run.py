"""The first-run wizard (issue 18): the clinic's name, phone and time zone and its signing CA
are asked before the CA is created; the password rules are shown before the first refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from nursestation.app.context import AppContext, clinic_ca_row
from nursestation.config import resolve_config
from nursestation.db.models import User
from nursestation.security import password_rules
from nursestation.ui.login import FirstRunDialog

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ADMIN_PW = "Admin-pass-2026"
CA_PW = "Clinic-CA-pass-1"


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppContext]:
    """A station's first start: nobody holds a CA passphrase (no set-up process)."""
    monkeypatch.delenv("NURSESTATION_CA_PASSPHRASE")
    ctx = AppContext.open(resolve_config(str(tmp_path / "station"), None))
    yield ctx
    ctx.close()


def _nothing_created(ctx: AppContext) -> bool:
    with ctx.read_tx() as s:
        users = s.execute(select(func.count(User.id))).scalar_one()
        return users == 0 and clinic_ca_row(s) is None


def _fill(qtbot, dlg: FirstRunDialog, **over: str) -> None:  # type: ignore[no-untyped-def]
    values = {
        "clinic_name": "Riverside Ketamine Clinic",
        "phone": "+1 555 0100",
        "ca_passphrase": CA_PW,
        "ca_passphrase2": CA_PW,
        "username": "ad.dana",
        "full_name": "Dana Admin",
        "password": ADMIN_PW,
        "password2": ADMIN_PW,
        **over,
    }
    for name, text in values.items():
        field = getattr(dlg, name)
        if field.isReadOnly() or not field.isVisibleTo(dlg):
            continue
        field.clear()
        qtbot.keyClicks(field, text)


def test_the_rules_are_shown_before_anything_is_refused(qtbot, fresh: AppContext) -> None:
    dlg = FirstRunDialog(fresh)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.rules.isVisible() and dlg.error.text() == ""
    for rule in password_rules():
        assert rule in dlg.rules.text()
    assert dlg.ca_box.isVisible() and dlg.clinic_name.text() == ""
    assert dlg.time_zone.itemData(0) == "local"
    SHOTS.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(SHOTS / "first_run.png"))


def test_the_wizard_names_the_clinic_before_the_ca_is_created(qtbot, fresh: AppContext) -> None:
    dlg = FirstRunDialog(fresh)
    qtbot.addWidget(dlg)
    dlg.show()
    _fill(qtbot, dlg, clinic_name="")
    dlg.create_account()
    assert "clinic's name is required" in dlg.error.text()
    assert dlg.username.text() == "ad.dana" and dlg.password.text() == ADMIN_PW  # kept
    assert _nothing_created(fresh)
    _fill(qtbot, dlg, ca_passphrase2="Clinic-CA-pass-2")
    dlg.create_account()
    assert "CA passphrases differ" in dlg.error.text() and _nothing_created(fresh)
    _fill(qtbot, dlg, ca_passphrase="short", ca_passphrase2="short")
    dlg.create_account()
    assert "CA passphrase too short" in dlg.error.text() and _nothing_created(fresh)
    _fill(qtbot, dlg, password="Short-1", password2="Short-1")
    dlg.create_account()
    assert "Password too short" in dlg.error.text() and _nothing_created(fresh)
    dlg.time_zone.setEditText("Mars/Olympus_Mons")
    _fill(qtbot, dlg)
    dlg.create_account()
    assert "Time zone 'Mars/Olympus_Mons' is not known" in dlg.error.text()
    assert _nothing_created(fresh)
    dlg.time_zone.setCurrentIndex(dlg.time_zone.findData("America/Chicago"))
    dlg.create_account()
    assert dlg.created == "ad.dana", dlg.error.text()
    with fresh.read_tx() as s:
        row = clinic_ca_row(s)
        assert row is not None
    cert = x509.load_pem_x509_certificate(row.cert_pem.encode())
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == "Riverside Ketamine Clinic"  # the clinic's name in its CA certificate
    settings = fresh.settings
    assert settings.get("general.clinic_name") == "Riverside Ketamine Clinic"  # every note
    assert settings.get("general.clinic_phone") == "+1 555 0100"
    assert settings.get("general.timezone_display") == "America/Chicago"
    assert settings.source("general.clinic_phone") == "first-run wizard"


def test_a_clinic_ca_made_by_it_names_the_clinic_and_is_not_asked_again(
    qtbot, tmp_path: Path
) -> None:
    """A set-up process (IT) made the CA: the wizard shows its clinic name and asks no CA
    passphrase."""
    ctx = AppContext.open(resolve_config(str(tmp_path / "station"), None))
    try:
        dlg = FirstRunDialog(ctx)
        qtbot.addWidget(dlg)
        dlg.show()
        assert not dlg.ca_box.isVisible() and dlg.clinic_name.isReadOnly()
        assert dlg.clinic_name.text() == ctx.settings.get("general.clinic_name")
        _fill(qtbot, dlg)
        dlg.create_account()
        assert dlg.created == "ad.dana", dlg.error.text()
    finally:
        ctx.close()


def test_choosing_a_password_shows_the_rules_first(qtbot, ctx, people) -> None:  # type: ignore[no-untyped-def]
    from nursestation.ui.login import ChangePasswordDialog
    from nursestation.ui.station import Station
    from nursestation.ui.users_dialog import UsersDialog
    from tests.support import PASSWORD

    dlg = ChangePasswordDialog(ctx, people["nurse"], PASSWORD)
    qtbot.addWidget(dlg)
    dlg.show()
    assert all(rule in dlg.rules.text() for rule in password_rules())
    station = Station(ctx)
    station.set_actor(people["admin"])
    users = UsersDialog(station)
    qtbot.addWidget(users)
    labels = " ".join(w.text() for w in users.findChildren(type(dlg.rules)))
    assert all(rule in labels for rule in password_rules())
