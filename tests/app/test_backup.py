"""Backups while a session is being charted, verified, rotated, restored into a new data
directory whose `check` passes and whose notes verify (issue 15); `check --headless` (issue 18)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import PASSWORD
from trail_support import Raw, restore_target

from nursestation.app import notes, sessions, vitals
from nursestation.app.backup import (
    PG_DUMP_FILE,
    DailyBackup,
    make_backup,
    newest_backup,
    restore_backup,
)
from nursestation.app.checks import run_checks
from nursestation.app.context import AppContext
from nursestation.config import DB_FILENAME
from nursestation.db.models import VitalReading
from nursestation.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]


def _vitals_count(ctx: AppContext) -> int:
    with ctx.read_tx() as s:
        return int(s.execute(select(func.count(VitalReading.id))).scalar_one())


def test_backup_while_charting_restores_to_a_healthy_directory_whose_notes_verify(
    ctx, people, infusing, clock, tmp_path: Path
) -> None:
    nurse = people["nurse"]
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, nurse, infusing, "completed")
    note = notes.sign_note(ctx, nurse, infusing, PASSWORD)
    # A writer thread charts recovery vitals, one use case (one transaction) after another,
    # for as long as backups are being taken.
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def chart() -> None:
        try:
            while not stop.is_set():
                vitals.record_vitals(
                    ctx, nurse, infusing, {"sbp": 120 + len(written) % 9, "hr": 70, "spo2": 98}
                )
                written.append(1)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    writer = threading.Thread(target=chart)
    before = _vitals_count(ctx)
    writer.start()
    try:
        while len(written) < 3:  # the writer is really running before the backup starts
            threading.Event().wait(0.01)
        result = make_backup(ctx.config, keep=5)
        during = len(written)
        while len(written) < during + 3:  # and still writes after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join(30)
    assert not errors, errors
    assert result.info.notes_verified == 1
    # The copy holds a consistent moment: some of the vitals charted while it ran, not all.
    target, cleanup = restore_target(ctx, tmp_path / "restored")
    try:
        checked = restore_backup(result.info.path, target)
        assert checked.audit_head == result.info.audit_head
        restored = AppContext.open(target)
        try:
            in_copy = _vitals_count(restored)
            assert before < in_copy < _vitals_count(ctx)
            out = io.StringIO()
            rc = run_checks(target, out, headless=True)
            assert rc == 0, out.getvalue()
            check = notes.verify_note(restored, nurse, note.note_id)
            assert check.ok, check
        finally:
            restored.close()
    finally:
        cleanup()
    assert stat.S_IMODE(os.stat(target.data_dir).st_mode) == 0o700
    if target.sqlite_path is not None:
        assert stat.S_IMODE(os.stat(target.sqlite_path).st_mode) == 0o600


def test_backups_are_private_rotated_to_the_clinic_number_and_refuse_overwrites(
    ctx, people, tmp_path: Path
) -> None:
    t = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    made = [make_backup(ctx.config, keep=2, now=t + timedelta(days=i)) for i in range(3)]
    root = made[0].info.path.parent
    left = sorted(p.name for p in root.iterdir())
    assert left == [made[1].info.path.name, made[2].info.path.name]  # the oldest went
    assert made[2].removed == (made[0].info.path,)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    for path in made[2].info.path.rglob("*"):
        assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o700), path
    assert newest_backup(root).path == made[2].info.path
    # Restore refuses a data directory that already holds something.
    with pytest.raises(DomainError) as exc:
        restore_backup(made[2].info.path, ctx.config)
    assert exc.value.code == "duplicate"


def test_a_damaged_backup_is_refused_at_restore(ctx, people, tmp_path: Path) -> None:
    result = make_backup(ctx.config, keep=2)
    db = result.info.path / (DB_FILENAME if result.info.engine == "sqlite" else PG_DUMP_FILE)
    data = bytearray(db.read_bytes())
    data[-100] ^= 0xFF
    db.write_bytes(bytes(data))
    target, cleanup = restore_target(ctx, tmp_path / "new")
    try:
        with pytest.raises(DomainError) as exc:
            restore_backup(result.info.path, target)
    finally:
        cleanup()
    assert "differs from the backup's manifest" in exc.value.message
    assert not (tmp_path / "new").exists()


def test_daily_backup_runs_when_due_and_not_again(ctx, people) -> None:
    daily = DailyBackup(ctx)
    assert daily.tick() is True
    daily.wait(60)
    assert daily.last_error is None and daily.last_result is not None
    assert daily.tick() is False  # the newest is minutes old, the interval is a day


def test_cli_backup_and_restore(ctx, people, tmp_path: Path, capsys) -> None:
    from nursestation.cli import main

    db = ["--db", ctx.config.db_url]
    rc = main(["--data-dir", str(ctx.config.data_dir), *db, "backup", "--keep", "3"])
    out = capsys.readouterr().out
    assert rc == 0 and "backup written and verified" in out
    folder = newest_backup(ctx.config.data_dir / "backups")
    assert folder is not None
    target, cleanup = restore_target(ctx, tmp_path / "new")
    try:
        rc = main(["--data-dir", str(target.data_dir), "--db", target.db_url, "restore",
                   str(folder.path)])  # fmt: skip
    finally:
        cleanup()
    assert rc == 0 and "restored into" in capsys.readouterr().out
    assert main(["backup", "--keep", "0"]) == 2


def _headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_check_headless_exits_0_on_a_healthy_server_without_a_display(ctx, people) -> None:
    data, url = str(ctx.config.data_dir), ctx.config.db_url
    ctx.close()
    cmd = [sys.executable, "-m", "nursestation", "--data-dir", data, "--db", url, "check"]
    env = _headless_env()
    headless = subprocess.run([*cmd, "--headless"], capture_output=True, text=True, env=env,
                              timeout=300)  # fmt: skip
    assert headless.returncode == 0, headless.stdout + headless.stderr
    assert "SKIP Qt platform: --headless" in headless.stdout
    assert "Summary: healthy; window check left out (--headless)." in headless.stdout
    # Without --headless the same healthy server fails only its window check, and says so.
    full = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert full.returncode == 1
    fails = [x for x in full.stdout.splitlines() if x.startswith("FAIL")]
    assert fails == [
        "FAIL Qt platform: no display: run on the desktop, or set QT_QPA_PLATFORM=offscreen"
    ]
    assert "Summary: healthy; this station cannot show a window." in full.stdout


def test_check_headless_still_fails_on_a_broken_trail(ctx, people) -> None:
    raw = Raw(ctx)
    raw.unprotect("audit_events")
    raw.run("UPDATE audit_events SET username = 'x' WHERE id = 2")
    raw.protect("audit_events")
    out = io.StringIO()
    assert run_checks(ctx.config, out, headless=True) == 1
    assert "FAIL audit trail: audit row 2 was altered" in out.getvalue()


def test_the_running_station_backs_up_and_shows_a_failure(ctx, people, qtbot) -> None:
    from PySide6.QtWidgets import QMainWindow

    from nursestation.ui.maintenance import Maintenance

    win = QMainWindow()
    qtbot.addWidget(win)
    keeper = Maintenance(ctx, win)
    keeper.tick()
    keeper.daily.wait(60)
    assert newest_backup(ctx.config.data_dir / "backups") is not None
    # The next day the backup folder cannot be written (a file stands in its way).
    import shutil

    shutil.rmtree(ctx.config.data_dir / "backups")
    (ctx.config.data_dir / "backups").write_text("not a folder")
    keeper.tick()
    keeper.daily.wait(60)
    keeper.tick()
    assert "The automatic backup failed" in win.statusBar().currentMessage()
