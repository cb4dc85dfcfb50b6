"""The check-in dialog pre-fills nothing clinical (Convention 12; issue 13): date of birth, weight,
last solids and last clear liquids start empty and are required; a save without them names the
missing field and keeps everything typed. Driven through the real dialog, offscreen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from nursestation.db.models import InfusionSession, Patient
from nursestation.ui import checkin_dialog
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.station import Station


@pytest.fixture
def dialog(qtbot, ctx, people):
    station = Station(ctx)
    station.set_actor(people["nurse"])
    dlg = CheckInDialog(station, "2")
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


@pytest.fixture
def shown(monkeypatch) -> list[tuple[str, str | None]]:
    seen: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        checkin_dialog,
        "show_refusal",
        lambda _p, exc, title="": seen.append((exc.message, exc.field)),
    )
    return seen


def _count(ctx, model) -> int:
    with ctx.tx() as s:
        return s.execute(select(func.count(model.id))).scalar_one()


def test_clinical_fields_start_empty(dialog) -> None:
    assert dialog.dob.text() == "" and dialog.weight.text() == ""
    assert dialog.solids.text() == "" and dialog.liquids.text() == ""
    assert dialog.iv_gauge.currentData() is None
    assert not any(
        b.isChecked()
        for b in (dialog.consent, dialog.identity, dialog.contra_screened, dialog.iv_patent)
    )
    assert dialog.pregnancy.currentText() == ""


def test_registration_without_dob_or_weight_names_the_field_and_keeps_the_form(
    qtbot, dialog, ctx, shown
) -> None:
    qtbot.keyClicks(dialog.mrn, "K-77")
    qtbot.keyClicks(dialog.name, "Roe, Rita")
    qtbot.keyClicks(dialog.allergies, "penicillin")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert shown[-1] == ("Date of birth is required: enter it as YYYY-MM-DD.", "dob")
    qtbot.keyClicks(dialog.dob, "1990-13-01")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert shown[-1][1] == "dob" and "'1990-13-01' is not a date" in shown[-1][0]
    dialog.dob.clear()
    qtbot.keyClicks(dialog.dob, "1990-05-06")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert shown[-1] == ("Weight is required: enter it as a number.", "weight_kg")
    assert _count(ctx, Patient) == 0
    # Everything typed is still there.
    assert (dialog.mrn.text(), dialog.name.text(), dialog.dob.text()) == (
        "K-77",
        "Roe, Rita",
        "1990-05-06",
    )
    assert dialog.allergies.text() == "penicillin"
    # Just outside / just inside the weight range.
    qtbot.keyClicks(dialog.weight, "19.9")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert shown[-1][1] == "weight_kg" and "allowed 20–350 kg" in shown[-1][0]
    dialog.weight.clear()
    qtbot.keyClicks(dialog.weight, "20")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert _count(ctx, Patient) == 1 and dialog.patient is not None
    assert dialog.patient.weight_kg == 20 and dialog.patient.allergies == ("penicillin",)


def test_check_in_without_fasting_times_names_the_field_and_keeps_the_form(
    qtbot, dialog, ctx, shown
) -> None:
    qtbot.keyClicks(dialog.mrn, "K-78")
    qtbot.keyClicks(dialog.name, "Roe, Rick")
    qtbot.keyClicks(dialog.dob, "1980-01-31")
    qtbot.keyClicks(dialog.weight, "82,5")
    qtbot.mouseClick(dialog.register_btn, Qt.MouseButton.LeftButton)
    assert dialog.patient is not None and dialog.patient.weight_kg == 82.5
    dialog.consent.setChecked(True)
    qtbot.keyClicks(dialog.escort_name, "Mary Roe")
    dialog.on_check_in()
    assert shown[-1][1] == "last_solids_at" and shown[-1][0].startswith("Last solids is required")
    assert _count(ctx, InfusionSession) == 0
    now = ctx.now().astimezone()
    qtbot.keyClicks(dialog.solids, (now - timedelta(hours=9)).strftime("%H:%M"))
    dialog.on_check_in()
    assert shown[-1][1] == "last_clear_liquids_at"
    assert shown[-1][0].startswith("Last clear liquids is required")
    qtbot.keyClicks(dialog.liquids, "7:3x")
    dialog.on_check_in()
    assert shown[-1][1] == "last_clear_liquids_at" and "'7:3x' is not a time" in shown[-1][0]
    assert _count(ctx, InfusionSession) == 0
    assert dialog.escort_name.text() == "Mary Roe" and dialog.consent.isChecked()
    dialog.liquids.clear()
    liquids_at = (now - timedelta(hours=3)).replace(second=0, microsecond=0)
    qtbot.keyClicks(dialog.liquids, liquids_at.strftime("%Y-%m-%d %H:%M"))
    dialog.on_check_in()
    assert dialog.session_id is not None
    with ctx.tx() as s:
        row = s.get(InfusionSession, dialog.session_id)
        answers = dict(row.checklist)
    assert answers["last_clear_liquids_at"] == liquids_at.astimezone(ctx.now().tzinfo).isoformat()
    # Unticked boxes and the unpicked gauge stay unanswered, not "no".
    assert answers["consent_confirmed"] is True
    for key in ("identity_two_identifiers", "iv_patent", "iv_gauge", "pregnancy_screen"):
        assert key not in answers, key
