"""`nursestation check`: installation checks for clinic IT, one line each, exit 0 only if all pass."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from nursestation.config import StationConfig


@dataclass(frozen=True)
class CheckResult:
    """One line of the check report."""

    name: str
    ok: bool
    detail: str


def _settings(config: StationConfig) -> CheckResult:
    from nursestation.clinic import load_clinic_settings

    s = load_clinic_settings(config.clinic_file)
    missing = [
        x.path
        for x in s
        if isinstance(x.value, int | float) and not isinstance(x.value, bool) and not x.source
    ]
    if missing:
        return CheckResult(
            "clinic settings", False, "numbers without a source: " + ", ".join(missing)
        )
    origin = "defaults + " + str(config.clinic_file) if config.clinic_file.exists() else "defaults"
    return CheckResult("clinic settings", True, f"{len(s.settings)} settings ({origin})")


def _database(config: StationConfig) -> CheckResult:
    from nursestation.app.context import AppContext
    from nursestation.db.migrate import current_revision, head_revision, upgrade_to_head

    # Migrated here, but without the start-up's CA creation: the CA check only reads.
    ctx = AppContext.open(config, migrate=False)
    try:
        upgrade_to_head(ctx.engine)
        rev, head = current_revision(ctx.engine), head_revision()
        if rev != head:
            return CheckResult("database", False, f"at revision {rev}, expected {head}")
        with ctx.engine.connect() as conn:
            if ctx.engine.dialect.name == "sqlite":
                integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if integrity != "ok":
                    return CheckResult("database", False, f"integrity check: {integrity}")
        where = config.sqlite_path or ctx.engine.url.render_as_string(hide_password=True)
        return CheckResult("database", True, f"reachable and migrated (revision {rev}) at {where}")
    finally:
        ctx.close()


def _audit_chain(config: StationConfig) -> CheckResult:
    from nursestation.db.audit import verify_chain
    from nursestation.db.engine import make_engine, make_session_factory

    engine = make_engine(config.db_url)
    try:
        with make_session_factory(engine)() as s:
            chk = verify_chain(s)
        if not chk.ok:
            return CheckResult("audit trail", False, chk.problem or "chain broken")
        return CheckResult("audit trail", True, f"hash chain intact ({chk.rows} rows)")
    finally:
        engine.dispose()


def _clinic_ca(config: StationConfig) -> CheckResult:
    from nursestation.app.pki import ca_status

    ok, detail = ca_status(config)
    return CheckResult("clinic CA", ok, detail)


def _fonts(config: StationConfig) -> CheckResult:
    from nursestation.resources import resource_path

    missing = [
        f
        for f in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
        if not resource_path("fonts", f).is_file()
    ]
    if missing:
        return CheckResult("fonts", False, "missing " + ", ".join(missing))
    from reportlab.pdfbase.ttfonts import TTFont

    TTFont("CheckSans", str(resource_path("fonts", "DejaVuSans.ttf")))
    return CheckResult("fonts", True, "DejaVu Sans embedded fonts load")


def _qt(config: StationConfig) -> CheckResult:
    code = (
        "from PySide6.QtWidgets import QApplication;"
        "app = QApplication([]); print(app.platformName())"
    )
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY") and not env.get("QT_QPA_PLATFORM"):
        return CheckResult(
            "Qt platform", False, "no display: run on the desktop, or set QT_QPA_PLATFORM=offscreen"
        )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
        )
    except subprocess.TimeoutExpired:
        return CheckResult("Qt platform", False, "Qt did not start within 60 s")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return CheckResult("Qt platform", False, f"Qt cannot start: {last}")
    return CheckResult("Qt platform", True, f"platform plugin '{proc.stdout.strip()}' starts")


def _serial(config: StationConfig) -> CheckResult:
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    if not ports:
        return CheckResult(
            "serial ports", True, "none attached (vitals by hand; bind a monitor in Devices)"
        )
    return CheckResult("serial ports", True, ", ".join(p.device for p in ports))


CHECKS: tuple[tuple[str, Callable[[StationConfig], CheckResult]], ...] = (
    ("clinic settings", _settings),
    ("database", _database),
    ("audit trail", _audit_chain),
    ("clinic CA", _clinic_ca),
    ("fonts", _fonts),
    ("Qt platform", _qt),
    ("serial ports", _serial),
)


def run_checks(config: StationConfig, out: TextIO) -> int:
    """Run every check, print `PASS|FAIL name: detail` lines; 0 only when all pass."""
    failed = 0
    db_ok = True
    settings_ok = True
    for name, fn in CHECKS:
        if name == "database" and not settings_ok:
            # Opening the database would create and migrate it: write nothing on a bad config.
            result = CheckResult(name, False, "skipped: fix the clinic settings first")
        elif name in ("audit trail", "clinic CA") and not db_ok:
            result = CheckResult(name, False, "skipped: the database is not usable")
        else:
            try:
                result = fn(config)
            except Exception as exc:  # a check that crashes is a failed check, named
                result = CheckResult(name, False, f"{type(exc).__name__}: {exc}".strip())
        if name == "clinic settings":
            settings_ok = result.ok
        if name == "database":
            db_ok = result.ok
        failed += not result.ok
        print(f"{'PASS' if result.ok else 'FAIL'} {result.name}: {result.detail}", file=out)
    return 0 if failed == 0 else 1
