"""Password hashing: the production parameters are the memory-hard ones (tests run cheaper ones)."""

from __future__ import annotations

from argon2 import Type

from nursestation import security


def test_production_hasher_is_argon2id_with_rfc9106_memory_and_time() -> None:
    h = security.PRODUCTION_HASHER
    assert h.type is Type.ID
    assert h.memory_cost >= 64 * 1024  # KiB: 64 MiB, RFC 9106 second recommended option
    assert h.time_cost >= 3


def test_a_hash_made_with_production_parameters_verifies_and_records_them() -> None:
    stored = security.PRODUCTION_HASHER.hash("Correct-horse-9")
    assert stored.startswith("$argon2id$") and "m=65536,t=3" in stored
    assert security.verify_password(stored, "Correct-horse-9")
    assert not security.verify_password(stored, "correct-horse-9")
