"""The application context: configuration, clinic settings, clock, database and the actor type;
opening it migrates the database and makes sure the clinic's identity (its CA, in the database)
is there: imported once from a station's former pki folder, or created by a set-up process that
holds the CA passphrase (a station's first-run wizard creates it otherwise)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from nursestation.clinic import ClinicSettings, ConfigError, load_clinic_settings, load_defaults
from nursestation.clock import Clock, SystemClock
from nursestation.config import StationConfig, ensure_data_dir
from nursestation.db.audit import append_audit
from nursestation.db.changes import OTHER, ChangeFeed, Changes, open_feed
from nursestation.db.engine import make_engine, make_session_factory, read_only, track_writes
from nursestation.db.migrate import upgrade_to_head
from nursestation.db.models import (
    AuditEvent,
    ClinicCA,
    ClinicSettingsVersion,
    NoteDocument,
    User,
    UserRole,
)
from nursestation.db.seals import install_seal_hooks
from nursestation.db.witness import on_start
from nursestation.errors import ACCOUNT_DISABLED, NOT_FOUND, DomainError
from nursestation.permissions import require

if TYPE_CHECKING:
    # Types only, never imported at run time (those modules import this one; a test in
    # tests/test_layering.py checks it): the context declares the type of everything it holds.
    from nursestation.app.alarms import AlarmCenter
    from nursestation.app.devices import _Health as DeviceHealth

T = TypeVar("T")
log = logging.getLogger(__name__)

# How often a station looks for a newer version of the clinic settings (another station's
# change): one index step, at most once a second, when the settings are next read.
SETTINGS_POLL_S = 1.0


@dataclass(frozen=True)
class Actor:
    """The signed-in person on whose behalf a use case runs."""

    user_id: int
    username: str
    full_name: str
    roles: frozenset[str]


class AppContext:
    """Holds what every use case needs; one per process (GUI, CLI command or scenario)."""

    def __init__(
        self,
        config: StationConfig,
        settings: ClinicSettings,
        engine: Engine,
        clock: Clock | None = None,
        ca_passphrase: str | None = None,
    ) -> None:
        self.config = config
        # The clinic CA passphrase of a set-up process with nobody at the keyboard (scenario
        # runs, benchmarks, tests, an installer): memory only, never written anywhere. A station
        # leaves it None and an administrator types the passphrase when issuing (app/pki.py).
        self.ca_passphrase = ca_passphrase
        # The clinic CA certificate (PEM) once read from the database: it never changes.
        self.ca_pem: bytes | None = None
        # The clinic settings: `settings` as given (the shipped defaults, or a test's or a
        # scenario's own) with the clinic's newest stored version applied on top, followed as
        # other stations change it (the `settings` property, refresh_settings).
        self._base_settings = settings
        self._settings = settings
        self._settings_version: int | None = None  # the clinic_settings_versions row applied
        self._settings_due = 0.0  # time.monotonic() of the next look for a newer version
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.factory: sessionmaker[Session] = make_session_factory(engine)
        self.read_factory: sessionmaker[Session] = make_session_factory(read_only(engine))
        # Bumped after every committed transaction of this process that wrote something: views
        # and summaries recompute what they cached only when it moved (app/discharge.py
        # is_ready_in). Each transaction notes the value at its start (session.info).
        self.data_version = 0
        # Objects derived from the settings (formulary, limits, ...), built once per settings
        # object: a settings change replaces ctx.settings, so identity is the version.
        self._per_settings: dict[str, tuple[ClinicSettings, Any]] = {}
        # Bumped like data_version, except for commits that wrote only the monitor stream's
        # tables (STREAM_TABLES: a monitor second every second). What depends on a nurse's
        # entries, the events or the settings (discharge data other than the vital signs, the
        # infusion starts behind the alarm baseline) is reloaded only when this moves.
        self.other_version = 0
        # The station's alarm state, created and restored from the database on first use
        # (app/alarms.alarm_center); None until then.
        self.alarm_center: AlarmCenter | None = None
        # Per chair: the capture worker's link state (the board's monitor line) and the link's
        # health with its latest live values (app/devices.py). In memory only: the workers
        # report again when they start.
        self.device_states: dict[str, str] = {}
        self.device_health: dict[str, DeviceHealth] = {}
        # Reused reads of what changes only by a nurse's entry, keyed by session id and checked
        # against other_version and the settings object: the discharge-readiness inputs
        # (app/discharge.is_ready_in) and the doses awaiting reassessment
        # (app/medications.reassessments_for_chair). The payloads are those modules' own.
        self.ready_cache: dict[int, tuple[int, int, ClinicSettings, datetime, Any]] = {}
        self.reassess_cache: dict[int, tuple[int, ClinicSettings, datetime, Any]] = {}
        # Caches kept up to date as data is stored (issue 19), each valid under the change mark
        # it was built at (change_mark): the chairs' open sessions for the monitor writer
        # (app/devices.py), the board's per-chair summaries (app/board.py).
        self.open_chairs: tuple[tuple[int, int], dict[str, Any]] | None = None
        self.board_cache: Any = None
        # The account check's two statements, compiled once per user id (account_state).
        self._account_sql: dict[int, tuple[str, str]] = {}
        # Commits by any process (another station, a command, this process's other threads),
        # seen by the change feed (db/changes.py, opened on first look): each moves
        # data_version, and other_version unless it was only the monitor stream, so every
        # cache above also holds across stations. `changes_seen` counts the looks that found
        # more than the stream: the GUI's change listener (ui/refresh.py) re-reads on it.
        self._feed: ChangeFeed | None = None
        self._feed_open = False
        self._closed = False
        self.changes_seen = 0
        # Ids of the audit rows this process committed and the feed has not reported yet: a
        # look that finds only these is this station's own change, already counted.
        self._own_audit: set[int] = set()
        _track_own_audit(self.factory, self._own_audit_committed)
        track_writes(self.factory, self._any_written)
        # Every commit that changes a patient, a session's dose or a user's roles seals the row
        # in the audit chain (db/seals.py; `check` compares).
        install_seal_hooks(self.factory, self.now, config.station)
        _track_other_writes(self.factory, self._other_written)
        for factory in (self.factory, self.read_factory):
            event.listen(factory, "after_begin", self._note_version)

    @classmethod
    def open(
        cls,
        config: StationConfig,
        *,
        clock: Clock | None = None,
        settings: ClinicSettings | None = None,
        migrate: bool = True,
        ca_passphrase: str | None = None,
    ) -> AppContext:
        """Load settings (ConfigError before anything is written), create the data directory,
        connect, run migrations and make sure of the clinic CA (ensure_clinic_ca).

        `ca_passphrase`: for set-up processes only (see __init__); when None, the environment
        variable NURSESTATION_CA_PASSPHRASE is read (unattended installs, CI); a station's GUI
        sets neither."""
        # A station's former overrides file is checked before anything is written (ConfigError);
        # it is imported into the database once (import_station_settings), then unused.
        station_file = load_clinic_settings(config.clinic_file)
        if settings is None:
            settings = load_defaults() if config.clinic_file.exists() else station_file
        ensure_data_dir(config.data_dir)
        engine = make_engine(config.db_url)
        if migrate:
            upgrade_to_head(engine)
        passphrase = ca_passphrase or os.environ.get(CA_PASSPHRASE_ENV) or None
        ctx = cls(config, settings, engine, clock, ca_passphrase=passphrase)
        if migrate:
            import_station_settings(ctx)
            ensure_clinic_ca(ctx)
            # Missing protective triggers put back (audited), pre-seal rows sealed once, the
            # station's witness of the chain's head moved forward (db/witness.py).
            on_start(config, engine, ctx.factory, ctx.now)
        ctx.refresh_settings()
        return ctx

    @property
    def settings(self) -> ClinicSettings:
        """The clinic settings in force (looks for a newer stored version at most once a
        second, SETTINGS_POLL_S)."""
        if time.monotonic() >= self._settings_due:
            self.refresh_settings()
        return self._settings

    @settings.setter
    def settings(self, value: ClinicSettings) -> None:
        # A change this process has just stored (its version is read at the next refresh, to
        # the same values), or a test's own settings.
        self._settings = value

    def settings_may_have_changed(self) -> None:
        """Another station committed something (a change notification): look for a newer
        settings version at the next read instead of within SETTINGS_POLL_S."""
        if self._settings_due != float("inf"):  # not once closed
            self._settings_due = 0.0

    def refresh_settings(self) -> bool:
        """Apply the newest stored version of the clinic settings when it is not the one in
        force (another station changed them). True when the settings changed. A version the
        shipped defaults no longer accept is logged and the settings in force are kept."""
        self._settings_due = time.monotonic() + SETTINGS_POLL_S
        dbapi_error = getattr(self.engine.dialect.dbapi, "Error", Exception)
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT max(id) FROM clinic_settings_versions")
            newest = (cur.fetchone() or (None,))[0]
            doc: Any = None
            if newest is not None and newest != self._settings_version:
                cur.execute(
                    f"SELECT overrides FROM clinic_settings_versions WHERE id = {int(newest)}"
                )
                doc = (cur.fetchone() or (None,))[0]
            cur.close()
        except dbapi_error:  # a database not migrated yet: the given settings stay
            return False
        finally:
            raw.close()
        if newest is None or newest == self._settings_version:
            return False
        overrides = json.loads(doc) if isinstance(doc, str | bytes) else doc
        try:
            merged = self._base_settings.with_overrides(
                overrides or {}, f"clinic settings version {newest}"
            )
        except ConfigError as exc:
            log.error("clinic settings version %s not applied: %s", newest, exc)
            self._settings_version = int(newest)
            return False
        self._settings = merged
        self._settings_version = int(newest)
        return True

    def data_written(self) -> None:
        """Something was written (called after the commit; also by tests writing around the
        use cases): cached summaries are recomputed. What was written is unknown here, so
        both versions move."""
        self.data_version += 1
        self.other_version += 1

    def per_settings(self, key: str, build: Callable[[ClinicSettings], T]) -> T:
        """`build(ctx.settings)`, reused until ctx.settings is replaced (settings changes assign
        a new object, e.g. medications.update_formulary): the board and the alarm evaluation ask
        every second and re-parsing the settings each time was most of their CPU."""
        settings = self.settings
        hit = self._per_settings.get(key)
        if hit is not None and hit[0] is settings:
            return hit[1]
        value = build(settings)
        self._per_settings[key] = (settings, value)
        return value

    def change_mark(self, s: Session) -> tuple[int, int] | None:
        """A token that changes whenever something other than the monitor stream may have been
        written, by this process or any other: (ctx.other_version as the transaction began, the
        newest audit row id it sees). Every use case writes an audit row in its own transaction
        (a check-in, an end, an assessment, a correction...), in any process, and audit rows are
        appended in commit order (one chain, serialised), so an unchanged token means none
        committed since. None when this transaction has itself written outside the stream's
        tables: callers read afresh. Read once per transaction (one index step)."""
        s.connection()  # the transaction has begun: its versions are noted (_note_version)
        other = other_version_of(s)
        if other is None:
            return None
        mark = s.info.get("audit_mark")
        if mark is None:
            mark = s.execute(_NEWEST_AUDIT).scalar() or 0
            s.info["audit_mark"] = mark
        return (other, int(mark))

    def poll_changes(self) -> Changes | None:
        """Look for commits by any connection since the last look (a few microseconds when there
        were none) and move the versions the caches are keyed on. Runs at the start of every
        transaction, and twice a second in the GUI (ui/refresh.ChangeListener). A feed that
        cannot be opened (the server went away) counts as a change and is tried again."""
        if self._closed:
            return None  # a window's timer may outlive the context
        if not self._feed_open:
            try:
                self._feed = open_feed(self.engine)
            except Exception:  # any failure to listen means "read again"
                changes: Changes | None = OTHER
            else:
                self._feed_open = True
                changes = None
        else:
            changes = self._feed.poll() if self._feed is not None else None
        if changes is None:
            return None
        if changes.other:
            own = self._own_audit
            foreign = not changes.audit_ids or any(i not in own for i in changes.audit_ids)
            own.difference_update(changes.audit_ids)
            if not foreign:
                return None  # this station's own commits: its versions moved at the commit
            self.data_version += 1
            self.other_version += 1
            self.changes_seen += 1
        else:
            self.data_version += 1  # monitor rows (this station's or another's: not told apart)
        return changes

    def _own_audit_committed(self, ids: list[int]) -> None:
        if self._feed is None:
            return  # nobody reports them back: nothing to tell apart
        if len(self._own_audit) > 100_000:  # never reported (feed lost): start over
            self._own_audit.clear()
        self._own_audit.update(ids)

    def _any_written(self) -> None:
        self.data_version += 1

    def _other_written(self) -> None:
        self.other_version += 1

    def _note_version(self, session: Session, *_args: Any) -> None:
        self.poll_changes()  # another station's commit moves the versions noted below
        session.info["data_version"] = self.data_version
        session.info["other_version"] = self.other_version

    def close(self) -> None:
        """Release database connections (the change feed's too)."""
        # Settings read after closing (a window's timer may outlive the context) do not look in
        # the database again: that would open a connection, and create an SQLite file.
        self._settings_due = float("inf")
        self._closed = True
        if self._feed is not None:
            self._feed.close()
        self.engine.dispose()

    def now(self) -> datetime:
        """Current time from the context's clock (simulated in scenarios and tests)."""
        return self.clock.now()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error."""
        with self.factory.begin() as session:
            yield session

    @contextmanager
    def read_tx(self) -> Iterator[Session]:
        """A transaction that only reads: plain BEGIN (no write lock, see db.engine.read_only).
        Loaded objects stay usable afterwards, as with `tx`."""
        with self.read_factory.begin() as session:
            yield session

    def require(self, actor: Actor, use_case: str) -> None:
        """Refuse with not_permitted unless the actor's roles allow the use case, and with
        account_disabled when the account was disabled since sign-in. The account is read again
        on every use case, so disabling it (or removing a role) takes effect at once on every
        station and open screen."""
        who = actor.full_name or actor.username
        require(actor.roles, use_case, who=who)
        disabled, roles = self.account_state(actor.user_id)
        if disabled:
            raise DomainError(
                ACCOUNT_DISABLED,
                f"The account '{actor.username}' has been disabled: it is signed out and can do "
                "nothing more. Another user must sign in.",
            )
        require(roles, use_case, who=who)

    def account_state(self, user_id: int) -> tuple[bool, frozenset[str]]:
        """(disabled, roles) of an account as stored now; unknown accounts count as disabled.

        Read on a plain pooled connection outside any ORM transaction: a use case may check
        permissions while the caller holds the write transaction, and a second BEGIN IMMEDIATE
        would wait for it. The id is our own integer, so literal binds are safe."""
        dialect = self.engine.dialect

        def sql(stmt: Any) -> str:
            return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

        uid = int(user_id)
        # Compiling with literal binds is not cached by SQLAlchemy: once per user (the board
        # checks every second).
        texts = self._account_sql.get(uid)
        if texts is None:
            texts = (
                sql(select(User.disabled).where(User.id == uid)),
                sql(select(UserRole.role).where(UserRole.user_id == uid)),
            )
            self._account_sql[uid] = texts
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(texts[0])
            row = cur.fetchone()
            cur.execute(texts[1])
            roles = frozenset(str(r[0]) for r in cur.fetchall())
            cur.close()
        finally:
            raw.close()
        return (row is None or bool(row[0])), roles

    def audit(
        self,
        session: Session,
        actor: Actor | None,
        action: str,
        entity_type: str | None = None,
        entity_id: object = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        username: str | None = None,
    ) -> None:
        """Write one audit row inside the caller's transaction."""
        append_audit(
            session,
            at=self.now(),
            station=self.config.station,
            action=action,
            user_id=actor.user_id if actor else None,
            username=actor.username if actor else username,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
        )


# The tables a monitor second writes (app.devices.ingest_batches: raw rows, vital rows, and the
# alarm evaluation's events). Every use case also writes an audit row, so a nurse's entry always
# moves AppContext.other_version; so does an alarm raised or cleared (audited too), which is a
# change of state, not every second.
STREAM_TABLES = frozenset({"device_readings", "vital_readings", "alarm_events"})

# The newest audit row (AppContext.change_mark): one step down the primary key.
_NEWEST_AUDIT = select(func.max(AuditEvent.__table__.c.id))


def other_version_of(s: Session) -> int | None:
    """AppContext.other_version as this transaction began, or None when the transaction itself
    has written (or is about to flush) something outside STREAM_TABLES: what was cached under
    that version may not hold inside it, so callers read afresh."""
    if s.info.get("wrote_other"):
        return None
    for obj in (*s.new, *s.dirty, *s.deleted):
        if getattr(getattr(obj, "__table__", None), "name", None) not in STREAM_TABLES:
            return None
    version = s.info.get("other_version")
    return version if isinstance(version, int) else None


def _track_other_writes(factory: sessionmaker[Session], on_written: Callable[[], None]) -> None:
    """Call `on_written()` after each commit that wrote a row outside STREAM_TABLES (ORM
    flushes, or insert / update / delete statements run through the session)."""

    def table_of(obj: Any) -> str | None:
        table = getattr(obj, "__table__", None)
        return getattr(table, "name", None)

    @event.listens_for(factory, "before_flush")
    def _flushing(session: Session, _context: Any, _instances: Any) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if table_of(obj) not in STREAM_TABLES:
                session.info["wrote_other"] = True
                return

    @event.listens_for(factory, "do_orm_execute")
    def _executed(state: Any) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) not in STREAM_TABLES:
                state.session.info["wrote_other"] = True

    @event.listens_for(factory, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop("wrote_other", False):
            on_written()

    @event.listens_for(factory, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop("wrote_other", None)


def _track_own_audit(factory: sessionmaker[Session], on_committed: Callable[[list[int]], None]) -> None:
    """Call `on_committed(ids)` after each commit with the ids of the audit rows it wrote."""

    @event.listens_for(factory, "after_flush")
    def _flushed(session: Session, _context: Any) -> None:
        ids = [obj.id for obj in session.new if isinstance(obj, AuditEvent)]
        if ids:
            session.info.setdefault("audit_ids", []).extend(ids)

    @event.listens_for(factory, "after_commit")
    def _committed(session: Session) -> None:
        ids = session.info.pop("audit_ids", None)
        if ids:
            on_committed(ids)

    @event.listens_for(factory, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop("audit_ids", None)


# ---------------------------------------------------------------- the clinic CA at start

CA_CERT_NAME = (
    "ca.pem"  # same name as nursestation.report.pki.CA_CERT_FILE (a test keeps them equal)
)
CA_PASSPHRASE_ENV = "NURSESTATION_CA_PASSPHRASE"


def clinic_ca_row(s: Session) -> ClinicCA | None:
    """The clinic CA as stored (None before the first-run wizard or set-up created it)."""
    return s.execute(select(ClinicCA).order_by(ClinicCA.id).limit(1)).scalar_one_or_none()


def ensure_clinic_ca(ctx: AppContext) -> None:
    """Make sure the clinic CA is in the database (cheap when it is):

    - a station's former pki folder (the CA of the single-station era) is imported once: the
      certificate, and the key sealed under its former passphrase file when both are there;
    - otherwise a set-up process holding the CA passphrase creates it, naming the clinic from
      the settings; a station without it leaves the creation to the first-run wizard.

    Refuses (not_found) when no CA exists anywhere but signing keys were issued or notes signed:
    a new CA would make every earlier note fail verification; the pki folder must be restored
    (and is then imported)."""
    with ctx.read_tx() as s:
        present = clinic_ca_row(s) is not None
    if present:
        for leftover in ctx.config.pki_dir.glob(".ca-new-*"):  # an interrupted former creation
            shutil.rmtree(leftover, ignore_errors=True)
        return
    if (ctx.config.pki_dir / CA_CERT_NAME).exists():
        import_station_ca(ctx)
        return
    _refuse_replacing_a_lost_ca(ctx)
    if ctx.ca_passphrase:
        from nursestation.report.pki import new_ca

        name = str(ctx.settings.get("general.clinic_name"))
        store_clinic_ca(ctx, None, new_ca(name, ctx.now()), ctx.ca_passphrase, "created")


def store_clinic_ca(
    ctx: AppContext, actor: Actor | None, ca: Any, passphrase: str | None, origin: str
) -> bool:
    """Store `ca` (report.pki.ClinicCA) as the clinic's CA, its key sealed under `passphrase`
    (certificate only when None), audited. False when another station stored one first (the
    unique anchor): the caller reads the stored one."""
    from sqlalchemy.exc import IntegrityError

    from nursestation.report.pki import seal_ca_key

    sealed = seal_ca_key(ca, passphrase) if passphrase is not None else None
    try:
        with ctx.tx() as s:
            if clinic_ca_row(s) is not None:
                return False
            row = ClinicCA(
                anchor="clinic",
                clinic_name=ca.clinic_name,
                cert_pem=ca.cert_pem.decode(),
                sealed_key=sealed,
                created_at=ctx.now(),
                station=ctx.config.station,
                origin=origin,
            )
            s.add(row)
            s.flush()
            ctx.audit(
                s,
                actor,
                "clinic_ca.create" if origin == "created" else "clinic_ca.import",
                "clinic_ca",
                row.id,
                after={
                    "clinic_name": ca.clinic_name,
                    "subject": ca.cert.subject.rfc4514_string(),
                    "valid_until": ca.cert.not_valid_after_utc.date().isoformat(),
                    "key": "sealed" if sealed is not None else "certificate only",
                    "origin": origin,
                },
                username=None if actor else "(setup)",
            )
    except IntegrityError:
        return False
    return True


def import_station_ca(ctx: AppContext) -> None:
    """Import the CA of this station's former pki folder into the database (once: only while
    the database has none). With its key file and passphrase file the key is imported sealed
    under that passphrase (an administrator then sets a passphrase of the clinic's own with
    `nursestation ca passphrase`); otherwise the certificate alone, which is all verification
    needs. The folder is left in place: it is the backup of what was imported."""
    from nursestation.report.pki import (
        CA_KEY_FILE,
        CA_PASS_FILE,
        load_ca,
        load_ca_cert,
    )
    from nursestation.report.pki import (
        ClinicCA as LoadedCA,
    )

    pki = ctx.config.pki_dir
    cert = load_ca_cert(pki)
    passphrase: str | None = None
    if (pki / CA_KEY_FILE).exists() and (pki / CA_PASS_FILE).exists():
        passphrase = (pki / CA_PASS_FILE).read_text(encoding="utf-8").strip()
        ca = load_ca(pki, passphrase=passphrase.encode())
    else:
        from cryptography.hazmat.primitives.asymmetric import ec

        # Certificate only: a placeholder key object is never stored (passphrase None).
        ca = LoadedCA(cert=cert, key=ec.generate_private_key(ec.SECP256R1()))
    store_clinic_ca(ctx, None, ca, passphrase, f"imported from {pki}")


def _refuse_replacing_a_lost_ca(ctx: AppContext) -> None:
    with ctx.tx() as s:
        issued = s.execute(
            select(func.count(User.id)).where(User.certificate_pem.is_not(None))
        ).scalar_one()
        signed = s.execute(select(func.count(NoteDocument.id))).scalar_one()
    if issued or signed:
        raise DomainError(
            NOT_FOUND,
            f"The clinic CA is not in the database and {ctx.config.pki_dir / CA_CERT_NAME} is "
            f"missing, but {issued} signing key(s) and {signed} signed note document(s) depend "
            "on it. A new CA would make every earlier note fail verification: restore the pki "
            "folder from backup (it is imported at the next start).",
        )


# ---------------------------------------------------------------- clinic settings at start

IMPORTED_SUFFIX = ".imported"


def import_station_settings(ctx: AppContext) -> None:
    """Import this station's former overrides file (clinic.json) into the database as the
    clinic's first settings version, once: only while the database holds none. The file is
    then renamed (clinic.json.imported) so that nothing reads it again. A station joining a
    clinic whose settings are already stored keeps its file unread (`nursestation check` says
    so)."""
    path = ctx.config.clinic_file
    if not path.exists():
        return
    overrides = json.loads(path.read_text(encoding="utf-8"))  # validated by AppContext.open
    with ctx.tx() as s:
        if s.execute(select(ClinicSettingsVersion.id).limit(1)).first() is not None:
            return
        row = ClinicSettingsVersion(
            created_at=ctx.now(),
            station=ctx.config.station,
            user_id=None,
            username=None,
            reason=f"imported from {path} (station {ctx.config.station})",
            overrides=overrides,
        )
        s.add(row)
        s.flush()
        ctx.audit(
            s,
            None,
            "clinic_settings.import",
            "clinic_settings",
            row.id,
            after={"file": str(path), "overrides": overrides},
            username="(setup)",
        )
    os.replace(path, path.with_name(path.name + IMPORTED_SUFFIX))
