"""The scale entry, the patient-facing screen, the safety flag and the course trend through the
real widgets (issue 16)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QRadioButton
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import outcomes, patients, sessions, vitals
from nursestation.app.board import board_cards
from nursestation.db.models import InfusionSession
from nursestation.dosing import Protocol
from nursestation.errors import DomainError
from nursestation.ui.outcome_trend import OutcomeTrend
from nursestation.ui.scale_entry import OutcomesBox, PatientScaleScreen, ScaleEntryDialog
from nursestation.ui.station import Station


@pytest.fixture
def station(qtbot: Any, ctx: Any, people: dict[str, Any]) -> Station:
    st = Station(ctx)
    st.set_actor(people["nurse"])
    return st


def _dialog(qtbot: Any, station: Station, sid: int, scale: str = "phq9") -> ScaleEntryDialog:
    dlg = ScaleEntryDialog(station, sid, scale)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def _type(qtbot: Any, dlg: ScaleEntryDialog, n: int, text: str) -> None:
    field = dlg.fields[n - 1]
    field.clear()
    qtbot.keyClicks(field, text)
    field.editingFinished.emit()  # what leaving the field (Tab) does


@pytest.mark.parametrize(
    ("scale", "item", "bad", "good", "span"),
    [
        ("phq9", 5, ["4", "-1", "x"], ["3", "0"], "0–3"),
        ("gad7", 7, ["4"], ["3"], "0–3"),
        ("pcl5", 20, ["5"], ["4"], "0–4"),
        ("cadss", 23, ["5"], ["4"], "0–4"),
        ("moaas", 1, ["6"], ["5"], "0–5"),
        ("cssrs", 1, ["2"], ["1"], "0–1"),
    ],
)
def test_each_item_refused_outside_its_range_naming_item_and_range(
    qtbot: Any, station: Station, checked_in: int, scale: str, item: int, bad: list[str],
    good: list[str], span: str,
) -> None:  # fmt: skip
    dlg = _dialog(qtbot, station, checked_in, scale)
    if item > 1:
        _type(qtbot, dlg, 1, "1")
    for text in bad:
        _type(qtbot, dlg, item, text)
        msg = dlg.error.text()
        assert f"item {item}" in msg and span in msg, msg
        assert dlg.fields[item - 1].text() == text  # nothing cleared
        if item > 1:
            assert dlg.fields[0].text() == "1"  # the rest of the form kept
    for text in good:  # the boundary inside is accepted
        _type(qtbot, dlg, item, text)
        assert f"item {item} " not in dlg.error.text()


def test_record_refused_with_a_bad_item_keeps_everything(
    qtbot: Any, station: Station, checked_in: int
) -> None:
    dlg = _dialog(qtbot, station, checked_in)
    for n, v in enumerate(["1", "2", "1", "0", "9", "1", "0", "0", "0"], 1):
        _type(qtbot, dlg, n, v)
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.isVisible() and dlg.recorded is None
    assert "item 5" in dlg.error.text() and "0–3" in dlg.error.text()
    assert [f.text() for f in dlg.fields] == ["1", "2", "1", "0", "9", "1", "0", "0", "0"]
    _type(qtbot, dlg, 5, "2")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.recorded is not None and dlg.recorded.total == 7
    assert not dlg.isVisible()


def test_half_filled_scale_kept_when_the_dialog_closes(
    qtbot: Any, station: Station, checked_in: int
) -> None:
    dlg = _dialog(qtbot, station, checked_in, "gad7")
    _type(qtbot, dlg, 1, "2")
    _type(qtbot, dlg, 2, "3")
    _type(qtbot, dlg, 4, "1")
    dlg.close()  # the window's close button
    draft = station.read(outcomes.open_draft, checked_in, "gad7", "pre")
    assert draft is not None and draft.answers == (2, 3, None, 1, None, None, None)
    again = _dialog(qtbot, station, checked_in, "gad7")
    assert [f.text() for f in again.fields] == ["2", "3", "", "1", "", "", ""]
    assert "draft" in again.error.text()
    _type(qtbot, again, 3, "0")
    qtbot.keyClick(again, Qt.Key.Key_Escape)  # Escape is a cancel: kept again
    draft = station.read(outcomes.open_draft, checked_in, "gad7", "pre")
    assert draft is not None and draft.answers[:4] == (2, 3, 0, 1)


def test_cssrs_questions_follow_the_screener(qtbot: Any, station: Station, checked_in: int) -> None:
    dlg = _dialog(qtbot, station, checked_in, "cssrs")
    assert [f.isEnabled() for f in dlg.fields] == [True, True, False, False, False, True, False]
    _type(qtbot, dlg, 2, "1")
    assert all(dlg.fields[i].isEnabled() for i in (2, 3, 4))
    _type(qtbot, dlg, 6, "1")
    assert dlg.fields[6].isEnabled()
    labels = [lab.text() for lab in dlg.findChildren(QLabel)]
    assert "1. Q1 wish to be dead (past month)" in labels  # topics, not the licensed wording
    assert any("not shown here" in t for t in labels)
    assert not dlg.patient_btn.isEnabled()  # clinician-administered: not handed to the patient


def _visible_texts(w: Any) -> str:
    return " ".join(lab.text() for lab in w.findChildren(QLabel) if lab.isVisibleTo(w)) + " ".join(
        b.text() for b in w.findChildren(QRadioButton))


def test_patient_screen_shows_only_the_scale_and_needs_the_nurse_to_exit(
    qtbot: Any, station: Station, checked_in: int, ctx: Any, people: dict[str, Any]
) -> None:
    dlg = _dialog(qtbot, station, checked_in, "phq9")
    screen = dlg.open_patient_screen()
    qtbot.addWidget(screen)
    assert isinstance(screen, PatientScaleScreen) and screen.isVisible()
    text = _visible_texts(screen)
    assert "Little interest or pleasure" in text
    for private in ("Doe", "Jane", "K-1001", "1985", "Chair", "Ana Ruiz"):
        assert private not in text
    for n, v in enumerate([1, 1, 2, 0, 0, 1, 0, 0, 0]):
        screen.groups[n].button(v).click()
    qtbot.mouseClick(screen.finished_btn, Qt.MouseButton.LeftButton)
    screen.close()  # the patient cannot close it
    qtbot.keyClick(screen, Qt.Key.Key_Escape)
    assert screen.isVisible()
    qtbot.keyClicks(screen.password, "not-the-password")
    qtbot.mouseClick(screen.release_btn, Qt.MouseButton.LeftButton)
    assert screen.isVisible() and screen.error.text()
    qtbot.keyClicks(screen.password, PASSWORD)
    qtbot.mouseClick(screen.release_btn, Qt.MouseButton.LeftButton)
    assert not screen.isVisible()
    assert [f.text() for f in dlg.fields] == ["1", "1", "2", "0", "0", "1", "0", "0", "0"]
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.recorded is not None and dlg.recorded.on_station and dlg.recorded.total == 5


def test_safety_flag_on_the_box_and_the_chair_card(
    qtbot: Any, station: Station, checked_in: int, ctx: Any, people: dict[str, Any]
) -> None:
    box = OutcomesBox(station)
    qtbot.addWidget(box)
    box.set_session(checked_in, "K-1001", ended=False)
    assert box.flag.isHidden() and not box.safety_btn.isEnabled()
    station.write(outcomes.record_outcome, checked_in, "cssrs", [1, 1, 1, 1, 1, 0, None])
    box.show()
    box.set_session(checked_in, "K-1001", ended=False)
    assert box.flag.isVisible() and "assessment needed" in box.flag.text()
    assert not box.safety_btn.isEnabled()  # a nurse cannot record it
    card = next(c for c in board_cards(ctx, people["nurse"]) if c.chair == "1")
    assert card.safety_flag is not None and "assessment needed" in card.safety_flag
    charge = Station(ctx)
    charge.set_actor(people["charge"])
    cbox = OutcomesBox(charge)
    qtbot.addWidget(cbox)
    cbox.set_session(checked_in, "K-1001", ended=False)
    assert cbox.safety_btn.isEnabled()
    dlg = cbox.open_safety()
    qtbot.keyClicks(dlg.assessment, "Intent with a plan, unsafe today.")
    qtbot.keyClicks(dlg.plan, "Do not infuse; crisis team called; escort stays.")
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert "Choose whether to proceed" in dlg.error.text()  # nothing preselected
    dlg.proceed_no.click()
    qtbot.mouseClick(dlg.ok_btn, Qt.MouseButton.LeftButton)
    assert dlg.status is not None and dlg.status.start_held
    vitals.record_vitals(ctx, people["nurse"], checked_in,
                         {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})  # fmt: skip
    with pytest.raises(DomainError):
        sessions.start_infusion(ctx, people["nurse"], checked_in)


def _course(ctx: Any, nurse: Any, clock: Any, totals: list[list[int]]) -> None:
    patients.register_patient(ctx, nurse, mrn="K-3001", name="Lee, Morgan", dob=date(1979, 1, 1),
                              weight_kg=80, sex="male", reproductive_potential=False)  # fmt: skip
    for answers in totals:
        sid = sessions.check_in(ctx, nurse, mrn="K-3001", chair="2",
                                protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK).id  # fmt: skip
        outcomes.record_outcome(ctx, nurse, sid, "phq9", answers)
        outcomes.record_outcome(ctx, nurse, sid, "gad7", answers[:7])
        with ctx.tx() as s:  # end the visit directly: the course only needs its scores
            row = s.get(InfusionSession, sid)
            row.ended_at, row.end_reason = clock.now(), "discharged"
        clock.advance(days=7)


def test_trend_widget_marks_response_and_remission(
    qtbot: Any, station: Station, ctx: Any, people: dict[str, Any], clock: Any
) -> None:
    _course(ctx, people["nurse"], clock, [
        [3, 3, 2, 3, 2, 3, 2, 2, 0],  # 20
        [2, 2, 2, 2, 1, 2, 1, 2, 0],  # 14
        [1, 1, 2, 1, 1, 1, 1, 1, 0],  # 9: response
        [1, 1, 1, 1, 0, 0, 0, 0, 0],  # 4: remission
    ])  # fmt: skip
    w = OutcomeTrend.for_station(station)
    qtbot.addWidget(w)
    w.load(station, "K-3001")
    assert [t for _n, t in w.series["phq9"]] == [20, 14, 9, 4]
    assert ("phq9" in w.series) and ("gad7" in w.series)
    assert (3, "PHQ-9 response") in w.markers and (4, "PHQ-9 remission") in w.markers
    assert "response first at session 3" in w.summary.text()
    assert "remission first at session 4" in w.summary.text()
