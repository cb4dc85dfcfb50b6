"""Clinic settings in the database (issue 15): every station of a clinic uses the same settings;
a change is a new stored version (who, when, why), audited, used by the other stations without
a restart; a station's former overrides file is imported once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nursestation.app import discharge
from nursestation.app.clinic_settings import (
    change_clinic_settings,
    current_overrides,
    settings_history,
)
from nursestation.app.context import SETTINGS_POLL_S, AppContext
from nursestation.clock import FakeClock
from nursestation.config import StationConfig, resolve_config
from nursestation.db.models import AuditEvent
from nursestation.errors import DomainError
from tests.support import T0

KEY = "general.min_observation_min"


def _station(data_dir: Path, name: str, db_url: str | None = None) -> StationConfig:
    base = resolve_config(str(data_dir), db_url)
    return StationConfig(data_dir=base.data_dir, db_url=base.db_url, station=name)


@pytest.fixture
def station_b(ctx: AppContext, tmp_path: Path, clock: FakeClock) -> Iterator[AppContext]:
    """A second station (its own data directory) on the `ctx` station's database."""
    b = AppContext.open(_station(tmp_path / "b", "station-b", ctx.config.db_url), clock=clock)
    yield b
    b.close()


_MRNS = iter(f"K-2{n:03d}" for n in range(1000))
_CHAIRS = iter(["2", "3", "4", "5", "6"])


def _observation(ctx: AppContext, actor: Any) -> int:
    """The minimum observation of a session checked in now at this station (the session keeps
    the value it was checked in under: settings_snapshot)."""
    from datetime import date

    from nursestation.app import patients, sessions
    from nursestation.dosing import Protocol
    from tests.support import CHECKLIST_OK

    mrn = next(_MRNS)
    patients.register_patient(
        ctx, actor, mrn=mrn, name="Roe, Kim", dob=date(1980, 1, 1), weight_kg=70, sex="male",
        reproductive_potential=False,
    )  # fmt: skip
    row = sessions.check_in(
        ctx, actor, mrn=mrn, chair=next(_CHAIRS), protocol=Protocol(0.5, 40, 1.0),
        checklist=CHECKLIST_OK,
    )  # fmt: skip
    return discharge.get_status(ctx, actor, int(row.id)).min_observation_min


def test_a_change_at_one_station_is_used_at_the_other(
    ctx: AppContext, station_b: AppContext, people: dict[str, Any]
) -> None:
    nurse, admin = people["nurse"], people["admin"]
    default = _observation(ctx, nurse)
    assert _observation(station_b, nurse) == default  # the same clinic, the same rule
    with pytest.raises(DomainError) as exc:
        change_clinic_settings(ctx, nurse, {KEY: 45}, "medical director memo 7")
    assert exc.value.code == "not_permitted"
    with pytest.raises(DomainError) as exc:
        change_clinic_settings(ctx, admin, {KEY: 481}, "too long")  # allowed 0-480
    assert exc.value.code == "out_of_range" and exc.value.field == KEY
    assert "from 0 to 480" in exc.value.message
    with pytest.raises(DomainError) as exc:
        change_clinic_settings(ctx, admin, {KEY: 45}, "  ")
    assert exc.value.field == "reason"
    change_clinic_settings(ctx, admin, {KEY: 480}, "medical director memo 7")  # just inside
    assert _observation(ctx, nurse) == 480  # at once where it was changed
    time.sleep(SETTINGS_POLL_S + 0.05)
    assert _observation(station_b, nurse) == 480  # within the poll, no restart
    change_clinic_settings(station_b, admin, {KEY: 45}, "memo 8")
    ctx.settings_may_have_changed()  # as on another station's change notification: at once
    assert _observation(ctx, nurse) == 45
    assert "memo 8" in (ctx.settings.source(KEY) or "")
    history = settings_history(station_b, admin)
    assert [(v.station, v.username, v.reason) for v in history] == [
        ("station-b", "ad.dana", "memo 8"),
        ("test-station", "ad.dana", "medical director memo 7"),
    ]
    with ctx.read_tx() as s:
        audits = list(
            s.execute(
                select(AuditEvent).where(AuditEvent.action == "clinic_settings.change")
            ).scalars()
        )
    assert [(a.station, a.before, a.after) for a in audits] == [
        ("test-station", {KEY: default}, {KEY: 480, "reason": "medical director memo 7"}),
        ("station-b", {KEY: 480}, {KEY: 45, "reason": "memo 8"}),
    ]


def test_a_later_change_keeps_the_earlier_ones(
    ctx: AppContext, station_b: AppContext, people: dict[str, Any]
) -> None:
    admin = people["admin"]
    change_clinic_settings(ctx, admin, {KEY: 40}, "first")
    station_b.refresh_settings()
    change_clinic_settings(station_b, admin, {"general.clinic_phone": "+1 555 0100"}, "second")
    with ctx.read_tx() as s:
        doc = current_overrides(s)
    assert doc["general"]["min_observation_min"]["value"] == 40
    assert doc["general"]["clinic_phone"]["value"] == "+1 555 0100"


def test_a_stations_former_overrides_file_is_imported_once(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    for d, minutes in ((a_dir, 60), (b_dir, 15)):  # the two stations of one clinic
        d.mkdir()
        (d / "clinic.json").write_text(json.dumps({"min_observation_min": minutes}))
    a = AppContext.open(_station(a_dir, "station-a", shared), clock=FakeClock(T0))
    b = AppContext.open(_station(b_dir, "station-b", shared), clock=FakeClock(T0))
    try:
        # A came first: its file is the clinic's first version; B's is not read.
        assert a.settings.get(KEY) == 60 and b.settings.get(KEY) == 60
        assert not (a_dir / "clinic.json").exists()
        assert (a_dir / "clinic.json.imported").exists()
        assert (b_dir / "clinic.json").exists()  # left for IT to look at; `check` says so
        with a.read_tx() as s:
            imports = list(
                s.execute(
                    select(AuditEvent).where(AuditEvent.action == "clinic_settings.import")
                ).scalars()
            )
        assert len(imports) == 1 and imports[0].station == "station-a"
    finally:
        b.close()
        a.close()
    again = AppContext.open(_station(a_dir, "station-a", shared), clock=FakeClock(T0))
    try:
        assert again.settings.get(KEY) == 60  # from the database; the file was imported once
    finally:
        again.close()


def test_check_names_the_stored_version_and_an_unread_station_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nursestation.app.checks import run_checks

    shared = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "clinic.json").write_text('{"min_observation_min": 60}')
    AppContext.open(_station(tmp_path / "a", "a", shared)).close()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "clinic.json").write_text('{"min_observation_min": 15}')
    import io

    out = io.StringIO()
    run_checks(_station(tmp_path / "b", "b", shared), out)
    line = next(x for x in out.getvalue().splitlines() if "clinic settings" in x)
    assert "clinic settings version 1" in line and "is NOT used" in line


def test_settings_read_after_closing_open_no_database(tmp_path: Path) -> None:
    ctx = AppContext.open(_station(tmp_path / "s", "s"), clock=FakeClock(T0))
    db = tmp_path / "s" / "nursestation.sqlite3"
    ctx.close()
    db.unlink()
    ctx.settings_may_have_changed()
    assert ctx.settings.get(KEY) == 60
    assert not db.exists()  # no connection was opened again
