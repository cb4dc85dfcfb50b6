"""The standard worlds of tests/conftest.py: a copy holds exactly the rows the use cases write
when the same world is built live in a test, so copying changes no test's starting point."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import conftest
import pytest
from support import T0

from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.config import DB_FILENAME, resolve_config

# Fresh per build by design: password salts, signing keys and the certificates holding them.
RANDOM_COLUMNS = {
    "password_hash",
    "signing_credential",
    "certificate_pem",
    "cert_pem",
    "sealed_key",
}
# Each user's audit seal digests those random columns (db/seals.py), and every chain hash after
# it follows: the digest of a user's seal and the chain's hashes are masked (the rest compared).
RANDOM_AUDIT = {"prev_hash", "hash"}


def _rows(db: Path) -> dict[str, list[str]]:
    con = sqlite3.connect(db)
    try:
        out: dict[str, list[str]] = {}
        tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for (table,) in tables.fetchall():
            cols = [r[1] for r in con.execute(f"PRAGMA table_info('{table}')")]
            random = RANDOM_COLUMNS | (RANDOM_AUDIT if table == "audit_events" else set())
            names = [c for c in cols if c not in random]
            keep = ", ".join(f'"{c}"' for c in names)
            rows = [
                dict(zip(names, r, strict=True))
                for r in con.execute(f"SELECT {keep} FROM '{table}'")
            ]
            for r in rows:
                if r.get("action") == "fact.seal" and r.get("entity_type") == "users":
                    r["after"] = "<digest of random columns>"
            out[table] = sorted(repr(tuple(r.values())) for r in rows)
        return out
    finally:
        con.close()


@pytest.mark.parametrize("key", [key for key, _build in conftest._STANDARD])
def test_a_copied_world_has_the_rows_of_one_built_live(
    key: str, tmp_path: Path, worlds: Any
) -> None:
    build = dict(conftest._STANDARD)[key]
    copied = worlds.copy(key, build, tmp_path / "copied")
    clock = FakeClock(T0)
    ctx = AppContext.open(resolve_config(str(tmp_path / "live"), None), clock=clock)
    try:
        value = build(ctx, clock)
        centered = ctx.alarm_center is not None
    finally:
        ctx.close()
    assert (copied.value, copied.now, copied.alarm_center) == (value, clock.now(), centered)
    live = _rows(tmp_path / "live" / DB_FILENAME)
    assert _rows(tmp_path / "copied" / DB_FILENAME) == live
    if key == "infusing":  # not a trivially empty comparison
        assert len(live["users"]) == 3 and len(live["vital_readings"]) == 1
