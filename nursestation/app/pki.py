"""Clinic PKI in the app: the CA is created on first run; clinical users get a signing credential."""

from __future__ import annotations

from nursestation.app.context import AppContext
from nursestation.config import StationConfig
from nursestation.db.models import User

CA_CERT_NAME = (
    "ca.pem"  # same name as nursestation.report.pki.CA_CERT_FILE (a test keeps them equal)
)


def ensure_clinic_ca(ctx: AppContext) -> None:
    """Create the clinic CA in the data directory on first run (cheap when it exists)."""
    # Checked without importing cryptography: most starts find the CA already there.
    if (ctx.config.pki_dir / CA_CERT_NAME).exists():
        return
    from nursestation.report.pki import ensure_ca

    ensure_ca(ctx.config.pki_dir, ctx.settings.get("general.clinic_name"), ctx.now())


def issue_for_user(ctx: AppContext, user: User, password: str) -> None:
    """Issue the user's key and certificate, the key encrypted with their password."""
    from cryptography.hazmat.primitives import serialization

    from nursestation.report.pki import ensure_ca, issue_user_credential, open_credential

    ca = ensure_ca(ctx.config.pki_dir, ctx.settings.get("general.clinic_name"), ctx.now())
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
    """For `nursestation check`: is the clinic CA present and currently valid?"""
    from datetime import UTC, datetime

    from nursestation.report.pki import CA_CERT_FILE, load_ca_cert

    path = config.pki_dir / CA_CERT_FILE
    if not path.exists():
        return False, f"missing {path} (start the app once to create it)"
    cert = load_ca_cert(config.pki_dir)
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False, f"expired or not yet valid ({cert.not_valid_after_utc:%Y-%m-%d})"
    return True, f"{cert.subject.rfc4514_string()} valid until {cert.not_valid_after_utc:%Y-%m-%d}"
