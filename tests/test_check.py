"""`nursestation check` and the installation's files: the check only reads (a missing or broken
clinic CA is a failure, never replaced), a damaged database is named, and the data directory and
database are private to the OS user."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import PASSWORD

from nursestation.app import users
from nursestation.app.context import AppContext
from nursestation.cli import main
from nursestation.config import DB_FILENAME, resolve_config
from nursestation.errors import DomainError
from nursestation.report import pki

ALL_PASS = [
    "Health of data, settings, audit trail and keys",
    "PASS clinic settings",
    "PASS database",
    "PASS file modes",
    "WARN encryption at rest",  # this test machine has no dm-crypt under its temp folder
    "PASS audit trail",
    "PASS trail anchors",
    "PASS protective triggers",
    "PASS sealed facts",
    "PASS clinic CA",
    "WARN backups",  # none made yet
    "PASS fonts",
    "This station (window and serial ports)",
    "PASS Qt platform",
    "PASS serial ports",
    "Summary",
]


def _check(data: Path, capsys) -> tuple[int, list[str]]:
    rc = main(["--data-dir", str(data), "check"])
    return rc, capsys.readouterr().out.splitlines()


def _first_start(data: Path, *, with_nurse: bool = False) -> None:
    ctx = AppContext.open(resolve_config(str(data), None))
    try:
        if with_nurse:
            users.provision_user(
                ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"},
                password=PASSWORD,
            )  # fmt: skip
    finally:
        ctx.close()


@pytest.fixture(autouse=True)
def _offscreen(monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")


def test_check_passes_after_the_first_start(tmp_path: Path, capsys) -> None:
    data = tmp_path / "station"
    _first_start(data)
    rc, out = _check(data, capsys)
    assert rc == 0, out
    # A machine whose temp folder is on dm-crypt passes the encryption line instead of warning.
    got = [line.split(":")[0].replace("PASS encryption", "WARN encryption") for line in out]
    assert got == ALL_PASS


def test_check_on_a_fresh_data_dir_fails_the_ca_and_creates_none(tmp_path: Path, capsys) -> None:
    data = tmp_path / "fresh"
    rc, out = _check(data, capsys)
    assert rc == 1
    line = next(x for x in out if x.startswith("FAIL clinic CA"))
    assert "first-run wizard creates it" in line and "restore its pki folder" in line
    assert not (data / "pki" / pki.CA_CERT_FILE).exists()


def _drop_the_stored_ca(data: Path) -> None:
    """What a database of the single-station era looks like: no CA row (it was in pki/)."""
    import sqlite3

    con = sqlite3.connect(data / DB_FILENAME)
    with con:
        con.execute("DELETE FROM clinic_ca")
    con.close()


def test_a_lost_ca_is_a_failure_and_no_new_ca_is_made(tmp_path: Path, capsys) -> None:
    data = tmp_path / "station"
    _first_start(data, with_nurse=True)  # a signing key was issued by this CA
    _drop_the_stored_ca(data)
    rc, out = _check(data, capsys)
    assert rc == 1 and any(x.startswith("FAIL clinic CA: the clinic has no CA") for x in out)
    # Starting the app does not replace it either: a new CA would orphan every signature.
    with pytest.raises(DomainError) as exc:
        AppContext.open(resolve_config(str(data), None))
    assert exc.value.code == "not_found" and "restore the pki folder" in exc.value.message
    assert not (data / "pki" / pki.CA_CERT_FILE).exists()
    rc, out = _check(data, capsys)
    assert rc == 1  # still none


def test_check_names_an_unreadable_database(tmp_path: Path, capsys) -> None:
    data = tmp_path / "station"
    _first_start(data)
    assert _check(data, capsys)[0] == 0
    db = data / DB_FILENAME
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database file, it was overwritten" * 100)
    rc, out = _check(data, capsys)
    assert rc == 1
    line = next(line for line in out if line.startswith("FAIL database"))
    assert "not a database" in line
    assert "FAIL audit trail: skipped" in "\n".join(out)


def test_data_directory_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "station"
    old = os.umask(0o022)  # a typical desktop umask: group and others could read by default
    try:
        ctx = AppContext.open(resolve_config(str(data), None))
        try:
            users.provision_user(
                ctx, username="ad.dana", full_name="Dana", roles={"administrator"},
                password=PASSWORD,
            )  # fmt: skip
            db = data / DB_FILENAME
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert all(p.exists() for p in files)
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in files}
        finally:
            ctx.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert modes == {DB_FILENAME: 0o600, f"{DB_FILENAME}-wal": 0o600, f"{DB_FILENAME}-shm": 0o600}
    assert not (data / "pki").exists()  # the clinic CA is in the database (app/pki.py)


def test_check_names_a_stations_own_former_ca_that_is_not_used(tmp_path: Path, capsys) -> None:
    data = tmp_path / "station"
    _first_start(data)
    pki.create_ca(data / "pki", "Elsewhere", datetime.now(UTC))  # left from another era
    rc, out = _check(data, capsys)
    line = next(x for x in out if "clinic CA" in x)
    assert rc == 0 and "holds another CA, which is not used" in line


def test_an_empty_data_directory_made_before_the_first_start_becomes_private(
    tmp_path: Path,
) -> None:
    """An installer (or `mkdir`) made the folder with the umask's 0755: the first start, which
    creates the database in it, makes it 0700; a folder already holding data is
    left as the clinic set it."""
    data = tmp_path / "station"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "clinic.json").write_text("{}")
    os.chmod(kept, 0o750)
    old = os.umask(0o022)
    try:
        for folder in (data, kept):
            AppContext.open(resolve_config(str(folder), None)).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data / DB_FILENAME).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(kept / DB_FILENAME).st_mode) == 0o600
