"""The discharge panel driven as a nurse and a charge nurse would: scores pre-filled from the
recorded vitals, the assessment saved, approval disabled with the failing criterion listed until
the observation time has elapsed, then approved by the charge nurse with the password dialog;
a nurse can neither click nor call approval; override with a reason (the instruction sheet's printing: tests/ui/test_paper_ui.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from discharge_support import (
    CHARGE_PW,
    NURSE_PW,
    World,
    recovery_vitals,
    world_of,
    world_values,
)
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QInputDialog
from sqlalchemy import select

from nursestation.app import discharge as dc
from nursestation.db.models import Assessment, DischargeApproval, DischargeOverride, InfusionSession
from nursestation.errors import DomainError
from nursestation.ui import discharge_panel
from nursestation.ui.discharge_panel import DischargePanel
from nursestation.ui.station import Station

SHOTS = Path("/tmp/nursestation-shots")


# The world of `w` (before its recovery vitals) is built once and copied (tests/conftest.py).
COPIED_WORLDS = {"w": world_values}


@pytest.fixture
def w(ctx, clock, _standard_world) -> World:
    world = world_of(ctx, clock, _standard_world)
    recovery_vitals(world)  # SBP 132 vs baseline 128, SpO2 98 (O2 status not recorded)
    return world


@pytest.fixture
def station(ctx) -> Station:
    return Station(ctx)


@pytest.fixture
def panel(qtbot, station, w) -> DischargePanel:
    station.set_actor(w.nurse)
    p = DischargePanel(station)
    qtbot.addWidget(p)
    p.set_session(w.sid)
    p.resize(1250, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture
def refusals(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(
        discharge_panel, "show_refusal", lambda _p, exc, title="": seen.append(exc.message)
    )
    return seen


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def tick(qtbot, radio) -> None:
    """Click a radio button on its indicator (the middle of a wide button is not a hit)."""
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))
    assert radio.isChecked()


def pick(combo, value) -> None:
    i = combo.findData(value)
    assert i >= 0, value
    combo.setCurrentIndex(i)


def criteria_rows(p: DischargePanel) -> dict[str, tuple[str, str]]:
    t = p.criteria_table
    return {
        t.item(r, 0).data(Qt.ItemDataRole.UserRole): (t.item(r, 1).text(), t.item(r, 2).text())
        for r in range(t.rowCount())
    }


def fill_complete_assessment(qtbot, p: DischargePanel) -> None:
    """What a nurse does at the chair: confirm the suggestions, score the rest, answer."""
    aldrete = p.sheet_forms["aldrete"]
    for item_id in ("activity", "respiration", "consciousness", "o2_saturation"):
        tick(qtbot, aldrete.buttons[item_id][2])
    for key in (
        "alert_oriented",
        "on_room_air",
        "steady_gait",
        "nausea_controlled",
        "iv_removed",
        "escort_present",
        "instructions_given",
    ):
        pick(p.answer_combos[key], True)
    pick(p.suicide_screen, False)
    qtbot.keyClicks(p.escort_rel, "husband")
    pick(p.sedation_scale, "moaas")
    pick(p.sedation_score, 5)
    pick(p.dissociation, True)
    click(qtbot, p.save_btn)


def test_prefilled_from_recorded_vitals(panel: DischargePanel) -> None:
    aldrete = panel.sheet_forms["aldrete"]
    # one form: the checklist questions, then each score as a titled group
    assert panel._sheet_boxes[0].title() == "Modified Aldrete (required)"
    assert aldrete.buttons["circulation"][2].isChecked()  # suggestion is pre-selected
    assert aldrete.buttons["circulation"][2].text() == ("2 – BP ± 20 mmHg of pre-anaesthetic level")
    assert aldrete.hints["circulation"].text() == (
        "Suggested 2 from recorded data: SBP 132 vs baseline 128 mmHg (+4 mmHg) — confirm or change."
    )
    assert aldrete.buttons["o2_saturation"][1].isChecked()  # room air not recorded yet
    assert aldrete.groups["activity"].checkedId() == -1  # nothing to suggest: the nurse scores it
    assert aldrete.total.text() == "Total so far 3/10 — 3 item(s) not scored"
    padss = panel.sheet_forms["padss"]
    assert padss.buttons["vital_signs"][2].isChecked()
    assert panel.escort_name.text() == "John Doe"  # from the check-in checklist
    assert not panel.answer_combos["upright_tolerated"].isVisible()  # no IV labetalol given


def test_approval_disabled_until_observation_then_charge_nurse_approves(
    qtbot, panel, station, w, ctx, clock, monkeypatch, refusals
) -> None:
    fill_complete_assessment(qtbot, panel)
    assert refusals == []
    with ctx.tx() as s:
        kinds = [a.kind for a in s.execute(select(Assessment).order_by(Assessment.id)).scalars()]
        aldrete = s.execute(select(Assessment).where(Assessment.kind == "aldrete")).scalar_one()
        assert aldrete.score == 10
    assert kinds == ["aldrete", "discharge_checklist", "sedation", "dissociation"]
    assert panel.sheet_forms["aldrete"].total.text() == (
        "Total 10/10 — meets the clinic threshold of ≥ 9"
    )

    # Before the observation time: the banner, the table and the hint say exactly what fails.
    assert panel.banner.text() == (
        "NOT READY — 1 criterion not met: Minimum observation time has elapsed"
    )
    rows = criteria_rows(panel)
    assert rows["observation_time"][0] == "✘ NOT MET"
    assert "will have elapsed at" in rows["observation_time"][1]
    optional = {"oral_fluids", "next_appointment"}  # not answered, not required by default
    assert {k for k, r in rows.items() if r[0] == "– optional"} == optional
    assert all(r[0] == "✔ met" for k, r in rows.items() if k not in optional | {"observation_time"})
    assert "will have elapsed at" in panel.obs_label.text()
    assert not panel.approve_btn.isEnabled()
    assert "Only a charge nurse may approve discharge." in panel.approve_hint.text()

    station.set_actor(w.charge)
    panel.refresh()
    assert not panel.approve_btn.isEnabled()
    hint = panel.approve_hint.text()
    assert hint.startswith("Approval is possible when these are met:")
    assert "• Minimum observation time has elapsed: 60 min of observation are required" in hint
    if not SHOTS.exists():
        SHOTS.mkdir(parents=True)
    panel.grab().save(str(SHOTS / "discharge_not_ready.png"))

    # After the observation time (the 1 s timer notices the clock).
    clock.advance(minutes=60)
    qtbot.waitUntil(panel.approve_btn.isEnabled, timeout=5000)
    assert panel.banner.text() == "READY FOR DISCHARGE — every criterion is met or overridden."
    from nursestation.app import notes

    notes.sign_note(ctx, w.nurse, w.sid, NURSE_PW)  # approval countersigns the signed note
    asked: list[str] = []

    def get_text(parent, title, label, echo=None, *a, **k):
        asked.append(title)
        return CHARGE_PW, True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    click(qtbot, panel.approve_btn)
    assert refusals == []
    assert asked == ["Approve discharge"]
    with ctx.tx() as s:
        approval = s.execute(select(DischargeApproval)).scalar_one()
        assert (approval.by_user, approval.meaning) == (w.charge.user_id, "Approved for discharge")
        assert s.get(InfusionSession, w.sid).end_reason == "discharged"
    assert panel.banner.text().startswith("DISCHARGED — Approved for discharge by Ben Ode, RN at ")
    assert not panel.approve_btn.isEnabled() and not panel.save_btn.isEnabled()
    panel.grab().save(str(SHOTS / "discharge_approved.png"))


def test_nurse_cannot_approve_even_when_ready(qtbot, panel, w, clock) -> None:
    fill_complete_assessment(qtbot, panel)
    clock.advance(minutes=60)
    panel.refresh()
    assert panel.banner.text().startswith("READY FOR DISCHARGE")
    assert not panel.approve_btn.isEnabled()
    assert panel.approve_hint.text().startswith("Only a charge nurse may approve discharge.")
    with pytest.raises(DomainError) as exc:
        dc.approve_discharge(w.ctx, w.nurse, w.sid, NURSE_PW)
    assert exc.value.code == "not_permitted"


def test_charge_nurse_overrides_failing_criterion_with_reason(
    qtbot, panel, station, w, ctx, monkeypatch, refusals
) -> None:
    fill_complete_assessment(qtbot, panel)
    pick(panel.answer_combos["steady_gait"], False)
    click(qtbot, panel.save_btn)
    assert criteria_rows(panel)["steady_gait"] == ("✘ NOT MET", "Gait is not steady.")
    station.set_actor(w.charge)
    panel.refresh()
    assert not panel.override_btn.isEnabled()  # nothing selected yet
    row = next(
        r
        for r in range(panel.criteria_table.rowCount())
        if panel.criteria_table.item(r, 0).data(Qt.ItemDataRole.UserRole) == "steady_gait"
    )
    panel.criteria_table.selectRow(row)
    assert panel.override_btn.isEnabled()
    answers = iter(["too short", "Uses a wheelchair at baseline; husband assists."])
    monkeypatch.setattr(
        QInputDialog, "getText", staticmethod(lambda *a, **k: (next(answers), True))
    )
    click(qtbot, panel.override_btn)
    assert refusals == ["An override needs a written reason of at least 10 characters."]
    click(qtbot, panel.override_btn)
    result, why = criteria_rows(panel)["steady_gait"]
    assert result == "overridden"
    assert "Overridden by Ben Ode, RN at" in why and why.endswith("husband assists.")
    with ctx.tx() as s:
        o = s.execute(select(DischargeOverride)).scalar_one()
        assert (o.criterion, o.by_user) == ("steady_gait", w.charge.user_id)


def test_an_answer_stored_under_its_former_key_shows_on_the_one_name(qtbot, panel, w, ctx) -> None:
    """A "discharge_checklist" row written before issue 14 (gait_steady) loads into the steady
    gait question, and saving the form again stores the answer under steady_gait."""
    now = w.clock.now()
    with ctx.tx() as s:
        s.add(
            Assessment(
                session_id=w.sid,
                kind=dc.KIND_CHECKLIST,
                at=now,
                recorded_at=now,
                score=None,
                items={"answers": {"gait_steady": False, "alert_oriented": True}},
                by_user=w.nurse.user_id,
            )
        )
    panel.set_session(w.sid)
    assert panel.answer_combos["steady_gait"].currentData() is False
    assert panel.answer_combos["alert_oriented"].currentData() is True
    assert panel.answer_combos["oral_fluids"].currentData() is None
    assert "gait_steady" not in panel.answer_combos
    assert criteria_rows(panel)["steady_gait"] == ("✘ NOT MET", "Gait is not steady.")
    click(qtbot, panel.save_btn)
    with ctx.tx() as s:
        rows = s.execute(
            select(Assessment).where(Assessment.kind == dc.KIND_CHECKLIST).order_by(Assessment.id)
        ).scalars()
        stored = [dict(a.items["answers"]) for a in rows]
    assert stored[0] == {"gait_steady": False, "alert_oriented": True}  # never rewritten
    assert stored[-1]["steady_gait"] is False and "gait_steady" not in stored[-1]


def test_saved_sedation_and_dissociation_stay_shown_as_saved(qtbot, panel, ctx, refusals) -> None:
    """Issue 18: after Save the sedation and dissociation pickers went blank, as if nothing was
    recorded. They now show the stored answer with when and by whom, and a later Save does not
    record them again (each would be a new assessment timed now)."""
    fill_complete_assessment(qtbot, panel)
    assert refusals == []
    assert panel.sedation_scale.currentData() == "moaas"
    assert panel.sedation_score.currentData() == 5
    assert panel.dissociation.currentData() is True
    assert panel.dissociation.buttons()[0].isChecked()  # "Resolved" shown pressed
    assert (
        panel.sedation_saved.text().startswith("Saved ")
        and "MOAA/S 5" in panel.sedation_saved.text()
    )
    assert panel.dissociation_saved.text().startswith("Saved ")

    def count(kind: str) -> int:
        with ctx.tx() as s:
            return len(list(s.execute(select(Assessment).where(Assessment.kind == kind)).scalars()))

    before = (count("sedation"), count("dissociation"))
    pick(panel.answer_combos["oral_fluids"], True)  # another answer, saved again
    click(qtbot, panel.save_btn)
    assert refusals == []
    assert (count("sedation"), count("dissociation")) == before
    # a changed sedation score is a new assessment
    pick(panel.sedation_score, 4)
    click(qtbot, panel.save_btn)
    assert count("sedation") == before[0] + 1


def test_yes_no_answers_are_buttons_one_click_each(qtbot, panel) -> None:
    choice = panel.answer_combos["alert_oriented"]
    yes, no = choice.buttons()
    assert (yes.text(), no.text()) == ("Yes", "No")
    click(qtbot, yes)
    assert choice.currentData() is True and yes.isChecked() and not no.isChecked()
    click(qtbot, no)
    assert choice.currentData() is False and not yes.isChecked()
    click(qtbot, no)  # pressed again: back to not assessed
    assert choice.currentData() is None
