"""Monitor capture end to end over a real pseudo-terminal: a simulated Masimo writes, the capture
worker reads, the bridge's writer thread stores, and the chair board and the Devices dialog
show it. Pulling the "cable" raises a technical alarm; plugging it back resumes capture."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nursestation.app import devices as dev
from nursestation.db.models import AlarmEvent, DeviceBinding, DeviceReading, VitalReading
from nursestation.devices.ports import PortInfo
from nursestation.devices.reading import UNAVAILABLE, VALID
from nursestation.devices.simulator import PtyPort, SessionPlayer

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")

WAIT_MS = 15_000  # generous: the suite may share a loaded machine
WORKER = {"backoff_initial": 0.1, "backoff_max": 1.0}


def db_rows(ctx: Any, model: Any) -> list[Any]:
    with ctx.tx() as s:
        found = list(s.execute(select(model).order_by(model.id)).scalars())
        s.expunge_all()
        return found


class Feeder:
    """A simulated Masimo playing into a pty on its own thread (restartable after a replug)."""

    def __init__(self, pty: PtyPort, speed: float = 5.0) -> None:
        self.pty = pty
        self.speed = speed
        self.stop = threading.Event()
        self.player: SessionPlayer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> SessionPlayer:
        self.player = SessionPlayer("masimo-ascii", duration_s=3600, speed=self.speed)
        self.thread = threading.Thread(target=self.player.play, args=(self.pty, self.stop))
        self.thread.start()
        return self.player

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
        self.pty.close()


@pytest.fixture
def gui(ctx: Any, people: dict[str, Any], infusing: int, qtbot: Any, tmp_path: Path) -> Any:
    from nursestation.ui.board import ChairBoard
    from nursestation.ui.device_bridge import DeviceBridge
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["charge"])
    board = ChairBoard(station)
    qtbot.addWidget(board)
    bridge = DeviceBridge(station, worker_options=WORKER, notify_ms=100)
    feeder = Feeder(PtyPort(tmp_path / "chair-1"))
    yield {
        "station": station,
        "board": board,
        "bridge": bridge,
        "feeder": feeder,
        "link": str(tmp_path / "chair-1"),
        "session": infusing,
    }
    bridge.stop_all()
    feeder.close()


def test_capture_over_a_pty_reaches_the_database_and_the_card_and_survives_a_cable_pull(
    ctx: Any, people: dict[str, Any], gui: Any, qtbot: Any
) -> None:
    station, board, bridge, feeder = gui["station"], gui["board"], gui["bridge"], gui["feeder"]
    link, session_id = gui["link"], gui["session"]
    dev.bind_device(ctx, people["charge"], "1", "masimo-ascii", link, 9600)
    assert bridge.start_all() == ["1"]
    feeder.start()
    card = board.card("1")

    def device_vitals() -> list[VitalReading]:
        return [v for v in db_rows(ctx, VitalReading) if v.source == "device"]

    qtbot.waitUntil(lambda: len(device_vitals()) >= 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "SpO₂ 9" in card.vitals.text(), timeout=WAIT_MS)
    assert "Monitor: receiving" in card.monitor.text()
    raw = db_rows(ctx, DeviceReading)
    assert {r.param for r in raw} == {"spo2", "pulse_rate", "pi"}
    assert all(r.port == link and r.protocol == "masimo-ascii" for r in raw)
    assert all(r.session_id == session_id and r.device_id == "0000056661" for r in raw)
    v = device_vitals()[-1]
    assert v.session_id == session_id and v.device_port == link
    assert 97 <= v.spo2 <= 99 and v.pulse_rate is not None and v.sbp is None
    # The card shows a device frame (HR is the oximeter's pulse rate), not the manual baseline.
    pairs = {f"HR {d.pulse_rate:.0f}  SpO₂ {d.spo2:.0f}" for d in device_vitals()}
    assert any(p in card.vitals.text() for p in pairs), (card.vitals.text(), pairs)

    # Probe off for a while: unavailable values are kept raw, never charted.
    feeder.player.inject("probe_off", duration_s=3)
    qtbot.waitUntil(
        lambda: any(r.quality == UNAVAILABLE for r in db_rows(ctx, DeviceReading)),
        timeout=WAIT_MS,
    )

    # Pull the cable: the worker loses the port, the card shows a technical alarm.
    stamps: list[tuple[float, str]] = []
    worker = bridge.worker("1")
    assert worker is not None
    forward = worker.on_state
    worker.on_state = lambda state, detail: (
        stamps.append((time.monotonic(), state)),
        forward(state, detail),
    )
    feeder.pty.pull()
    qtbot.waitUntil(lambda: "Monitor: link lost" in card.monitor.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "TECHNICAL" in card.alarm_text(), timeout=WAIT_MS)
    assert "Monitor link lost" in card.alarm_text()
    during = len(device_vitals())
    feeder.thread.join(5)  # the player saw the pty vanish

    # Plug it back: the same path, a new pty; capture resumes and the alarm ends.
    feeder.pty.replug()
    replugged_at = time.monotonic()
    feeder.start()
    qtbot.waitUntil(lambda: "Monitor: receiving" in card.monitor.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(device_vitals()) > during + 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "TECHNICAL" not in card.alarm_text(), timeout=WAIT_MS)
    resumed = [t for t, s in stamps if s == "receiving" and t >= replugged_at]
    assert resumed, stamps
    # The worker-side time from replug to valid frames (backoff capped at 1 s here).
    assert resumed[0] - replugged_at < 2.0, resumed[0] - replugged_at

    technical = [e for e in db_rows(ctx, AlarmEvent) if e.category == "technical"]
    assert [(e.event, e.session_id) for e in technical][:2] == [
        ("raised", session_id),
        ("cleared", session_id),
    ]
    assert "link lost" in technical[0].text
    # Questionable/unavailable values never reached vital_readings: one row per valid line.
    raw = db_rows(ctx, DeviceReading)
    valid_spo2 = [r for r in raw if r.param == "spo2" and r.quality == VALID]
    assert len(device_vitals()) == len(valid_spo2)
    assert all(v.spo2 is not None for v in device_vitals())
    assert bridge.ingest_seconds  # measured on the writer thread for each transaction
    station.changed.emit()


def test_devices_dialog_binds_a_chair_and_shows_live_data(
    ctx: Any, people: dict[str, Any], gui: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from nursestation.ui.devices_dialog import DevicesDialog

    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    usb = PortInfo(
        "/dev/ttyUSB7",
        "FT232R USB UART",
        "USB VID:PID=0403:6001 SER=A9X1",
        0x0403,
        0x6001,
        "A9X1",
        "FTDI",
        "FT232R",
        "1-1.2",
    )
    dialog = DevicesDialog(gui["station"], port_lister=lambda: [usb])
    qtbot.addWidget(dialog)
    assert dialog.ports_table.item(0, 2).text() == "0403:6001"
    assert dialog.ports_table.item(0, 3).text() == "A9X1"

    # A bad baud rate for the device is not offered; a bad port is refused with its reason.
    dialog.chair_combo.setCurrentIndex(dialog.chair_combo.findData("1"))
    dialog.protocol_combo.setCurrentIndex(dialog.protocol_combo.findData("masimo-ascii"))
    dialog.port_combo.setEditText("")
    qtbot.mouseClick(dialog.bind_button, Qt.MouseButton.LeftButton)
    assert warnings and "port" in warnings[-1]
    assert db_rows(ctx, DeviceBinding) == []

    dialog.port_combo.setEditText(gui["link"])
    dialog.baud_combo.setCurrentIndex(dialog.baud_combo.findData(19200))
    qtbot.mouseClick(dialog.bind_button, Qt.MouseButton.LeftButton)
    (b,) = db_rows(ctx, DeviceBinding)
    assert (b.chair, b.protocol, b.url, b.baudrate) == ("1", "masimo-ascii", gui["link"], 19200)
    assert b.options == {
        "bytesize": 8,
        "parity": "N",
        "stopbits": 1,
        "rtscts": False,
        "xonxoff": False,
    }
    assert "1" in gui["bridge"].running()
    gui["feeder"].start()
    qtbot.waitUntil(lambda: dialog.row_texts("1").get("Link") == "receiving", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "spo2 9" in dialog.row_texts("1")["Latest"], timeout=WAIT_MS)
    row = dialog.row_texts("1")
    assert row["Settings"] == "19200 8N1" and row["Port"] == gui["link"]
    assert row["Last frame"] != "—"
    dialog.resize(1200, 640)
    dialog.grab().save(str(Path(gui["link"]).parent / "devices_dialog.png"))

    # Unbinding stops the capture and forgets the link state.
    dialog.chairs_table.selectRow(0)
    qtbot.mouseClick(dialog.unbind_button, Qt.MouseButton.LeftButton)
    assert db_rows(ctx, DeviceBinding) == []
    assert "1" not in gui["bridge"].running()
    assert "1" not in getattr(ctx, "device_states", {})
    assert dialog.row_texts("1")["Monitor"] == "— none —"


def test_a_nurse_sees_the_dialog_but_cannot_bind(
    ctx: Any, people: dict[str, Any], qtbot: Any
) -> None:
    from nursestation.ui.devices_dialog import DevicesDialog
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["nurse"])
    dialog = DevicesDialog(station, port_lister=lambda: [])
    qtbot.addWidget(dialog)
    assert not dialog.bind_button.isEnabled() and not dialog.unbind_button.isEnabled()
    assert "charge nurse" in dialog.message.text()
    assert "No serial port found" in dialog.ports_note.text()


def test_demo_monitors_feed_every_occupied_chair_and_stop_cleanly(
    ctx: Any, clock: Any, qtbot: Any
) -> None:
    from nursestation.app.demo import DEMO_PASSWORD, seed_demo
    from nursestation.app.users import authenticate
    from nursestation.ui.device_bridge import DeviceBridge, start_demo_monitors
    from nursestation.ui.station import Station

    names = seed_demo(ctx, clock)
    station = Station(ctx)
    station.set_actor(authenticate(ctx, names.nurse, DEMO_PASSWORD))
    bridge = DeviceBridge(station, worker_options=WORKER, notify_ms=100)
    monitors = start_demo_monitors(station, speed=5.0, bridge=bridge)
    try:
        chairs = {m.chair: m.protocol for m in monitors.monitors}
        assert chairs == {"1": "masimo-ascii", "2": "hl7-mllp", "3": "nonin-df8"}

        def fed() -> set[str]:
            with ctx.tx() as s:
                found = s.execute(
                    select(DeviceReading.chair).where(DeviceReading.quality == VALID).distinct()
                ).scalars()
                return set(found)

        qtbot.waitUntil(lambda: fed() == set(chairs), timeout=WAIT_MS)
        qtbot.waitUntil(
            lambda: all(ctx.device_states.get(c) == "receiving" for c in chairs), timeout=WAIT_MS
        )
        assert {b.chair for b in dev.enabled_bindings(ctx)} == set(chairs)
    finally:
        monitors.stop()
    assert dev.enabled_bindings(ctx) == [] and bridge.running() == {}
    assert ctx.device_states == {}
    # Stopping on purpose is not a link failure: no technical alarm was ever raised.
    assert [e for e in db_rows(ctx, AlarmEvent) if e.category == "technical"] == []


def test_a_refused_write_is_retried_in_order_with_the_next_batch(
    ctx: Any, people: dict[str, Any], infusing: int, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing a monitor sent is lost when the database refuses one write (e.g. locked)."""
    from datetime import timedelta

    from support import T0

    from nursestation.devices.reading import make_reading
    from nursestation.ui.device_bridge import DeviceBridge
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["nurse"])
    bridge = DeviceBridge(station)
    failures: list[str] = []
    bridge.ingest_failed.connect(lambda chair, msg: failures.append(msg))
    real = dev.ingest_batches  # the bridge stores each monitor second in one transaction
    calls = {"n": 0}

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        return real(*args)

    monkeypatch.setattr(dev, "ingest_batches", flaky)
    host = T0 + timedelta(minutes=10)

    def post(spo2: int) -> None:
        r = make_reading("masimo-ascii", "spo2", spo2, VALID, None, None, host, "SN1")
        bridge.capture.deliver("1", "/dev/ttyUSB0", "masimo-ascii", [r])

    def stored() -> list[float]:
        return [v.spo2 for v in db_rows(ctx, VitalReading) if v.source == "device"]

    post(96)  # refused once, kept, retried by the bridge's timer
    qtbot.waitUntil(lambda: stored() == [96], timeout=WAIT_MS)
    assert failures == ["database is locked"]
    post(97)
    qtbot.waitUntil(lambda: stored() == [96, 97], timeout=WAIT_MS)


def test_noise_on_the_port_shows_monitor_data_unreadable_and_charts_nothing(
    ctx: Any, people: dict[str, Any], infusing: int, qtbot: Any, tmp_path: Path
) -> None:
    """Line noise on a bound port: a technical alarm "Monitor data unreadable" on the card, no
    value stored as valid, nothing charted; when the monitor sends real lines again it ends."""
    import random

    from nursestation.ui.board import ChairBoard
    from nursestation.ui.device_bridge import DeviceBridge
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["charge"])
    board = ChairBoard(station)
    qtbot.addWidget(board)
    # Short watch times for the test; the rule (noise → unreadable within the silence time) is
    # the same as with the clinic's 3 s.
    options = {**WORKER, "silence_s": 1.5, "unreadable_s": 5.0}
    bridge = DeviceBridge(station, worker_options=options, notify_ms=100)
    pty = PtyPort(tmp_path / "chair-1")
    stop = threading.Event()
    rnd = random.Random(3)

    def noise() -> None:
        while not stop.is_set():
            pty.write(rnd.randbytes(120))
            time.sleep(0.05)

    writer = threading.Thread(target=noise)
    card = board.card("1")
    try:
        dev.bind_device(ctx, people["charge"], "1", "masimo-ascii", str(tmp_path / "chair-1"), 9600)
        assert bridge.start_all() == ["1"]
        writer.start()
        qtbot.waitUntil(lambda: "Monitor data unreadable" in card.alarm_text(), timeout=WAIT_MS)
        assert "TECHNICAL" in card.alarm_text()
        assert "Monitor: unreadable" in card.monitor.text()
        worker = bridge.worker("1")
        assert worker is not None and worker.stats.bytes_skipped > 0
        assert [r for r in db_rows(ctx, DeviceReading) if r.quality == VALID] == []
        assert [v for v in db_rows(ctx, VitalReading) if v.source == "device"] == []
        stop.set()
        writer.join()
        player = SessionPlayer("masimo-ascii", duration_s=60, speed=5)
        feeder = threading.Thread(target=player.play, args=(pty, threading.Event()))
        feeder.start()
        qtbot.waitUntil(lambda: "Monitor: receiving" in card.monitor.text(), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "TECHNICAL" not in card.alarm_text(), timeout=WAIT_MS)
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        bridge.stop_all()
        pty.close()
    feeder.join(15)
