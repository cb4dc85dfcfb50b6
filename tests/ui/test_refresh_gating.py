"""When views refresh (issue 19): one refresh per event-loop turn however many notices arrive,
none while a view is hidden in the shown window, one when it is shown again. Counted, not timed."""

from __future__ import annotations

from typing import Any

import pytest

from nursestation.app import board as board_service
from nursestation.app import sessions
from nursestation.ui import board as board_ui
from nursestation.ui import session_view as session_ui
from nursestation.ui import vitals_panel as vitals_ui
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, ctx: Any) -> dict[str, int]:
    """Calls of the reads behind the board, the session view and the Vitals tab, on this test's
    station (widgets of earlier tests may still have timers running)."""
    calls = {"board": 0, "summary": 0, "flowsheet": 0}

    def wrap(module: Any, name: str, key: str, real: Any) -> None:
        def counting(*args: Any, **kwargs: Any) -> Any:
            if args and args[0] is ctx:
                calls[key] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    wrap(board_ui, "board_cards", "board", board_service.board_cards)
    wrap(session_ui.sessions, "get_summary", "summary", sessions.get_summary)
    wrap(vitals_ui, "flowsheet_since", "flowsheet", vitals_ui.flowsheet_since)
    return calls


@pytest.fixture
def window(qtbot: Any, ctx: Any, people: dict[str, Any]) -> MainWindow:
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _settle(qtbot: Any) -> None:
    qtbot.wait(300)  # turns of the event loop and the board's reader thread, below the 1 s tick


def test_many_change_notices_in_one_turn_cost_one_board_refresh(
    window: MainWindow, counted: dict[str, int], qtbot: Any
) -> None:
    # Only the notices are counted here: the board's own 1 s tick (its refreshes are counted in
    # test_monitor_rows_stored_wait_for_the_tick) could land inside the window on a loaded
    # machine and add a refresh that is not the notices' doing.
    window.board._timer.stop()
    _settle(qtbot)
    before = counted["board"]
    window.station.ctx.data_written()  # as after a nurse's entry: shown at once
    for _ in range(5):
        window.station.changed.emit()
    _settle(qtbot)
    assert counted["board"] - before == 1


def test_monitor_rows_stored_wait_for_the_tick(
    window: MainWindow, counted: dict[str, int], infusing: int, qtbot: Any
) -> None:
    """The device bridge's "rows stored" notice (every 500 ms while data arrives) does not
    refresh the board by itself: the 1 s tick shows the rows, one refresh per tick; a monitor
    link state change is shown at once."""
    from datetime import timedelta

    from nursestation.app import devices
    from nursestation.devices.reading import VALID, make_reading

    ctx = window.station.ctx
    _settle(qtbot)
    host = ctx.now() + timedelta(minutes=1)
    reading = make_reading("masimo-ascii", "spo2", 97.0, VALID, None, host, host, "EQ1")
    devices.ingest_readings(ctx, "1", "/dev/pts/1", "masimo-ascii", [reading])
    qtbot.waitUntil(lambda: counted["board"] > 0, timeout=3000)  # a tick after the first
    qtbot.wait(1100)  # any refresh asked by the first monitor second (alarms restored) is done
    start = counted["board"]
    for _ in range(25):  # 2.5 s of notices every 100 ms, nothing but monitor rows stored
        devices.ingest_readings(ctx, "1", "/dev/pts/1", "masimo-ascii", [reading])
        window.station.changed.emit()
        qtbot.wait(100)
    assert 1 <= counted["board"] - start <= 4  # the ticks (2 or 3), not 25 refreshes
    before = counted["board"]
    ctx.device_states = {"1": "silent"}  # a link problem: at once, not at the next tick
    window.station.changed.emit()
    qtbot.wait(50)
    assert counted["board"] == before + 1


def test_hidden_views_do_not_refresh_and_refresh_once_when_shown(
    window: MainWindow, counted: dict[str, int], infusing: int, qtbot: Any
) -> None:
    window.open_session(infusing)
    window.session_view.show_tab("Medications")  # Vitals tab hidden
    _settle(qtbot)
    board_n, flow_n = counted["board"], counted["flowsheet"]
    for _ in range(3):
        window.station.changed.emit()
        _settle(qtbot)
    assert counted["board"] == board_n  # the board is behind the session view
    assert counted["flowsheet"] == flow_n  # the Vitals tab is not selected
    assert counted["summary"] > 0  # the session view on screen does refresh

    window.session_view.show_tab("Vitals")
    qtbot.waitUntil(lambda: counted["flowsheet"] == flow_n + 1, timeout=5000)

    window.stack.setCurrentWidget(window.board)  # back to the board, session view hidden
    _settle(qtbot)
    summary_n, flow_n = counted["summary"], counted["flowsheet"]
    qtbot.waitUntil(lambda: counted["board"] > board_n, timeout=5000)
    for _ in range(3):
        window.station.changed.emit()
        _settle(qtbot)
    assert counted["summary"] == summary_n
    assert counted["flowsheet"] == flow_n
