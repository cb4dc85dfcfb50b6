"""The capture bridge: its service (app/capture.py) stores monitor data on ONE writer thread, a
monitor second of all chairs in one transaction, and the bridge tells the GUI thread by queued
signals (issue 19)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import T0

from nursestation.app import devices as dev
from nursestation.db.models import DeviceReading, VitalReading
from nursestation.devices.reading import VALID, make_reading

WAIT_MS = 15_000


def _reading(spo2: int) -> Any:
    host = T0 + timedelta(minutes=10)
    return make_reading("masimo-ascii", "spo2", spo2, VALID, None, None, host, "SN1")


def test_batches_waiting_together_are_stored_in_one_transaction_off_the_gui_thread(
    ctx: Any, people: dict[str, Any], infusing: int, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nursestation.ui.device_bridge import DeviceBridge
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["nurse"])
    bridge = DeviceBridge(station, notify_ms=10)
    real = dev.ingest_batches
    calls: list[tuple[str, list[str]]] = []
    release = threading.Event()

    def recording(c: Any, batches: Any) -> Any:
        calls.append((threading.current_thread().name, [b[0] for b in batches]))
        if len(calls) == 1:
            release.wait(10)  # hold the writer so the next chairs' batches wait together
        return real(c, batches)

    monkeypatch.setattr(dev, "ingest_batches", recording)
    stored: list[str] = []
    bridge.readings_stored.connect(stored.append)
    changed: list[int] = []
    station.changed.connect(lambda: changed.append(1))

    def post(chair: str, spo2: int) -> None:
        bridge.capture.deliver(chair, f"/dev/tty{chair}", "masimo-ascii", [_reading(spo2)])

    post("1", 95)
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=WAIT_MS)
    for chair, spo2 in (("1", 96), ("2", 97), ("3", 98)):
        post(chair, spo2)
    release.set()
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=WAIT_MS)
    assert calls[1][1] == ["1", "2", "3"]  # one transaction for the three batches
    assert {name for name, _ in calls} == {"device writer"}
    assert threading.current_thread() is threading.main_thread()
    # The GUI thread hears about every chair, then one refresh of the views.
    qtbot.waitUntil(
        lambda: sorted(stored) == ["1", "1", "2", "3"] and bool(changed), timeout=WAIT_MS
    )
    with ctx.tx() as s:
        assert s.execute(select(func.count(DeviceReading.id))).scalar_one() == 4
        spo2 = (
            s.execute(
                select(VitalReading.spo2)
                .where(VitalReading.source == "device")
                .order_by(VitalReading.id)
            )
            .scalars()
            .all()
        )
    assert spo2 == [95, 96]  # chair 1 has a session; chairs 2 and 3 keep raw readings only
    bridge.stop_all()


def test_ingest_batches_is_all_or_nothing(
    ctx: Any, infusing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nursestation.app import alarms

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("alarm evaluation failed")

    monkeypatch.setattr(alarms, "on_reading_stored", boom)
    with pytest.raises(RuntimeError):
        dev.ingest_batches(
            ctx,
            [
                ("2", "/dev/tty2", "masimo-ascii", [_reading(97)]),
                ("1", "/dev/tty1", "masimo-ascii", [_reading(96)]),
            ],
        )
    with ctx.tx() as s:
        assert s.execute(select(func.count(DeviceReading.id))).scalar_one() == 0


def test_ingest_batches_equals_one_call_per_batch(ctx: Any, infusing: int) -> None:
    results = dev.ingest_batches(
        ctx,
        [
            ("1", "/dev/tty1", "masimo-ascii", [_reading(96)]),
            ("2", "/dev/tty2", "masimo-ascii", [_reading(97)]),
            ("1", "/dev/tty1", "masimo-ascii", []),
        ],
    )
    assert [(r.device_rows, len(r.vital_ids), r.session_id) for r in results] == [
        (1, 1, infusing),
        (1, 0, None),
        (0, 0, None),
    ]
    assert dev.link_health(ctx, "2") is not None  # live values noted for every chair
