"""The clinic's own certificate authority and each clinical user's signing credential.

Layout of the CA directory (created once, e.g. under the platformdirs data dir):

- ``ca.pem``       the CA certificate (public; auditors verify notes against it)
- ``ca-key.pem``   the CA private key, PKCS#8 encrypted with a random passphrase
- ``ca-key.pass``  that passphrase, file mode 0600 (readable by the OS user only)

Trade-off, stated plainly: a nurse station has no HSM and no operator who can type a CA
passphrase at every user issue, so the passphrase lives next to the key, protected only by the OS
account's file permissions. Encrypting the key then guards against the key file alone leaking
(copied into a ticket, a backup that skips the pass file), not against anyone who can read the
OS user's files — such a person can issue certificates in the clinic's name. A clinic that wants
more passes its own `passphrase` (kept in its password manager) to `create_ca`/`load_ca` and no
pass file is written; with several stations the CA should live on the administrator's machine
only, and stations need just ``ca.pem``.

User credentials are PKCS#12 blobs (EC P-256 key + certificate + CA certificate) encrypted with
the user's own password, which is never stored. Certificates carry digitalSignature and
contentCommitment (non-repudiation), which pyHanko's validator requires.

Since issue 15 the clinic's identity lives in the database (app/identity.py), not in this
directory: the CA certificate is the trust anchor every station reads, and private keys are
*sealed* (`seal` / `unseal` below): AES-256-GCM under a key derived from a password with
Argon2id at the sign-in hash's cost, so a guess against a copied database costs what a guess
against the password hash costs. A user's credential is a PKCS#12 (key, certificate, CA) sealed
under the user's password; the CA key is PKCS#8 sealed under the CA passphrase, which an
administrator types when issuing and which is never stored. The directory functions remain for
importing a station's former CA once.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from nursestation.clock import ensure_utc
from nursestation.errors import BAD_INPUT, BAD_PASSWORD, DUPLICATE, NOT_FOUND, DomainError

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_PASS_FILE = "ca-key.pass"
# Validity periods are IT policy, not clinical numbers: the CA outlives many user certificates;
# users re-issue every three years. Backdating absorbs station clock skew.
CA_VALID_DAYS = 20 * 365
USER_VALID_DAYS = 3 * 365
BACKDATE = timedelta(days=1)


@dataclass(frozen=True)
class ClinicCA:
    """The loaded CA: its certificate and private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def clinic_name(self) -> str:
        """The organisation named in the CA certificate."""
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(attrs[0].value) if attrs else ""


@dataclass(frozen=True)
class Credential:
    """A user's unlocked signing credential (only in memory, only while signing)."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def full_name(self) -> str:
        """The printed name in the certificate (its common name)."""
        return _attr(self.cert, NameOID.COMMON_NAME)

    @property
    def username(self) -> str:
        return _attr(self.cert, NameOID.USER_ID)

    @property
    def role(self) -> str:
        return _attr(self.cert, NameOID.TITLE)


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def _write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with `mode` fixed at creation (no race) and its bytes on disk (fsync)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_private(path: Path, data: bytes) -> None:
    """Create a file readable by the OS user only (mode fixed at creation, no race)."""
    _write_file(path, data, 0o600)


def _fsync_dir(path: Path) -> None:
    """Make renames and new entries in `path` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its renames are already metadata-safe
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Called after each step of CA creation with the step's name; tests replace it to simulate a
# crash between steps (a kill leaves the files exactly as they are at that point).
_after_step: Callable[[str], None] = lambda step: None  # noqa: E731
STAGING_PREFIX = ".ca-new-"


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, clinic_name: str, now: datetime
) -> x509.Certificate:
    """The self-signed CA certificate naming the clinic (organisation and common name)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, clinic_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{clinic_name} signing CA"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def create_ca(
    directory: Path | str,
    clinic_name: str,
    now: datetime,
    *,
    passphrase: bytes | None = None,
) -> ClinicCA:
    """Create the clinic CA in `directory` (refuses to overwrite an existing one).

    Without `passphrase` a random one is generated and written to ``ca-key.pass`` (mode 0600).

    Atomic and durable: every file is written and fsync'd in a staging folder inside
    `directory`, then renamed into place with the certificate last, the directory fsync'd after
    each rename. ``ca.pem`` is the commit point: without it no CA exists (nothing can have been
    signed), and a key or pass file left by an interrupted creation is replaced.
    """
    directory = Path(directory)
    now = ensure_utc(now)
    if (directory / CA_CERT_FILE).exists():
        raise DomainError(DUPLICATE, f"A clinic CA already exists in {directory}.")
    if not clinic_name.strip():
        raise DomainError(
            BAD_INPUT, "The clinic name for the CA must not be empty.", field="clinic_name"
        )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for leftover in directory.glob(STAGING_PREFIX + "*"):  # from an interrupted creation
        shutil.rmtree(leftover, ignore_errors=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _ca_certificate(key, clinic_name, now)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    names: list[str] = []
    if passphrase is None:
        passphrase = secrets.token_urlsafe(32).encode()
        _write_private(staging / CA_PASS_FILE, passphrase)
        names.append(CA_PASS_FILE)
    else:
        (directory / CA_PASS_FILE).unlink(missing_ok=True)  # a stale one would be used instead
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_private(staging / CA_KEY_FILE, key_pem)
    _write_file(staging / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _fsync_dir(staging)
    _after_step("staged")
    for file_name in (*names, CA_KEY_FILE, CA_CERT_FILE):  # the certificate last: the commit
        os.replace(staging / file_name, directory / file_name)
        _fsync_dir(directory)
        _after_step(file_name)
    shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(directory)
    return ClinicCA(cert=cert, key=key)


def load_ca_cert(directory: Path | str) -> x509.Certificate:
    """The clinic CA certificate (all that verification needs)."""
    path = Path(directory) / CA_CERT_FILE
    if not path.exists():
        raise DomainError(NOT_FOUND, f"No clinic CA certificate at {path}.")
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_ca(directory: Path | str, *, passphrase: bytes | None = None) -> ClinicCA:
    """The CA with its key; the passphrase comes from ``ca-key.pass`` unless given."""
    directory = Path(directory)
    cert = load_ca_cert(directory)
    if passphrase is None:
        pass_path = directory / CA_PASS_FILE
        if not pass_path.exists():
            raise DomainError(
                NOT_FOUND, f"No CA passphrase file at {pass_path}; pass the passphrase."
            )
        passphrase = pass_path.read_bytes()
    try:
        key = serialization.load_pem_private_key(
            (directory / CA_KEY_FILE).read_bytes(), password=passphrase
        )
    except ValueError as exc:
        raise DomainError(BAD_PASSWORD, "The clinic CA passphrase is not correct.") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DomainError(BAD_INPUT, "The clinic CA key is not an EC key.")
    return ClinicCA(cert=cert, key=key)


def ensure_ca(directory: Path | str, clinic_name: str, now: datetime) -> ClinicCA:
    """Load the CA in `directory`, creating it on first use."""
    if (Path(directory) / CA_CERT_FILE).exists():
        return load_ca(directory)
    return create_ca(directory, clinic_name, now)


def issue_user_credential(
    ca: ClinicCA,
    username: str,
    full_name: str,
    role: str,
    password: str,
    *,
    now: datetime,
) -> bytes:
    """A credential for one user: EC P-256 key and certificate (with the CA's) in a PKCS#12,
    sealed under `password` (Argon2id at the sign-in hash's cost, see `seal`)."""
    now = ensure_utc(now)
    if not password:
        raise DomainError(BAD_INPUT, "A signing password must not be empty.", field="password")
    if not username.strip() or not full_name.strip():
        raise DomainError(BAD_INPUT, "Username and full name must not be empty.", field="username")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certify_public_key(ca, key.public_key(), username, full_name, role, now=now)
    return _pack(username, key, cert, [ca.cert], password)


def certify_public_key(
    ca: ClinicCA,
    public_key: object,
    username: str,
    full_name: str,
    role: str,
    *,
    now: datetime,
) -> x509.Certificate:
    """A user certificate for `public_key` (a new key at issue, the same key at renewal)."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise DomainError(BAD_INPUT, "A user's signing key must be an EC key.")
    now = ensure_utc(now)
    subject = [
        x509.NameAttribute(NameOID.COMMON_NAME, full_name),
        x509.NameAttribute(NameOID.USER_ID, username),
        x509.NameAttribute(NameOID.TITLE, role),
    ]
    if ca.clinic_name:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, ca.clinic_name))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=USER_VALID_DAYS), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


# ---------------------------------------------------------------- sealed keys (Argon2id)

SEAL_MAGIC = b"NSSEAL1\n"
_SALT_BYTES = 16
_NONCE_BYTES = 12


def _derive(secret: bytes, salt: bytes, t: int, m: int, p: int) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(
        secret, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID
    )


def seal(
    data: bytes,
    secret: str | bytes,
    kdf: tuple[int, int, int] | None = None,
    public: dict[str, str] | None = None,
) -> bytes:
    """`data` encrypted (AES-256-GCM) under a key derived from `secret` with Argon2id.

    `kdf` is (time_cost, memory_cost KiB, parallelism); by default the sign-in hash's
    (security.kdf_parameters). The parameters, salt and nonce are stored in a one-line JSON
    header that is authenticated with the ciphertext, so a sealed blob opens with the cost it
    was made with. `public` adds readable (authenticated, not secret) entries to the header.
    """
    from nursestation.security import kdf_parameters

    t, m, p = kdf or kdf_parameters()
    key_secret = secret.encode() if isinstance(secret, str) else secret
    salt = secrets.token_bytes(_SALT_BYTES)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = json.dumps(
        {
            **(public or {}),
            "kdf": "argon2id",
            "t": t,
            "m": m,
            "p": p,
            "salt": base64.b64encode(salt).decode(),
            "nonce": base64.b64encode(nonce).decode(),
        },
        sort_keys=True,
    ).encode()
    body = AESGCM(_derive(key_secret, salt, t, m, p)).encrypt(nonce, data, SEAL_MAGIC + header)
    return SEAL_MAGIC + header + b"\n" + body


def is_sealed(blob: bytes) -> bool:
    """True for a blob made by `seal` (False for a former bare PKCS#12 credential)."""
    return bytes(blob).startswith(SEAL_MAGIC)


def seal_parameters(blob: bytes) -> dict[str, int]:
    """The Argon2id parameters a sealed blob was made with ({"t", "m", "p"})."""
    header = _split_sealed(blob)[0]
    return {k: int(str(header[k])) for k in ("t", "m", "p")}


def sealed_certificate_sha256(blob: bytes) -> str | None:
    """The SHA-256 of the certificate inside a sealed credential (readable without the
    password), None for the former format."""
    if not is_sealed(blob):
        return None
    value = _split_sealed(blob)[0].get("cert_sha256")
    return str(value) if value else None


def certificate_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER bytes (hex)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _split_sealed(blob: bytes) -> tuple[dict[str, object], bytes, bytes]:
    blob = bytes(blob)
    if not blob.startswith(SEAL_MAGIC):
        raise ValueError("not a sealed key")
    head, sep, body = blob[len(SEAL_MAGIC) :].partition(b"\n")
    if not sep:
        raise ValueError("a sealed key without its header")
    header = json.loads(head)
    if header.get("kdf") != "argon2id":
        raise ValueError(f"unknown key derivation {header.get('kdf')!r}")
    return header, head, body


def unseal(blob: bytes, secret: str | bytes) -> bytes:
    """The data sealed in `blob`; a wrong secret raises DomainError("bad_password")."""
    try:
        header, head, body = _split_sealed(blob)
        salt = base64.b64decode(str(header["salt"]))
        nonce = base64.b64decode(str(header["nonce"]))
        t, m, p = (int(str(header[k])) for k in ("t", "m", "p"))
    except (ValueError, KeyError) as exc:
        raise DomainError(BAD_INPUT, f"The sealed key is damaged: {exc}.") from exc
    key_secret = secret.encode() if isinstance(secret, str) else secret
    from argon2.exceptions import HashingError

    try:
        key = _derive(key_secret, salt, t, m, p)
    except HashingError as exc:  # parameters no seal was made with
        raise DomainError(BAD_INPUT, f"The sealed key is damaged: {exc}.") from exc
    try:
        return AESGCM(key).decrypt(nonce, body, SEAL_MAGIC + head)
    except InvalidTag as exc:
        raise DomainError(BAD_PASSWORD, "The password is not correct.", field="password") from exc


def _pack(
    username: str,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    password: str,
    kdf: tuple[int, int, int] | None = None,
) -> bytes:
    """The credential sealed under `password` (the PKCS#12 inside carries no second
    encryption: the seal is the protection, at the sign-in hash's cost)."""
    p12 = pkcs12.serialize_key_and_certificates(
        username.encode(), key, cert, chain, serialization.NoEncryption()
    )
    return seal(p12, password, kdf, public={"cert_sha256": certificate_sha256(cert)})


def pack_legacy(
    username: str,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    password: str,
) -> bytes:
    """A credential in the former format (PKCS#12 encrypted by its own password, PBKDF2): only
    for opening old rows, the import test and bench/key_guess.py's "before" measurement."""
    return pkcs12.serialize_key_and_certificates(
        username.encode(),
        key,
        cert,
        chain,
        serialization.BestAvailableEncryption(password.encode()),
    )


def open_credential(p12: bytes, password: str) -> Credential:
    """Unlock a credential (sealed, or a former bare PKCS#12); a wrong password raises
    DomainError("bad_password")."""
    wrong = DomainError(
        BAD_PASSWORD, "The password is not correct for this signing credential.", field="password"
    )
    try:
        if is_sealed(p12):
            try:
                inner = unseal(p12, password)
            except DomainError as exc:
                if exc.code == BAD_PASSWORD:
                    raise wrong from exc
                raise
            key, cert, chain = pkcs12.load_key_and_certificates(inner, None)
        else:
            key, cert, chain = pkcs12.load_key_and_certificates(bytes(p12), password.encode())
    except ValueError as exc:
        raise wrong from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert is None:
        raise DomainError(BAD_INPUT, "The signing credential holds no EC key and certificate.")
    return Credential(key=key, cert=cert, chain=tuple(chain))


def rewrap_credential(p12: bytes, old_password: str, new_password: str) -> bytes:
    """Re-seal a credential under a new password (same key and certificate); a former bare
    PKCS#12 comes out sealed."""
    if not new_password:
        raise DomainError(BAD_INPUT, "A signing password must not be empty.", field="new_password")
    cred = open_credential(p12, old_password)
    return _pack(cred.username or "user", cred.key, cred.cert, list(cred.chain), new_password)


def repack_credential(
    cred: Credential, password: str, *, cert: x509.Certificate | None = None
) -> bytes:
    """`cred` sealed under `password`, with `cert` (a renewed certificate for the same key) in
    place of its own when given."""
    cert = cert or cred.cert
    if cert.public_key() != cred.key.public_key():
        raise DomainError(BAD_INPUT, "The certificate does not belong to this signing key.")
    return _pack(cred.username or _attr(cert, NameOID.USER_ID) or "user", cred.key, cert,
                 list(cred.chain), password)  # fmt: skip


# ---------------------------------------------------------------- the CA in the database


def new_ca(clinic_name: str, now: datetime) -> ClinicCA:
    """A new self-signed clinic CA (in memory; app/identity.py stores it)."""
    now = ensure_utc(now)
    if not clinic_name.strip():
        raise DomainError(
            BAD_INPUT, "The clinic name for the CA must not be empty.", field="clinic_name"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    return ClinicCA(cert=_ca_certificate(key, clinic_name.strip(), now), key=key)


def seal_ca_key(ca: ClinicCA, passphrase: str) -> bytes:
    """The CA private key (PKCS#8) sealed under the CA passphrase."""
    if not passphrase:
        raise DomainError(BAD_INPUT, "The CA passphrase must not be empty.", field="ca_passphrase")
    der = ca.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return seal(der, passphrase)


def open_ca(cert_pem: bytes | str, sealed_key: bytes, passphrase: str) -> ClinicCA:
    """The CA with its key from the database's certificate and sealed key; a wrong passphrase
    raises DomainError("bad_password") naming the CA passphrase."""
    pem = cert_pem.encode() if isinstance(cert_pem, str) else bytes(cert_pem)
    cert = x509.load_pem_x509_certificate(pem)
    try:
        der = unseal(sealed_key, passphrase)
    except DomainError as exc:
        if exc.code == BAD_PASSWORD:
            raise DomainError(
                BAD_PASSWORD, "The clinic CA passphrase is not correct.", field="ca_passphrase"
            ) from exc
        raise
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DomainError(BAD_INPUT, "The clinic CA key is not an EC key.")
    if key.public_key() != cert.public_key():
        raise DomainError(BAD_INPUT, "The stored CA key does not belong to the CA certificate.")
    return ClinicCA(cert=cert, key=key)
