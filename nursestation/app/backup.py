"""Backups while the app runs, verified, rotated; restore into a new data directory (issue 15).

A backup is a folder `nursestation-<UTC time>` (mode 0700) holding:

- the database: SQLite's online backup API copies a consistent snapshot while stations keep
  writing (WAL mode: writers are not blocked); on PostgreSQL, `pg_dump --format=custom` of a
  snapshot exported by a REPEATABLE READ transaction, in which the chain and notes are verified;
- `pki/` and `clinic.json` from the data directory (the clinic CA the notes verify against);
- `manifest.json`: when, which database, its schema revision, the audit chain's head and row
  count, how many signed note documents were verified, and the SHA-256 of every file.

It is written as `<name>.partial` and renamed only after verification: the copy's integrity
check, its whole audit chain, and the stored hash of every signed note document. The newest
`general.backup_keep` backups are kept (older ones deleted after a new one verified). Each
manifest's head is also an anchor of the live trail (app/trail.py): rows cut off after a backup
are noticed by `check`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import __version__
from nursestation.config import DB_FILENAME, StationConfig, ensure_data_dir
from nursestation.db.audit import walk_chain
from nursestation.db.engine import make_engine, make_session_factory, read_only
from nursestation.db.models import NoteDocument
from nursestation.errors import BAD_INPUT, DUPLICATE, NOT_FOUND, DomainError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from nursestation.app.context import AppContext

log = logging.getLogger(__name__)

PREFIX = "nursestation-"
PARTIAL = ".partial"
MANIFEST = "manifest.json"
PG_DUMP_FILE = "nursestation.pgdump"
KEEP_KEY = "general.backup_keep"
INTERVAL_KEY = "general.backup_interval_h"


def default_backup_dir(config: StationConfig) -> Path:
    """<data dir>/backups: the station's own copies (clinic IT copies them elsewhere too)."""
    return config.data_dir / "backups"


@dataclass(frozen=True)
class BackupInfo:
    """One verified backup, as its manifest describes it."""

    path: Path
    created_at: datetime
    engine: str
    audit_head: str | None
    audit_rows: int
    notes_verified: int

    def summary(self) -> str:
        """One line for `check` and the command's output."""
        head = self.audit_head.split(":")[0] if self.audit_head else "none"
        return (
            f"newest {self.path.name} ({self.created_at:%Y-%m-%d %H:%M} UTC, {self.engine}, "
            f"{self.audit_rows} audit rows to row {head}, {self.notes_verified} signed note "
            "documents verified)"
        )


def _mkdir_private(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_private(src: Path, dst: Path) -> None:
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, src.open("rb") as fh:
        shutil.copyfileobj(fh, out)
        out.flush()
        os.fsync(out.fileno())


def _db_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _pg_args(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (kept out of the process list) and its environment."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


# ---------------------------------------------------------------- verification of a copy


@dataclass(frozen=True)
class CopyCheck:
    """What was verified in a copy of the database."""

    audit_head: str | None
    audit_rows: int
    notes_verified: int
    revision: str | None


def verify_database(engine: Engine) -> CopyCheck:
    """Integrity check (SQLite), the whole audit chain, and every signed note document's hash.
    Raises DomainError(bad_input) naming the first problem."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        if integrity != "ok":
            raise DomainError(BAD_INPUT, f"The copy fails SQLite's integrity check: {integrity}.")
    with make_session_factory(read_only(engine)).begin() as s:
        return _verify_in(s, engine)


def _verify_in(s: Session, engine: Engine) -> CopyCheck:
    """The chain and the note hashes as the caller's transaction sees them."""
    from nursestation.db.migrate import current_revision

    walk = walk_chain(s)
    if not walk.check.ok:
        raise DomainError(BAD_INPUT, f"The copy's audit trail is broken: {walk.check.problem}.")
    count = 0
    total = s.execute(select(func.count(NoteDocument.id))).scalar_one()
    last = 0
    while True:  # in batches: note PDFs are large
        docs = s.execute(
            select(NoteDocument.id, NoteDocument.pdf, NoteDocument.sha256)
            .where(NoteDocument.id > last)
            .order_by(NoteDocument.id)
            .limit(50)
        ).all()
        if not docs:
            break
        for doc_id, pdf, sha in docs:
            if hashlib.sha256(bytes(pdf)).hexdigest() != sha:
                raise DomainError(
                    BAD_INPUT, f"Signed note document {doc_id} in the copy fails its hash."
                )
            count += 1
            last = doc_id
    assert count == total
    head = walk.head
    return CopyCheck(
        head.text() if head else None, walk.check.rows, count, current_revision(engine)
    )


# ---------------------------------------------------------------- making a backup


@dataclass(frozen=True)
class BackupResult:
    """A verified backup and the old ones removed to keep the clinic's number."""

    info: BackupInfo
    removed: tuple[Path, ...]
    seconds: float


def make_backup(
    config: StationConfig,
    *,
    out_dir: Path | None = None,
    keep: int | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Write, verify and rotate one backup of the station's database (see the module doc)."""
    import time

    from nursestation.clinic import load_clinic_settings

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    if keep is None:
        keep = int(load_clinic_settings(config.clinic_file).get(KEEP_KEY))
    target_root = out_dir or default_backup_dir(config)
    try:
        _mkdir_private(target_root)
    except OSError as exc:
        raise DomainError(
            BAD_INPUT,
            f"The backup folder {target_root} cannot be created or written "
            f"({exc.strerror or exc}).",
        ) from exc
    name = f"{PREFIX}{now:%Y%m%dT%H%M%S}Z"
    final = target_root / name
    if final.exists():
        raise DomainError(DUPLICATE, f"A backup named {name} already exists in {target_root}.")
    partial = target_root / (name + PARTIAL)
    shutil.rmtree(partial, ignore_errors=True)
    _mkdir_private(partial)
    engine = make_engine(config.db_url)
    try:
        files: dict[str, str] = {}
        if engine.dialect.name == "sqlite":
            copy = partial / DB_FILENAME
            _sqlite_backup(config, copy)
            check_engine = make_engine(f"sqlite:///{copy}")
            try:
                checked = verify_database(check_engine)
            finally:
                check_engine.dispose()
            for extra in ("-wal", "-shm"):  # the check opened the copy in WAL mode
                Path(f"{copy}{extra}").unlink(missing_ok=True)
            files[DB_FILENAME] = _sha256(copy)
        elif engine.dialect.name == "postgresql":
            dump = partial / PG_DUMP_FILE
            checked = _pg_backup(engine, dump)
            files[PG_DUMP_FILE] = _sha256(dump)
        else:
            raise DomainError(BAD_INPUT, f"Backups are not written for {engine.dialect.name}.")
        for rel in _station_files(config):
            src = config.data_dir / rel
            dst = partial / rel
            _mkdir_private(dst.parent)
            _copy_private(src, dst)
            files[str(rel)] = _sha256(dst)
        manifest = {
            "created_at": now.isoformat(),
            "app_version": __version__,
            "engine": engine.dialect.name,
            "database": _db_key(engine),
            "revision": checked.revision,
            "audit_head": checked.audit_head,
            "audit_rows": checked.audit_rows,
            "notes_verified": checked.notes_verified,
            "files": files,
        }
        _write_json(partial / MANIFEST, manifest)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        engine.dispose()
    removed = _rotate(target_root, keep)
    info = read_backup(final)
    return BackupResult(info, removed, time.perf_counter() - started)


def _station_files(config: StationConfig) -> list[Path]:
    out = []
    if config.pki_dir.is_dir():
        out += [p.relative_to(config.data_dir) for p in sorted(config.pki_dir.iterdir())
                if p.is_file()]  # fmt: skip
    if config.clinic_file.is_file():
        out.append(config.clinic_file.relative_to(config.data_dir))
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def _sqlite_backup(config: StationConfig, dest: Path) -> None:
    """SQLite's online backup API in one step: a consistent snapshot (a read transaction in WAL
    mode), taken while the app's connections keep writing."""
    source = config.sqlite_path
    if source is None or not source.exists():
        raise DomainError(NOT_FOUND, f"No SQLite database at {source}.")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the start
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _pg_backup(engine: Engine, dump: Path) -> CopyCheck:
    """pg_dump in custom format, of the snapshot this transaction exports, and the chain and the
    notes verified in that same snapshot (so the manifest's head is the dump's, however much the
    stations write meanwhile); then the archive's table of contents is read back."""
    uri, env = _pg_args(engine)
    fd = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    repeatable = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with repeatable as conn, conn.begin():
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        _run_pg_tool(
            ["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}",
             "--file", str(dump), "--dbname", uri],
            env,
        )  # fmt: skip
        with Session(bind=conn) as s:
            checked = _verify_in(s, engine)
    _run_pg_tool(["pg_restore", "--list", str(dump)], env)
    return checked


def _run_pg_tool(cmd: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    except FileNotFoundError as exc:
        raise DomainError(
            NOT_FOUND, f"{cmd[0]} is not installed: install the PostgreSQL client tools."
        ) from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise DomainError(BAD_INPUT, f"{cmd[0]} failed: {last}")


def _rotate(root: Path, keep: int) -> tuple[Path, ...]:
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
                  and not p.name.endswith(PARTIAL) and (p / MANIFEST).exists())  # fmt: skip
    old = done[: max(0, len(done) - max(1, keep))]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return tuple(old)


def read_backup(path: Path) -> BackupInfo:
    """The manifest of one backup folder."""
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DomainError(NOT_FOUND, f"{path} is not a NurseStation backup: {exc}") from exc
    return BackupInfo(
        path=path,
        created_at=datetime.fromisoformat(data["created_at"]),
        engine=str(data.get("engine")),
        audit_head=data.get("audit_head"),
        audit_rows=int(data.get("audit_rows", 0)),
        notes_verified=int(data.get("notes_verified", 0)),
    )


def newest_backup(root: Path) -> BackupInfo | None:
    """The newest finished backup in `root` (None when there is none)."""
    if not root.is_dir():
        return None
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
                  and not p.name.endswith(PARTIAL) and (p / MANIFEST).exists())  # fmt: skip
    for path in reversed(done):
        try:
            return read_backup(path)
        except DomainError:
            continue
    return None


# ---------------------------------------------------------------- restore


def restore_backup(backup: Path, target: StationConfig) -> CopyCheck:
    """Restore `backup` into a new data directory (and, on PostgreSQL, an empty database given by
    `target.db_url`); every file is checked against the manifest first and the restored database
    is verified. Refuses to write over an existing database."""
    info = read_backup(backup)
    data = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    for rel, sha in data.get("files", {}).items():
        path = backup / rel
        if not path.is_file() or _sha256(path) != sha:
            raise DomainError(
                BAD_INPUT, f"{path} is missing or differs from the backup's manifest."
            )
    if target.data_dir.exists() and any(target.data_dir.iterdir()):
        raise DomainError(
            DUPLICATE, f"{target.data_dir} is not empty: restore into a new data directory."
        )
    ensure_data_dir(target.data_dir)
    os.chmod(target.data_dir, 0o700)
    for rel in data.get("files", {}):
        if rel in (DB_FILENAME, PG_DUMP_FILE):
            continue
        dst = target.data_dir / rel
        _mkdir_private(dst.parent)
        _copy_private(backup / rel, dst)
    engine = make_engine(target.db_url)
    try:
        if info.engine == "sqlite":
            if engine.dialect.name != "sqlite" or target.sqlite_path is None:
                raise DomainError(BAD_INPUT, "A SQLite backup restores to a SQLite data directory.")
            _copy_private(backup / DB_FILENAME, target.sqlite_path)
        elif info.engine == "postgresql":
            if engine.dialect.name != "postgresql":
                raise DomainError(
                    BAD_INPUT, "A PostgreSQL backup restores to a PostgreSQL database (--db)."
                )
            _pg_restore(engine, backup / PG_DUMP_FILE)
        else:
            raise DomainError(BAD_INPUT, f"Unknown engine {info.engine} in the manifest.")
        checked = verify_database(engine)
    finally:
        engine.dispose()
    if checked.audit_head != info.audit_head:
        raise DomainError(
            BAD_INPUT,
            f"The restored audit trail ends at {checked.audit_head}, the backup recorded "
            f"{info.audit_head}.",
        )
    return checked


def _pg_restore(engine: Engine, dump: Path) -> None:
    with engine.connect() as conn:
        tables = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).scalar()
    if tables:
        raise DomainError(DUPLICATE, "The target database is not empty: restore into a new one.")
    uri, env = _pg_args(engine)
    proc = subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", uri, str(dump)],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise DomainError(BAD_INPUT, f"pg_restore failed: {last}")


# ---------------------------------------------------------------- the running app's daily backup


def backup_due(config: StationConfig, interval_h: float, now: datetime | None = None) -> bool:
    """True when the newest backup is older than `interval_h` hours (or there is none)."""
    newest = newest_backup(default_backup_dir(config))
    now = now or datetime.now(UTC)
    return newest is None or now - newest.created_at >= timedelta(hours=interval_h)


class DailyBackup:
    """The running app's automatic backup: `tick()` (from a timer) starts one in a background
    thread when the newest is older than `general.backup_interval_h`; one at a time. The wall
    clock is used, not a scenario's simulated clock: backups are about real time."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_result: BackupResult | None = None

    def tick(self) -> bool:
        """Start a backup if one is due and none is running; True when one was started.
        Otherwise move the station's witness of the audit chain forward (a quick read)."""
        if self._thread is not None and self._thread.is_alive():
            return False
        interval = float(self._ctx.settings.get(INTERVAL_KEY))
        if not backup_due(self._ctx.config, interval):
            self._witness()
            return False
        keep = int(self._ctx.settings.get(KEEP_KEY))
        self._thread = threading.Thread(
            target=self._run, args=(keep,), name="daily-backup", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running backup (tests, and the app's exit)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, keep: int) -> None:
        try:
            self.last_result = make_backup(self._ctx.config, keep=keep)
            self.last_error = None
            log.info("daily backup written: %s", self.last_result.info.path)
        except Exception as exc:  # shown by the station and logged, never raised
            self.last_error = (
                exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
            )
            log.error("daily backup failed: %s", self.last_error)
        self._witness()

    def _witness(self) -> None:
        from nursestation.db.witness import update_witness

        try:
            update_witness(self._ctx.config, self._ctx.engine)
        except Exception as exc:  # logged; `check` reports the trail itself
            log.warning("audit witness not updated: %s", exc)
