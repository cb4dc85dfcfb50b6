"""A throw-away PostgreSQL database for the shared-alarm tests, on the developer's server
(NURSESTATION_TEST_PG_ADMIN, default the loopback dev server). Skipped when no server answers,
except in CI (CI=true), where that is a failure. To be replaced by the suite-wide engine switch
once it lands."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ADMIN_URL = os.environ.get(
    "NURSESTATION_TEST_PG_ADMIN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def pg_database_url(prefix: str) -> Iterator[str]:
    """Create an empty database named `alarms_<prefix>_<random>`, yield its SQLAlchemy URL and
    drop it afterwards."""
    try:
        import psycopg
    except ImportError as exc:
        _unavailable(f"psycopg is not installed ({exc})")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(f"no PostgreSQL server at {ADMIN_URL} ({exc})")
    name = f"alarms_{prefix}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(why)
