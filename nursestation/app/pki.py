"""The clinic's identity in the database: its CA (the trust anchor every station verifies notes
against) and each clinical user's signing key, which travels with the user.

- The CA certificate is stored in the database (`clinic_ca`); its private key is sealed under
  the CA passphrase (Argon2id + AES-GCM, report/pki.seal), which is never stored: an
  administrator types it when a user's key or certificate is issued or renewed.
- A user's key and certificate are sealed under the user's password at the sign-in hash's cost
  (users.signing_credential); a password change re-seals it; the current certificate is also in
  users.certificate_pem, so a renewal needs the CA passphrase but not the user's password (the
  credential takes the new certificate at the user's next sign-in, `reseal_at_sign_in`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

# The CA's start-up import/creation lives with the context that runs it (AppContext.open), so
# that the context does not import this module back: re-exported here under its usual names.
from nursestation.app.context import (
    CA_CERT_NAME,
    Actor,
    AppContext,
    clinic_ca_row,
    ensure_clinic_ca,
    store_clinic_ca,
)
from nursestation.config import StationConfig
from nursestation.db.models import User
from nursestation.errors import BAD_INPUT, DUPLICATE, NOT_FOUND, DomainError
from nursestation.security import check_password_policy

if TYPE_CHECKING:
    from nursestation.report.pki import ClinicCA

__all__ = [
    "CA_CERT_NAME",
    "ca_certificate_pem",
    "ca_status",
    "change_ca_passphrase",
    "create_clinic_ca",
    "ensure_clinic_ca",
    "issue_for_user",
    "renew_certificate",
    "reseal_at_sign_in",
    "rewrap_for_user",
]


def ca_certificate_pem(ctx: AppContext) -> bytes:
    """The clinic CA certificate (PEM) from the database: what every station verifies against."""
    if ctx.ca_pem is None:
        with ctx.read_tx() as s:
            row = clinic_ca_row(s)
        if row is None:
            raise DomainError(
                NOT_FOUND,
                "The clinic has no CA yet: an administrator creates it in the first-run "
                "wizard (run `nursestation check`).",
            )
        ctx.ca_pem = row.cert_pem.encode()
    return ctx.ca_pem


def create_clinic_ca(
    ctx: AppContext, actor: Actor | None, clinic_name: str, passphrase: str
) -> str:
    """Create the clinic CA naming `clinic_name`, its key sealed under `passphrase` (which is
    never stored: it is asked whenever a signing key is issued). Without an actor only on a
    station with no accounts yet (the first-run wizard). Returns the CA's subject."""
    from nursestation.report.pki import new_ca

    if actor is not None:
        ctx.require(actor, "manage_users")
    name = (clinic_name or "").strip()
    if not name:
        raise DomainError(
            BAD_INPUT, "The clinic's name is required (it names the CA).", field="clinic_name"
        )
    check_ca_passphrase(passphrase)
    with ctx.read_tx() as s:
        if actor is None and s.execute(select(User.id).limit(1)).first() is not None:
            raise DomainError(BAD_INPUT, "Only an administrator may create the clinic CA.")
        if clinic_ca_row(s) is not None:
            raise DomainError(DUPLICATE, "The clinic already has a CA.")
    ca = new_ca(name, ctx.now())
    if not store_clinic_ca(ctx, actor, ca, passphrase, "created"):
        raise DomainError(DUPLICATE, "Another station created the clinic CA a moment ago.")
    return ca.cert.subject.rfc4514_string()


def check_ca_passphrase(passphrase: str) -> None:
    """The CA passphrase follows the password rules (security.check_password_policy)."""
    try:
        check_password_policy(passphrase)
    except DomainError as exc:
        raise DomainError(
            exc.code, exc.message.replace("Password", "CA passphrase"), field="ca_passphrase"
        ) from exc


def _unlock_ca(ctx: AppContext, s: Session, ca_passphrase: str | None) -> ClinicCA:
    """The CA with its key. The passphrase: the one typed (`ca_passphrase`), else a set-up
    process's (ctx.ca_passphrase), else the passphrase file of a station whose former CA was
    imported with it (until an administrator sets the clinic's own)."""
    from nursestation.report.pki import CA_PASS_FILE, open_ca

    row = clinic_ca_row(s)
    if row is None:
        raise DomainError(NOT_FOUND, "The clinic has no CA yet: run the first-run wizard.")
    if row.sealed_key is None:
        raise DomainError(
            NOT_FOUND,
            "Only the clinic CA certificate is in the database (imported without its key): "
            "signing keys cannot be issued until the key is imported.",
        )
    passphrase = ca_passphrase or ctx.ca_passphrase
    legacy = ctx.config.pki_dir / CA_PASS_FILE
    if not passphrase and legacy.exists():
        passphrase = legacy.read_text(encoding="utf-8").strip()
    if not passphrase:
        raise DomainError(
            BAD_INPUT,
            "The clinic CA passphrase is needed to issue a signing key.",
            field="ca_passphrase",
        )
    return open_ca(row.cert_pem, bytes(row.sealed_key), passphrase)


def issue_for_user(
    ctx: AppContext, s: Session, user: User, password: str, ca_passphrase: str | None = None
) -> None:
    """Issue the user's key and certificate, sealed under the user's password (inside the
    caller's transaction)."""
    from cryptography.hazmat.primitives import serialization

    from nursestation.report.pki import issue_user_credential, open_credential

    ca = _unlock_ca(ctx, s, ca_passphrase)
    role = "charge_nurse" if "charge_nurse" in user.role_names else "nurse"
    blob = issue_user_credential(ca, user.username, user.full_name, role, password, now=ctx.now())
    user.signing_credential = blob
    cert = open_credential(blob, password).cert
    user.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()


def renew_certificate(ctx: AppContext, actor: Actor, username: str, ca_passphrase: str) -> str:
    """A new certificate for the user's existing key (an administrator types the CA
    passphrase; the user's password is not needed). The signing credential takes it at the
    user's next sign-in. Returns the new expiry date (ISO)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from nursestation.report.pki import certify_public_key

    ctx.require(actor, "manage_users")
    with ctx.tx() as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise DomainError(NOT_FOUND, f"No user named '{username}'.", field="username")
        if user.certificate_pem is None:
            raise DomainError(
                NOT_FOUND,
                f"'{username}' has no signing key to renew: issue one (reset the password).",
                field="username",
            )
        old = x509.load_pem_x509_certificate(user.certificate_pem.encode())
        ca = _unlock_ca(ctx, s, ca_passphrase)
        role = "charge_nurse" if "charge_nurse" in user.role_names else "nurse"
        cert = certify_public_key(
            ca, old.public_key(), user.username, user.full_name, role, now=ctx.now()
        )
        user.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        until = cert.not_valid_after_utc.date().isoformat()
        ctx.audit(
            s,
            actor,
            "user.certificate_renew",
            "user",
            user.id,
            before={"valid_until": old.not_valid_after_utc.date().isoformat()},
            after={"valid_until": until},
        )
        return until


def reseal_at_sign_in(user: User, password: str) -> bool:
    """At a successful sign-in (the password is at hand): seal a credential of the former
    format (PKCS#12 under the password alone) the current way, and put a renewed certificate
    into it. True when the credential changed."""
    from cryptography import x509

    from nursestation.report.pki import (
        certificate_sha256,
        is_sealed,
        open_credential,
        repack_credential,
        sealed_certificate_sha256,
    )

    blob = user.signing_credential
    if blob is None:
        return False
    current = (
        x509.load_pem_x509_certificate(user.certificate_pem.encode())
        if user.certificate_pem
        else None
    )
    if is_sealed(blob) and (
        current is None or sealed_certificate_sha256(blob) == certificate_sha256(current)
    ):
        return False  # read from the header: no key derivation at an ordinary sign-in
    cred = open_credential(bytes(blob), password)
    if current is not None and current.public_key() != cred.key.public_key():
        current = None  # not this key's certificate: keep the credential's own
    user.signing_credential = repack_credential(cred, password, cert=current)
    return True


def rewrap_for_user(user: User, old_password: str, new_password: str) -> None:
    """Re-seal the user's signing key under their new password."""
    from nursestation.report.pki import rewrap_credential

    assert user.signing_credential is not None
    user.signing_credential = rewrap_credential(user.signing_credential, old_password, new_password)


def change_ca_passphrase(ctx: AppContext, actor: Actor, old: str | None, new: str) -> None:
    """Re-seal the CA key under a new passphrase (`old` may be omitted on a station whose former
    CA was imported with its passphrase file; that file is removed afterwards, so the passphrase
    is nowhere on disk). Audited."""
    from nursestation.report.pki import CA_KEY_FILE, CA_PASS_FILE, seal_ca_key

    ctx.require(actor, "manage_users")
    check_ca_passphrase(new)
    with ctx.tx() as s:
        ca = _unlock_ca(ctx, s, old)
        row = clinic_ca_row(s)
        assert row is not None
        row.sealed_key = seal_ca_key(ca, new)
        ctx.audit(s, actor, "clinic_ca.passphrase_change", "clinic_ca", row.id)
    pki = ctx.config.pki_dir
    for name in (CA_PASS_FILE, CA_KEY_FILE):
        (pki / name).unlink(missing_ok=True)


def ca_status(config: StationConfig) -> tuple[bool, str]:
    """For `nursestation check`: is the clinic CA in the database, whole and currently valid?
    Only reads (a missing CA is a failure, never created here)."""
    from datetime import UTC, datetime

    from cryptography import x509
    from sqlalchemy.exc import SQLAlchemyError

    from nursestation.db.engine import make_engine

    engine = make_engine(config.db_url)
    try:
        with Session(engine) as s:
            row = clinic_ca_row(s)
    except SQLAlchemyError as exc:
        return False, f"the database cannot be read ({type(exc).__name__}): start the app once"
    finally:
        engine.dispose()
    legacy = config.pki_dir / CA_CERT_NAME
    if row is None and legacy.exists():
        # A station of the single-station era whose database was migrated (by `check` itself)
        # before the app started: its CA is imported at the next start (ensure_clinic_ca).
        try:
            cert = x509.load_pem_x509_certificate(legacy.read_bytes())
        except ValueError as exc:
            return False, f"{legacy} is not a readable certificate: {exc}"
        return True, (
            f"{cert.subject.rfc4514_string()} valid until {cert.not_valid_after_utc:%Y-%m-%d} "
            f"(in {legacy}: imported into the database at the next start)"
        )
    if row is None:
        return False, (
            "the clinic has no CA in the database: the first-run wizard creates it; if notes "
            f"were signed at a station, restore its pki folder ({config.pki_dir}) and start "
            "the app there once to import it"
        )
    try:
        cert = x509.load_pem_x509_certificate(row.cert_pem.encode())
    except ValueError as exc:
        return False, f"the stored CA certificate is not readable: {exc}"
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False, f"expired or not yet valid ({cert.not_valid_after_utc:%Y-%m-%d})"
    scope = (
        "key sealed under the CA passphrase"
        if row.sealed_key is not None
        else "certificate only: signing keys cannot be issued"
    )
    detail = (
        f"{cert.subject.rfc4514_string()} valid until {cert.not_valid_after_utc:%Y-%m-%d} "
        f"(in the database, {scope})"
    )
    if legacy.exists():
        try:
            other = x509.load_pem_x509_certificate(legacy.read_bytes())
        except ValueError:
            other = None
        if other != cert:
            # A station of the single-station era with a CA of its own: notes it signed fail
            # verification against the clinic's; they are in its former database, if anywhere.
            detail += f"; {legacy} holds another CA, which is not used"
    return True, detail
