"""At the chair (issue 18): every view fits 1366×768, the alarm band never moves the rest, the
flowsheet shows ten rows, chairs open by keyboard alone, Enter saves vitals, Escape changes
nothing, reminders are in the session view with clock times, an administrator gets an answer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import func, select

from nursestation.app import vitals
from nursestation.db.models import InfusionSession, VitalReading
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.station import Station
from nursestation.ui.style import APP_STYLESHEET
from nursestation.ui.vitals_entry import VitalsEntryDialog
from nursestation.ui.vitals_panel import MIN_ROWS

SCREEN_W, SCREEN_H = 1366, 768
ALARMING = {"sbp": 212, "dbp": 124, "hr": 142, "spo2": 84, "rr": 6}


@pytest.fixture
def window(qtbot: Any, ctx: Any, people: dict[str, Any]) -> MainWindow:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setStyleSheet(APP_STYLESHEET)  # the fonts the station uses (ui/launch.py)
    station = Station(ctx)
    station.set_actor(people["nurse"])
    w = MainWindow(station)
    qtbot.addWidget(w)
    w.resize(SCREEN_W, SCREEN_H)
    w.show()
    return w


def _readings(ctx: Any, nurse: Any, sid: int, clock: Any, n: int) -> None:
    for i in range(n):
        clock.advance(minutes=2)
        vitals.record_vitals(
            ctx, nurse, sid, {"sbp": 128 + i % 5, "dbp": 80, "hr": 74, "spo2": 98, "rr": 14}
        )


def _five_alarms(ctx: Any, nurse: Any, sid: int, clock: Any) -> None:
    clock.advance(minutes=1)
    vitals.record_vitals(ctx, nurse, sid, ALARMING, soft_confirmed=True)


def _fits(size: Any) -> bool:
    return size.width() <= SCREEN_W and size.height() <= SCREEN_H


def test_every_view_fits_1366x768_with_five_alarms(
    qtbot: Any, window: MainWindow, ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    assert _fits(window.minimumSizeHint()), window.minimumSizeHint()  # the board
    _readings(ctx, people["nurse"], infusing, clock, 12)
    _five_alarms(ctx, people["nurse"], infusing, clock)
    window.open_session(infusing)
    view = window.session_view
    assert len(view.alarm_strip.alarm_lines()) >= 5
    for title in ("Vitals", "Medications", "Discharge", "Session note"):
        view.show_tab(title)
        qtbot.wait(10)
        assert _fits(window.minimumSizeHint()), (title, window.minimumSizeHint())
    for dlg in (
        CheckInDialog(window.station, "2", window),
        VitalsEntryDialog(window.station, infusing, window),
    ):
        qtbot.addWidget(dlg)
        assert _fits(dlg.minimumSizeHint()), (type(dlg).__name__, dlg.minimumSizeHint())


def test_flowsheet_shows_ten_rows_at_1366x768(
    qtbot: Any, window: MainWindow, ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    _readings(ctx, people["nurse"], infusing, clock, 14)
    _five_alarms(ctx, people["nurse"], infusing, clock)
    window.open_session(infusing)
    panel = window.session_view.panels["Vitals"]
    table = panel.table  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 15, timeout=3000)  # type: ignore[attr-defined]
    qtbot.wait(50)
    row_h = table.verticalHeader().defaultSectionSize()
    whole_rows = table.viewport().height() // row_h
    assert whole_rows >= MIN_ROWS, (table.viewport().height(), row_h)
    # the first rows are really on screen (not scrolled away inside the page)
    assert table.rowAt(0) == 0 and table.rowAt((MIN_ROWS - 1) * row_h + 1) == MIN_ROWS - 1


def test_alarms_do_not_move_the_controls(
    qtbot: Any, window: MainWindow, ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    window.open_session(infusing)
    view = window.session_view
    qtbot.wait(20)
    assert view.alarm_strip.alarm_lines() == []

    def places() -> list[Any]:
        return [
            w.mapTo(window, w.rect().topLeft())
            for w in (view.tabs, view.stop_btn, view.pause_btn, view.checklist_btn)
        ]

    before = places()
    _five_alarms(ctx, people["nurse"], infusing, clock)
    window.station.changed.emit()
    view.refresh()
    qtbot.waitUntil(lambda: len(view.alarm_strip.alarm_lines()) >= 5, timeout=3000)
    qtbot.wait(20)
    assert places() == before


def test_chair_cards_have_equal_size(qtbot: Any, window: MainWindow, infusing: int) -> None:
    window.show_board()
    qtbot.wait(20)
    sizes = [window.board.card(c).size().toTuple() for c in window.board.chairs()]
    # chair 1 holds a patient with timers, the others are empty: the same size all the same
    # (within the one pixel a grid gives to the first columns when the width does not divide)
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    assert max(widths) - min(widths) <= 1 and max(heights) - min(heights) <= 1, sizes
    card = window.board.card("1")
    assert card.minimumSizeHint().height() <= card.height()  # no line drawn over another


def test_a_chair_is_opened_by_keyboard_alone(qtbot: Any, window: MainWindow, infusing: int) -> None:
    window.show_board()
    board = window.board
    chairs = board.chairs()
    assert chairs[0] == "1"
    # the board gives the first chair the focus; Right then Left come back to it
    qtbot.waitUntil(lambda: board.card("1").hasFocus(), timeout=1000)
    qtbot.keyClick(board.card("1"), Qt.Key.Key_Right)
    assert board.card("2").hasFocus()
    qtbot.keyClick(board.card("2"), Qt.Key.Key_Left)
    assert board.card("1").hasFocus()
    qtbot.keyClick(board.card("1"), Qt.Key.Key_Return)
    assert window.stack.currentWidget() is window.session_view
    assert window.session_view.session_id == infusing
    # Alt+B (the Back button's mnemonic) returns to the board, the chair keeps the focus;
    # Alt+1 opens chair 1 again
    qtbot.keyClick(window.session_view, Qt.Key.Key_B, Qt.KeyboardModifier.AltModifier)
    # (a mnemonic "animates" the click: the button is released 100 ms later)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.board, timeout=2000)
    assert board.card("1").hasFocus()
    window.chair_actions[0].trigger()
    assert window.session_view.session_id == infusing


def test_alt_number_on_an_empty_chair_offers_check_in_and_escape_changes_nothing(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int, monkeypatch: Any
) -> None:
    seen: list[CheckInDialog] = []

    def exec_and_escape(dlg: CheckInDialog) -> int:
        seen.append(dlg)
        dlg.show()
        qtbot.keyClicks(dlg.mrn, "K-9999")
        qtbot.keyClick(dlg, Qt.Key.Key_Escape)
        return int(dlg.result())

    monkeypatch.setattr(CheckInDialog, "exec", exec_and_escape)
    with ctx.tx() as s:
        before = s.execute(select(func.count()).select_from(InfusionSession)).scalar_one()
    window.chair_actions[1].trigger()  # Alt+2: chair 2 is empty
    assert len(seen) == 1 and seen[0].result() == 0
    assert window.stack.currentWidget() is window.board
    with ctx.tx() as s:
        after = s.execute(select(func.count()).select_from(InfusionSession)).scalar_one()
    assert after == before


def _count_readings(ctx: Any, sid: int) -> int:
    with ctx.tx() as s:
        return int(
            s.execute(
                select(func.count()).select_from(VitalReading).where(VitalReading.session_id == sid)
            ).scalar_one()
        )


def test_enter_saves_the_embedded_vitals_form(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    window.open_session(infusing)
    form = window.session_view.panels["Vitals"].form  # type: ignore[attr-defined]
    before = _count_readings(ctx, infusing)
    for name, value in (("sbp", "124"), ("dbp", "78"), ("hr", "72"), ("spo2", "98"), ("rr", "14")):
        qtbot.keyClicks(form.edits[name], value)
    qtbot.keyClick(form.edits["rr"], Qt.Key.Key_Return)
    assert _count_readings(ctx, infusing) == before + 1
    assert form.status.text().startswith("Saved #")
    assert form.edits["sbp"].text() == ""  # cleared for the next reading


def test_enter_in_the_vitals_dialog_saves_once(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    dlg = VitalsEntryDialog(window.station, infusing, window)
    qtbot.addWidget(dlg)
    dlg.show()
    before = _count_readings(ctx, infusing)
    for name, value in (("sbp", "124"), ("dbp", "78"), ("hr", "72"), ("spo2", "98"), ("rr", "14")):
        qtbot.keyClicks(dlg.form.edits[name], value)
    qtbot.keyClick(dlg.form.edits["sbp"], Qt.Key.Key_Enter)
    assert _count_readings(ctx, infusing) == before + 1  # not twice (form and default button)
    assert dlg.record is not None and dlg.result() == 1


def test_escape_and_cancel_close_the_vitals_dialog_without_saving(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    before = _count_readings(ctx, infusing)
    for how in ("escape", "cancel"):
        dlg = VitalsEntryDialog(window.station, infusing, window)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.keyClicks(dlg.form.edits["sbp"], "124")
        qtbot.keyClicks(dlg.form.edits["dbp"], "78")
        if how == "escape":
            qtbot.keyClick(dlg, Qt.Key.Key_Escape)
        else:
            dlg.findChild(type(dlg.form.save_btn), "vitals-cancel").click()
        assert not dlg.isVisible() and dlg.result() == 0 and dlg.record is None
    assert _count_readings(ctx, infusing) == before


def test_impossible_value_message_is_read_in_full(
    qtbot: Any, window: MainWindow, infusing: int
) -> None:
    window.open_session(infusing)
    form = window.session_view.panels["Vitals"].form  # type: ignore[attr-defined]
    qtbot.keyClicks(form.edits["sbp"], "1200")
    msg = form.messages["sbp"]
    assert msg.isVisible() and msg.text().startswith("SBP 1200 mmHg is")
    # wrapped in a label as wide as the form: the whole sentence fits its width
    assert msg.wordWrap() and msg.width() >= form.width() - 20
    assert msg.heightForWidth(msg.width()) <= msg.height()
    status = form.status.text()
    assert "see above" not in status and "SBP" in status
    assert not form.save_btn.isEnabled()


def test_reminders_in_the_session_view_with_clock_times(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int, clock: Any
) -> None:
    window.open_session(infusing)
    view = window.session_view
    text, status = view.due_strip.lines()[0]
    # the baseline is 5 min old at the start: the first check during the infusion is due
    assert status == "due" and text == "Vitals DUE since 14:05 (less than 1 min)"
    vitals.record_vitals(
        ctx, window.station.actor, infusing, {"sbp": 124, "dbp": 78, "hr": 72, "spo2": 98, "rr": 14}
    )
    view.refresh()
    text, status = view.due_strip.lines()[0]
    assert status == "ok" and text.startswith("Vitals due 14:") and text.endswith(" min)")
    assert "(in " in text
    clock.advance(minutes=40)  # far past the next check
    view.refresh()
    text, status = view.due_strip.lines()[0]
    assert status == "overdue" and text.startswith("Vitals OVERDUE since ")
    label = next(w for w in view.due_strip.findChildren(type(view.header)) if w.text() == text)
    assert "background: #d32f2f" in label.styleSheet()  # styled as a high alarm
    # never a bare M:SS timer: the big timer and the card spell the durations
    assert " min " in view.big.text() and ":" not in view.big.text().split("·")[0]
    window.show_board()
    card = window.board.card("1")
    assert "min" in card.timers.text()
    import re

    assert not re.search(r"\b\d+:\d\d\b(?! \()", card.timers.text()), card.timers.text()


def test_an_administrator_clicking_a_chair_gets_an_answer(
    qtbot: Any, window: MainWindow, people: dict[str, Any], infusing: int, monkeypatch: Any
) -> None:
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _p, _t, text, *a, **k: said.append(text))
    window.station.set_actor(people["admin"])
    window.open_chair("1")  # occupied
    window.open_chair("2")  # empty
    assert len(said) == 2
    assert said[0].startswith("Chair 1:") and "nurse" in said[0]
    assert said[1].startswith("Chair 2:") and "Checking a patient in" in said[1]
    assert all("_" not in text for text in said)  # no internal key
    assert window.stack.currentWidget() is window.board


def test_user_label_shows_role_words(window: MainWindow, people: dict[str, Any]) -> None:
    window.station.set_actor(people["charge"])
    assert "Charge nurse" in window.user_label.text()
    assert "charge_nurse" not in window.user_label.text()


def test_due_texts_spell_durations() -> None:
    from nursestation.wording import duration_words, until_words

    assert duration_words(0) == "less than 1 min"
    assert duration_words(59) == "less than 1 min"
    assert duration_words(60) == "1 min"
    assert duration_words(750, with_seconds=True) == "12 min 30 s"
    assert duration_words(3599) == "59 min"
    assert duration_words(3600) == "1 h 00 min"
    assert until_words(0) == "now"
    assert until_words(1) == "in 1 min"
    assert until_words(190) == "in 4 min"  # 3 min 10 s to go: rounded up
    assert until_words(timedelta(minutes=65).total_seconds()) == "in 1 h 05 min"


def test_twelve_chairs_fit_1366x768(qtbot: Any, tmp_path: Any) -> None:
    """A 12-chair clinic: four columns of equal cards, the main window no larger than the
    screen."""
    from support import PASSWORD

    from nursestation.app.context import AppContext
    from nursestation.app.users import authenticate, provision_user
    from nursestation.clinic import load_clinic_settings
    from nursestation.config import resolve_config

    data = tmp_path / "station"
    data.mkdir()
    chairs = [str(i) for i in range(1, 13)]
    (data / "clinic.json").write_text(json.dumps({"general": {"chairs": chairs}}))
    config = resolve_config(str(data), None)
    ctx = AppContext.open(config, settings=load_clinic_settings(config.clinic_file))
    try:
        provision_user(ctx, username="rn.ana", full_name="Ana", roles={"nurse"}, password=PASSWORD)
        station = Station(ctx)
        station.set_actor(authenticate(ctx, "rn.ana", PASSWORD))
        w = MainWindow(station)
        qtbot.addWidget(w)
        w.resize(SCREEN_W, SCREEN_H)
        w.show()
        qtbot.wait(20)
        assert w.board.columns == 4
        assert _fits(w.minimumSizeHint()), w.minimumSizeHint()
        assert w.board.chairs() == chairs
        w.close()
    finally:
        ctx.close()


def test_escape_on_the_stop_prompt_changes_nothing(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    from nursestation.app import sessions

    window.open_session(infusing)
    view = window.session_view
    before = sessions.get_summary(ctx, window.station.actor, infusing)
    qtbot.keyClick(view, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)  # S&top… mnemonic
    qtbot.waitUntil(lambda: view.dialog is not None and view.dialog.isVisible(), timeout=2000)
    dlg = view.dialog
    assert dlg is not None
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: view.dialog is None, timeout=2000)
    after = sessions.get_summary(ctx, window.station.actor, infusing)
    assert after.state.phase == before.state.phase == "infusing"
    assert len(after.events) == len(before.events)


def test_mnemonics_are_unique_on_every_tab(
    qtbot: Any, window: MainWindow, ctx: Any, infusing: int
) -> None:
    """Alt+letter works only when one visible control has the letter: for each tab, the
    session view's buttons and tab titles carry distinct letters, and the actions have one."""
    import re

    from PySide6.QtWidgets import QAbstractButton

    window.open_session(infusing)
    view = window.session_view
    for action in (view.start_btn, view.pause_btn, view.stop_btn, view.rate_btn):
        assert "&" in action.text()
    for title in ("Vitals", "Medications", "Discharge", "Session note"):
        view.show_tab(title)
        qtbot.wait(10)
        texts = [view.tabs.tabText(i) for i in range(view.tabs.count())]
        texts += [b.text() for b in view.findChildren(QAbstractButton) if b.isVisibleTo(view)]
        letters = [m.group(1).lower() for t in texts if (m := re.search(r"&([^&\s])", t))]
        dupes = {x for x in letters if letters.count(x) > 1}
        assert not dupes, (title, dupes, texts)


def test_administration_dialogs_fit_1366x768(
    qtbot: Any, window: MainWindow, people: dict[str, Any]
) -> None:
    from nursestation.ui.audit_viewer import AuditViewer
    from nursestation.ui.devices_dialog import DevicesDialog
    from nursestation.ui.export_dialog import ExportDialog
    from nursestation.ui.users_dialog import UsersDialog

    window.station.set_actor(people["admin"])
    for make in (UsersDialog, AuditViewer, ExportDialog, DevicesDialog):
        dlg = make(window.station, window)
        qtbot.addWidget(dlg)
        assert _fits(dlg.minimumSizeHint()), (make.__name__, dlg.minimumSizeHint())
        dlg.reject()


def test_a_spravato_session_fits_1366x768(
    qtbot: Any, window: MainWindow, ctx: Any, people: dict[str, Any]
) -> None:
    """The Spravato panel shares the infusion row: the session still fits the screen and the
    tabs keep the room the flowsheet needs."""
    import os
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients, spravato

    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="S-1", name="Roe, Sam", dob=date(1979, 6, 14), weight_kg=82
    )
    spravato.record_enrolment(ctx, nurse, "S-1", rems_patient_id="RP-1", enrolled_on="2026-02-20")
    checklist = {k: v for k, v in CHECKLIST_OK.items() if not k.startswith("iv_")}
    s = spravato.check_in(ctx, nurse, mrn="S-1", chair="2", dose_mg=84, checklist=checklist)
    window.open_session(s.id)
    qtbot.wait(50)
    view = window.session_view
    assert view.spravato_area.isVisible()
    if os.environ.get("CHAIR_SHOTS"):
        window.grab().save(os.environ["CHAIR_SHOTS"])
    assert _fits(window.minimumSizeHint()), window.minimumSizeHint()
    assert view.tabs.height() >= 300, view.tabs.height()


def test_a_role_refusal_names_roles_in_words(ctx: Any) -> None:
    from support import PASSWORD

    from nursestation.app.users import provision_user
    from nursestation.errors import DomainError

    with pytest.raises(DomainError) as err:
        provision_user(ctx, username="x.y", full_name="X Y", roles=set(), password=PASSWORD)
    assert err.value.message == ("Roles must be one or more of Nurse, Charge nurse, Administrator.")


def test_tabs_are_chosen_by_their_panel(window: MainWindow, infusing: int) -> None:
    """The panels sit in scrolling pages; callers still name the panel (scripts/soak.py,
    bench/stream.py)."""
    window.open_session(infusing)
    view = window.session_view
    meds = view.panels["Medications"]
    view.tabs.setCurrentWidget(meds)
    assert view.tabs.currentIndex() == 1 and view.tabs.currentWidget() is meds
    assert view.tabs.indexOf(view.panels["Session note"]) == 3
    assert view.current_tab() == "Medications"
