"""A nurse logs PRN doses through the real medications panel and dialogs: ondansetron 4 mg IV for
nausea, a second dose ten minutes later refused with the interval message (the form keeps what was
typed), the reassessment prompt turning due on time, the response recorded; a labetalol dose above
the usual maximum with its reason. Screen and database are both checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from nursestation.app import vitals
from nursestation.db.models import MedicationAdministration, MedicationResponse
from nursestation.ui import medications_panel
from nursestation.ui.medications_panel import MedicationsPanel
from nursestation.ui.station import Station
from nursestation.wording import hm


@pytest.fixture
def panel(qtbot, ctx, people, infusing):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    p = MedicationsPanel(station)
    qtbot.addWidget(p)
    p.set_session(infusing)
    p.resize(1100, 520)
    p.show()
    return p


@pytest.fixture
def refusals(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(
        medications_panel, "show_refusal", lambda _p, exc, title="": seen.append(exc.message)
    )
    return seen


def _administrations(ctx) -> list[MedicationAdministration]:
    with ctx.tx() as s:
        return list(s.execute(select(MedicationAdministration)).scalars())


def _pick(combo, data: str) -> None:
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_ondansetron_logged_second_dose_refused_prompt_on_time(
    qtbot, panel, ctx, clock, refusals
) -> None:
    # Row 0 is the ketamine infusion itself.
    first = panel.row_texts(0)
    assert first[1] == "Ketamine (infusion)" and "35 mg ordered" in first[2]
    assert "1 mg/mL" in first[5]
    assert panel.give_btn.isEnabled()

    clock.advance(minutes=10)
    dlg = panel.make_give_dialog()
    qtbot.addWidget(dlg)
    dlg.show()
    _pick(dlg.indication, "nausea")
    assert dlg.drug.currentData() == "ondansetron"
    assert dlg.dose.text() == "4" and dlg.unit.text() == "mg"  # prefilled from the formulary
    assert dlg.route.currentText() == "IV"
    assert dlg.trigger.text().startswith(
        "Pre-dose vitals: BP 128/82"
    )  # the baseline, linked automatically
    assert not dlg.reason.isEnabled()
    qtbot.mouseClick(dlg.save_btn, Qt.MouseButton.LeftButton)
    assert refusals == []
    assert dlg.result() == dlg.DialogCode.Accepted
    (row,) = _administrations(ctx)
    assert (row.drug, row.dose, row.route, row.indication) == ("ondansetron", 4.0, "IV", "nausea")
    given_at = clock.now()
    shown = panel.row_texts(1)
    assert shown[1:5] == ["Ondansetron", "4 mg", "IV", "Nausea"]
    assert shown[7] == "Ana Ruiz, RN"
    assert panel.totals.text() == "Session totals: Ondansetron 4 / 16 mg"
    at15 = hm(given_at + timedelta(minutes=15), panel.tz)
    assert panel.prompts() == [f"Ondansetron 4 mg IV: nausea check due {at15} (in 15 min)"]

    # Ten minutes later a second dose is refused; nothing the nurse typed is lost.
    clock.advance(minutes=10)
    again = panel.make_give_dialog("nausea")
    qtbot.addWidget(again)
    again.show()
    again.dose.clear()
    qtbot.keyClicks(again.dose, "4")
    qtbot.keyClicks(again.lot, "OND-7731")
    again.route.setCurrentText("IV")
    qtbot.mouseClick(again.save_btn, Qt.MouseButton.LeftButton)
    assert len(refusals) == 1
    assert "too soon" in refusals[0] and "minimum interval is 480 min" in refusals[0]
    assert again.error.text() == refusals[0]
    assert again.result() != again.DialogCode.Accepted and again.isVisible()
    assert again.indication.currentData() == "nausea"
    assert again.drug.currentData() == "ondansetron"
    assert (again.dose.text(), again.lot.text(), again.route.currentText()) == (
        "4",
        "OND-7731",
        "IV",
    )
    assert len(_administrations(ctx)) == 1

    # The 15-min reassessment turns due on time: the panel's own 1 s timer shows the prompt.
    countdown = [f"Ondansetron 4 mg IV: nausea check due {at15} (in 5 min)"]
    qtbot.waitUntil(lambda: panel.prompts() == countdown, timeout=3000)
    clock.set(given_at + timedelta(minutes=15))
    qtbot.waitUntil(lambda: "DUE now" in " ".join(panel.prompts()), timeout=3000)
    assert panel.prompts() == ["Ondansetron 4 mg IV: nausea check DUE now (15 min after the dose)"]
    label, button, info = panel.reassess_rows[0]
    assert "font-weight: bold" in label.styleSheet() and button.isEnabled()

    resp = panel.make_response_dialog(info)
    qtbot.addWidget(resp)
    resp.show()
    assert "nausea check 15 min after" in resp.heading.text()
    resp.text.setCurrentText("Nausea resolved")
    qtbot.mouseClick(resp.save_btn, Qt.MouseButton.LeftButton)
    assert refusals == [refusals[0]]
    with ctx.tx() as s:
        (r,) = s.execute(select(MedicationResponse)).scalars()
        assert (r.administration_id, r.measure, r.text) == (row.id, "nausea", "Nausea resolved")
    assert "Nausea resolved" in panel.row_texts(1)[6]
    at30 = hm(given_at + timedelta(minutes=30), panel.tz)
    assert panel.prompts() == [f"Ondansetron 4 mg IV: nausea check due {at30} (in 15 min)"]


def test_labetalol_above_usual_max_asks_a_reason_and_links_the_bp(
    qtbot, panel, ctx, people, clock, refusals, monkeypatch, tmp_path
) -> None:
    clock.advance(minutes=20)
    vitals.record_vitals(
        ctx, people["nurse"], panel.session_id, {"sbp": 188, "dbp": 106, "hr": 90, "spo2": 97}
    )
    panel.station.changed.emit()
    asked: list[str] = []

    def ask(_parent, _title, label):
        asked.append(label)
        return "SBP 188 despite the infusion paused"

    monkeypatch.setattr(medications_panel, "ask_text", ask)
    dlg = panel.make_give_dialog("bp_above_limit")
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.drug.currentData() == "labetalol" and dlg.dose.text() == "20"
    assert "BP 188/106" in dlg.trigger.text() and "above action limit 180" in dlg.trigger.text()
    dlg.dose.clear()
    qtbot.keyClicks(dlg.dose, "40")
    assert dlg.reason.isEnabled()
    qtbot.mouseClick(dlg.save_btn, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "usual maximum single dose of 20 mg" in asked[0]
    assert dlg.result() == dlg.DialogCode.Accepted and refusals == []
    (row,) = _administrations(ctx)
    assert (row.dose, row.soft_max_reason) == (40.0, "SBP 188 despite the infusion paused")
    assert row.triggering_vital_id is not None
    shown = panel.row_texts(1)
    assert shown[2] == "40 mg (reason: SBP 188 despite the infusion paused)"
    assert "BP 188/106" in shown[5]
    (prompt,) = panel.prompts()
    # a clock time and a spelled duration, never a bare "5:00" countdown
    assert prompt.startswith("Labetalol 40 mg IV: BP check due ") and prompt.endswith("(in 5 min)")

    # A typo in the dose is refused with the field named and the allowed maximum.
    clock.advance(minutes=10)
    bad = panel.make_give_dialog("bp_above_limit")
    qtbot.addWidget(bad)
    bad.show()
    bad.dose.clear()
    qtbot.keyClicks(bad.dose, "4O")
    qtbot.mouseClick(bad.save_btn, Qt.MouseButton.LeftButton)
    assert "'4O' is not a number" in refusals[-1] and "max 80 mg" in refusals[-1]
    assert bad.dose.text() == "4O"
    clock.advance(minutes=1)
    panel.tick()
    assert panel.prompts()[0].startswith("Labetalol 40 mg IV: BP check OVERDUE by 6 min (due ")
    assert "background: #c62828" in panel.reassess_rows[0][0].styleSheet()
    panel.grab().save(str(tmp_path / "medications_panel.png"))

    # The response: a BP outside the usual entry range asks for confirmation, then is stored
    # as a vital reading linked to the dose.
    questions: list[str] = []
    monkeypatch.setattr(
        medications_panel, "confirm", lambda _p, _t, text: questions.append(text) or True
    )
    resp = panel.make_response_dialog(panel.reassess_rows[0][2])
    qtbot.addWidget(resp)
    resp.show()
    qtbot.keyClicks(resp.sbp, "205")
    qtbot.keyClicks(resp.dbp, "110")
    qtbot.keyClicks(resp.hr, "64")
    qtbot.mouseClick(resp.save_btn, Qt.MouseButton.LeftButton)
    assert len(questions) == 1 and "205" in questions[0]
    assert resp.result() == resp.DialogCode.Accepted
    with ctx.tx() as s:
        (r,) = s.execute(select(MedicationResponse)).scalars()
        assert r.measure == "bp" and r.vital_id is not None
    assert panel.row_texts(1)[6].endswith("BP 205/110, HR 64")
    assert panel.prompts() == ["Labetalol 40 mg IV: BP check DUE now (10 min after the dose)"]


def test_administrator_cannot_give(qtbot, ctx, people, infusing) -> None:
    station = Station(ctx)
    station.set_actor(people["admin"])
    p = MedicationsPanel(station)
    qtbot.addWidget(p)
    p.set_session(infusing)
    assert not p.give_btn.isEnabled()
    assert p.table.rowCount() == 0  # an administrator does not see clinical data


def test_labetalol_with_a_normal_bp_is_refused_and_only_a_charge_nurse_is_offered_override(
    qtbot, panel, ctx, people, clock, refusals, monkeypatch
) -> None:
    """Issue 13: labetalol was given with the latest BP at 126/80."""
    clock.advance(minutes=5)
    vitals.record_vitals(ctx, people["nurse"], panel.session_id, {"sbp": 126, "dbp": 80})
    asked: list[str] = []
    answer: list[str | None] = [None]

    def ask(_parent, _title, label):
        asked.append(label)
        return answer[0]

    monkeypatch.setattr(medications_panel, "ask_text", ask)
    # The nurse: refused, not asked for an override, the form kept.
    dlg = panel.make_give_dialog("bp_above_limit")
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.drug.currentData() == "labetalol"
    # Said before Give is pressed.
    assert "⚠ Labetalol for BP above limit" in dlg.trigger.text()
    assert "BP 126/80, within limits" in dlg.trigger.text()
    qtbot.mouseClick(dlg.save_btn, Qt.MouseButton.LeftButton)
    assert asked == [] and len(refusals) == 1
    assert "BP 126/80, within limits" in refusals[0] and "BP 126/80" in dlg.error.text()
    assert dlg.result() != dlg.DialogCode.Accepted and dlg.dose.text() == "20"
    assert _administrations(ctx) == []

    # The charge nurse: asked for a reason; Cancel gives nothing.
    panel.station.set_actor(people["charge"])
    dlg = panel.make_give_dialog("bp_above_limit")
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.mouseClick(dlg.save_btn, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "within limits" in asked[0] and "reason" in asked[0]
    assert _administrations(ctx) == [] and len(refusals) == 2
    # With a reason the dose is given and the override stored with who gave it.
    answer[0] = "symptomatic hypertension, arterial line 192/108"
    qtbot.mouseClick(dlg.save_btn, Qt.MouseButton.LeftButton)
    assert dlg.result() == dlg.DialogCode.Accepted
    (row,) = _administrations(ctx)
    assert row.indication_override_reason == answer[0]
    assert row.indication_override_by == people["charge"].user_id
