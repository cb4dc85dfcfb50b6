"""The export dialog: an administrator fills the form and exports in the background with a
progress bar; Cancel leaves nothing; a nurse cannot export; bad input keeps the form."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from export_support import (
    ADMIN,
    ADMIN_PW,
    NURSE,
    NURSE_PW,
    Cloner,
    Copy,
    copy_station,
    template_dir,
)
from PySide6.QtCore import QDate, Qt
from sqlalchemy import select

from nursestation.app import export as ex
from nursestation.app.context import AppContext
from nursestation.app.users import authenticate
from nursestation.config import resolve_config
from nursestation.db.models import AuditEvent
from nursestation.ui import feedback
from nursestation.ui.export_dialog import ExportDialog
from nursestation.ui.station import Station


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory: pytest.TempPathFactory, example_runs: Any) -> Path:
    return template_dir(tmp_path_factory.mktemp("signed"), example_runs("signed_note").data_dir)


@pytest.fixture
def ctx(signed_template: Path, tmp_path: Path) -> Iterator[AppContext]:
    c = AppContext.open(resolve_config(str(copy_station(signed_template, tmp_path / "data")), None))
    yield c
    c.close()


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(
        feedback.QMessageBox, "warning", staticmethod(lambda _p, _t, text: seen.append(text))
    )
    return seen


def station_for(ctx: AppContext, username: str, password: str) -> Station:
    st = Station(ctx)
    st.set_actor(authenticate(ctx, username, password))
    return st


def fill(dialog: ExportDialog, qtbot: Any, dest: Path) -> None:
    dialog.date_from.setDate(QDate(2026, 3, 1))
    dialog.date_to.setDate(QDate(2026, 3, 31))
    dialog.destination.clear()
    qtbot.keyClicks(dialog.destination, str(dest))


def test_admin_exports_with_a_progress_bar(
    ctx: AppContext, qtbot: Any, tmp_path: Path, refusals: list[str]
) -> None:
    Cloner(ctx.engine).clone([Copy("K-2002", "Roe, Richard", chair="4", days=3)])
    dialog = ExportDialog(station_for(ctx, ADMIN, ADMIN_PW))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.export_button.isEnabled()
    fill(dialog, qtbot, tmp_path / "out")
    dialog.format_boxes["fhir"].setChecked(False)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.export_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.last_export is not None, timeout=120_000)
    result = dialog.last_export
    assert result is not None and result.ok and result.sessions == 2
    # QDialog.result() is still Qt's accept/reject code (an attribute named `result` hid it).
    assert dialog.result() == 0
    assert "Exported 4 note versions of 2 sessions" in dialog.status_label.text()
    assert dialog.progress.value() == dialog.progress.maximum() == 2
    assert dialog.progress.text().startswith("2 of 2")
    assert dialog.export_button.isEnabled() and not dialog.cancel_button.isEnabled()
    out = tmp_path / "out"
    assert len(list((out / "pdf").iterdir())) == 4 and (out / ex.CSV_FILE).exists()
    assert not (out / ex.FHIR_DIR).exists()  # unticked
    assert refusals == []
    with ctx.tx() as s:
        after = s.execute(
            select(AuditEvent.after).where(AuditEvent.action == "notes.export")
        ).scalar_one()
    assert after["formats"] == ["pdf", "csv"] and after["notes"] == 4
    shots = os.environ.get("NURSESTATION_SHOTS")  # a folder for the report's screenshot
    assert dialog.grab().save(str(Path(shots or tmp_path) / "export_dialog.png"))


def test_cancel_leaves_nothing(
    ctx: AppContext, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real = ex._verify

    def held(*args: Any) -> Any:
        # The worker waits here (inside the export, files already started) until the test
        # has pressed Cancel: no timing involved.
        entered.set()
        release.wait(30)
        return real(*args)

    monkeypatch.setattr(ex, "_verify", held)
    parent = tmp_path / "exports"
    parent.mkdir()
    dialog = ExportDialog(station_for(ctx, ADMIN, ADMIN_PW))
    qtbot.addWidget(dialog)
    fill(dialog, qtbot, parent / "out")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(entered.is_set, timeout=60_000)
    assert dialog.cancel_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    release.set()
    qtbot.waitUntil(lambda: dialog.last_export is not None, timeout=60_000)
    assert dialog.last_export is not None and dialog.last_export.cancelled
    assert "cancelled" in dialog.status_label.text()
    assert list(parent.iterdir()) == []


def test_a_nurse_cannot_export(ctx: AppContext, qtbot: Any, tmp_path: Path) -> None:
    dialog = ExportDialog(station_for(ctx, NURSE, NURSE_PW))
    qtbot.addWidget(dialog)
    assert not dialog.export_button.isEnabled()
    assert "Only an administrator" in dialog.status_label.text()


def test_bad_input_names_the_field_and_keeps_the_form(
    ctx: AppContext, qtbot: Any, tmp_path: Path, refusals: list[str]
) -> None:
    dialog = ExportDialog(station_for(ctx, ADMIN, ADMIN_PW))
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.mrn, "K-1001")
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert refusals == ["Choose a destination folder."]
    fill(dialog, qtbot, tmp_path / "out")
    dialog.date_from.setDate(QDate(2026, 4, 1))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "before 'from'" in refusals[-1]
    for box in dialog.format_boxes.values():
        box.setChecked(False)
    dialog.date_from.setDate(QDate(2026, 3, 1))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "at least one format" in refusals[-1]
    assert dialog.mrn.text() == "K-1001" and dialog.destination.text() == str(tmp_path / "out")
    assert not dialog.running and not (tmp_path / "out").exists()
