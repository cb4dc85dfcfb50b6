"""The capture service below the UI (app/capture.py): one writer stores a monitor second of every
chair in one transaction, keeps refused batches for a retry in order, counts what it received,
and (without a writer thread) stores synchronously for the scenario runner's device frames."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import T0

from nursestation.app import devices as dev
from nursestation.app.capture import CaptureService, FrameFeed
from nursestation.db.models import DeviceReading, VitalReading
from nursestation.devices.reading import VALID, make_reading
from nursestation.devices.simulator import Vitals, masimo_line

WAIT_S = 15.0
HOST = T0 + timedelta(minutes=10)


def _reading(spo2: int, param: str = "spo2") -> Any:
    return make_reading("masimo-ascii", param, spo2, VALID, None, None, HOST, "SN1")


class Listener:
    """A CaptureListener that remembers what it was told, and on which thread."""

    def __init__(self) -> None:
        self.stored_on: list[tuple[str, list[str]]] = []
        self.failures: list[str] = []
        self.states: list[tuple[str, str]] = []
        self.closed_chairs: list[str] = []

    def stored(self, chairs: list[str]) -> None:
        self.stored_on.append((threading.current_thread().name, chairs))

    def state(self, chair: str, state: str, detail: str) -> None:
        self.states.append((chair, state))

    def failed(self, chair: str, message: str) -> None:
        self.failures.append(message)

    def closed(self, chair: str) -> None:
        self.closed_chairs.append(chair)


def _counts(ctx: Any) -> tuple[int, list[float]]:
    with ctx.tx() as s:
        raw = s.execute(select(func.count(DeviceReading.id))).scalar_one()
        spo2 = list(
            s.execute(
                select(VitalReading.spo2)
                .where(VitalReading.source == "device")
                .order_by(VitalReading.id)
            ).scalars()
        )
    return raw, spo2


def _wait(cond: Any, timeout: float = WAIT_S) -> None:
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not cond():
            if deadline.wait(0.01):
                raise AssertionError("condition not met in time")
    finally:
        timer.cancel()


def test_batches_waiting_together_are_stored_in_one_transaction_on_the_writer_thread(
    ctx: Any, infusing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = Listener()
    service = CaptureService(ctx, listener)
    real = dev.ingest_batches
    calls: list[tuple[str, list[str]]] = []
    release = threading.Event()

    def recording(c: Any, batches: Any) -> Any:
        calls.append((threading.current_thread().name, [b[0] for b in batches]))
        if len(calls) == 1:
            release.wait(10)  # hold the writer so the next chairs' batches wait together
        return real(c, batches)

    monkeypatch.setattr(dev, "ingest_batches", recording)
    service.deliver("1", "/dev/tty1", "masimo-ascii", [_reading(95)])
    _wait(lambda: len(calls) == 1)
    for chair, spo2 in (("1", 96), ("2", 97), ("3", 98)):
        service.deliver(chair, f"/dev/tty{chair}", "masimo-ascii", [_reading(spo2)])
    release.set()
    assert service.sync()
    assert calls[1][1] == ["1", "2", "3"]  # one transaction for the three batches
    assert {name for name, _ in calls} == {"device writer"}
    assert listener.stored_on == [("device writer", ["1"]), ("device writer", ["1", "2", "3"])]
    # Chair 1 has a session; chairs 2 and 3 keep raw readings only.
    assert _counts(ctx) == (4, [95, 96])
    service.stop_all()


def test_received_equals_stored_plus_waiting_and_a_refused_write_is_kept_for_the_retry(
    ctx: Any, checked_in: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's reading check: what the workers handed over = stored + waiting for a retry."""
    listener = Listener()
    service = CaptureService(ctx, listener)
    batch = [_reading(v, p) for p, v in (("spo2", 97), ("pulse_rate", 72), ("pi", 3))]
    service.deliver("1", "/dev/ttyS9", "masimo-ascii", batch)
    assert service.sync()
    assert service.readings_received == 3 and service.unsaved_readings() == 0
    assert _counts(ctx)[0] == 3

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("database is locked")

    with monkeypatch.context() as m:
        m.setattr(dev, "ingest_batches", refuse)  # the service's one write path
        service.deliver("1", "/dev/ttyS9", "masimo-ascii", batch)
        assert service.sync()
        assert service.readings_received == 6
        assert service.unsaved_readings() == 3 and _counts(ctx)[0] == 3  # kept for the retry
        assert service.accounted(lambda: _counts(ctx)[0]) == (6, 3, 3)
    assert listener.failures and set(listener.failures) == {"database is locked"}
    service.flush()
    assert service.unsaved_readings() == 0 and _counts(ctx)[0] == 6
    service.stop_all()


def test_without_a_writer_thread_delivery_stores_at_once_and_a_refusal_keeps_the_order(
    ctx: Any, infusing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = Listener()
    service = CaptureService(ctx, listener, threaded=False)
    service.deliver("1", "/dev/tty1", "masimo-ascii", [_reading(95)])
    assert _counts(ctx) == (1, [95])  # stored before deliver returned
    assert listener.stored_on == [(threading.main_thread().name, ["1"])]
    real = dev.ingest_batches

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(dev, "ingest_batches", refuse)
    service.deliver("1", "/dev/tty1", "masimo-ascii", [_reading(96)])
    assert service.unsaved_readings() == 1 and _counts(ctx) == (1, [95])
    monkeypatch.setattr(dev, "ingest_batches", real)
    service.deliver("1", "/dev/tty1", "masimo-ascii", [_reading(97)])
    # The kept batch goes first: the chart keeps the monitor's order.
    assert _counts(ctx) == (3, [95, 96, 97]) and service.unsaved_readings() == 0


def _line(spo2: int, hr: int, when: datetime) -> bytes:
    vitals = Vitals(sbp=0, dbp=0, map=0, hr=hr, spo2=spo2, rr=0, etco2=0, temp_c=0.0, pi=3.5)
    return masimo_line(when.replace(tzinfo=None), vitals)


def test_frame_feed_decodes_with_the_registered_decoder_and_stores_at_the_given_time(
    ctx: Any, infusing: int
) -> None:
    service = CaptureService(ctx, threaded=False)
    feed = FrameFeed(service, "1", "masimo-ascii", "scenario://chair-1")
    line = _line(97, 88, HOST)
    assert feed.feed(line[:20], HOST) == []  # half a line: nothing yet, kept for the next bytes
    readings = feed.feed(line[20:], HOST)
    assert {r.param: r.value for r in readings} == {"spo2": 97, "pulse_rate": 88, "pi": 3.5}
    with ctx.tx() as s:
        row = s.execute(select(VitalReading).where(VitalReading.source == "device")).scalar_one()
        assert (row.spo2, row.pulse_rate, row.hr) == (97, 88, None)
        assert row.observed_at == HOST and row.session_id == infusing
        assert (row.device_port, row.device_protocol) == ("scenario://chair-1", "masimo-ascii")


def test_frame_feed_reports_a_refused_write(
    ctx: Any, infusing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = CaptureService(ctx, threaded=False)
    feed = FrameFeed(service, "1", "masimo-ascii", "scenario://chair-1")

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(dev, "ingest_batches", refuse)
    with pytest.raises(RuntimeError, match="kept for a retry"):
        feed.feed(_line(97, 88, HOST), HOST)
    assert service.unsaved_readings() == 3
