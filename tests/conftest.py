"""Shared fixtures. Qt must run offscreen in tests: set before any QApplication exists."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NURSESTATION_STATION", "test-station")
# The station's local zone is printed wherever the clinic shows "local" time (the golden note
# text and exports, tests/golden): pin it so every machine renders the same text.
os.environ["TZ"] = "UTC"

from collections.abc import Iterator
from pathlib import Path

import pytest
from example_runs import ExampleRuns
from support import CHECKLIST_OK, PASSWORD, T0

from nursestation.clock import FakeClock
from nursestation.config import StationConfig, resolve_config

time.tzset()  # apply the TZ set above


@pytest.fixture(autouse=True, scope="session")
def _collect_garbage_in_the_main_thread() -> Iterator[None]:
    """Worker threads (export, note preview, capture) must never run the cyclic collector while
    it could free Qt objects of earlier tests: collect only here, in the main thread."""
    import gc

    gc.disable()
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
    gc.enable()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with minimal cost in tests (tests/core/test_security.py asserts the production
    parameters); hashes made here still verify, since each hash carries its parameters."""
    from argon2 import PasswordHasher

    from nursestation import security

    security._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._HASHER = security.PRODUCTION_HASHER


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    """Collect in the main thread after each test, then freeze the survivors: the next collection
    only scans what later tests allocate, instead of the whole heap every time."""
    yield
    import gc

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> ExampleRuns:
    """Each example scenario run once per test session: `example_runs(name)` -> ExampleRun
    (read-only data directory; `example_runs.copy_data(name, dst)` for a private copy) and
    `example_runs.golden(name)` for its golden outputs (tests/example_runs.py)."""
    return ExampleRuns(tmp_path_factory.mktemp("examples"))


@pytest.fixture
def station(tmp_path: Path) -> StationConfig:
    """A fresh data directory with SQLite inside it."""
    return resolve_config(str(tmp_path / "data"), None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ctx(station: StationConfig, clock: FakeClock) -> Iterator[object]:
    from nursestation.app.context import AppContext

    c = AppContext.open(station, clock=clock)
    yield c
    c.close()


@pytest.fixture
def people(ctx: object) -> dict[str, object]:
    """Three signed-in actors: nurse, charge (charge nurse) and admin, password PASSWORD."""
    from nursestation.app.users import authenticate, provision_user

    out: dict[str, object] = {}
    for key, username, full, role in (
        ("nurse", "rn.ana", "Ana Ruiz, RN", "nurse"),
        ("charge", "cn.ben", "Ben Ode, RN", "charge_nurse"),
        ("admin", "ad.dana", "Dana Admin", "administrator"),
    ):
        provision_user(ctx, username=username, full_name=full, roles={role}, password=PASSWORD)  # type: ignore[arg-type]
        out[key] = authenticate(ctx, username, PASSWORD)  # type: ignore[arg-type]
    return out


@pytest.fixture
def checked_in(ctx: object, people: dict[str, object]) -> int:
    """Jane Doe (70 kg) checked in to chair 1 on 0.5 mg/kg over 40 min at 1 mg/mL; returns the
    session id. No vitals yet."""
    from datetime import date

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    patients.register_patient(
        ctx,
        nurse,
        mrn="K-1001",
        name="Doe, Jane",
        dob=date(1985, 4, 2),
        weight_kg=70,  # type: ignore[arg-type]
        sex="female",
        reproductive_potential=True,
    )
    s = sessions.check_in(
        ctx,
        nurse,
        mrn="K-1001",
        chair="1",
        protocol=Protocol(0.5, 40, 1.0),  # type: ignore[arg-type]
        checklist=CHECKLIST_OK,
    )
    return s.id


@pytest.fixture
def infusing(ctx: object, people: dict[str, object], checked_in: int, clock: FakeClock) -> int:
    """The `checked_in` session with baseline vitals, started 5 minutes after T0."""
    from datetime import timedelta

    from nursestation.app import sessions, vitals

    nurse = people["nurse"]
    clock.advance(minutes=3)
    vitals.record_vitals(
        ctx, nurse, checked_in, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
    )  # type: ignore[arg-type]
    clock.set(T0 + timedelta(minutes=5))
    sessions.start_infusion(ctx, nurse, checked_in)  # type: ignore[arg-type]
    return checked_in
