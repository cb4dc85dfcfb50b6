"""HL7 through the real capture bridge: the ACK goes out only after the transaction that stored
the message's readings committed; a refused write is answered AE and not stored later behind the
sender's back (it was told the values were not taken). Over a real pseudo-terminal."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from nursestation.app import devices as device_service
from nursestation.db.models import DeviceReading, VitalReading
from nursestation.devices.hl7 import mllp_wrap
from nursestation.devices.simulator import PtyPort

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")

WAIT_MS = 15_000  # generous: the suite may share a loaded machine
MSH = "MSH|^~\\&|MON^0011223344556677^EUI-64|ICU||NS|20260302140000+0000||ORU^R01^ORU_R01|{cid}|P|2.6|||NE|AL"
OBX = (
    "OBX|1|NM|8867-4^Heart rate^LN||72|{beats}/min^{beats}/min^UCUM|||||F",
    "OBX|2|NM|59408-5^Oxygen saturation^LN||97|%^%^UCUM|||||F",
)


def message(cid: str) -> bytes:
    return mllp_wrap("\r".join([MSH.format(cid=cid), *OBX]) + "\r")


def counts(ctx: Any) -> tuple[int, int]:
    """(device_readings rows, device vital_readings rows)."""
    with ctx.tx() as s:
        raw = s.execute(select(func.count(DeviceReading.id))).scalar_one()
        charted = s.execute(
            select(func.count(VitalReading.id)).where(VitalReading.source == "device")
        ).scalar_one()
        return raw, charted


@pytest.fixture
def hl7_chair(qtbot: Any, ctx: Any, people: dict[str, Any], infusing: int, tmp_path: Path) -> Any:
    from nursestation.ui.device_bridge import DeviceBridge
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(people["charge"])
    pty = PtyPort(tmp_path / "chair-1")
    device_service.bind_device(ctx, people["charge"], "1", "hl7-mllp", str(pty.link), 9600)
    bridge = DeviceBridge(station, worker_options={"backoff_initial": 0.1, "backoff_max": 1.0})
    assert bridge.start_all() == ["1"]
    worker = bridge.worker("1")
    qtbot.waitUntil(lambda: worker.connections == 1, timeout=WAIT_MS)  # opened (and flushed)
    yield bridge, pty
    bridge.stop_all()
    pty.close()


class Acks:
    def __init__(self, pty: PtyPort) -> None:
        self.pty = pty
        self.raw = b""

    def codes(self) -> list[str]:
        self.raw += self.pty.read_available()
        return [
            seg.split(b"|")[1].decode() + "|" + seg.split(b"|")[2].decode()
            for seg in self.raw.replace(b"\x0b", b"").replace(b"\x1c", b"\r").split(b"\r")
            if seg.startswith(b"MSA|")
        ]


def test_ack_follows_the_commit_and_a_refused_write_is_answered_ae(
    qtbot: Any, ctx: Any, hl7_chair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge, pty = hl7_chair
    acks = Acks(pty)
    real = device_service.ingest_batches

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)  # a busy database: an ACK sent on decode would come before the rows
        return real(*args, **kwargs)

    monkeypatch.setattr(device_service, "ingest_batches", slow)
    pty.write(message("C1"))
    qtbot.waitUntil(lambda: acks.codes() == ["AA|C1"], timeout=WAIT_MS)
    assert counts(ctx) == (2, 1)  # already committed when the ACK arrived

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(device_service, "ingest_batches", refuse)
    pty.write(message("C2"))
    qtbot.waitUntil(lambda: acks.codes() == ["AA|C1", "AE|C2"], timeout=WAIT_MS)
    assert b"value not stored: database refused the write: database is locked" in acks.raw
    assert counts(ctx) == (2, 1)
    # Told AE, the sender owns the retry: not kept for the bridge's own retry.
    assert bridge.unsaved_readings() == 0 and bridge.readings_refused == 2
    monkeypatch.setattr(device_service, "ingest_batches", real)
    bridge.capture.flush()
    assert counts(ctx) == (2, 1)
    # The sender sends it again: stored once, accepted.
    pty.write(message("C2"))
    qtbot.waitUntil(lambda: acks.codes() == ["AA|C1", "AE|C2", "AA|C2"], timeout=WAIT_MS)
    assert counts(ctx) == (4, 2)
    received, unsaved, stored = bridge.accounted(lambda: counts(ctx)[0])
    assert received - unsaved == stored == 4
