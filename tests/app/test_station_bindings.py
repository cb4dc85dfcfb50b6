"""A chair's monitor binding belongs to one station (issue 15): only that station opens the
port; the other stations show the chair's readings from the database and never open it.
Two stations (their own contexts and capture services) on one SQLite database; the workers are
stand-ins that record which port they were asked to open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from stations import open_station

from nursestation.app import board
from nursestation.app import devices as dev
from nursestation.app.capture import CaptureService
from nursestation.db.models import DeviceBinding
from nursestation.devices.reading import VALID, make_reading
from nursestation.errors import DomainError

PORT = "/dev/ttyUSB0"


class _Opened:
    """Worker stand-in: records the port it was made for; never touches hardware."""

    def __init__(self, log: list[str], url: str, *_args: Any, **_kwargs: Any) -> None:
        self.url = url
        log.append(url)

    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        pass


def _service(ctx: Any, log: list[str]) -> CaptureService:
    return CaptureService(
        ctx, threaded=False, worker_factory=lambda url, *a, **k: _Opened(log, url, *a, **k)
    )


@pytest.fixture
def station_b(ctx: Any) -> Iterator[Any]:
    b = open_station(ctx, "station-B")
    yield b
    b.close()


def test_only_the_binding_station_opens_the_port(ctx, station_b, people, infusing) -> None:
    admin = people["admin"]
    info = dev.bind_device(ctx, admin, "1", "masimo-ascii", PORT, 9600)
    assert info.station == ctx.config.station == "test-station"
    opened_a: list[str] = []
    opened_b: list[str] = []
    a_capture, b_capture = _service(ctx, opened_a), _service(station_b, opened_b)
    assert a_capture.start_all() == ["1"] and opened_a == [PORT]
    assert b_capture.start_all() == [] and opened_b == []
    assert b_capture.restart("1") is False and opened_b == []  # not even when asked
    assert dev.enabled_bindings(station_b) == []
    assert [b.chair for b in dev.enabled_bindings_anywhere(station_b)] == ["1"]


def test_the_other_station_shows_the_readings_from_the_database(
    ctx, station_b, people, infusing
) -> None:
    dev.bind_device(ctx, people["admin"], "1", "masimo-ascii", PORT, 9600)
    host = ctx.now() + timedelta(minutes=1)
    readings = [
        make_reading("masimo-ascii", "spo2", 91.0, VALID, None, host, host, "EQ1"),
        make_reading("masimo-ascii", "hr", 88.0, VALID, None, host, host, "EQ1"),
    ]
    dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", readings)  # A's capture stored them
    card = next(c for c in board.board_cards(station_b, people["nurse"]) if c.chair == "1")
    assert card.latest is not None and (card.latest.spo2, card.latest.hr) == (91.0, 88.0)
    assert card.monitor == board.MONITOR_ELSEWHERE
    assert card.monitor_label == "Monitor: captured at station test-station"
    own = next(c for c in board.board_cards(ctx, people["nurse"]) if c.chair == "1")
    assert own.monitor == board.MONITOR_NOT_CAPTURING  # A's own, nothing running in this test


def test_binding_the_chair_again_at_another_station_moves_the_port(ctx, station_b, people) -> None:
    admin = people["admin"]
    dev.bind_device(ctx, admin, "2", "masimo-ascii", PORT, 9600)
    opened_a: list[str] = []
    opened_b: list[str] = []
    a_capture, b_capture = _service(ctx, opened_a), _service(station_b, opened_b)
    assert a_capture.start_all() == ["2"]
    assert a_capture.release_moved() == []  # still A's
    dev.bind_device(station_b, admin, "2", "masimo-ascii", "/dev/ttyUSB1", 9600)
    assert b_capture.restart("2") is True and opened_b == ["/dev/ttyUSB1"]
    ctx.poll_changes()  # A sees B's change (its change listener does this twice a second)
    assert a_capture.release_moved() == ["2"] and a_capture.running() == {}
    assert a_capture.restart("2") is False


def test_the_same_serial_port_name_on_two_stations_is_two_ports(ctx, station_b, people) -> None:
    """/dev/ttyUSB0 at A and /dev/ttyUSB0 at B are different cables; on one station, one port
    feeds one chair; a network address is the same monitor wherever it is bound from."""
    admin = people["admin"]
    dev.bind_device(ctx, admin, "1", "masimo-ascii", PORT, 9600)
    dev.bind_device(station_b, admin, "2", "masimo-ascii", PORT, 9600)  # B's own ttyUSB0
    with pytest.raises(DomainError) as same_station:
        dev.bind_device(ctx, admin, "3", "masimo-ascii", PORT, 9600)
    assert same_station.value.code == "duplicate" and "chair 1" in same_station.value.message
    dev.bind_device(ctx, admin, "4", "hl7-mllp", "socket://10.0.0.5:4001", 9600)
    with pytest.raises(DomainError) as network:
        dev.bind_device(station_b, admin, "5", "hl7-mllp", "socket://10.0.0.5:4001", 9600)
    assert network.value.code == "duplicate" and "chair 4" in network.value.message


def test_a_binding_without_a_station_is_claimed_by_exactly_one(ctx, station_b, people) -> None:
    """Bindings made before 0003_sync have no station: the first station to start capture
    takes them, the next finds none left."""
    dev.bind_device(ctx, people["admin"], "1", "masimo-ascii", PORT, 9600)
    with ctx.tx() as s:
        s.execute(update(DeviceBinding).values(station=None))
    opened_a: list[str] = []
    opened_b: list[str] = []
    assert _service(station_b, opened_b).start_all() == ["1"] and opened_b == [PORT]
    assert _service(ctx, opened_a).start_all() == [] and opened_a == []
    assert dev.claim_unowned_bindings(ctx) == []
    assert dev.get_binding(ctx, "1").station == "station-B"
