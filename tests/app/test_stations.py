"""Several stations on one database (issue 15): each sees the others' commits (the change feed,
db/changes.py), and every audit row names the station it was written at. On SQLite (one shared
file) and on PostgreSQL (a throw-away database on the test server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import _people_of
from sqlalchemy import select
from stations import open_station, sync_pg_url  # noqa: F401 - the fixture is used by name
from support import T0

from nursestation.app import audit, patients
from nursestation.app.context import STREAM_TABLES, AppContext
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.db import changes
from nursestation.db.models import AuditEvent, DeviceReading


def test_the_feed_and_the_context_agree_on_the_stream_tables() -> None:
    from nursestation.db.migrations.versions import __path__ as versions

    assert changes.STREAM_TABLES == STREAM_TABLES
    text = (Path(versions[0]) / "0003_sync.py").read_text()
    assert f'CHANNEL = "{changes.CHANNEL}"' in text
    frozen = ", ".join(f'"{t}"' for t in changes.NOTIFIED_TABLES)
    assert f"NOTIFIED_TABLES = ({frozen})" in text


@pytest.fixture(params=["sqlite", "postgresql"])
def two_stations(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Stations A and B (their own contexts) on one database, with three users."""
    clock = FakeClock(T0)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    else:
        url = request.getfixturevalue("sync_pg_url")
    a = AppContext.open(StationConfig(tmp_path / "a", url, "station-A"), clock=clock)
    b = open_station(a, "station-B")
    people = _people_of(a)
    try:
        yield {"a": a, "b": b, "people": people, "clock": clock}
    finally:
        b.close()
        a.close()


def _register(ctx: AppContext, actor: Any, mrn: str) -> None:
    patients.register_patient(
        ctx, actor, mrn=mrn, name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70
    )


def _seen_at_b(b: AppContext) -> changes.Changes | None:
    """B's look, after a moment for a PostgreSQL notice to travel (delivered at commit)."""
    import time

    for _ in range(50):
        found = b.poll_changes()
        if found is not None:
            return found
        time.sleep(0.02)
    return None


def _drain(b: AppContext) -> None:
    """Let B see everything committed so far (notices of PostgreSQL included)."""
    import time

    time.sleep(0.1)
    while b.poll_changes() is not None:
        pass


def test_a_use_case_at_one_station_moves_the_others_versions(two_stations) -> None:
    a, b, nurse = two_stations["a"], two_stations["b"], two_stations["people"]["nurse"]
    _drain(b)
    seen, other, data = b.changes_seen, b.other_version, b.data_version
    _register(a, nurse, "K-1")
    found = _seen_at_b(b)
    assert found is not None and found.other and found.audit_ids  # the entry's rows (and seal)
    assert (b.changes_seen, b.other_version) == (seen + 1, other + 1)
    assert b.data_version > data
    assert b.poll_changes() is None  # seen once


def test_a_stations_own_entry_is_not_news_to_itself(two_stations) -> None:
    """Its versions moved at its own commit; the feed's report of the same rows changes
    nothing more (no second refresh of every view after each entry)."""
    a, b, nurse = two_stations["a"], two_stations["b"], two_stations["people"]["nurse"]
    _drain(a)
    _drain(b)
    seen, other = a.changes_seen, a.other_version
    _register(a, nurse, "K-1")
    assert a.other_version == other + 1  # the commit itself
    _drain(a)
    assert (a.changes_seen, a.other_version) == (seen, other + 1)
    found = _seen_at_b(b)  # while the other station is told
    assert found is not None and found.other and len(found.audit_ids) >= 1


def test_monitor_stream_rows_are_told_from_a_nurses_entry(two_stations) -> None:
    a, b, nurse = two_stations["a"], two_stations["b"], two_stations["people"]["nurse"]
    _register(a, nurse, "K-1")
    _drain(b)
    seen, other, data = b.changes_seen, b.other_version, b.data_version
    with a.tx() as s:  # what the monitor writer stores for a chair without a patient: no audit
        s.add(
            DeviceReading(
                chair="3",
                port="sim://3",
                protocol="nonin",
                param="spo2",
                value=97,
                unit="%",
                quality="ok",
                host_time=datetime(2026, 3, 2, 14, 1, tzinfo=UTC),
            )
        )
    assert _seen_at_b(b) == changes.STREAM
    assert (b.changes_seen, b.other_version) == (seen, other)  # the stream moves data only
    assert b.data_version == data + 1


def test_a_transaction_at_the_other_station_sees_the_change_at_its_start(two_stations) -> None:
    """No GUI looking: a use case at B still keys its caches on what A committed."""
    a, b, nurse = two_stations["a"], two_stations["b"], two_stations["people"]["nurse"]
    _drain(b)
    other = b.other_version
    _register(a, nurse, "K-2")
    if a.engine.dialect.name == "postgresql":
        import time

        time.sleep(0.2)  # the notice travels to B's listening connection
    with b.read_tx() as s:
        s.connection()  # the transaction begins (its versions are noted then)
        assert s.info["other_version"] == other + 1


def test_every_audit_row_names_its_station(two_stations) -> None:
    a, b, people = two_stations["a"], two_stations["b"], two_stations["people"]
    _register(a, people["nurse"], "K-1")
    _register(b, people["nurse"], "K-2")
    page = audit.list_audit(a, people["admin"], audit.AuditFilter(action="patient"))
    stations = {e.after["mrn"] if e.after else None: e.station for e in page.entries}
    assert stations.get("K-1") == "station-A" and stations.get("K-2") == "station-B", stations
    with b.read_tx() as s:
        assert None not in set(s.execute(select(AuditEvent.station)).scalars())


def test_the_board_shows_another_stations_prn_at_once(two_stations) -> None:
    """The board's reused reads (reassessment timers, readiness data: reloaded at most every
    READY_REUSE_S otherwise) follow another station's entry at the next refresh."""
    from support import CHECKLIST_OK

    from nursestation.app import board, medications, sessions, vitals
    from nursestation.dosing import Protocol

    a, b, nurse = two_stations["a"], two_stations["b"], two_stations["people"]["nurse"]
    clock = two_stations["clock"]
    _register(a, nurse, "K-1")
    sid = sessions.check_in(
        a, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    vitals.record_vitals(a, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    sessions.start_infusion(a, nurse, sid)
    clock.advance(minutes=10)
    card = next(c for c in board.board_cards(b, nurse) if c.chair == "1")
    assert card.reassessments == ()
    clock.advance(seconds=1)
    medications.give_medication(
        a, nurse, sid, drug="ondansetron", dose=4, unit="mg", route="IV", indication="nausea"
    )
    _drain_notice(a)
    clock.advance(seconds=1)  # B's next board tick, well inside READY_REUSE_S
    card = next(c for c in board.board_cards(b, nurse) if c.chair == "1")
    assert len(card.reassessments) == 1, card.reassessments


def _drain_notice(a: AppContext) -> None:
    """On PostgreSQL the notice travels to the other station's listening connection."""
    if a.engine.dialect.name == "postgresql":
        import time

        time.sleep(0.2)


def test_a_dropped_or_disabled_notify_trigger_is_named(two_stations) -> None:
    a = two_stations["a"]
    with a.engine.begin() as conn:
        assert changes.missing_notify_triggers(conn) == []
        if a.engine.dialect.name != "postgresql":
            return  # SQLite needs none
        conn.exec_driver_sql("DROP TRIGGER trg_vital_readings_notify ON vital_readings")
        conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER trg_audit_events_notify")
        missing = changes.missing_notify_triggers(conn)
    assert missing == ["trg_audit_events_notify", "trg_vital_readings_notify"]
