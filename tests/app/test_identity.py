"""One clinic identity in the database (issue 15): the clinic CA is the trust anchor every
station reads, its key sealed under a passphrase that is never stored; a user's signing key is
sealed under the user's password with Argon2id; a station's former pki folder is imported once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pg_support import station_config
from sqlalchemy import select

from nursestation.app import export as ex
from nursestation.app import notes, users
from nursestation.app.context import AppContext, clinic_ca_row
from nursestation.app.pki import (
    ca_certificate_pem,
    change_ca_passphrase,
    create_clinic_ca,
    renew_certificate,
)
from nursestation.clock import FakeClock
from nursestation.config import StationConfig, resolve_config
from nursestation.db.models import AuditEvent, NoteDocument, User
from nursestation.errors import DomainError
from nursestation.report import pki
from tests.export_support import ADMIN, ADMIN_PW, copy_station, template_dir
from tests.support import PASSWORD, T0

PASSPHRASE = os.environ["NURSESTATION_CA_PASSPHRASE"]  # tests/conftest.py
NURSE_PW = "Ana-pass-2026"
ADMIN2_PW = "Admin-pass-2027"


def _station(data_dir: Path, name: str, db_url: str | None = None) -> StationConfig:
    base = resolve_config(str(data_dir), db_url)
    return StationConfig(data_dir=base.data_dir, db_url=base.db_url, station=name)


def _audits(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.read_tx() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


# ---------------------------------------------------------------- two stations, one database


@pytest.fixture
def two_stations(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, example_runs: Any
) -> Iterator[tuple[AppContext, AppContext]]:
    """Station A: the signed-note scenario's data directory (notes signed there). Station B: its
    own, empty data directory on A's database (one SQLite file stands for the shared server)."""
    template = template_dir(tmp_path_factory.mktemp("signed"), example_runs("signed_note").data_dir)
    a_dir = copy_station(template, tmp_path / "a")
    shared = station_config(a_dir).db_url  # its SQLite file, or its PostgreSQL database
    a = AppContext.open(_station(a_dir, "station-a", shared))
    b = AppContext.open(_station(tmp_path / "b", "station-b", shared))
    yield a, b
    b.close()
    a.close()


def test_a_note_signed_at_one_station_verifies_and_exports_at_another(
    two_stations: tuple[AppContext, AppContext], tmp_path: Path
) -> None:
    a, b = two_stations
    assert ca_certificate_pem(b) == ca_certificate_pem(a)  # one anchor, from the database
    assert not b.config.pki_dir.exists()  # B made no CA of its own
    admin = users.authenticate(b, ADMIN, ADMIN_PW)
    with b.read_tx() as s:
        note_ids = sorted({d.note_id for d in s.execute(select(NoteDocument)).scalars()})
    assert note_ids
    for note_id in note_ids:
        check = notes.verify_note(b, admin, note_id)
        assert check.ok, check.lines
        assert all("NOT trusted" not in line for line in check.lines)
    # B's administrator export includes them (it dropped them "NOT trusted" before).
    dest = tmp_path / "export"
    flt = ex.ExportFilter.from_strings("2026-03-01", "2026-03-31")
    result = ex.export_notes(b, admin, flt, dest, ("pdf",))
    assert result.ok and len(result.exported) == 2 and not result.failed
    assert (dest / "ca.pem").read_bytes() == ca_certificate_pem(a)


def test_a_key_issued_at_one_station_signs_at_another(tmp_path: Path) -> None:
    """The user's key travels with the user: issued at A (CA passphrase typed there), opened
    at B with the user's password alone."""
    shared = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    a = AppContext.open(_station(tmp_path / "a", "station-a", shared), clock=FakeClock(T0))
    b = AppContext.open(_station(tmp_path / "b", "station-b", shared), clock=FakeClock(T0))
    try:
        users.provision_user(
            a, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=NURSE_PW
        )
        users.authenticate(b, "rn.ana", NURSE_PW)
        with b.read_tx() as s:
            user = s.execute(select(User).where(User.username == "rn.ana")).scalar_one()
        cred = pki.open_credential(bytes(user.signing_credential or b""), NURSE_PW)
        cred.cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_certificate_pem(b)))
    finally:
        b.close()
        a.close()


# ---------------------------------------------------------------- the CA passphrase


def test_a_station_without_the_passphrase_asks_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NURSESTATION_CA_PASSPHRASE")
    ctx = AppContext.open(_station(tmp_path / "s", "s"), clock=FakeClock(T0))
    try:
        with ctx.read_tx() as s:
            assert clinic_ca_row(s) is None  # the first-run wizard creates it
        with pytest.raises(DomainError) as exc:
            create_clinic_ca(ctx, None, "Riverside Ketamine Clinic", "short")
        assert exc.value.field == "ca_passphrase"
        create_clinic_ca(ctx, None, "Riverside Ketamine Clinic", "Clinic-CA-pass-1")
        with pytest.raises(DomainError) as exc:
            create_clinic_ca(ctx, None, "Another", "Clinic-CA-pass-1")
        assert exc.value.code == "duplicate"
        users.create_user(
            ctx, None, username="ad.dana", full_name="Dana", roles={"administrator"},
            password=ADMIN2_PW,
        )  # fmt: skip
        admin = users.authenticate(ctx, "ad.dana", ADMIN2_PW)
        kw = dict(username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=NURSE_PW)
        with pytest.raises(DomainError) as exc:
            users.create_user(ctx, admin, **kw)  # type: ignore[arg-type]
        assert exc.value.field == "ca_passphrase" and "passphrase is needed" in exc.value.message
        with pytest.raises(DomainError) as exc:
            users.create_user(ctx, admin, ca_passphrase="Clinic-CA-pass-2", **kw)  # type: ignore[arg-type]
        assert exc.value.code == "bad_password" and exc.value.field == "ca_passphrase"
        assert [u.username for u in users.list_users(ctx, admin)] == ["ad.dana"]  # rolled back
        users.create_user(ctx, admin, ca_passphrase="Clinic-CA-pass-1", **kw)  # type: ignore[arg-type]
        with ctx.read_tx() as s:
            row = clinic_ca_row(s)
            assert row is not None and row.clinic_name == "Riverside Ketamine Clinic"
            stored = row.cert_pem.encode() + bytes(row.sealed_key or b"")
        assert b"Clinic-CA-pass-1" not in stored  # the passphrase is nowhere beside the key
        assert [e.after["clinic_name"] for e in _audits(ctx, "clinic_ca.create")] == [
            "Riverside Ketamine Clinic"
        ]
    finally:
        ctx.close()


def test_renewal_needs_the_ca_passphrase_not_the_users_password(ctx: AppContext, people: Any, clock: FakeClock) -> None:  # fmt: skip
    admin = people["admin"]
    with ctx.read_tx() as s:
        before = s.execute(
            select(User).where(User.username == people["nurse"].username)
        ).scalar_one()
    old_cert, old_blob = before.certificate_pem, bytes(before.signing_credential or b"")
    clock.advance(days=400)
    with pytest.raises(DomainError) as exc:
        renew_certificate(ctx, admin, people["nurse"].username, "Wrong-passphrase-1")
    assert exc.value.code == "bad_password"
    until = renew_certificate(ctx, admin, people["nurse"].username, PASSPHRASE)
    with pytest.raises(DomainError) as exc:
        renew_certificate(ctx, people["nurse"], people["nurse"].username, PASSPHRASE)
    assert exc.value.code == "not_permitted"
    with ctx.read_tx() as s:
        after = s.execute(
            select(User).where(User.username == people["nurse"].username)
        ).scalar_one()
    assert after.certificate_pem != old_cert and bytes(after.signing_credential or b"") == old_blob
    # The credential takes the renewed certificate at the user's next sign-in.
    users.authenticate(ctx, people["nurse"].username, PASSWORD)
    with ctx.read_tx() as s:
        signed_in = s.execute(
            select(User).where(User.username == people["nurse"].username)
        ).scalar_one()
    cred = pki.open_credential(bytes(signed_in.signing_credential or b""), PASSWORD)
    assert cred.cert.not_valid_after_utc.date().isoformat() == until
    assert len(_audits(ctx, "user.key_reseal")) == 1
    users.authenticate(ctx, people["nurse"].username, PASSWORD)
    assert len(_audits(ctx, "user.key_reseal")) == 1  # nothing more to do


# ---------------------------------------------------------------- the user's key


def test_a_users_key_is_sealed_with_argon2id_and_a_password_change_reseals_it(
    ctx: AppContext, people: Any
) -> None:
    from nursestation.security import kdf_parameters

    nurse = people["nurse"]
    with ctx.read_tx() as s:
        blob = bytes(s.get(User, nurse.user_id).signing_credential)  # type: ignore[union-attr]
    assert pki.is_sealed(blob)
    assert pki.seal_parameters(blob) == dict(zip("tmp", kdf_parameters(), strict=True))
    new_pw = "Ana-newpass-2027"
    users.change_password(ctx, nurse, PASSWORD, new_pw)
    with ctx.read_tx() as s:
        resealed = bytes(s.get(User, nurse.user_id).signing_credential)  # type: ignore[union-attr]
    assert resealed != blob
    with pytest.raises(DomainError) as exc:
        pki.open_credential(resealed, PASSWORD)
    assert exc.value.code == "bad_password"
    assert (
        pki.open_credential(resealed, new_pw).key.public_key()
        == pki.open_credential(blob, PASSWORD).key.public_key()
    )


def test_production_seal_costs_what_the_sign_in_hash_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    from nursestation import security

    monkeypatch.setattr(security, "_HASHER", security.PRODUCTION_HASHER)
    blob = pki.seal(b"key", "Ana-pass-2026")
    ph = security.PRODUCTION_HASHER
    assert pki.seal_parameters(blob) == {
        "t": ph.time_cost,
        "m": ph.memory_cost,
        "p": ph.parallelism,
    }
    assert (ph.memory_cost, ph.time_cost) == (65536, 3)  # RFC 9106's second option
    assert pki.unseal(blob, "Ana-pass-2026") == b"key"
    tampered = blob.replace(b'"m": 65536', b'"m": 8')  # a cheaper header is not accepted
    with pytest.raises(DomainError):
        pki.unseal(tampered, "Ana-pass-2026")


# ---------------------------------------------------------------- a former station is imported once


def test_a_former_stations_pki_folder_and_keys_are_imported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NURSESTATION_CA_PASSPHRASE")
    config = _station(tmp_path / "old", "old-station")
    legacy_ca = pki.create_ca(config.pki_dir, "Old Clinic", T0)  # with its ca-key.pass
    ctx = AppContext.open(config, clock=FakeClock(T0))
    try:
        assert ca_certificate_pem(ctx) == legacy_ca.cert_pem
        [imported] = _audits(ctx, "clinic_ca.import")
        assert imported.after["origin"] == f"imported from {config.pki_dir}"
        # Until an administrator sets the clinic's own passphrase, this station's former
        # passphrase file still opens the imported key.
        users.provision_user(
            ctx, username="ad.dana", full_name="Dana", roles={"administrator"}, password=ADMIN2_PW
        )
        admin = users.authenticate(ctx, "ad.dana", ADMIN2_PW)
        users.provision_user(
            ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=NURSE_PW
        )
        # A key of the former format (PKCS#12 under the password alone) is sealed at sign-in.
        with ctx.tx() as s:
            user = s.execute(select(User).where(User.username == "rn.ana")).scalar_one()
            cred = pki.open_credential(bytes(user.signing_credential or b""), NURSE_PW)
            user.signing_credential = pki.pack_legacy(
                "rn.ana", cred.key, cred.cert, list(cred.chain), NURSE_PW
            )
        users.authenticate(ctx, "rn.ana", NURSE_PW)
        with ctx.read_tx() as s:
            blob = bytes(
                s.execute(
                    select(User.signing_credential).where(User.username == "rn.ana")
                ).scalar_one()
            )
        assert pki.is_sealed(blob)
        assert pki.open_credential(blob, NURSE_PW).key.public_key() == cred.key.public_key()
        change_ca_passphrase(ctx, admin, None, "Clinic-CA-pass-1")
        assert not (config.pki_dir / pki.CA_PASS_FILE).exists()
        assert not (config.pki_dir / pki.CA_KEY_FILE).exists()
        with pytest.raises(DomainError) as exc:
            users.create_user(
                ctx, admin, username="rn.bo", full_name="Bo", roles={"nurse"}, password=NURSE_PW
            )
        assert exc.value.field == "ca_passphrase"
        users.create_user(
            ctx, admin, username="rn.bo", full_name="Bo", roles={"nurse"}, password=NURSE_PW,
            ca_passphrase="Clinic-CA-pass-1",
        )  # fmt: skip
    finally:
        ctx.close()
    again = AppContext.open(config, clock=FakeClock(T0))  # the next start imports nothing
    try:
        assert len(_audits(again, "clinic_ca.import")) == 1
        assert ca_certificate_pem(again) == legacy_ca.cert_pem
    finally:
        again.close()


# ---------------------------------------------------------------- the command line


def test_cli_creates_the_ca_adds_a_nurse_and_renews_her_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from nursestation import cli

    monkeypatch.delenv("NURSESTATION_CA_PASSPHRASE")
    data = str(tmp_path / "station")

    def run(lines: list[str], *argv: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{x}\n" for x in lines)))
        return cli.main([*argv, "--data-dir", data])

    ca_pw = "Clinic-CA-pass-1"
    assert run([ca_pw, "Not-the-same-1"], "ca", "init", "--clinic-name", "Riverside") == 2
    assert run([ca_pw, ca_pw], "ca", "init", "--clinic-name", "Riverside") == 0
    assert "O=Riverside" in capsys.readouterr().out
    assert run([ADMIN2_PW], "user", "add", "ad.dana", "--full-name", "Dana",
               "--role", "administrator") == 0  # fmt: skip
    nurse = ["user", "add", "rn.ana", "--full-name", "Ana", "--role", "nurse", "--user", "ad.dana"]
    assert run([ADMIN2_PW, NURSE_PW, "Wrong-CA-pass-1"], *nurse) == 1  # bad_password
    assert "CA passphrase is not correct" in capsys.readouterr().err
    assert run([ADMIN2_PW, NURSE_PW, ca_pw], *nurse) == 0
    assert run([ADMIN2_PW, ca_pw], "ca", "renew", "rn.ana", "--user", "ad.dana") == 0
    assert "valid until" in capsys.readouterr().out
    new_pw = "Clinic-CA-pass-2"
    assert run([ADMIN2_PW, ca_pw, new_pw, new_pw], "ca", "passphrase", "--user", "ad.dana") == 0
    assert run([ADMIN2_PW, ca_pw], "ca", "renew", "rn.ana", "--user", "ad.dana") == 1
    assert run([ADMIN2_PW, new_pw], "ca", "renew", "rn.ana", "--user", "ad.dana") == 0


def test_a_password_reset_issues_a_new_key_under_the_temporary_password(
    ctx: AppContext, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, nurse = people["admin"], people["nurse"]
    ctx.ca_passphrase = None  # a station: the administrator types it
    with ctx.read_tx() as s:
        old_cert = s.get(User, nurse.user_id).certificate_pem  # type: ignore[union-attr]
    temporary = "Temp-pass-2026"
    with pytest.raises(DomainError) as exc:
        users.reset_password(ctx, admin, nurse.username, temporary)
    assert exc.value.field == "ca_passphrase"
    with pytest.raises(DomainError) as exc:
        users.reset_password(ctx, nurse, people["charge"].username, temporary, PASSPHRASE)
    assert exc.value.code == "not_permitted"
    users.reset_password(ctx, admin, nurse.username, temporary, PASSPHRASE)
    with pytest.raises(DomainError):
        users.authenticate(ctx, nurse.username, PASSWORD)  # the lost password no longer works
    again = users.authenticate(ctx, nurse.username, temporary)
    assert users.must_change_password(ctx, again)
    with ctx.read_tx() as s:
        user = s.get(User, nurse.user_id)
        assert user is not None and user.certificate_pem != old_cert
        cred = pki.open_credential(bytes(user.signing_credential or b""), temporary)
    assert cred.cert.public_bytes(pki.serialization.Encoding.PEM).decode() == user.certificate_pem
    [audit] = _audits(ctx, "user.password_reset")
    assert audit.before == {"signing_key": True} and audit.after["signing_key"] == "new"
