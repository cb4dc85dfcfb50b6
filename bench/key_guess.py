"""Benchmark: what one wrong-password guess against a stolen signing key costs, before and after
issue 15, in the same run.

Run: .venv/bin/python bench/key_guess.py [--guesses 20]

Before: the user's credential as it was stored until issue 15 (and as it is still read, then
re-sealed at the user's next sign-in): a PKCS#12 encrypted with the user's password alone
(cryptography's BestAvailableEncryption: PBKDF2-HMAC-SHA256 and AES-256-CBC).
After: the same key and certificate sealed the current way (report/pki.seal: Argon2id at the
sign-in hash's production parameters, then AES-256-GCM).
For reference, the sign-in hash itself (argon2-cffi PasswordHasher().verify with a wrong
password). Each guess is one call of the app's own opening function with a wrong password;
median wall milliseconds, and the memory each Argon2id guess needs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nursestation.errors import DomainError
from nursestation.report import pki
from nursestation.security import PRODUCTION_HASHER

PASSWORD = "Ana-pass-2026"


def _median_ms(guess: Callable[[], None], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        guess()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guesses", type=int, default=20)
    n = parser.parse_args().guesses
    now = datetime.now(UTC)
    ca = pki.new_ca("Bench Clinic", now)
    ph = PRODUCTION_HASHER
    kdf = (ph.time_cost, ph.memory_cost, ph.parallelism)
    sealed = pki._pack(  # the current format, at production cost
        "rn.ana", *_key_and_cert(ca, now), [ca.cert], PASSWORD, kdf
    )
    legacy = pki.pack_legacy("rn.ana", *_key_and_cert(ca, now), [ca.cert], PASSWORD)
    password_hash = PasswordHasher().hash(PASSWORD)

    def wrong(blob: bytes) -> Callable[[], None]:
        def guess() -> None:
            try:
                pki.open_credential(blob, "wrong-guess-1")
            except DomainError:
                return
            raise AssertionError("a wrong password opened the key")

        return guess

    def sign_in_guess() -> None:
        try:
            PasswordHasher().verify(password_hash, "wrong-guess-1")
        except VerifyMismatchError:
            return

    before = _median_ms(wrong(legacy), max(n, 200))
    after = _median_ms(wrong(sealed), n)
    hash_ms = _median_ms(sign_in_guess, n)
    print(f"guesses: before {max(n, 200)}, after and sign-in hash {n} each (median wall ms)")
    print(f"before  PKCS#12 under the password (PBKDF2):          {before:8.2f} ms per guess")
    print(
        f"after   sealed, Argon2id t={kdf[0]} m={kdf[1] // 1024} MiB p={kdf[2]} + AES-GCM: "
        f"{after:8.2f} ms per guess ({after / before:,.0f}x before)"
    )
    print(f"sign-in Argon2id hash verify (reference):           {hash_ms:8.2f} ms per guess")


def _key_and_cert(
    ca: pki.ClinicCA, now: datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki.certify_public_key(ca, key.public_key(), "rn.ana", "Ana Ruiz, RN", "nurse", now=now)
    return key, cert


if __name__ == "__main__":
    main()
