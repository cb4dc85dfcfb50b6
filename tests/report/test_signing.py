"""PKI, PAdES signing, countersigning and verification against the clinic CA."""

from __future__ import annotations

import logging
import os
import stat
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from pdf_support import visible_text
from pypdf import PdfReader

from nursestation.errors import DomainError
from nursestation.report import pki
from nursestation.report.sample import SAMPLE_START
from nursestation.report.signing import (
    approval_record,
    fill_approval_record,
    format_signing_time,
    prepare_signature_fields,
    record_state,
    render_stamp_pdf,
    sign_note,
)
from nursestation.report.verify import verify_pdf

from .conftest import CHARGE_PW, NURSE_PW, Pki

NURSE_AT = SAMPLE_START + timedelta(hours=2, minutes=2)
CHARGE_AT = SAMPLE_START + timedelta(hours=2, minutes=6)
NURSE_MEANING = "Performed and documented this session"
CHARGE_MEANING = "Reviewed — approved for discharge"


def _nurse_sign(pdf: bytes, p: Pki, password: str = NURSE_PW) -> bytes:
    return sign_note(
        pdf,
        "NurseSignature",
        p.nurse_p12,
        password,
        "Ana Ruiz, RN",
        NURSE_MEANING,
        NURSE_AT,
        p.ca.cert,
        display_tz="America/New_York",
    )


@pytest.fixture(scope="module")
def prepared(note_pdf: bytes) -> bytes:
    return prepare_signature_fields(note_pdf)


@pytest.fixture(scope="module")
def signed_twice(prepared: bytes, clinic_pki: Pki) -> bytes:
    once = _nurse_sign(prepared, clinic_pki)
    return sign_note(
        once,
        "ChargeNurseSignature",
        clinic_pki.charge_p12,
        CHARGE_PW,
        "Ben Ode, RN",
        CHARGE_MEANING,
        CHARGE_AT,
        clinic_pki.ca.cert,
        display_tz="America/New_York",
    )


# ------------------------------------------------------------------ PKI


def test_ca_certificate_is_a_p256_ca_with_cert_signing_only(clinic_pki: Pki) -> None:
    cert = pki.load_ca_cert(clinic_pki.ca_dir)
    assert cert == clinic_pki.ca.cert
    assert cert.public_key().curve.name == "secp256r1"
    bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    assert bc.ca is True
    ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature


def test_ca_key_is_encrypted_and_its_pass_file_private(clinic_pki: Pki) -> None:
    key_pem = (clinic_pki.ca_dir / pki.CA_KEY_FILE).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    for name in (pki.CA_KEY_FILE, pki.CA_PASS_FILE):
        mode = stat.S_IMODE(os.stat(clinic_pki.ca_dir / name).st_mode)
        assert mode == 0o600, name
    reloaded = pki.load_ca(clinic_pki.ca_dir)
    assert reloaded.cert == clinic_pki.ca.cert


def test_ca_is_created_once(clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as err:
        pki.create_ca(clinic_pki.ca_dir, "Another", SAMPLE_START)
    assert err.value.code == "duplicate"
    assert pki.ensure_ca(clinic_pki.ca_dir, "ignored", SAMPLE_START).cert == clinic_pki.ca.cert


def test_wrong_ca_passphrase_is_refused(tmp_path) -> None:
    pki.create_ca(tmp_path, "Clinic", SAMPLE_START, passphrase=b"right")
    assert not (tmp_path / pki.CA_PASS_FILE).exists()
    with pytest.raises(DomainError) as err:
        pki.load_ca(tmp_path, passphrase=b"wrong")
    assert err.value.code == "bad_password"


def test_user_certificate_usage_and_identity(clinic_pki: Pki) -> None:
    cred = pki.open_credential(clinic_pki.nurse_p12, NURSE_PW)
    assert (cred.full_name, cred.username, cred.role) == (
        "Ana Ruiz, RN",
        "rn.ana",
        "Registered nurse",
    )
    ku = cred.cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    bc = cred.cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    assert bc.ca is False
    cred.cert.verify_directly_issued_by(clinic_pki.ca.cert)
    assert cred.chain == (clinic_pki.ca.cert,)


def test_wrong_credential_password_is_refused(clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as err:
        pki.open_credential(clinic_pki.nurse_p12, NURSE_PW + "x")
    assert err.value.code == "bad_password"


def test_rewrap_changes_the_password_not_the_key(clinic_pki: Pki) -> None:
    new = pki.rewrap_credential(clinic_pki.nurse_p12, NURSE_PW, "new-Password-9")
    before = pki.open_credential(clinic_pki.nurse_p12, NURSE_PW)
    after = pki.open_credential(new, "new-Password-9")
    assert after.cert == before.cert
    assert after.key.private_numbers() == before.key.private_numbers()
    with pytest.raises(DomainError) as err:
        pki.open_credential(new, NURSE_PW)
    assert err.value.code == "bad_password"
    with pytest.raises(DomainError) as err:
        pki.rewrap_credential(clinic_pki.nurse_p12, "wrong", "x")
    assert err.value.code == "bad_password"


def test_empty_password_is_refused(clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as err:
        pki.issue_user_credential(clinic_pki.ca, "u", "U", "nurse", "", now=SAMPLE_START)
    assert err.value.code == "bad_input"


# ------------------------------------------------------------------ signing


def test_both_fields_exist_before_the_first_signature(prepared: bytes, note_pdf: bytes) -> None:
    reader = PdfReader(BytesIO(prepared))
    assert set(reader.get_fields() or {}) == {
        "NurseSignature",
        "ChargeNurseSignature",
        "ApprovalRecord",
    }
    assert prepared.startswith(note_pdf)  # an incremental update, not a rewrite
    last = reader.pages[-1]
    rects = sorted([round(float(v)) for v in a.get_object()["/Rect"]] for a in last["/Annots"])
    assert rects == [[43, 66, 296, 150], [43, 198, 569, 232], [316, 66, 569, 150]]
    assert approval_record(prepared) is None


def test_a_field_off_whole_points_is_refused_not_moved(note_pdf: bytes) -> None:
    """pyHanko's field rectangle is in whole points: the layout's boxes are, and a box that is
    not is refused rather than silently shifted against the box the note drew."""
    from nursestation.report.layout import SignatureBox

    box = SignatureBox("NurseSignature", 43.5, 66.0, 296.0, 150.0)
    with pytest.raises(ValueError, match="not on whole points"):
        prepare_signature_fields(note_pdf, layout=(box,), approval_box=None)


def test_sign_and_countersign_verify_trusted(signed_twice: bytes, clinic_pki: Pki) -> None:
    result = verify_pdf(signed_twice, clinic_pki.ca.cert)
    assert result.ok
    nurse, charge = result.signatures
    assert (nurse.field_name, nurse.signer_name) == ("NurseSignature", "Ana Ruiz, RN")
    assert (charge.field_name, charge.signer_name) == ("ChargeNurseSignature", "Ben Ode, RN")
    for s in (nurse, charge):
        assert s.intact and s.valid and s.trusted and s.bottom_line and s.docmdp_ok
    assert (nurse.coverage, nurse.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert (charge.coverage, charge.modification_level) == ("ENTIRE_FILE", "NONE")
    assert nurse.meaning == NURSE_MEANING and charge.meaning == CHARGE_MEANING
    assert nurse.signing_time == NURSE_AT and charge.signing_time == CHARGE_AT


def test_stamp_shows_printed_name_time_with_zone_and_meaning() -> None:
    when = format_signing_time(NURSE_AT, "America/New_York")
    assert when == "2026-03-02 11:02 EST (UTC-05:00)"
    stamp = render_stamp_pdf(
        253,
        84,
        "Zoë Łukasiewicz, RN",
        "Registered nurse · user rn.zoe",
        when,
        NURSE_MEANING,
        "X CA",
    )
    text = PdfReader(BytesIO(stamp)).pages[0].extract_text()
    assert "Zoë Łukasiewicz, RN" in text
    assert "Date and time: 2026-03-02 11:02 EST (UTC-05:00)" in text
    assert f"Meaning: {NURSE_MEANING}" in text


def test_each_signed_widget_has_a_visible_appearance(signed_twice: bytes) -> None:
    reader = PdfReader(BytesIO(signed_twice))
    widgets = [a.get_object() for a in reader.pages[-1]["/Annots"]]
    assert {str(w["/T"]) for w in widgets} == {
        "NurseSignature",
        "ChargeNurseSignature",
        "ApprovalRecord",
    }
    for widget in (w for w in widgets if w["/FT"] == "/Sig"):
        appearance = widget["/AP"]["/N"].get_object()
        assert appearance["/BBox"][2] == pytest.approx(253, abs=0.5)
        assert len(appearance["/Resources"]["/XObject"]) == 1  # the rendered stamp


def test_countersignature_is_an_incremental_update(signed_twice: bytes, prepared: bytes) -> None:
    assert signed_twice.startswith(prepared)
    assert signed_twice.count(b"%%EOF") == prepared.count(b"%%EOF") + 2


def test_certificate_from_another_ca_is_untrusted(prepared: bytes, clinic_pki: Pki, caplog) -> None:
    # Signing refuses a foreign certificate outright...
    with pytest.raises(DomainError) as err:
        sign_note(
            prepared,
            "NurseSignature",
            clinic_pki.intruder_p12,
            NURSE_PW,
            "Eve",
            "x",
            NURSE_AT,
            clinic_pki.ca.cert,
        )
    assert err.value.code == "not_permitted"
    # ...and a note signed under the other CA does not verify against ours.
    foreign = sign_note(
        prepared,
        "NurseSignature",
        clinic_pki.intruder_p12,
        NURSE_PW,
        "Eve Mallory, RN",
        "x",
        NURSE_AT,
        clinic_pki.other_ca.cert,
    )
    with caplog.at_level(logging.WARNING):
        result = verify_pdf(foreign, clinic_pki.ca.cert)
    assert not result.ok
    (sig,) = result.signatures
    assert sig.intact and sig.valid
    assert not sig.trusted and not sig.bottom_line
    assert sig.problem.startswith("untrusted")
    assert not [r for r in caplog.records if r.exc_info]  # no traceback spam
    assert verify_pdf(foreign, clinic_pki.other_ca.cert).ok


def test_one_flipped_byte_fails_verification(signed_twice: bytes, clinic_pki: Pki) -> None:
    tampered = bytearray(signed_twice)
    tampered[2000] ^= 0x01  # inside the original note, covered by both signatures
    result = verify_pdf(bytes(tampered), clinic_pki.ca.cert)
    assert not result.ok
    assert all(not s.intact and not s.bottom_line for s in result.signatures)


def test_flip_in_the_countersigned_revision_breaks_only_that_signature(
    signed_twice: bytes, clinic_pki: Pki
) -> None:
    nurse_end = signed_twice.rindex(b"%%EOF", 0, len(signed_twice) - 10) + len(b"%%EOF\n")
    tampered = bytearray(signed_twice)
    tampered[nurse_end + 400] ^= 0x01  # inside the stamp stream of the charge nurse's revision
    result = verify_pdf(bytes(tampered), clinic_pki.ca.cert)
    assert not result.ok
    nurse, charge = result.signatures
    assert nurse.bottom_line  # the nurse's revision itself is untouched
    assert not charge.intact and not charge.bottom_line
    assert charge.problem == "document changed after signing"


def test_wrong_password_is_refused_and_nothing_is_signed(prepared: bytes, clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as err:
        _nurse_sign(prepared, clinic_pki, password="not-it")
    assert err.value.code == "bad_password"


def test_a_signed_field_cannot_be_signed_again(signed_twice: bytes, clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as err:
        _nurse_sign(signed_twice, clinic_pki)
    assert err.value.code == "invalid_state"


def test_unsigned_pdf_is_not_ok(prepared: bytes, clinic_pki: Pki) -> None:
    result = verify_pdf(prepared, clinic_pki.ca.cert)
    assert result.signatures == () and not result.ok


def test_garbage_is_not_ok(clinic_pki: Pki) -> None:
    result = verify_pdf(b"not a pdf at all", clinic_pki.ca.cert)
    assert not result.ok and result.error


def test_expired_certificate_cannot_sign(prepared: bytes, clinic_pki: Pki) -> None:
    late = datetime(2040, 1, 1, tzinfo=UTC)
    with pytest.raises(DomainError) as err:
        sign_note(
            prepared,
            "NurseSignature",
            clinic_pki.nurse_p12,
            NURSE_PW,
            "Ana Ruiz, RN",
            NURSE_MEANING,
            late,
            clinic_pki.ca.cert,
        )
    assert err.value.code == "not_permitted"


def test_ca_cert_may_be_given_as_pem(signed_twice: bytes, clinic_pki: Pki) -> None:
    assert verify_pdf(signed_twice, clinic_pki.ca.cert_pem).ok
    assert isinstance(pki.load_ca_cert(clinic_pki.ca_dir), x509.Certificate)


# ------------------------------------------------------------------ discharge approval record

APPROVAL_TEXT = (
    "Approved for discharge by Ben Ode, RN (charge nurse; user cn.ben) on 2026-03-02 11:06 EST "
    "(UTC-05:00). Meaning: reviewed the session record and approved the patient for discharge."
)


def _countersign(pdf: bytes, p: Pki) -> bytes:
    return sign_note(
        pdf,
        "ChargeNurseSignature",
        p.charge_p12,
        CHARGE_PW,
        "Ben Ode, RN",
        CHARGE_MEANING,
        CHARGE_AT,
        p.ca.cert,
        display_tz="America/New_York",
    )


@pytest.fixture(scope="module")
def approved(prepared: bytes, clinic_pki: Pki) -> bytes:
    return _countersign(
        fill_approval_record(_nurse_sign(prepared, clinic_pki), APPROVAL_TEXT), clinic_pki
    )


def test_nurse_signed_note_does_not_claim_an_approval(prepared: bytes, clinic_pki: Pki) -> None:
    text = visible_text(_nurse_sign(prepared, clinic_pki))
    assert "Not approved: filled in when a charge nurse approves the discharge." in text
    assert "not yet approved" not in text


def test_approved_note_text_names_approver_time_and_meaning(
    approved: bytes, clinic_pki: Pki
) -> None:
    assert approval_record(approved) == APPROVAL_TEXT
    fields = PdfReader(BytesIO(approved)).get_form_text_fields()
    assert fields["ApprovalRecord"] == APPROVAL_TEXT
    text = " ".join(visible_text(approved).split())
    for words in ("Approved for discharge by Ben Ode, RN", "2026-03-02 11:06 EST", "Meaning:"):
        assert words in text
    assert "Not approved" not in text
    result = verify_pdf(approved, clinic_pki.ca.cert)
    assert result.ok
    nurse, charge = result.signatures
    # Filling the approval record is form filling: the nurse's signature stays valid.
    assert (nurse.modification_level, charge.coverage) == ("FORM_FILLING", "ENTIRE_FILE")


def test_changing_the_approval_record_after_countersigning_fails_verification(
    approved: bytes, clinic_pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(BytesIO(approved))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == "ApprovalRecord":
            field[generic.NameObject("/V")] = generic.TextStringObject("Approved by Mallory")
            writer.update_container(field)
    out = BytesIO()
    writer.write(out)
    with caplog.at_level(logging.CRITICAL):
        result = verify_pdf(out.getvalue(), clinic_pki.ca.cert)
    assert not result.ok
    nurse, charge = result.signatures
    assert nurse.bottom_line and not charge.bottom_line  # the lock is the countersignature's


def test_approval_record_is_filled_once(approved: bytes) -> None:
    with pytest.raises(DomainError) as exc:
        fill_approval_record(approved, "again")
    assert exc.value.code == "invalid_state"


def test_record_state_is_kept_in_the_signed_document(note_pdf: bytes, clinic_pki: Pki) -> None:
    prepared = prepare_signature_fields(note_pdf, record_state='{"vital_readings":[3,17]}')
    signed = _nurse_sign(prepared, clinic_pki)
    assert record_state(signed) == '{"vital_readings":[3,17]}'
    assert verify_pdf(signed, clinic_pki.ca.cert).ok
    assert record_state(note_pdf) is None


# ------------------------------------------------------------------ CA creation survives a crash


class _Killed(BaseException):
    """Stands for a kill: nothing after the step runs (not even `except Exception`)."""


def test_a_crash_while_the_ca_is_stored_leaves_a_station_that_starts(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA is stored in the database in one transaction (app/context.store_clinic_ca): a kill
    after the row is written but before the commit leaves no CA, and the next start makes one."""
    from nursestation.app.context import AppContext, clinic_ca_row
    from nursestation.config import resolve_config

    def killed(*_args: object, **_kw: object) -> None:
        raise _Killed("audit")

    config = resolve_config(str(tmp_path / "station"), None)
    monkeypatch.setattr(AppContext, "audit", killed)
    with pytest.raises(_Killed):
        AppContext.open(config)  # the first start, killed inside the CA's transaction
    monkeypatch.undo()
    ctx = AppContext.open(config)  # the next start
    try:
        with ctx.read_tx() as s:
            row = clinic_ca_row(s)
            assert row is not None and row.sealed_key is not None
        ca = pki.open_ca(row.cert_pem, row.sealed_key, os.environ["NURSESTATION_CA_PASSPHRASE"])
        cred = pki.issue_user_credential(ca, "rn.ana", "Ana Ruiz, RN", "nurse", NURSE_PW,
                                         now=datetime.now(UTC))  # fmt: skip
        pki.open_credential(cred, NURSE_PW).cert.verify_directly_issued_by(ca.cert)
    finally:
        ctx.close()
    assert not config.pki_dir.exists()  # nothing on disk


def test_ca_files_and_directory_are_fsynced(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to name file descriptors")
    monkeypatch.setattr(os, "fsync", spy)
    ca_dir = tmp_path / "pki"
    pki.create_ca(ca_dir, "Clinic", SAMPLE_START)
    names = {Path(p).name for p in synced}
    assert {pki.CA_PASS_FILE, pki.CA_KEY_FILE, pki.CA_CERT_FILE} <= names  # each file's bytes
    assert str(ca_dir) in synced  # the renames into the directory
    assert stat.S_IMODE(os.stat(ca_dir / pki.CA_CERT_FILE).st_mode) == 0o644
