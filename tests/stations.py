"""Support for tests with several stations on one database (issue 15): a second AppContext on
the database of the test's `ctx`, and a throw-away PostgreSQL database.

PostgreSQL: the server at NURSESTATION_TEST_PG_URL (default: the developer server on loopback,
postgresql://postgres:postgres@127.0.0.1:5432/postgres). When it cannot be reached the test is
skipped, except under CI=true, where it fails: CI must run it. (Engineer "pg" is adding the
project-wide fixture; these tests move to it once it is on main.)
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
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
def sync_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards): its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    server = pg_server_url()
    admin = _reachable_or_skip(server)
    name = f"sync_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
