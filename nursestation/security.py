"""Passwords: Argon2id hashing (memory-hard), a minimum policy, and the lockout delay rule."""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nursestation.errors import BAD_INPUT, DomainError

# argon2-cffi's defaults follow RFC 9106's second recommended option (Argon2id, 64 MiB, t=3).
PRODUCTION_HASHER = PasswordHasher()
# The hasher in use; the test suite swaps in cheap parameters (tests/conftest.py). A stored hash
# carries its own parameters, so verification works whichever hasher made it.
_HASHER = PRODUCTION_HASHER

MIN_PASSWORD_LENGTH = 10
LOCKOUT_FREE_ATTEMPTS = 3
LOCKOUT_BASE_SECONDS = 30
LOCKOUT_MAX_SECONDS = 15 * 60


def hash_password(password: str) -> str:
    """Argon2id hash with a random salt."""
    return _HASHER.hash(password)


def kdf_parameters() -> tuple[int, int, int]:
    """(time_cost, memory_cost KiB, parallelism) of the Argon2id hasher in use: signing keys are
    wrapped with the same cost as the sign-in hash (report/pki.py), so a guess costs the same."""
    return _HASHER.time_cost, _HASHER.memory_cost, _HASHER.parallelism


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches; never raises on a wrong password or a damaged hash."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_rules() -> tuple[str, ...]:
    """Every rule check_password_policy applies, in words, to show before the first refusal."""
    return (
        f"at least {MIN_PASSWORD_LENGTH} characters",
        "at least two of: lower case, upper case, digits, symbols",
        "must not contain the user name",
    )


def check_password_policy(password: str, username: str = "") -> None:
    """Refuse passwords that are too short, all one class of character, or contain the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            BAD_INPUT,
            f"Password too short: at least {MIN_PASSWORD_LENGTH} characters are required.",
            field="password",
        )
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 2:
        raise DomainError(
            BAD_INPUT,
            "Password too simple: mix at least two of lower case, upper case, digits and symbols.",
            field="password",
        )
    if username and username.lower() in password.lower():
        raise DomainError(BAD_INPUT, "Password must not contain the user name.", field="password")


def lockout_delay(failed_attempts: int) -> timedelta:
    """Delay before the next attempt: none for the first few failures, then doubling, capped."""
    if failed_attempts < LOCKOUT_FREE_ATTEMPTS:
        return timedelta(0)
    steps = failed_attempts - LOCKOUT_FREE_ATTEMPTS
    return timedelta(seconds=min(LOCKOUT_BASE_SECONDS * (2**steps), LOCKOUT_MAX_SECONDS))
