"""HL7 ACKs wait for the store (issue 13): with `on_batch`, the capture worker delivers each
message's readings with a Receipt and sends the message's ACK only once the receipt says the
readings were stored (AA, or the AE the decode gave), AE naming each OBX row when the store
failed, in the order the messages came. Over a real pseudo-terminal."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nursestation.devices.capture import CaptureWorker, Receipt
from nursestation.devices.hl7 import HL7Decoder, mllp_wrap
from nursestation.devices.reading import Reading
from nursestation.devices.simulator import PtyPort
from tests.devices.conftest import HOST_TIME

MSH = "MSH|^~\\&|MON^0011223344556677^EUI-64|ICU||NS|20260302140000+0000||ORU^R01^ORU_R01|{cid}|P|2.6|||NE|AL"
OBX_HR = "OBX|1|NM|8867-4^Heart rate^LN||72|{beats}/min^{beats}/min^UCUM|||||F"
OBX_SPO2 = "OBX|2|NM|59408-5^Oxygen saturation^LN||97|%^%^UCUM|||||F"
OBX_UNKNOWN = "OBX|3|NM|99999-9^Something else^LN||5|mg^mg^UCUM|||||F"
WAIT = 10.0  # generous upper bound on a loaded machine; never a performance assert
QUIET = 0.4  # how long "no ACK yet" is watched (the worker polls every 50 ms)


def message(cid: str, *obx: str) -> bytes:
    return mllp_wrap("\r".join([MSH.format(cid=cid), *(obx or (OBX_HR, OBX_SPO2))]) + "\r")


def msa(raw: bytes) -> list[tuple[str, str]]:
    """(code, control id) of every ACK in `raw`, in order."""
    out = []
    for seg in raw.replace(b"\x0b", b"").replace(b"\x1c", b"\r").split(b"\r"):
        if seg.startswith(b"MSA|"):
            f = seg.decode("ascii").split("|")
            out.append((f[1], f[2]))
    return out


# ---------------------------------------------------------------- the decoder


def test_decoder_holds_the_ack_and_builds_aa_or_ae_from_the_outcome() -> None:
    dec = HL7Decoder()
    legacy = dec.feed(message("C1"), HOST_TIME), dec.take_replies()
    dec.hold_replies = True
    readings = dec.feed(message("C1"), HOST_TIME)
    assert dec.take_replies() == b""  # nothing goes out on decode
    [held] = dec.take_held()
    assert held.count == len(readings) == 2
    assert held.reply(True) == legacy[1]  # stored: exactly the ACK the decode gave
    refused = held.reply(False, "database is locked").decode("ascii")
    assert msa(refused.encode()) == [("AE", "C1")]
    errs = [s.split("|") for s in refused.split("\r") if s.startswith("ERR")]
    assert [e[2] for e in errs] == ["OBX^1^5", "OBX^2^5"]
    assert all(e[3] == "207^Application internal error^HL70357" for e in errs)
    assert "OBX 1: value not stored: database is locked" in refused
    assert dec.take_held() == []


def test_a_message_already_ae_keeps_its_errors_and_adds_the_unstored_rows() -> None:
    dec = HL7Decoder()
    dec.hold_replies = True
    dec.feed(message("C2", OBX_HR, OBX_UNKNOWN), HOST_TIME)
    [held] = dec.take_held()
    assert msa(held.reply(True)) == [("AE", "C2")]  # OBX 3 was never taken
    refused = held.reply(False, "disk full").decode("ascii")
    errs = [s.split("|")[2] for s in refused.split("\r") if s.startswith("ERR")]
    assert errs == ["OBX^2^3", "OBX^1^5"]  # rows are numbered by their place in the message


# ---------------------------------------------------------------- the worker, over a pty


class Batches:
    """on_batch: what the worker handed over, with its receipt (worker thread)."""

    def __init__(self) -> None:
        self.got: list[tuple[list[Reading], Receipt | None]] = []
        self.lock = threading.Lock()

    def __call__(self, readings: list[Reading], receipt: Receipt | None) -> None:
        with self.lock:
            self.got.append((readings, receipt))

    def count(self) -> int:
        with self.lock:
            return len(self.got)


def wait_for(cond: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


class Acks:
    """What the worker wrote back to the monitor's end of the pty."""

    def __init__(self, pty: PtyPort) -> None:
        self.pty = pty
        self.raw = b""

    def read(self) -> list[tuple[str, str]]:
        self.raw += self.pty.read_available()
        return msa(self.raw)

    def quiet_for(self, seconds: float) -> bool:
        """True when nothing new came back for `seconds`."""
        before = len(self.read())
        time.sleep(seconds)
        return len(self.read()) == before


@pytest.fixture
def hl7_worker(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not hasattr(os, "openpty"):
        pytest.skip("needs POSIX pseudo-terminals")
    pty = PtyPort(tmp_path / "ttyHL7")
    batches = Batches()
    legacy: list[Reading] = []
    worker = CaptureWorker(
        str(pty.link),
        "hl7-mllp",
        legacy.extend,  # with on_batch given, never called
        lambda s, d: None,
        silence_s=30,
        on_batch=batches,
    )
    worker.start()
    # The port is flushed when opened: write only once it is open.
    assert wait_for(lambda: worker.connections == 1)
    yield pty, batches, Acks(pty)
    worker.stop()
    pty.close()
    assert legacy == []


def test_worker_sends_the_ack_only_once_the_batch_is_stored(hl7_worker) -> None:  # type: ignore[no-untyped-def]
    pty, batches, acks = hl7_worker
    pty.write(message("C1"))
    assert wait_for(lambda: batches.count() == 1)
    readings, receipt = batches.got[0]
    assert [r.param for r in readings] == ["hr", "spo2"] and receipt is not None
    assert acks.quiet_for(QUIET) and acks.read() == []  # decoded, not stored: no ACK yet
    receipt.done(True)
    assert wait_for(lambda: acks.read() == [("AA", "C1")])


def test_worker_answers_ae_when_the_store_failed(hl7_worker) -> None:  # type: ignore[no-untyped-def]
    pty, batches, acks = hl7_worker
    pty.write(message("C7"))
    assert wait_for(lambda: batches.count() == 1)
    batches.got[0][1].done(False, "database is locked")
    assert wait_for(lambda: acks.read() == [("AE", "C7")])
    assert b"OBX 1: value not stored: database is locked" in acks.raw
    assert b"MSA|AA" not in acks.raw


def test_acks_keep_the_order_of_the_messages(hl7_worker) -> None:  # type: ignore[no-untyped-def]
    pty, batches, acks = hl7_worker
    pty.write(message("C1") + message("C2"))
    assert wait_for(lambda: batches.count() == 2)
    first, second = (r for _b, r in batches.got)
    second.done(True)  # the later one stored first: its ACK must not overtake
    assert acks.quiet_for(QUIET) and acks.read() == []
    first.done(False, "database is locked")
    assert wait_for(lambda: acks.read() == [("AE", "C1"), ("AA", "C2")])


def test_a_message_with_nothing_to_store_is_answered_at_once(hl7_worker) -> None:  # type: ignore[no-untyped-def]
    pty, batches, acks = hl7_worker
    pty.write(message("C9", OBX_UNKNOWN))  # no row NurseStation records: nothing to store
    assert wait_for(lambda: acks.read() == [("AE", "C9")])
    assert batches.count() == 0
