"""Qt bindings must not lose references to None (issue 13, "Stays up").

PySide6-Essentials 6.12.0 drops one reference to `None` on every Qt call that returns nothing. On
Python < 3.12 `None` is not immortal: when its count reaches zero the interpreter aborts with
"Fatal Python error: none_dealloc" (minutes after start for an open session view). These tests
drive thousands of such calls through the real chair board and session view on demo data and
check that `sys.getrefcount(None)` does not fall. Broken bindings fail them by thousands; good
bindings stay within a few references (the count moves by a few as objects come and go).

On Python >= 3.12 `None` is immortal, its reported count is constant and these tests pass
trivially: there the bug cannot crash the interpreter either.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtWidgets import QLabel

from nursestation.app import sessions, users
from nursestation.app.context import AppContext
from nursestation.app.demo import DEMO_PASSWORD, seed_demo
from nursestation.clock import SystemClock
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station

# A fall larger than this fails. Healthy bindings move the count by a handful (objects created
# and freed around the measurement); the 6.12.0 bug loses one per void call, i.e. >= 2,000 here.
TOLERANCE = 50
REFRESHES = 100
SET_TEXT_CALLS = 2000


@pytest.fixture
def demo_window(qtbot, station) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    """The real main window on demo data (three live sessions), signed in as the demo nurse."""
    ctx = AppContext.open(station)
    names = seed_demo(ctx, SystemClock())
    st = Station(ctx)
    st.set_actor(users.authenticate(ctx, names.nurse, DEMO_PASSWORD))
    w = MainWindow(st)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    ctx.close()


def _none_refs_lost(work: Callable[[], None]) -> int:
    """How many references to None `work` dropped (negative: it gained some)."""
    work()  # warm-up: lazy imports, caches and first-time widgets hold legitimate references
    gc.collect()
    before = sys.getrefcount(None)
    work()
    gc.collect()
    return before - sys.getrefcount(None)


def test_label_set_text_keeps_none_references(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    qtbot.addWidget(label)

    def work() -> None:
        for i in range(SET_TEXT_CALLS):
            label.setText(str(i))  # void Qt call: the 6.12.0 bug loses one None reference each

    lost = _none_refs_lost(work)
    assert lost <= TOLERANCE, f"{SET_TEXT_CALLS} QLabel.setText calls lost {lost} refs to None"


def test_chair_board_refresh_keeps_none_references(demo_window: MainWindow) -> None:
    board = demo_window.board
    demo_window.show_board()
    assert "Doe, Jane" in board.card("1").patient.text()  # the board really shows demo data

    def work() -> None:
        for _ in range(REFRESHES):
            board.refresh()
            board._flash_cards()

    lost = _none_refs_lost(work)
    assert lost <= TOLERANCE, f"{REFRESHES} board refreshes lost {lost} references to None"


def test_session_view_refresh_keeps_none_references(demo_window: MainWindow) -> None:
    ctx = demo_window.station.ctx
    sid = sessions.session_id_for_chair(ctx, "2")  # the infusing demo session
    demo_window.open_session(sid)
    view = demo_window.session_view
    assert view.phase.text() == "INFUSING"

    def work() -> None:
        for _ in range(REFRESHES):
            view.refresh()
            for panel in view.panels.values():
                refresh = getattr(panel, "refresh", None)
                if refresh is not None:
                    refresh()

    lost = _none_refs_lost(work)
    assert lost <= TOLERANCE, f"{REFRESHES} session view refreshes lost {lost} refs to None"
