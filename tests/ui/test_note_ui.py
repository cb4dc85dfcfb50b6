"""The note panel driven as a nurse would: preview (rendered off the GUI thread), sign with the
password re-asked (a wrong one refused), verification status, open the signed PDF, addendum."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from sqlalchemy import select
from support import CHECKLIST_OK

from nursestation.app import patients, sessions, users, vitals
from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.db.models import AuditEvent, Note, NoteDocument
from nursestation.dosing import Protocol
from nursestation.ui import note_panel
from nursestation.ui.note_panel import NotePanel
from nursestation.ui.station import Station

PW = "Nurse-pass-2026"


@pytest.fixture(autouse=True)
def _note_jobs_end_with_the_test(qtbot: Any) -> Any:
    """A preview or verification still running when a test ends would deliver its result to a
    panel already deleted, during the next test's event loop: wait for it here, while this
    test's panels exist (torn down before qtbot deletes the widgets)."""
    yield
    QThreadPool.globalInstance().waitForDone(60_000)
    QApplication.processEvents()


@pytest.fixture
def setup(ctx: AppContext, clock: FakeClock) -> tuple[Station, int]:
    users.provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PW
    )
    nurse = users.authenticate(ctx, "rn.ana", PW)
    patients.register_patient(
        ctx, nurse, mrn="K-1001", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
        sex="male",
    )  # fmt: skip
    s = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    )
    vitals.record_vitals(ctx, nurse, s.id, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, s.id)
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, s.id, "completed")
    station = Station(ctx)
    station.set_actor(nurse)
    return station, s.id


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Scripted password answers and captured warnings/opened URLs (nothing blocks)."""
    state: dict[str, Any] = {"passwords": [], "warnings": [], "opened": []}

    def get_text(*args: Any, **kwargs: Any) -> tuple[str, bool]:
        return (state["passwords"].pop(0), True) if state["passwords"] else ("", False)

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    monkeypatch.setattr(
        QMessageBox,
        "warning",
        staticmethod(lambda _p, _t, text, *a: state["warnings"].append(text)),
    )
    monkeypatch.setattr(
        QDesktopServices, "openUrl", staticmethod(lambda url: state["opened"].append(url) or True)
    )
    return state


def _notes(ctx: AppContext) -> list[tuple[int, str]]:
    with ctx.tx() as s:
        rows = s.execute(
            select(Note.version, NoteDocument.stage).join(NoteDocument).order_by(NoteDocument.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _wait_job(qtbot: Any, panel: NotePanel, kind: str, action: Any) -> None:
    with qtbot.waitSignal(panel.job_finished, timeout=60_000, check_params_cb=lambda k: k == kind):
        action()


def test_preview_sign_verify_open_and_addendum(
    qtbot: Any, setup: tuple[Station, int], dialogs: dict[str, Any], tmp_path: Path
) -> None:
    station, sid = setup
    panel = NotePanel(station)
    qtbot.addWidget(panel)
    panel.resize(760, 900)
    panel.set_session(sid)
    assert "Not signed yet" in panel.status.text()
    assert panel.sign_btn.isEnabled() and not panel.open_btn.isEnabled()
    assert not panel.addendum_box.isEnabled()

    # Preview: rendered on a pool thread; the pages (or the text) appear.
    _wait_job(qtbot, panel, "preview", lambda: qtbot.mouseClick(panel.preview_btn, Qt.LeftButton))
    if note_panel.printing.pdftoppm_available():
        pages = panel.page_view.page_labels()
        assert len(pages) >= 2 and not pages[0].pixmap().isNull()
        assert "Not yet signed" in panel.preview_info.text()
    else:
        assert "Pre-procedure checklist" in panel.preview_text.toPlainText()
    panel.grab().save(str(tmp_path / "note_panel_preview.png"))

    # A wrong password is refused with one clear sentence; nothing is stored.
    dialogs["passwords"] = ["wrong-password"]
    _wait_job(qtbot, panel, "sign", lambda: qtbot.mouseClick(panel.sign_btn, Qt.LeftButton))
    assert dialogs["warnings"] == ["User name or password is not correct."]
    assert _notes(station.ctx) == []

    # The right password signs; the panel shows who signed and verifies in the background.
    dialogs["passwords"] = [PW]
    with qtbot.waitSignal(
        panel.job_finished, timeout=60_000, check_params_cb=lambda k: k == "verify"
    ):
        qtbot.mouseClick(panel.sign_btn, Qt.LeftButton)
    assert _notes(station.ctx) == [(1, "signed")]
    assert "signed by Ana Ruiz, RN" in panel.status.text()
    assert panel.verify_label.text().startswith("✔ Verified: 1 signature(s) intact and trusted")
    assert not panel.sign_btn.isEnabled() and panel.open_btn.isEnabled()
    qtbot.waitUntil(lambda: "as stored" in panel.preview_info.text(), timeout=60_000)
    panel.grab().save(str(tmp_path / "note_panel_signed.png"))
    if os.environ.get("NOTE_UI_SHOTS"):
        panel.grab().save(os.environ["NOTE_UI_SHOTS"])

    # Open: the signed bytes go to a temporary file handed to the desktop's PDF viewer.
    qtbot.mouseClick(panel.open_btn, Qt.LeftButton)
    (url,) = dialogs["opened"]
    opened = Path(url.toLocalFile())
    assert opened.name == "2026-03-02_K-1001_session1_v1.pdf"
    assert opened.read_bytes().startswith(b"%PDF")

    # Addendum: the form opens on demand; a refusal keeps what the nurse typed; the right
    # password signs version 2 and closes the form.
    assert not panel.addendum_box.isVisibleTo(panel)
    qtbot.mouseClick(panel.addendum_toggle, Qt.LeftButton)
    assert panel.addendum_box.isVisibleTo(panel) and panel.addendum_box.isEnabled()
    qtbot.keyClicks(panel.reason_edit, "Late entry")
    qtbot.keyClicks(panel.text_edit, "Patient phoned: home safely.")
    dialogs["passwords"] = ["wrong-password"]
    _wait_job(qtbot, panel, "addendum", lambda: qtbot.mouseClick(panel.addendum_btn, Qt.LeftButton))
    assert dialogs["warnings"][-1] == "User name or password is not correct."
    assert panel.reason_edit.text() == "Late entry"
    assert panel.text_edit.toPlainText() == "Patient phoned: home safely."
    dialogs["passwords"] = [PW]
    with qtbot.waitSignal(
        panel.job_finished, timeout=60_000, check_params_cb=lambda k: k == "verify"
    ):
        qtbot.mouseClick(panel.addendum_btn, Qt.LeftButton)
    assert _notes(station.ctx) == [(1, "signed"), (2, "signed")]
    assert "version 2" in panel.status.text() and "Addendum: Late entry" in panel.status.text()
    assert panel.reason_edit.text() == "" and panel.verify_label.text().startswith("✔ Verified")
    assert not panel.addendum_toggle.isChecked() and not panel.addendum_box.isVisibleTo(panel)
    with station.ctx.tx() as s:
        failed = s.execute(select(AuditEvent).where(AuditEvent.action == "signature.failed"))
        assert len(list(failed.scalars())) == 2


def test_addendum_without_text_names_the_field(
    qtbot: Any, setup: tuple[Station, int], dialogs: dict[str, Any]
) -> None:
    station, sid = setup
    from nursestation.app import notes

    notes.sign_note(station.ctx, station.actor, sid, PW)
    panel = NotePanel(station)
    qtbot.addWidget(panel)
    panel.set_session(sid)
    qtbot.waitUntil(lambda: panel.verify_label.text().startswith("✔"), timeout=60_000)
    qtbot.mouseClick(panel.addendum_toggle, Qt.LeftButton)
    qtbot.keyClicks(panel.reason_edit, "Late entry")
    qtbot.mouseClick(panel.addendum_btn, Qt.LeftButton)
    assert dialogs["warnings"] == ["An addendum needs a text."]
    assert panel.reason_edit.text() == "Late entry"


def test_tampered_stored_bytes_show_verification_failed(
    qtbot: Any, setup: tuple[Station, int], dialogs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    station, sid = setup
    from nursestation.app import notes

    notes.sign_note(station.ctx, station.actor, sid, PW)
    # Verification runs in the signing worker process: the bytes are flipped on their way there.
    from nursestation.report import worker as verify_mod

    original = verify_mod.verify_pdf

    def tampered(pdf: bytes, ca: bytes) -> Any:
        at = pdf.index(b"stream", pdf.index(b"/Contents")) + 40
        return original(pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :], ca)

    monkeypatch.setattr(verify_mod, "verify_pdf", tampered)
    panel = NotePanel(station)
    qtbot.addWidget(panel)
    panel.set_session(sid)
    qtbot.waitUntil(lambda: "✘" in panel.verify_label.text(), timeout=60_000)
    assert "VERIFICATION FAILED" in panel.verify_label.text()


def test_switching_session_drops_a_preview_still_rendering(
    qtbot: Any, setup: tuple[Station, int]
) -> None:
    station, sid = setup
    panel = NotePanel(station)
    qtbot.addWidget(panel)
    panel.set_session(sid)
    _wait_job(qtbot, panel, "preview", panel.preview)
    assert panel.page_view.page_labels()
    with qtbot.waitSignal(panel.job_finished, timeout=60_000):
        panel.preview()
        panel.set_session(None)  # the nurse moved on before the render finished
    assert panel.page_view.page_labels() == []
    assert panel.status.text() == "No session selected." and not panel.preview_btn.isEnabled()
