"""The two ways the app starts: `nursestation demo` (seeded station, simulated monitors) and
`nursestation` on an empty data directory (first-run administrator, then sign-in)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select
from support import PASSWORD

from nursestation.app.demo import DEMO_PASSWORD
from nursestation.config import resolve_config
from nursestation.db.engine import make_engine, make_session_factory
from nursestation.db.models import DeviceReading, User
from nursestation.ui import launch, login


def _sign_in_as(username: str, password: str):  # type: ignore[no-untyped-def]
    def exec_(self: login.LoginDialog) -> int:
        self.username.setText(username)
        self.password.setText(password)
        self.try_sign_in()
        return 1 if self.actor is not None else 0

    return exec_


@pytest.fixture
def run_briefly(monkeypatch):
    """Replace the event loop with ~3 s of real event processing, then close the windows."""
    seen: dict[str, object] = {}

    def exec_(self: QApplication) -> int:
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        seen["windows"] = windows
        loop = QEventLoop()
        QTimer.singleShot(3000, loop.quit)
        loop.exec()
        main = next(w for w in windows if w.__class__.__name__ == "MainWindow")
        seen["status"] = main.statusBar().currentMessage()
        seen["chair1"] = main.board.card("1").patient.text()
        main.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_)
    return seen


def test_demo_starts_with_demo_patients_and_simulated_monitors(
    qapp, tmp_path: Path, monkeypatch, run_briefly
) -> None:
    monkeypatch.setattr(login.LoginDialog, "exec", _sign_in_as("demo.nurse", DEMO_PASSWORD))
    data = tmp_path / "demo"
    assert launch.run_demo(str(data), keep=True) == 0
    assert "DEMO STATION" in str(run_briefly["status"])
    assert "Doe, Jane" in str(run_briefly["chair1"])
    engine = make_engine(f"sqlite:///{data / 'demo.sqlite3'}")
    with make_session_factory(engine)() as s:
        assert s.execute(select(func.count(DeviceReading.id))).scalar_one() > 0
    engine.dispose()


def test_first_run_creates_the_administrator_then_signs_in(
    qapp, tmp_path: Path, monkeypatch, run_briefly
) -> None:
    def first_exec(self: login.FirstRunDialog) -> int:
        self.username.setText("ad.dana")
        self.full_name.setText("Dana Admin")
        self.password.setText(PASSWORD)
        self.password2.setText(PASSWORD)
        self.create()
        return 1 if self.created else 0

    monkeypatch.setattr(login.FirstRunDialog, "exec", first_exec)
    monkeypatch.setattr(login.LoginDialog, "exec", _sign_in_as("ad.dana", PASSWORD))
    config = resolve_config(str(tmp_path / "station"), None)
    assert launch.run_gui(config) == 0
    engine = make_engine(config.db_url)
    with make_session_factory(engine)() as s:
        admin = s.execute(select(User).where(User.username == "ad.dana")).scalar_one()
        assert admin.role_names == {"administrator"}
    engine.dispose()
    assert (config.pki_dir / "ca.pem").exists()
