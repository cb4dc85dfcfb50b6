"""Support for tests with several stations on one database (issue 15): a second AppContext on
the database of the test's `ctx`, and a throw-away PostgreSQL database.

PostgreSQL: through the suite's `pg_url` fixture (tests/conftest.py, tests/pg_support.py): the
server at NURSESTATION_TEST_PG_URL; without one the test is skipped, except under CI=true, where
it fails.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from nursestation.clock import Clock

DEFAULT_PG_URL = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"


def open_station(ctx: Any, name: str, *, clock: Clock | None = None) -> Any:
    """Another station (its own AppContext, connections and caches, station name `name`) on the
    database of `ctx`, with the same clinic settings and clock unless `clock` is given."""
    from nursestation.app.context import AppContext
    from nursestation.db.engine import make_engine

    config = dataclasses.replace(ctx.config, station=name)
    return AppContext(config, ctx.settings, make_engine(config.db_url), clock or ctx.clock)


def pg_server_url() -> str:
    """The PostgreSQL server the tests may create databases on."""
    return os.environ.get("NURSESTATION_TEST_PG_URL") or DEFAULT_PG_URL


def _reachable_or_skip(url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {url} is not reachable under CI: {exc}")
        pytest.skip(f"no PostgreSQL server reachable at {url}")


@pytest.fixture
def sync_pg_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty PostgreSQL database (dropped afterwards): its SQLAlchemy URL. The suite's
    own `pg_url` fixture (tests/pg_support.py: NURSESTATION_TEST_PG_URL; skipped without a server
    outside CI, failed under CI=true)."""
    return str(request.getfixturevalue("pg_url"))
