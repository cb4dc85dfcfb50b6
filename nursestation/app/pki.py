"""Clinic PKI in the app: the CA is created on first run; clinical users get a signing credential."""

from __future__ import annotations

# The CA's first-start creation lives with the context that runs it (AppContext.open), so that the
# context does not import this module back: re-exported here under its usual names.
from nursestation.app.context import CA_CERT_NAME, AppContext, ensure_clinic_ca
from nursestation.config import StationConfig
from nursestation.db.models import User
from nursestation.errors import DomainError

__all__ = [
    "CA_CERT_NAME",
    "ca_status",
    "ensure_clinic_ca",
    "issue_for_user",
    "rewrap_for_user",
]

def issue_for_user(ctx: AppContext, user: User, password: str) -> None:
    """Issue the user's key and certificate, the key encrypted with their password."""
    from cryptography.hazmat.primitives import serialization

    from nursestation.report.pki import issue_user_credential, load_ca, open_credential

    ensure_clinic_ca(ctx)
    ca = load_ca(ctx.config.pki_dir)
    role = "charge_nurse" if "charge_nurse" in user.role_names else "nurse"
    p12 = issue_user_credential(ca, user.username, user.full_name, role, password, now=ctx.now())
    user.signing_credential = p12
    cert = open_credential(p12, password).cert
    user.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()


def rewrap_for_user(user: User, old_password: str, new_password: str) -> None:
    """Re-encrypt the user's signing key under their new password."""
    from nursestation.report.pki import rewrap_credential

    assert user.signing_credential is not None
    user.signing_credential = rewrap_credential(user.signing_credential, old_password, new_password)


def ca_status(config: StationConfig) -> tuple[bool, str]:
    """For `nursestation check`: is the clinic CA present, whole and currently valid? Only
    reads: a missing CA is a failure, never created here (a new CA would make every earlier
    note fail verification)."""
    from datetime import UTC, datetime

    from nursestation.report.pki import (
        CA_CERT_FILE,
        CA_KEY_FILE,
        CA_PASS_FILE,
        load_ca,
        load_ca_cert,
    )

    pki = config.pki_dir
    path = pki / CA_CERT_FILE
    if not path.exists():
        return False, (
            f"missing {path}: the app creates it at a new station's first start; if notes were "
            "signed here, restore the pki folder from backup (a new CA would make them fail "
            "verification)"
        )
    try:
        cert = load_ca_cert(pki)
    except ValueError as exc:
        return False, f"{path} is not a readable certificate: {exc}"
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False, f"expired or not yet valid ({cert.not_valid_after_utc:%Y-%m-%d})"
    key, pass_file = (pki / CA_KEY_FILE).exists(), (pki / CA_PASS_FILE).exists()
    if pass_file and not key:
        return False, f"missing {pki / CA_KEY_FILE}: new users cannot get a signing key"
    if key and pass_file:
        try:
            ca = load_ca(pki)
        except (DomainError, ValueError) as exc:
            return False, f"the CA key cannot be opened: {exc}"
        if ca.key.public_key() != cert.public_key():
            return False, f"{pki / CA_KEY_FILE} does not belong to {path}"
    scope = "" if key else " (certificate only: users are issued on the CA station)"
    return True, (
        f"{cert.subject.rfc4514_string()} valid until {cert.not_valid_after_utc:%Y-%m-%d}{scope}"
    )
