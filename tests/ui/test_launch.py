"""The two ways the app starts: `nursestation demo` (seeded station, simulated monitors) and
`nursestation` on an empty data directory (first-run administrator, then sign-in)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select
from support import PASSWORD

from nursestation.app import devices as device_service
from nursestation.app.context import AppContext, clinic_ca_row
from nursestation.app.demo import DEMO_PASSWORD, seed_demo
from nursestation.clock import SystemClock
from nursestation.config import resolve_config
from nursestation.db.engine import make_engine, make_session_factory
from nursestation.db.models import AuditEvent, DeviceReading, User, VitalReading
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
    """Replace the event loop with up to 3 s of real event processing, then close the windows.
    A test whose point is something arriving sets `seen["until"]` (main window -> bool) to end
    as soon as it has; a test about something that must not happen keeps the full 3 s."""
    seen: dict[str, object] = {}

    def exec_(self: QApplication) -> int:
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        seen["windows"] = windows
        main = next(w for w in windows if w.__class__.__name__ == "MainWindow")
        until = seen.get("until") or (lambda _main: False)
        deadline = time.monotonic() + 3.0
        loop = QEventLoop()
        while True:  # at least one slice of events, then until the condition or the deadline
            QTimer.singleShot(50, loop.quit)
            loop.exec()
            if until(main) or time.monotonic() >= deadline:  # type: ignore[operator]
                break
        seen["status"] = main.statusBar().currentMessage()
        seen["chair1"] = main.board.card("1").patient.text()
        seen["demo_monitors"] = main.demo_monitors
        seen["capturing"] = dict(main.device_bridge.running())
        seen["threads"] = [t.name for t in threading.enumerate()]
        main.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_)
    return seen


def test_demo_starts_with_demo_patients_and_simulated_monitors(
    qapp, tmp_path: Path, monkeypatch, run_briefly
) -> None:
    monkeypatch.setattr(login.LoginDialog, "exec", _sign_in_as("demo.nurse", DEMO_PASSWORD))
    data = tmp_path / "demo"

    def a_reading_stored(main: object) -> bool:
        engine = make_engine(f"sqlite:///{data / 'demo.sqlite3'}")
        try:
            with make_session_factory(engine)() as s:
                return s.execute(select(func.count(DeviceReading.id))).scalar_one() > 0
        finally:
            engine.dispose()

    run_briefly["until"] = a_reading_stored
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
    monkeypatch.delenv("NURSESTATION_CA_PASSPHRASE")  # a station: the wizard asks it

    def first_exec(self: login.FirstRunDialog) -> int:
        self.clinic_name.setText("Riverside Ketamine Clinic")
        self.ca_passphrase.setText("Clinic-CA-pass-1")
        self.ca_passphrase2.setText("Clinic-CA-pass-1")
        self.username.setText("ad.dana")
        self.full_name.setText("Dana Admin")
        self.password.setText(PASSWORD)
        self.password2.setText(PASSWORD)
        self.create_account()
        return 1 if self.created else 0

    monkeypatch.setattr(login.FirstRunDialog, "exec", first_exec)
    run_briefly["until"] = lambda main: main.isVisible()  # nothing to wait for once it shows
    monkeypatch.setattr(login.LoginDialog, "exec", _sign_in_as("ad.dana", PASSWORD))
    config = resolve_config(str(tmp_path / "station"), None)
    assert launch.run_gui(config) == 0
    engine = make_engine(config.db_url)
    with make_session_factory(engine)() as s:
        admin = s.execute(select(User).where(User.username == "ad.dana")).scalar_one()
        assert admin.role_names == {"administrator"}
        ca = clinic_ca_row(s)  # the clinic CA, in the database, naming the clinic
        assert ca is not None and ca.clinic_name == "Riverside Ketamine Clinic"
    engine.dispose()


def test_a_real_station_plays_no_simulator_and_removes_simulator_leftovers(
    qapp, tmp_path: Path, monkeypatch, run_briefly
) -> None:
    """`nursestation` (not demo) on a station with patients in chairs and no monitor bound: no
    simulator starts, the charts get no device value, the status bar says there is no monitor;
    a binding a simulator left behind (its pty gone) is removed, audited as the system."""
    config = resolve_config(str(tmp_path / "station"), None)
    ctx = AppContext.open(config)
    names = seed_demo(ctx, SystemClock())  # real users, patients in chairs; a real station
    device_service.bind_device_as_system(
        ctx, "6", "nonin-df8", str(tmp_path / "nursestation-monitors-old" / "chair-6"), 9600
    )
    ctx.close()
    monkeypatch.setattr(login.LoginDialog, "exec", _sign_in_as(names.nurse, DEMO_PASSWORD))
    assert launch.run_gui(config) == 0
    assert "Doe, Jane" in str(run_briefly["chair1"])  # chair 1 is occupied
    assert run_briefly["demo_monitors"] is None
    assert run_briefly["capturing"] == {}
    assert not [t for t in run_briefly["threads"] if "monitor" in t or "capture" in t]
    status = str(run_briefly["status"])
    assert "No monitor bound to any chair" in status and "chair 6" in status
    engine = make_engine(config.db_url)
    with make_session_factory(engine)() as s:
        assert s.execute(select(func.count(DeviceReading.id))).scalar_one() == 0
        device_rows = select(func.count(VitalReading.id)).where(VitalReading.source == "device")
        assert s.execute(device_rows).scalar_one() == 0
        unbind = s.execute(
            select(AuditEvent).where(AuditEvent.action == "device.unbind")
        ).scalar_one()
        assert (unbind.entity_id, unbind.user_id, unbind.username) == (
            "6",
            None,
            device_service.CLEANUP_USERNAME,
        )
    engine.dispose()
    ctx = AppContext.open(config)
    try:
        assert device_service.enabled_bindings(ctx) == []
    finally:
        ctx.close()


# ---------------------------------------------------------------- staged start-up (issue 19)


def test_the_sign_in_path_imports_no_database_code() -> None:
    """What paints first (launcher, sign-in dialog, station) must not pull SQLAlchemy or the
    models in: they are loaded behind the dialog."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import nursestation.cli, nursestation.ui.launch, nursestation.ui.login\n"
        "import nursestation.ui.station\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'reportlab', 'pyhanko', 'pyqtgraph', 'numpy') "
        "or m in ('nursestation.db.models', 'nursestation.app.context'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _slow_open(monkeypatch):  # type: ignore[no-untyped-def]
    """AppContext.open that waits for the test's go-ahead (a slow disk, a big database)."""
    import threading

    from nursestation.app.context import AppContext

    release = threading.Event()
    real = AppContext.open.__func__  # type: ignore[attr-defined]

    def held(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert release.wait(30)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(AppContext, "open", classmethod(held))
    return release


def test_sign_in_dialog_takes_typing_while_the_database_opens(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from nursestation.app.context import AppContext
    from nursestation.app.users import provision_user
    from nursestation.clinic import load_clinic_settings
    from nursestation.ui.station import ContextLoader

    config = resolve_config(str(tmp_path / "station"), None)
    ctx = AppContext.open(config)
    provision_user(ctx, username="rn.ana", full_name="Ana", roles={"nurse"}, password=PASSWORD)
    ctx.close()
    release = _slow_open(monkeypatch)
    loader = ContextLoader(config, load_clinic_settings(config.clinic_file))
    loader.start()
    dlg = login.LoginDialog(loader)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    qtbot.keyClicks(dlg.username, "rn.ana")
    qtbot.keyClicks(dlg.password, PASSWORD)
    assert dlg.username.text() == "rn.ana" and dlg.password.text() == PASSWORD
    assert not loader.is_ready()  # typed while the database was still opening
    release.set()
    qtbot.waitUntil(loader.is_ready, timeout=30_000)
    dlg.try_sign_in()
    assert dlg.actor is not None and dlg.actor.username == "rn.ana"
    loader.wait().close()


def test_a_database_without_users_sends_the_sign_in_to_the_first_run_wizard(
    qtbot, tmp_path: Path
) -> None:
    from nursestation.app.context import AppContext
    from nursestation.clinic import load_clinic_settings
    from nursestation.ui.station import ContextLoader

    config = resolve_config(str(tmp_path / "station"), None)
    AppContext.open(config).close()  # migrated (e.g. `nursestation db upgrade`), no user yet
    loader = ContextLoader(config, load_clinic_settings(config.clinic_file))
    dlg = login.LoginDialog(loader)
    qtbot.addWidget(dlg)
    dlg.open()
    loader.start()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=30_000)
    assert dlg.result() == login.LoginDialog.FIRST_RUN
    loader.wait().close()


def test_a_database_that_cannot_be_opened_is_reported_in_the_dialog(qtbot, tmp_path: Path) -> None:
    from nursestation.clinic import load_clinic_settings
    from nursestation.ui.station import ContextLoader

    data = tmp_path / "station"
    data.mkdir()
    (data / "nursestation.sqlite3").write_bytes(b"this is not a database" * 100)
    config = resolve_config(str(data), f"sqlite:///{data / 'nursestation.sqlite3'}")
    loader = ContextLoader(config, load_clinic_settings(config.clinic_file))
    dlg = login.LoginDialog(loader)
    qtbot.addWidget(dlg)
    dlg.show()
    loader.start()
    qtbot.waitUntil(lambda: "could not be opened" in dlg.error.text(), timeout=30_000)
    assert dlg.isVisible()  # still there: the nurse sees why, nothing is guessed


def test_the_board_shows_the_configured_chairs_before_the_first_query(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from nursestation.app import board as board_cases
    from nursestation.app.context import AppContext
    from nursestation.app.users import provision_user
    from nursestation.clinic import load_clinic_settings
    from nursestation.ui.board import ChairBoard
    from nursestation.ui.station import Station

    data = tmp_path / "station"
    data.mkdir()
    (data / "clinic.json").write_text('{"general": {"chairs": ["A", "B", "C", "D"]}}')
    config = resolve_config(str(data), None)
    ctx = AppContext.open(config, settings=load_clinic_settings(config.clinic_file))
    actor = provision_user(ctx, username="rn.ana", full_name="Ana", roles={"nurse"},
                           password=PASSWORD)  # fmt: skip
    queries: list[int] = []
    real = board_cases.board_cards
    # Only this test's station counts: boards of earlier tests may still tick in this process.
    monkeypatch.setattr("nursestation.ui.board.board_cards",
                        lambda c, *a: (c is ctx and queries.append(1)) or real(c, *a))  # fmt: skip
    station = Station(ctx)
    from nursestation.app.users import authenticate

    station.set_actor(authenticate(ctx, actor.username, PASSWORD))
    queries.clear()
    board = ChairBoard(station)
    assert queries == []  # nothing read yet
    titles = [board._cards[c].title.text() for c in "ABCD"]
    assert titles == ["Chair A", "Chair B", "Chair C", "Chair D"]
    assert board._cards["A"].phase.text() == ""  # a skeleton: no data yet
    board._timer.stop()  # so the fill below can only come from the first paint
    qtbot.addWidget(board)
    board.show()
    qtbot.waitUntil(lambda: queries == [1], timeout=10_000)
    assert board._cards["A"].phase.text() != ""
    assert board.card("A") is board._cards["A"] and queries == [1]  # filled: no second read
    ctx.close()
