"""`nursestation check`: installation checks for clinic IT, one line each.

Two parts, printed under their own headings: the health of the data, settings, audit trail and
keys (what a server or a backup needs), and whether this station can show a window (Qt) and
see its serial ports. Exit 0 only if every check passes; `--headless` leaves out the window
check, so a healthy server without a display passes. WARN lines (encryption at rest that cannot
be seen, no backup yet) are printed but do not fail the check.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nursestation.config import StationConfig


@dataclass(frozen=True)
class CheckResult:
    """One line of the check report; `warn` marks a passing line that needs attention."""

    name: str
    ok: bool
    detail: str
    warn: bool = False

    @property
    def label(self) -> str:
        """PASS, WARN or FAIL."""
        return "FAIL" if not self.ok else ("WARN" if self.warn else "PASS")


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
    origin = _stored_settings(config)
    if config.clinic_file.exists() and origin.startswith("defaults + clinic settings version"):
        # Stored settings are in force; this station's own file is not read any more.
        origin += f"; {config.clinic_file} is NOT used (settings are in the database)"
    elif config.clinic_file.exists():
        origin = f"defaults + {config.clinic_file} (imported into the database at the next start)"
    return CheckResult("clinic settings", True, f"{len(s.settings)} settings ({origin})")


def _stored_settings(config: StationConfig) -> str:
    """Which stored version of the clinic settings is in force ("defaults" before the first)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from nursestation.db.engine import make_engine
    from nursestation.db.models import ClinicSettingsVersion

    if config.sqlite_path is not None and not config.sqlite_path.exists():
        return "defaults"
    engine = make_engine(config.db_url)
    try:
        with engine.connect() as conn:
            newest = conn.execute(select(func.max(ClinicSettingsVersion.id))).scalar()
    except SQLAlchemyError:
        return "defaults (the database has no settings table yet)"
    finally:
        engine.dispose()
    return "defaults" if newest is None else f"defaults + clinic settings version {newest}"


def _database(config: StationConfig) -> CheckResult:
    from nursestation.app.context import AppContext
    from nursestation.db.migrate import current_revision, head_revision, upgrade_to_head

    # Migrated here, but without the start-up's CA creation: the CA check only reads.
    ctx = AppContext.open(config, migrate=False)
    try:
        before = current_revision(ctx.engine)
        upgrade_to_head(ctx.engine)
        rev, head = current_revision(ctx.engine), head_revision()
        if rev != head:
            return CheckResult("database", False, f"at revision {rev}, expected {head}")
        if before is not None and rev != before:
            # A migration may have filled sealed columns: seal them as the start-up would
            # (db/seals.ensure_baseline), so the trail check below judges what came after.
            from nursestation.db.seals import ensure_baseline

            with ctx.tx() as s:
                ensure_baseline(s, ctx.now(), config.station, rev)
        with ctx.engine.connect() as conn:
            if ctx.engine.dialect.name == "sqlite":
                integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if integrity != "ok":
                    return CheckResult("database", False, f"integrity check: {integrity}")
        where = config.sqlite_path or ctx.engine.url.render_as_string(hide_password=True)
        return CheckResult("database", True, f"reachable and migrated (revision {rev}) at {where}")
    finally:
        ctx.close()


def _audit_trail(config: StationConfig) -> list[CheckResult]:
    from nursestation.app.backup import default_backup_dir
    from nursestation.app.trail import verify_trail
    from nursestation.db.engine import make_engine

    engine = make_engine(config.db_url)
    try:
        report = verify_trail(config, engine, backup_dir=default_backup_dir(config))
    finally:
        engine.dispose()
    return [CheckResult(name, passed, detail) for passed, name, detail in report.lines]


def _private(path: Path) -> str | None:
    """ "path 0644" when group or others may read or write it, else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    return f"{path} {mode:04o}" if mode & 0o077 else None


def _file_modes(config: StationConfig) -> CheckResult:
    from nursestation.app.backup import default_backup_dir

    paths = [config.data_dir, config.pki_dir, default_backup_dir(config)]
    if config.pki_dir.is_dir():
        # ca.pem is public by design (auditors verify notes against it).
        paths += [p for p in sorted(config.pki_dir.iterdir()) if p.name != "ca.pem"]
    db = config.sqlite_path
    if db is not None:
        paths += [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    for extra in ("audit-witness.json", "clinic.json"):
        paths.append(config.data_dir / extra)
    open_to_others = [x for p in paths if (x := _private(p))]
    if open_to_others:
        return CheckResult(
            "file modes", False,
            "readable or writable by others: " + ", ".join(open_to_others)
            + " (fix: chmod go-rwx, e.g. chmod -R go-rwx on the data directory)",
        )  # fmt: skip
    where = (
        "data directory, database files and keys"
        if db
        else ("data directory and keys (the PostgreSQL server keeps its own files 0700)")
    )
    return CheckResult("file modes", True, f"{where} readable by the OS user only")


def _encryption(config: StationConfig) -> CheckResult:
    from nursestation.app.encryption import ENCRYPTED, encryption_at_rest

    found = encryption_at_rest(config.data_dir)
    if found.state == ENCRYPTED:
        return CheckResult("encryption at rest", True, found.detail)
    return CheckResult(
        "encryption at rest", True,
        ("cannot tell: " if found.state != "not_seen" else "not seen: ") + found.detail
        + ". The clinic must provide full-disk encryption (README, Encryption at rest)",
        warn=True,
    )  # fmt: skip


def _backups(config: StationConfig) -> CheckResult:
    from nursestation.app.backup import default_backup_dir, newest_backup

    newest = newest_backup(default_backup_dir(config))
    if newest is None:
        return CheckResult(
            "backups", True,
            f"none in {default_backup_dir(config)} yet: run `nursestation backup` (the app "
            "makes one daily while it runs)",
            warn=True,
        )  # fmt: skip
    return CheckResult("backups", True, newest.summary())


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


Check = Callable[[StationConfig], "CheckResult | list[CheckResult]"]

# The health of what a server needs: data, settings, trail and keys.
HEALTH: tuple[tuple[str, Check], ...] = (
    ("clinic settings", _settings),
    ("database", _database),
    ("file modes", _file_modes),
    ("encryption at rest", _encryption),
    ("audit trail", _audit_trail),
    ("clinic CA", _clinic_ca),
    ("backups", _backups),
    ("fonts", _fonts),
)
# What only a station with a screen needs.
STATION: tuple[tuple[str, Check], ...] = (
    ("Qt platform", _qt),
    ("serial ports", _serial),
)
CHECKS = HEALTH + STATION


def _run(name: str, fn: Check, config: StationConfig) -> list[CheckResult]:
    try:
        result = fn(config)
    except Exception as exc:  # a check that crashes is a failed check, named
        return [CheckResult(name, False, f"{type(exc).__name__}: {exc}".strip())]
    return result if isinstance(result, list) else [result]


def run_checks(config: StationConfig, out: TextIO, *, headless: bool = False) -> int:
    """Run every check, print `PASS|WARN|FAIL name: detail` lines under two headings (health;
    this station's window); 0 only when all pass. `headless` leaves out the window check."""
    health: list[CheckResult] = []
    settings_ok = db_ok = True
    print("Health of data, settings, audit trail and keys:", file=out)
    for name, fn in HEALTH:
        if name == "database" and not settings_ok:
            # Opening the database would create and migrate it: write nothing on a bad config.
            results = [CheckResult(name, False, "skipped: fix the clinic settings first")]
        elif name in ("audit trail", "clinic CA", "backups") and not db_ok:
            results = [CheckResult(name, False, "skipped: the database is not usable")]
        else:
            results = _run(name, fn, config)
        if name == "clinic settings":
            settings_ok = all(r.ok for r in results)
        if name == "database":
            db_ok = all(r.ok for r in results)
        health += results
        for r in results:
            print(f"{r.label} {r.name}: {r.detail}", file=out)
    print("This station (window and serial ports):", file=out)
    station: list[CheckResult] = []
    for name, fn in STATION:
        if headless and name == "Qt platform":
            print("SKIP Qt platform: --headless (no window is needed on a server)", file=out)
            continue
        results = _run(name, fn, config)
        station += results
        for r in results:
            print(f"{r.label} {r.name}: {r.detail}", file=out)
    bad_health = sum(not r.ok for r in health)
    bad_station = sum(not r.ok for r in station)
    window = "window check left out (--headless)" if headless else (
        "this station can show a window"
        if not any(r.name == "Qt platform" and not r.ok for r in station)
        else "this station cannot show a window"
    )  # fmt: skip
    health_text = "healthy" if bad_health == 0 else f"{bad_health} health check(s) failed"
    print(f"Summary: {health_text}; {window}.", file=out)
    return 0 if bad_health == 0 and bad_station == 0 else 1
