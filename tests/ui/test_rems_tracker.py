"""The SPRAVATO REMS 7-day tracker on screen (issue 17): one overdue form highlighted and one
recorded submission; recording a submission through the real dialog (a refusal names the field
and keeps what was typed). Offscreen, pytest-qt; a screenshot goes to build/screenshots/."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, Qt

from nursestation.app import discharge as dc
from nursestation.app import patients, spravato, vitals
from nursestation.ui.main_window import MainWindow
from nursestation.ui.rems_tracker import OVERDUE_BG, RemsTrackerDialog
from nursestation.ui.station import Station

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHECKLIST = {
    "consent_confirmed": True,
    "identity_two_identifiers": True,
    "last_solids_at": "2026-03-02T04:00:00+00:00",
    "last_clear_liquids_at": "2026-03-02T10:00:00+00:00",
    "escort_name": "Kim Roe",
    "escort_phone": "555-0142",
    "pregnancy_screen": "not_applicable",
    "contraindications_screened": True,
    "contraindications": [],
    "interacting_medications_screened": True,
    "interacting_medications": [],
}
CONMEDS = dict.fromkeys(
    ("benzodiazepines", "non_benzodiazepine_hypnotics", "psychostimulants", "maois", "opioids"),
    False,
)
FORM = {
    "setting_rems_id": "HCS-1",
    "ready_to_leave_at": "2026-03-02T16:10:00+00:00",
    "vitals_acceptable_pre": True,
    "vitals_acceptable_end": True,
    "sedation_event": False,
    "dissociation_event": False,
    "respiratory_depression_event": False,
    "serious_adverse_event": False,
}


def _session(ctx: Any, nurse: Any, clock: Any, mrn: str, name: str, chair: str) -> int:
    patients.register_patient(ctx, nurse, mrn=mrn, name=name, dob=date(1980, 1, 1), weight_kg=70)
    spravato.record_enrolment(ctx, nurse, mrn, rems_patient_id=f"RP-{mrn}", enrolled_on="2026-02-01")
    sid = spravato.check_in(
        ctx, nurse, mrn=mrn, chair=chair, dose_mg=56, checklist=CHECKLIST, conmeds=CONMEDS
    ).id
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 124, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
    spravato.give_device(ctx, nurse, sid, lot="SPR-1")
    clock.advance(minutes=5)
    spravato.give_device(ctx, nurse, sid, lot="SPR-1")
    clock.advance(minutes=35)  # 40 min after the first device
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 136, "dbp": 86, "hr": 74, "spo2": 98, "rr": 14})
    clock.advance(minutes=81)
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 120, "dbp": 78, "hr": 68, "spo2": 98, "rr": 14})
    dc.record_assessment(ctx, nurse, sid, answers={"alert_oriented": True})
    spravato.complete_form(ctx, nurse, sid, FORM)
    return sid


@pytest.fixture
def two_forms(ctx, people, clock) -> tuple[int, int]:
    """Two Spravato sessions on 2026-03-02; the second's form submitted; 8 days later."""
    nurse = people["nurse"]
    first = _session(ctx, nurse, clock, "S-1", "Roe, Sam", "2")
    second = _session(ctx, nurse, clock, "S-2", "Lee, Pat", "3")
    clock.set(clock.now() + timedelta(days=1))
    spravato.record_submission(
        ctx, people["charge"], second, submitted_on="2026-03-03", method="online",
        confirmation="REMS-7781",
    )  # fmt: skip
    clock.set(clock.now() + timedelta(days=7))  # 2026-03-10: the first form is overdue
    return first, second


def test_tracker_shows_one_overdue_and_one_submitted(qtbot, ctx, people, two_forms) -> None:
    station = Station(ctx)
    station.set_actor(people["charge"])
    dlg = RemsTrackerDialog(station)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.table.rowCount() == 2
    overdue = [dlg.table.item(0, c) for c in range(dlg.table.columnCount())]
    assert overdue[0].text() == "Roe, Sam" and overdue[3].text() == "2026-03-09"
    assert overdue[4].text() == "1 day(s) overdue"
    assert overdue[6].text() == "OVERDUE — not submitted"
    assert all(i.background().color() == OVERDUE_BG for i in overdue)
    done = dlg.table.item(1, 6)
    assert done.text() == "Submitted 2026-03-03 via online (REMS portal), confirmation REMS-7781"
    assert dlg.table.item(1, 0).background().color() != OVERDUE_BG
    assert dlg.summary.text() == "1 form(s) to submit, 1 overdue · 1 submitted"
    SHOTS.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(SHOTS / "rems_tracker.png"))


def test_recording_a_submission_through_the_dialog(qtbot, ctx, people, two_forms) -> None:
    station = Station(ctx)
    station.set_actor(people["admin"])
    dlg = RemsTrackerDialog(station)
    qtbot.addWidget(dlg)
    dlg.show()
    assert not dlg.record_button.isEnabled()
    dlg.table.selectRow(0)
    assert dlg.record_button.isEnabled() and "Roe, Sam" in dlg.target.text()
    dlg.submitted_on.setDate(QDate(2026, 3, 10))
    dlg.method.setCurrentIndex(dlg.method.findData("fax"))
    qtbot.mouseClick(dlg.record_button, Qt.MouseButton.LeftButton)  # no confirmation number
    assert "confirmation number" in dlg.error.text()
    assert dlg.submitted_on.date() == QDate(2026, 3, 10) and dlg.method.currentData() == "fax"
    qtbot.keyClicks(dlg.confirmation, "FAX-0193")
    qtbot.mouseClick(dlg.record_button, Qt.MouseButton.LeftButton)
    assert dlg.error.text() == ""
    assert dlg.summary.text() == "0 form(s) to submit, 0 overdue · 2 submitted"
    rows = spravato.tracker(ctx, people["admin"])
    assert {r.submission.confirmation for r in rows if r.submission} == {"REMS-7781", "FAX-0193"}


def test_the_tracker_is_in_the_toolbar_for_charge_nurse_and_administrator_only(
    qtbot, ctx, people
) -> None:
    station = Station(ctx)
    win = MainWindow(station)
    qtbot.addWidget(win)
    for role, visible in (("nurse", False), ("charge", True), ("admin", True)):
        station.set_actor(people[role])
        assert win.rems_action.isVisible() is visible
