"""`run_replay` against the CONTRACTS.md replay contract, and `list_ports`."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from nursestation.clock import FakeClock
from nursestation.devices import ports
from nursestation.devices.rawlog import read_raw_capture
from nursestation.devices.replay import run_replay
from nursestation.devices.simulator import SessionPlayer, TcpServerSink
from tests.devices.conftest import FIXTURES, HOST_TIME, collect_acks


def replay(protocol: str, path: Path | str | None, url: str | None = None, **kw: object):
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(protocol, None if path is None else str(path), url, out, err, **kw)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, lines, err.getvalue()


def test_masimo_file_json_lines_exact() -> None:
    code, lines, err = replay("masimo-ascii", FIXTURES / "masimo_rad8.txt")
    assert code == 0
    assert len(lines) == 15
    assert lines[0] == {
        "protocol": "masimo-ascii",
        "param": "spo2",
        "value": 98,
        "unit": "%",
        "quality": "valid",
        "reason": None,
        "device_time": "2016-02-22T22:47:45",
        "device_id": "0000056661",
    }
    assert lines[2]["value"] == 3.6
    assert err.count("\n") == 1
    assert json.loads(err) == {"frames": 5, "readings": 15, "rejected": 0, "bytes_skipped": 0}


def test_output_is_utf8_with_degree_sign() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_replay("hl7-mllp", str(FIXTURES / "hl7_comen.mllp"), None, out, err) == 0
    assert '"unit": "°C"' in out.getvalue()


@pytest.mark.parametrize(
    ("protocol", "name", "summary"),
    [
        (
            "masimo-ascii",
            "masimo_models.txt",
            {"frames": 5, "readings": 14, "rejected": 0, "bytes_skipped": 0},
        ),
        (
            "nonin-df8",
            "nonin_df8.bin",
            {"frames": 4, "readings": 8, "rejected": 0, "bytes_skipped": 0},
        ),
        (
            "nonin-df7",
            "nonin_df7_packets.bin",
            {"frames": 50, "readings": 4, "rejected": 0, "bytes_skipped": 0},
        ),
        (
            "hl7-mllp",
            "hl7_mindray.mllp",
            {"frames": 2, "readings": 8, "rejected": 0, "bytes_skipped": 0},
        ),
    ],
)
def test_every_protocol_fixture(protocol: str, name: str, summary: dict) -> None:
    code, lines, err = replay(protocol, FIXTURES / name)
    assert code == 0
    assert json.loads(err) == summary
    assert len(lines) == summary["readings"]
    assert {line["protocol"] for line in lines} == {protocol}


def test_garbage_file_still_exits_zero_with_counts(tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\xff" * 100 + (FIXTURES / "nonin_df8.bin").read_bytes() + b"\x80\x48")
    code, lines, err = replay("nonin-df8", path)
    assert code == 0
    assert len(lines) == 8
    assert json.loads(err) == {"frames": 4, "readings": 8, "rejected": 0, "bytes_skipped": 100}


def test_raw_capture_file_uses_recorded_host_times() -> None:
    code, lines, err = replay("masimo-ascii", FIXTURES / "masimo_rad8.rawcap")
    assert code == 0
    assert len(lines) == 15
    assert json.loads(err)["frames"] == 5


def test_raw_binary_uses_the_given_clock(tmp_path: Path) -> None:
    code, lines, _ = replay("nonin-df8", FIXTURES / "nonin_df8.bin", clock=FakeClock(HOST_TIME))
    assert code == 0 and len(lines) == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pulse-ox", "x", None, None), "Unknown protocol 'pulse-ox'"),
        (("masimo-ascii", None, None, None), "Give exactly one of --input FILE or --url URL."),
        (("masimo-ascii", "a", "loop://", None), "Give exactly one of --input FILE or --url URL."),
        (("masimo-ascii", "/nonexistent/capture.txt", None, None), "does not exist"),
        (("masimo-ascii", None, "/dev/does-not-exist-42", None), "cannot be opened"),
        (("masimo-ascii", "x", None, "rec.rawcap"), "--record needs --url"),
    ],
)
def test_bad_usage_exits_2_with_one_sentence(args: tuple, message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    protocol, input_path, url, record = args
    assert run_replay(protocol, input_path, url, out, err, record_path=record) == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert out.getvalue() == ""


def test_duration_must_be_positive() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_replay("masimo-ascii", None, "loop://", out, err, duration_s=0) == 2


def test_live_url_over_tcp_sends_acks_and_records(tmp_path: Path) -> None:
    """Deterministic on a busy machine: the replay ends when the sender closes the link after
    the last ACK came back, not after a wall-clock time in which all frames must have arrived
    (`duration_s` is only a safety bound here)."""
    sink = TcpServerSink()
    player = SessionPlayer("hl7-mllp", duration_s=90, speed=120)
    result: dict[str, object] = {}

    def serve() -> None:
        sink.wait_for_client(timeout=60)
        result["end"] = player.play(sink)
        collect_acks(sink, 18)
        sink.close()  # the monitor goes away: that ends the replay like the end of a file

    thread = threading.Thread(target=serve)
    thread.start()
    out, err = io.StringIO(), io.StringIO()
    record = tmp_path / "live.rawcap"
    try:
        code = run_replay(
            "hl7-mllp", None, sink.url, out, err, duration_s=120, record_path=str(record)
        )
    finally:
        thread.join()
        sink.close()
    assert code == 0 and result["end"] == "done"
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = json.loads(err.getvalue())
    assert summary["frames"] == 18  # 90 s of messages every 5 s; NIBP from 60 s
    assert {line["param"] for line in lines} >= {"hr", "spo2", "rr", "etco2", "temp", "sbp"}
    assert sink.received.count(b"MSA|AA|") == 18
    assert b"MSA|AA|SIM000000" in sink.received and b"MSA|AA|SIM000017" in sink.received
    # The recording replays to the same lines; the ACKs we sent are in it as "tx".
    code2, lines2, err2 = replay("hl7-mllp", record)
    assert code2 == 0 and lines2 == lines and json.loads(err2) == summary
    sent = b"".join(c.data for c in read_raw_capture(record, directions=("tx",)))
    assert sent.count(b"MSA|AA|") == 18


def test_live_url_stops_at_duration_when_nothing_arrives() -> None:
    sink = TcpServerSink()
    out, err = io.StringIO(), io.StringIO()
    try:
        code = run_replay("hl7-mllp", None, sink.url, out, err, duration_s=0.3)
    finally:
        sink.close()
    assert code == 0
    assert out.getvalue() == ""
    assert json.loads(err.getvalue()) == {
        "frames": 0,
        "readings": 0,
        "rejected": 0,
        "bytes_skipped": 0,
    }


def test_list_ports_maps_pyserial_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = [
        SimpleNamespace(
            device="/dev/ttyUSB1",
            description="FT232R USB UART",
            hwid="USB VID:PID=0403:6001 SER=A1",
            vid=0x0403,
            pid=0x6001,
            serial_number="A1",
            manufacturer="FTDI",
            product="FT232R",
            location="1-1.2",
        ),
        SimpleNamespace(
            device="/dev/ttyS0",
            description="n/a",
            hwid="n/a",
            vid=None,
            pid=None,
            serial_number=None,
            manufacturer=None,
            product=None,
            location=None,
        ),
    ]
    seen: dict[str, object] = {}

    def comports(include_links: bool = False) -> list[SimpleNamespace]:
        seen["links"] = include_links
        return fake

    monkeypatch.setattr(ports._list_ports, "comports", comports)
    found = ports.list_ports(include_links=True)
    assert seen["links"] is True
    assert [p.device for p in found] == ["/dev/ttyS0", "/dev/ttyUSB1"]
    usb = found[1]
    assert usb.usb_id == "0403:6001"
    assert usb.serial_number == "A1"
    assert usb.label() == "/dev/ttyUSB1 · FT232R USB UART · USB 0403:6001 · SN A1"
    assert found[0].usb_id is None and found[0].label() == "/dev/ttyS0"


def test_list_ports_runs_on_this_machine() -> None:
    assert all(isinstance(p, ports.PortInfo) for p in ports.list_ports())
