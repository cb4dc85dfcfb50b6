"""Start the desktop app: settings first (a bad clinic file stops here, before anything is
written), then the database, the first-run wizard or sign-in, then the main window."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from nursestation.clinic import ConfigError, load_clinic_settings
from nursestation.config import DatabaseUnavailable, StationConfig, resolve_config

if TYPE_CHECKING:  # Qt is imported when the window is built, after the settings check
    from collections.abc import Callable

    from PySide6.QtWidgets import QApplication

    from nursestation.app.context import Actor, AppContext
    from nursestation.ui.login import FirstRunDialog
    from nursestation.ui.main_window import MainWindow


def _application() -> QApplication:
    from PySide6.QtWidgets import QApplication

    from nursestation.ui.main_thread_gc import MainThreadGC
    from nursestation.ui.style import APP_STYLESHEET

    existing = QApplication.instance()
    # A bare QCoreApplication cannot show widgets: the GUI needs (and makes) a QApplication.
    if existing is not None and not isinstance(existing, QApplication):
        raise RuntimeError("a non-GUI QCoreApplication is running: cannot open the window")
    app = existing or QApplication(sys.argv)
    app.setApplicationName("NurseStation")
    app.setStyleSheet(APP_STYLESHEET)
    if not hasattr(app, "_ns_gc"):
        app._ns_gc = MainThreadGC(app)  # type: ignore[attr-defined]
    return app


def _fatal(title: str, message: str) -> int:
    print(f"nursestation: {message}", file=sys.stderr)
    try:
        from PySide6.QtWidgets import QMessageBox

        _application()
        QMessageBox.critical(None, title, message)
    except Exception:  # no display: stderr already has the message
        pass
    return 2


def _first_run(ctx: AppContext, first_run_dialog: type[FirstRunDialog]) -> str | None:
    """The first-run wizard; the new administrator's user name, or None when cancelled."""
    first = first_run_dialog(ctx)
    if not first.exec():
        return None
    return first.created or ""


def _import_main_window() -> None:
    """Run by the ContextLoader's thread while the sign-in dialog is up. Module bodies only
    define classes; no widget is created off the GUI thread."""
    import nursestation.ui.main_window  # noqa: F401


def build_window(
    config: StationConfig,
    *,
    hint: str = "",
    username: str = "",
    auto_actor: Callable[[AppContext], Actor] | None = None,
) -> tuple[QApplication, MainWindow | None]:
    """Return (app, window) after sign-in, or (app, None) when cancelled.

    Start-up is staged so the nurse sees the sign-in at once: clinic settings (JSON) and Qt only,
    then the sign-in dialog is shown while a background thread opens the database (SQLAlchemy,
    migrations, clinic CA) and imports the main window. A station whose SQLite file does not exist
    yet is a first run: it opens in the foreground and starts with the first-run wizard (a
    database without users found later sends the sign-in dialog back to the wizard)."""
    from PySide6.QtCore import QTimer

    from nursestation.ui.login import FirstRunDialog, LoginDialog
    from nursestation.ui.station import ContextLoader

    settings = load_clinic_settings(config.clinic_file)
    app = _application()
    loader = ContextLoader(config, settings, preload=_import_main_window)
    sqlite = config.sqlite_path
    fresh = sqlite is not None and not sqlite.exists()
    if auto_actor is not None:
        ctx = loader.wait()
        actor = auto_actor(ctx)
    else:
        if fresh:
            created = _first_run(loader.wait(), FirstRunDialog)
            if created is None:
                return app, None
            username = created
        # Started on the first turn of the dialog's event loop: the dialog paints before the
        # background thread competes with it for the interpreter.
        QTimer.singleShot(0, loader.start)
        while True:
            login = LoginDialog(loader, username=username, hint=hint)
            code = login.exec()
            if code == LoginDialog.FIRST_RUN:
                created = _first_run(loader.wait(), FirstRunDialog)
                if created is None:
                    return app, None
                username = created
                continue
            if not code or login.actor is None:
                return app, None
            actor = login.actor
            break
        ctx = loader.wait()
    from nursestation.ui.main_window import MainWindow
    from nursestation.ui.station import Station

    station = Station(ctx)
    station.set_actor(actor)
    window = MainWindow(station)
    settle_heap()
    return app, window


def settle_heap() -> None:
    """Move everything alive once the main window exists (modules, classes, Qt wrappers: about
    70,000 tracked objects after start-up) out of the collector's reach: the GUI thread's full collections then scan
    only what was made since, instead of stalling the event loop for hundreds of ms each time.
    No collection first: that would itself be such a stall, at start-up."""
    import gc

    gc.freeze()


def run_gui(config: StationConfig) -> int:
    """`nursestation`: the app on this station's data."""
    try:
        app, window = build_window(config)
    except ConfigError as exc:
        return _fatal("Clinic settings", str(exc))
    except DatabaseUnavailable as exc:
        return _fatal("Database", str(exc))
    if window is None:
        return 0
    window.show()
    start_capture(window)
    from nursestation.ui.maintenance import Maintenance

    # The daily backup while the station runs (kept on the window so it lives as long).
    window.maintenance = Maintenance(window.station.ctx, window)  # type: ignore[attr-defined]
    return app.exec()


def start_capture(window: MainWindow, demo: bool = False) -> list[str]:
    """Capture from the monitors bound to chairs, after removing bindings a simulator left
    behind; returns the chairs whose capture started. A real station never starts a simulator
    (only `nursestation demo` does, after this): with no monitor bound the status bar says so
    and the chairs show no monitor values, only what is entered by hand."""
    from nursestation.app import devices as device_service

    ctx = window.station.ctx
    cleaned = device_service.remove_simulator_leftovers(ctx)
    started = window.start_monitors()
    if demo:
        return started
    chairs = [str(c) for c in ctx.settings.get("general.chairs")]
    # A chair bound at another station has a monitor (that station opens its port).
    bound = {b.chair for b in device_service.enabled_bindings_anywhere(ctx)}
    unbound = [c for c in chairs if c not in bound]
    if not bound:
        message = "No monitor bound to any chair: vitals are entered by hand (Monitors to bind one)"
    elif unbound:
        message = f"No monitor on chair {', '.join(unbound)}"
    else:
        message = ""
    if cleaned:
        removed = f"removed simulator bindings left on chair {', '.join(cleaned)}"
        message = f"{message}; {removed}" if message else removed.capitalize()
    if message:
        window.statusBar().showMessage(message)
    return started


def run_demo(data_dir: str | None, keep: bool = False) -> int:
    """`nursestation demo`: a throw-away data directory with demo users, patients and sessions."""
    from nursestation.app.context import AppContext
    from nursestation.app.demo import DEMO_PASSWORD, seed_demo
    from nursestation.clock import SystemClock

    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="nursestation-demo-")
        data_dir = tmp.name
    config = resolve_config(str(Path(data_dir)), f"sqlite:///{Path(data_dir) / 'demo.sqlite3'}")
    ctx = AppContext.open(config)
    names = seed_demo(ctx, SystemClock())
    ctx.close()
    hint = (
        f"Demo station. Users: {names.nurse} (nurse), {names.charge} (charge nurse), "
        f"{names.admin} (administrator); password {DEMO_PASSWORD}"
    )
    try:
        app, window = build_window(config, hint=hint, username=names.nurse)
        if window is None:
            return 0
        window.show()
        from nursestation.ui.device_bridge import start_demo_monitors

        start_capture(window, demo=True)
        window.demo_monitors = start_demo_monitors(window.station, bridge=window.device_bridge)
        window.statusBar().showMessage("DEMO STATION: simulated monitors on every occupied chair")
        return app.exec()
    finally:
        if tmp is not None and not keep:
            tmp.cleanup()
