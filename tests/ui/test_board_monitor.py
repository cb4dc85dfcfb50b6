"""The chair card says what the chair's monitor link is doing, on the real board: no monitor bound,
a binding switched off or not capturing, and each state a capture worker reports. And a session
ended with an alarm leaves nothing on its card or on the next patient's."""

from __future__ import annotations

from typing import Any

import pytest

from nursestation.app import alarms, sessions, vitals
from nursestation.app import devices as dev
from nursestation.devices.capture import CONNECTING, DISCONNECTED, RECEIVING, SILENT, UNREADABLE
from nursestation.ui.board import ChairBoard
from nursestation.ui.station import Station

PORT = "/dev/ttyUSB7"


@pytest.fixture
def board(qtbot: Any, ctx: Any, people: dict[str, Any]) -> ChairBoard:
    station = Station(ctx)
    station.set_actor(people["charge"])
    b = ChairBoard(station)
    qtbot.addWidget(b)
    b.show()
    return b


def monitor_line(board: ChairBoard, chair: str) -> str:
    board.refresh()
    return board.card(chair).monitor.text()


def test_no_monitor_bound_says_so_on_every_card(board: ChairBoard, checked_in: int) -> None:
    chairs = [str(c) for c in board.station.ctx.settings.get("general.chairs")]
    board.refresh()
    # Empty chairs and chair 1 with its checked-in patient alike.
    assert {c: board.card(c).monitor.text() for c in chairs} == {c: "No monitor" for c in chairs}
    assert board.card("1").phase.text() == "CHECKED IN"


@pytest.mark.parametrize(
    ("state", "line"),
    [
        (CONNECTING, "Monitor: connecting"),
        (RECEIVING, "Monitor: receiving"),
        (SILENT, "Monitor: no data"),
        (UNREADABLE, "Monitor: unreadable data"),
        (DISCONNECTED, "Monitor: link lost"),
    ],
)
def test_each_reported_link_state_is_one_line_on_the_card(
    board: ChairBoard, ctx: Any, people: dict[str, Any], state: str, line: str
) -> None:
    dev.bind_device(ctx, people["charge"], "2", "nonin-df8", PORT, 9600)
    assert monitor_line(board, "2") == "Monitor bound, not capturing"
    dev.device_state_changed(ctx, "2", state, "test", port=PORT, protocol="nonin-df8")
    assert monitor_line(board, "2") == line
    assert monitor_line(board, "3") == "No monitor"  # the other chairs are not affected


def test_disabled_binding_and_closed_capture(
    board: ChairBoard, ctx: Any, people: dict[str, Any]
) -> None:
    dev.bind_device(ctx, people["charge"], "2", "nonin-df8", PORT, 9600, enabled=False)
    assert monitor_line(board, "2") == "No monitor (binding disabled)"
    dev.bind_device(ctx, people["charge"], "2", "nonin-df8", PORT, 9600)
    dev.device_state_changed(ctx, "2", RECEIVING, "frames", port=PORT, protocol="nonin-df8")
    assert monitor_line(board, "2") == "Monitor: receiving"
    dev.device_link_closed(ctx, "2")  # capture stopped on purpose: bound, nothing running
    assert monitor_line(board, "2") == "Monitor bound, not capturing"
    dev.unbind_device(ctx, people["charge"], "2")
    assert monitor_line(board, "2") == "No monitor"


def test_monitor_line_stays_on_a_locked_board(board: ChairBoard, checked_in: int) -> None:
    board.station.set_locked(True)
    board.refresh()
    card = board.card("1")
    assert card.patient.text() == "(locked)"
    assert card.monitor.text() == "No monitor"


def test_ended_session_leaves_no_alarm_on_the_card_and_the_next_patient_starts_clean(
    board: ChairBoard, ctx: Any, people: dict[str, Any], checked_in: int, clock: Any
) -> None:
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    dev.bind_device(ctx, people["charge"], "1", "nonin-df8", PORT, 9600)
    dev.device_state_changed(ctx, "1", DISCONNECTED, "unplugged", port=PORT, protocol="nonin-df8")
    vitals.record_vitals(
        ctx,
        nurse,
        checked_in,
        {"sbp": 200, "dbp": 90, "hr": 80, "spo2": 98, "rr": 14},
        soft_confirmed=True,
    )
    board.refresh()
    card = board.card("1")
    link_lost = "** ⚠ TECHNICAL Monitor link lost (nonin-df8, ttyUSB7)"
    kinds = [d.alarm.kind for d in alarms.chair_alarms(ctx, "1").alarms]
    assert kinds.count("technical") == 1 and kinds.count("physiological") >= 1
    assert card.alarm_text() == f"{link_lost} +{len(kinds) - 1} more"
    assert "SBP 200" in " ".join(d.alarm.text for d in alarms.chair_alarms(ctx, "1").alarms)
    clock.advance(minutes=2)
    sessions.end_not_treated(ctx, nurse, checked_in, "patient_left")
    board.refresh()
    # The monitor's link-lost alarm stays (it is about the device); the patient's is gone.
    assert card.phase.text() == "EMPTY"
    assert card.alarm_text() == link_lost
    assert card.monitor.text() == "Monitor: link lost"
    patients.register_patient(
        ctx, nurse, mrn="K-2002", name="Roe, Rita", dob=date(1990, 1, 1), weight_kg=60
    )
    sessions.check_in(
        ctx, nurse, mrn="K-2002", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    )
    board.refresh()
    assert card.phase.text() == "CHECKED IN" and "SBP" not in card.alarm_text()
    dev.device_state_changed(ctx, "1", RECEIVING, "frames", port=PORT, protocol="nonin-df8")
    board.refresh()
    assert card.alarm_text() == "" and alarms.highest_alarm(ctx, "1") is None
