"""`nursestation check`: all PASS on a fresh install; a damaged database is named and fails."""

from __future__ import annotations

from pathlib import Path

from nursestation.cli import main
from nursestation.config import DB_FILENAME


def test_check_passes_on_a_fresh_install(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    rc = main(["--data-dir", str(tmp_path / "fresh"), "check"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    names = [line.split(":")[0] for line in out]
    assert names == [
        "PASS clinic settings",
        "PASS database",
        "PASS audit trail",
        "PASS clinic CA",
        "PASS fonts",
        "PASS Qt platform",
        "PASS serial ports",
    ]


def test_check_names_an_unreadable_database(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    data = tmp_path / "station"
    assert main(["--data-dir", str(data), "check"]) == 0
    capsys.readouterr()
    db = data / DB_FILENAME
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database file, it was overwritten" * 100)
    rc = main(["--data-dir", str(data), "check"])
    out = capsys.readouterr().out
    assert rc == 1
    line = next(line for line in out.splitlines() if line.startswith("FAIL database"))
    assert "not a database" in line
    assert "FAIL audit trail: skipped" in out
