"""The standard worlds of tests/conftest.py: a copy holds exactly the rows the use cases write
when the same world is built live in a test, so copying changes no test's starting point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import conftest
import pytest
from pg_support import station_config
from support import T0

from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.db.engine import make_engine

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


def _rows(url: str) -> dict[str, list[str]]:
    """Every table's rows (as text, sorted) through the station's own engine: SQLite or
    PostgreSQL alike."""
    from sqlalchemy import MetaData, select

    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: dict[str, list[str]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                random = RANDOM_COLUMNS | (RANDOM_AUDIT if name == "audit_events" else set())
                cols = [c for c in table.columns if c.name not in random]
                rows = [dict(r._mapping) for r in conn.execute(select(*cols))]
                for r in rows:
                    if r.get("action") == "fact.seal" and r.get("entity_type") == "users":
                        r["after"] = "<digest of random columns>"
                out[name] = sorted(repr(tuple(r.values())) for r in rows)
        return out
    finally:
        engine.dispose()


@pytest.mark.parametrize("key", [key for key, _build in conftest._STANDARD])
def test_a_copied_world_has_the_rows_of_one_built_live(
    key: str, tmp_path: Path, worlds: Any
) -> None:
    build = dict(conftest._STANDARD)[key]
    copied = worlds.copy(key, build, tmp_path / "copied")
    clock = FakeClock(T0)
    ctx = AppContext.open(station_config(tmp_path / "live"), clock=clock)
    try:
        value = build(ctx, clock)
        centered = ctx.alarm_center is not None
    finally:
        ctx.close()
    assert (copied.value, copied.now, copied.alarm_center) == (value, clock.now(), centered)
    live = _rows(station_config(tmp_path / "live").db_url)
    assert _rows(station_config(tmp_path / "copied").db_url) == live
    if key == "infusing":  # not a trivially empty comparison
        assert len(live["users"]) == 3 and len(live["vital_readings"]) == 1
