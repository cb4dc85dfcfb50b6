"""The note's reading view (issue 18, preview): at 1366×768 the note tab leaves its page view
about 175 px; "Read in full view" gives the pages the session view's height under the alarm
band, which stays on screen and working; Escape (or ◀ Back) returns to the tab as it was and
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt, QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from nursestation.app import notes, sessions, vitals
from nursestation.db.models import AuditEvent
from nursestation.ui import printing
from nursestation.ui.main_window import MainWindow
from nursestation.ui.note_panel import NotePanel
from nursestation.ui.station import Station
from nursestation.ui.style import APP_STYLESHEET

SCREEN_W, SCREEN_H = 1366, 768
# The pages' visible height in the reading view at 1366×768 with the alarm band above it
# (592 px measured: 768 less the toolbar, the status bar, the 96 px alarm band and margins).
# In the note tab it is about 160 px.
MIN_READING_PX = 580
ALARMING = {"sbp": 212, "dbp": 124, "hr": 142, "spo2": 84, "rr": 6}

pytestmark = pytest.mark.skipif(
    not printing.pdftoppm_available(), reason="poppler's pdftoppm is not installed"
)


@pytest.fixture(autouse=True)
def _jobs_end_with_the_test(qtbot: Any) -> Any:
    yield
    QThreadPool.globalInstance().waitForDone(60_000)
    QApplication.processEvents()


@pytest.fixture
def window(
    qtbot: Any, ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> Iterator[MainWindow]:
    """The main window at 1366×768 on the infusing session with five alarms, note tab in front.
    Deleted before the context closes: its 1 s timers must not read a database already gone
    (on PostgreSQL the test's database is dropped at teardown)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setStyleSheet(APP_STYLESHEET)
    clock.advance(minutes=1)
    vitals.record_vitals(ctx, people["nurse"], infusing, ALARMING, soft_confirmed=True)
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    w.resize(SCREEN_W, SCREEN_H)
    w.show()
    qtbot.waitExposed(w)
    w.open_session(infusing)
    w.session_view.show_tab("Session note")
    qtbot.waitUntil(lambda: len(w.session_view.alarm_strip.alarm_lines()) >= 5, timeout=3000)
    yield w
    QThreadPool.globalInstance().waitForDone(60_000)
    w.close()
    # The station too: its AlarmSound (a child of the station) answers a read still in flight
    # after the window's closeEvent stopped it, and would update the deleted window's banner.
    for obj in (w, station):
        obj.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _note(window: MainWindow) -> NotePanel:
    panel = window.session_view.panels["Session note"]
    assert isinstance(panel, NotePanel)
    return panel


def _preview(qtbot: Any, panel: NotePanel) -> None:
    with qtbot.waitSignal(
        panel.job_finished, timeout=60_000, check_params_cb=lambda k: k == "preview"
    ):
        qtbot.mouseClick(panel.preview_btn, Qt.MouseButton.LeftButton)
    view = panel.page_view
    qtbot.waitUntil(lambda: len(view.page_labels()) == len(view.images()), timeout=10_000)


def _visible_page_px(window: MainWindow, panel_view: Any) -> int:
    """Height of the page area really on screen: the scroll area's viewport, inside the window."""
    vp = panel_view.scroll_area.viewport()
    top = vp.mapTo(window, QPoint(0, 0)).y()
    bottom = min(top + vp.height(), window.height())
    return bottom - max(top, 0)


def test_the_note_is_read_at_full_height_with_the_alarms_in_view(
    qtbot: Any, window: MainWindow
) -> None:
    view, panel = window.session_view, _note(window)
    assert not panel.read_btn.isEnabled()  # nothing to read before the preview
    _preview(qtbot, panel)
    in_tab = _visible_page_px(window, panel.page_view)
    assert panel.read_btn.isEnabled()

    # Keyboard path: Alt+F (the button's mnemonic) opens the reading view.
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: panel.reader is not None and panel.reader.isVisible(), timeout=2000)
    reader = panel.reader
    assert reader is not None and view.reader is reader
    rv = reader.page_view
    qtbot.waitUntil(lambda: len(rv.page_labels()) == len(panel.page_view.images()), timeout=5000)
    qtbot.wait(50)
    shown = _visible_page_px(window, rv)
    assert shown >= MIN_READING_PX, (shown, in_tab)
    assert in_tab < 300  # what the tab leaves (why the reading view exists)
    # The pages fill the width (fit width) at a readable size, from the top of page 1.
    page = rv.page_labels()[0]
    assert rv.fit_btn.isChecked() and rv.zoom >= 1.0
    assert rv.scroll_area.viewport().width() - 60 <= page.pixmap().width()
    assert page.geometry().height() >= page.pixmap().height()  # not cut top and bottom
    assert rv.scroll_area.verticalScrollBar().value() == 0
    # Whose note it is, and what it is.
    assert "MRN" in reader.subject.text() and "Not yet signed" in reader.caption.text()

    # The chair's alarm band is on screen above the pages, with its alarms and buttons working.
    band = view.alarm_area
    assert band.isVisible() and view.alarm_strip.ack_btn.isVisible()
    assert view.alarm_strip.ack_btn.isEnabled()
    assert len(view.alarm_strip.alarm_lines()) >= 5
    band_bottom = band.mapTo(window, QPoint(0, band.height())).y()
    assert band_bottom <= rv.scroll_area.viewport().mapTo(window, QPoint(0, 0)).y()
    # The reminders came along into the reader's column.
    assert view.due_strip.isVisible() and reader.isAncestorOf(view.due_strip)
    # The session's controls and tabs stepped aside (no mnemonic of theirs can fire unseen).
    assert not view.tabs.isVisible() and not view.stop_btn.isVisible()

    # The same zoom controls as the tab: + then Fit width.
    first = page.pixmap().width()
    qtbot.mouseClick(rv.in_btn, Qt.MouseButton.LeftButton)
    assert page.pixmap().width() > first and not rv.fit_btn.isChecked()
    qtbot.mouseClick(rv.fit_btn, Qt.MouseButton.LeftButton)
    assert page.pixmap().width() == first


def test_escape_returns_to_the_note_tab_and_changes_nothing(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    view, panel = window.session_view, _note(window)
    _preview(qtbot, panel)

    def places() -> list[Any]:
        return [
            w.mapTo(window, QPoint(0, 0))
            for w in (view.tabs, view.stop_btn, view.alarm_area, panel.page_view)
        ]

    before_places = places()
    pages_before = len(panel.page_view.page_labels())
    actor = window.station.actor
    events_before = len(sessions.get_summary(ctx, actor, infusing).events)
    with ctx.tx() as db:
        audit_before = db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()

    qtbot.mouseClick(panel.read_btn, Qt.MouseButton.LeftButton)
    reader = panel.reader
    assert reader is not None and reader.isVisible()
    qtbot.keyClick(reader.page_view.scroll_area, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not reader.isVisible(), timeout=2000)
    qtbot.wait(50)

    assert view.reader is None and view.tabs.isVisible() and view.stop_btn.isVisible()
    assert view.current_tab() == "Session note"
    assert places() == before_places  # the session view is back as it was
    assert len(panel.page_view.page_labels()) == pages_before  # the tab's preview kept
    assert view.tabs.cornerWidget(Qt.Corner.TopRightCorner) is view.due_strip
    assert view.due_strip.isVisible()
    assert panel.read_btn.hasFocus()  # the keyboard is where the nurse left
    # Nothing written: no note signed, no session event, no audit row.
    assert notes.latest_note(ctx, actor, infusing) is None
    assert len(sessions.get_summary(ctx, actor, infusing).events) == events_before
    with ctx.tx() as db:
        audit_after = db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    assert audit_after == audit_before

    # ◀ Back closes it the same way; Escape with the reader closed changes nothing either.
    qtbot.mouseClick(panel.read_btn, Qt.MouseButton.LeftButton)
    assert reader.isVisible()
    qtbot.mouseClick(reader.back_btn, Qt.MouseButton.LeftButton)
    assert not reader.isVisible() and view.tabs.isVisible()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.tabs.isVisible() and view.current_tab() == "Session note"


def test_opening_a_chair_again_leaves_the_reading_view(
    qtbot: Any, window: MainWindow, infusing: int
) -> None:
    view, panel = window.session_view, _note(window)
    _preview(qtbot, panel)
    qtbot.mouseClick(panel.read_btn, Qt.MouseButton.LeftButton)
    assert view.reader is not None
    window.show_board()
    window.open_session(infusing)
    assert view.reader is None and view.tabs.isVisible() and view.mid_row.isVisible()


def test_mnemonics_are_unique_in_the_reading_view(qtbot: Any, window: MainWindow) -> None:
    import re

    from PySide6.QtWidgets import QAbstractButton

    view, panel = window.session_view, _note(window)
    _preview(qtbot, panel)
    qtbot.mouseClick(panel.read_btn, Qt.MouseButton.LeftButton)
    texts = [b.text() for b in view.findChildren(QAbstractButton) if b.isVisibleTo(view)]
    letters = [m.group(1).lower() for t in texts if (m := re.search(r"&([^&\s])", t))]
    assert "b" in letters  # ◀ &Back to session
    assert len(letters) == len(set(letters)), texts
