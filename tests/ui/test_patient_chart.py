"""The patient chart on screen (issue 16), offscreen with pytest-qt: an edit saved through the
real form keeps the old value in the History tab, a refusal (no reason, an allergy without its
substance) names the field and keeps everything typed; the course tab shows the plan, the
session with its adverse event and opens the signed note; the chart is reachable from the
session view and the toolbar, not for an administrator. Check-in asks for today's weight
(confirmation over the clinic's limit) and offers the last visit field by field. A screenshot
goes to build/screenshots/patient_chart.png."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import course_plan, notes, patients, sessions, vitals
from nursestation.db.models import AuditEvent, InfusionSession
from nursestation.dosing import Protocol
from nursestation.ui import checkin_dialog, patient_chart
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.main_window import MainWindow
from nursestation.ui.patient_chart import COURSE_COLUMNS, CoursePlanDialog, PatientChart
from nursestation.ui.station import Station

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(autouse=True)
def _note_jobs_end_with_the_test(qtbot: Any) -> Any:
    """The session view's note panel verifies in a worker thread: wait for it while this
    test's widgets exist (as tests/ui/test_note_ui.py does), not in the next test's loop."""
    yield
    QThreadPool.globalInstance().waitForDone(60_000)
    QApplication.processEvents()


@pytest.fixture
def refusals(monkeypatch) -> list[tuple[str, str | None]]:
    seen: list[tuple[str, str | None]] = []
    for module in (patient_chart, checkin_dialog):
        monkeypatch.setattr(
            module, "show_refusal", lambda _p, exc, title="": seen.append((exc.message, exc.field))
        )
    return seen


@pytest.fixture
def signed(ctx, people, clock) -> int:
    """Jane (K-7) weighed 72 kg today, infused with a pause for an adverse event, stopped, the
    note signed."""
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-7", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
        allergies=["sulfa"], sex="female", reproductive_potential=True,
    )  # fmt: skip
    s = sessions.check_in(
        ctx,
        nurse,
        mrn="K-7",
        chair="1",
        protocol=Protocol(0.5, 40, 1),
        checklist=CHECKLIST_OK,
        weight_kg=72,
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, s.id)
    clock.advance(minutes=10)
    sessions.pause_infusion(ctx, nurse, s.id, "adverse event: nausea")
    clock.advance(minutes=2)
    sessions.resume_infusion(ctx, nurse, s.id)
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, s.id, "completed")
    notes.sign_note(ctx, nurse, s.id, PASSWORD)
    return int(s.id)


def _station(ctx, actor) -> Station:
    st = Station(ctx)
    st.set_actor(actor)
    return st


def _chart(qtbot, ctx, actor, mrn: str | None = "K-7") -> PatientChart:
    chart = PatientChart(_station(ctx, actor), mrn)
    qtbot.addWidget(chart)
    chart.show()
    return chart


def _cells(table, row: int) -> list[str]:
    return [
        table.item(row, c).text() if table.item(row, c) else "" for c in range(table.columnCount())
    ]


def test_an_edit_keeps_the_old_value_in_the_history_tab(qtbot, ctx, people, signed, refusals):
    chart = _chart(qtbot, ctx, people["nurse"])
    assert chart.dob.text() == "1985-04-02" and chart.allergy_table.rowCount() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    chart.dob.clear()
    qtbot.keyClicks(chart.dob, "1985-04-12")
    chart.allergy_table.item(0, 1).setText("rash")
    chart.allergy_table.cellWidget(0, 2).setCurrentIndex(2)  # moderate
    qtbot.keyClicks(chart.contact["phone"], "555-0199")
    qtbot.mouseClick(chart.save_btn, Qt.MouseButton.LeftButton)
    assert refusals[-1] == ("Reason for the change is required.", "reason")
    assert chart.dob.text() == "1985-04-12"  # kept
    assert chart.allergy_table.item(0, 1).text() == "rash"
    assert chart.history.rowCount() == 0
    qtbot.keyClicks(chart.reason, "ID card checked, allergy history taken")
    qtbot.mouseClick(chart.save_btn, Qt.MouseButton.LeftButton)
    assert len(refusals) == 1
    rows = sorted(_cells(chart.history, r)[1:5] for r in range(chart.history.rowCount()))
    assert rows == [
        ["Allergies", "sulfa", "sulfa (rash, moderate)", "Ana Ruiz, RN"],
        ["Date of birth", "1985-04-02", "1985-04-12", "Ana Ruiz, RN"],
        ["Phone", "none recorded", "555-0199", "Ana Ruiz, RN"],
    ]
    assert "Allergies: sulfa (rash, moderate)" in chart.subheader.text()
    assert chart.reason.text() == ""  # the next edit asks again
    assert chart.grab().save(str(SHOTS / "patient_chart_details.png"))
    chart.tabs.setCurrentWidget(chart.history)
    assert chart.grab().save(str(SHOTS / "patient_chart_history.png"))


def test_an_allergy_without_its_substance_is_refused_and_kept(qtbot, ctx, people, signed, refusals):
    chart = _chart(qtbot, ctx, people["charge"])
    qtbot.mouseClick(chart.add_allergy_btn, Qt.MouseButton.LeftButton)
    chart.allergy_table.item(1, 1).setText("hives")
    qtbot.keyClicks(chart.reason, "Allergy reported today")
    chart.on_save()
    assert refusals[-1] == ("Allergy 2: substance is required.", "allergies")
    assert chart.allergy_table.rowCount() == 2 and chart.allergy_table.item(1, 1).text() == "hives"
    assert patients.chart_history(ctx, people["charge"], "K-7") == []


def test_course_tab_shows_the_plan_the_session_and_opens_the_signed_note(
    qtbot, ctx, people, signed, clock, monkeypatch, tmp_path
):
    opened: list[Any] = []
    monkeypatch.setattr(patient_chart.QDesktopServices, "openUrl", opened.append)
    chart = _chart(qtbot, ctx, people["nurse"])
    assert chart.plan_label.text() == "No course plan set."
    dlg = CoursePlanDialog(chart.station, "K-7", None, chart)
    qtbot.addWidget(dlg)
    assert dlg.sessions.value() == 6  # the clinic's induction series
    nxt = (clock.now() + timedelta(days=2)).strftime("%Y-%m-%d") + " 10:00"
    qtbot.keyClicks(dlg.next, nxt)
    dlg.on_save()
    assert dlg.plan is not None and dlg.plan.sessions_done == 1
    chart.load("K-7")
    assert chart.plan_label.text() == (
        f"Course plan — Induction series: 1 of 6 sessions · next appointment {nxt}"
    )
    row = dict(zip(COURSE_COLUMNS, _cells(chart.course_table, 0), strict=True))
    assert row["#"] == "1" and row["Order"] == "IV ketamine: 0.5 mg/kg over 40 min at 1 mg/mL"
    assert row["Dose"] == "36 mg" and row["Weight"] == "72 kg"
    assert row["Adverse events"] == "adverse event: nausea"
    btn = chart.course_table.cellWidget(0, COURSE_COLUMNS.index("Signed note"))
    assert btn.text() == "Open note v1"
    qtbot.mouseClick(btn, Qt.MouseButton.LeftButton)
    assert chart.opened_path is not None and chart.opened_path.read_bytes()[:5] == b"%PDF-"
    assert len(opened) == 1
    weights = _cells(chart.weights, 0)
    assert weights[1:5] == ["72 kg", "70 kg", "+2.9 %", "—"]
    chart.tabs.setCurrentIndex(1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert chart.grab().save(str(SHOTS / "patient_chart.png"))


def test_chart_reached_from_session_view_and_toolbar_not_by_the_administrator(
    qtbot, ctx, people, signed
):
    win = MainWindow(_station(ctx, people["nurse"]))
    qtbot.addWidget(win)
    win.show()
    assert win.chart_action.isVisible()
    course_plan.set_course_plan(ctx, people["nurse"], "K-7", phase="booster", sessions_planned=2)
    win.board.refresh()
    assert "Booster: 1 of 2 sessions" in win.board.card("1").extra.text()
    win.open_session(signed)
    chart = win.session_view.open_chart()
    assert isinstance(chart, PatientChart) and chart.mrn == "K-7"
    chart.close()
    win.station.set_actor(people["admin"])
    assert not win.chart_action.isVisible()
    admin_chart = _chart(qtbot, ctx, people["admin"], None)
    assert not admin_chart.tabs.isEnabled() and admin_chart.results.count() == 0
    assert "Nurse or Charge nurse" in admin_chart.header.text()


def _returning_patient(ctx, people, clock) -> None:
    nurse = people["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-9", name="Roe, Rick", dob=date(1980, 1, 31), weight_kg=80
    )
    s = sessions.check_in(
        ctx, nurse, mrn="K-9", chair="3", protocol=Protocol(0.6, 45, 2), checklist=CHECKLIST_OK
    )
    sessions.end_not_treated(ctx, nurse, s.id, "patient_left")
    clock.advance(days=7)


def _pick(dlg: CheckInDialog, mrn: str) -> None:
    for i in range(dlg.results.count()):
        if dlg.results.item(i).data(Qt.ItemDataRole.UserRole) == mrn:
            dlg.results.setCurrentRow(i)
            return
    raise AssertionError(mrn)


def _fasting(qtbot, dlg: CheckInDialog) -> None:
    now = dlg.station.ctx.now().astimezone()
    qtbot.keyClicks(dlg.solids, (now - timedelta(hours=10)).strftime("%Y-%m-%d %H:%M"))
    qtbot.keyClicks(dlg.liquids, (now - timedelta(hours=4)).strftime("%Y-%m-%d %H:%M"))


def test_check_in_offers_the_last_visit_field_by_field_and_asks_todays_weight(
    qtbot, ctx, people, clock, refusals, monkeypatch
):
    _returning_patient(ctx, people, clock)
    dlg = CheckInDialog(_station(ctx, people["nurse"]), "2")
    qtbot.addWidget(dlg)
    dlg.show()
    _pick(dlg, "K-9")
    # Nothing carried over until ticked: the clinic's default order, empty escort and IV.
    assert dlg.last_box.isVisible() and set(dlg.carry) == {
        "protocol", "escort_name", "escort_phone", "iv_site", "iv_gauge",
    }  # fmt: skip
    assert dlg.dose.value() == 0.5 and dlg.escort_name.text() == "" and dlg.iv_site.text() == ""
    assert dlg.today_weight.text() == ""  # weighed a week ago: not today's weight
    assert dlg.calc.text() == "Enter today's weight to see the dose calculation."
    dlg.carry["protocol"].setChecked(True)
    dlg.carry["escort_name"].setChecked(True)
    dlg.carry["iv_gauge"].setChecked(True)
    assert (dlg.dose.value(), dlg.duration.value(), dlg.conc.value()) == (0.6, 45, 2)
    assert dlg.escort_name.text() == "John Doe" and dlg.iv_gauge.currentData() == 22
    assert dlg.escort_phone.text() == ""  # not ticked, not filled
    qtbot.waitUntil(lambda: all(box.isVisible() for box in dlg.carry.values()))  # on screen
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert dlg.grab().save(str(SHOTS / "checkin_last_visit.png"))
    dlg.consent.setChecked(True)
    _fasting(qtbot, dlg)
    dlg.on_check_in()
    assert refusals[-1] == ("Today's weight is required: enter it as a number.", "weight_kg")
    qtbot.keyClicks(dlg.today_weight, "88")  # +10 % over the last visit's 80 kg
    assert "52.8 mg" in dlg.calc.text()
    asked: list[str] = []
    answer = [False]
    monkeypatch.setattr(
        checkin_dialog, "confirm", lambda _p, _t, text: asked.append(text) or answer[0]
    )
    dlg.on_check_in()
    assert "10 % more than at the last visit (80 kg" in asked[-1]
    with ctx.tx() as s:
        assert s.execute(select(func.count(InfusionSession.id))).scalar_one() == 1
    assert dlg.session_id is None and dlg.today_weight.text() == "88"
    answer[0] = True
    dlg.on_check_in()
    assert dlg.session_id is not None
    with ctx.tx() as s:
        row = s.get(InfusionSession, dlg.session_id)
        assert row.weight_kg_used == 88 and row.dose_mg_per_kg == 0.6
        after = s.execute(
            select(AuditEvent.after).where(
                AuditEvent.action == "session.check_in",
                AuditEvent.entity_id == str(dlg.session_id),
            )
        ).scalar_one()
    assert after["carried_over_confirmed"] == ["escort_name", "iv_gauge", "protocol"]
    assert after["weight"]["confirmed_over_limit"] is True
    assert course_plan.last_visit(ctx, people["nurse"], "K-9").session_id == dlg.session_id


def test_a_value_changed_after_ticking_is_not_counted_as_carried_over(qtbot, ctx, people, clock):
    _returning_patient(ctx, people, clock)
    dlg = CheckInDialog(_station(ctx, people["nurse"]), "2")
    qtbot.addWidget(dlg)
    _pick(dlg, "K-9")
    dlg.carry["escort_name"].setChecked(True)
    dlg.carry["iv_site"].setChecked(True)
    dlg.iv_site.setText("right forearm")
    assert dlg.carried_over() == ["escort_name"]


def test_the_course_of_three_sessions_with_its_trend_on_the_chart(qtbot, example_runs, tmp_path):
    """The chart of course_three_sessions' patient (engineer "course"'s example: PHQ-9 falling
    over three sessions, response marked): the course table lists each session's totals and the
    embedded trend draws them. Screenshot: build/screenshots/patient_chart_trend.png."""
    from pg_support import station_config  # the copied run's database on either engine

    from nursestation.app import users
    from nursestation.app.context import AppContext
    from nursestation.clinic import load_clinic_settings
    from nursestation.clock import FakeClock

    run = example_runs("course_three_sessions")
    config = station_config(example_runs.copy_data("course_three_sessions", tmp_path / "data"))
    settings = load_clinic_settings(config.clinic_file)
    if run.spec.get("clinic"):
        settings = settings.with_overrides(run.spec["clinic"], "scenario 'clinic'")
    ctx = AppContext.open(config, clock=FakeClock(run.end), settings=settings)
    try:
        nurse = users.authenticate(ctx, "rn.ana", "Ana-pass-2026")
        mrn = run.spec["patients"][0]["mrn"]
        chart = PatientChart(_station(ctx, nurse), mrn)
        qtbot.addWidget(chart)
        chart.resize(1200, 900)
        chart.show()
        col = COURSE_COLUMNS.index("Outcome scores")
        scores = [
            chart.course_table.item(r, col).text() for r in range(chart.course_table.rowCount())
        ]
        assert len(scores) == 3 and all(s.startswith("PHQ-9 ") for s in scores)
        phq9 = chart.trend.series["phq9"]
        assert [n for n, _ in phq9] == [1, 2, 3]
        assert [f"PHQ-9 {t}" for _, t in phq9] == [s.split(",")[0] for s in scores]
        assert phq9[-1][1] < phq9[0][1]  # falling
        assert chart.trend.markers  # response (and remission, if reached) marked
        chart.tabs.setCurrentIndex(1)
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert chart.grab().save(str(SHOTS / "patient_chart_trend.png"))
        chart.close()
    finally:
        ctx.close()
