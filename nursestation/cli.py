"""The `nursestation` command (CONTRACTS.md "Command line").

Exit codes: 0 success, 1 a check or expectation failed, 2 bad usage or bad input. Errors go to
stderr as one sentence. Heavy modules are imported inside each command so start-up stays fast.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from nursestation import __version__
from nursestation.config import StationConfig, resolve_config

if TYPE_CHECKING:  # the commands import the app layer when they run (start-up stays fast)
    from nursestation.app.context import Actor, AppContext


class UsageError(Exception):
    """Bad usage or bad input: exit code 2."""


def _parser() -> argparse.ArgumentParser:
    # Global options are accepted before or after the command; SUPPRESS keeps a subcommand's
    # unset option from overwriting a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="data directory (env NURSESTATION_DATA_DIR)"
    )
    common.add_argument(
        "--db", default=argparse.SUPPRESS, help="database URL (env NURSESTATION_DB_URL)"
    )

    p = argparse.ArgumentParser(
        prog="nursestation",
        description="Nurse-station app for IV ketamine infusion clinics.",
    )
    p.add_argument("--data-dir", help="data directory (env NURSESTATION_DATA_DIR)")
    p.add_argument("--db", help="database URL (env NURSESTATION_DB_URL)")
    p.add_argument("--version", action="version", version=f"nursestation {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("gui", parents=[common], help="the desktop app (the default)")
    demo = sub.add_parser(
        "demo", parents=[common], help="the app on a throw-away data directory with demo data"
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo data directory")
    ck = sub.add_parser("check", parents=[common], help="installation checks, one line each")
    ck.add_argument(
        "--headless", action="store_true",
        help="a server without a display: leave out the window check",
    )  # fmt: skip
    bk = sub.add_parser(
        "backup", parents=[common], help="write and verify a backup (the app may be running)"
    )
    bk.add_argument("--out", help="folder for backups (default: DATA_DIR/backups)")
    bk.add_argument("--keep", type=int, help="backups to keep (default: the clinic setting)")
    rs = sub.add_parser(
        "restore", parents=[common], help="restore a backup into a new data directory"
    )
    rs.add_argument("backup", help="a backup folder (nursestation-YYYYMMDDTHHMMSSZ)")

    rp = sub.add_parser("replay", parents=[common], help="decode a capture and print JSON Lines")
    rp.add_argument("--protocol", required=True)
    src = rp.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="raw capture file")
    src.add_argument("--url", help="pyserial URL of a live port")
    rp.add_argument("--duration", type=float, help="seconds to read from --url")
    rp.add_argument("--record", help="also record the live port's bytes with timestamps to FILE")

    sc = sub.add_parser("scenario", parents=[common], help="run scripted sessions")
    scs = sc.add_subparsers(dest="scenario_command", metavar="ACTION")
    run = scs.add_parser("run", parents=[common], help="run a scenario file")
    run.add_argument("file")
    run.add_argument("--out", help="folder for the signed note PDFs")

    vf = sub.add_parser("verify", parents=[common], help="verify the signatures of session notes")
    vf.add_argument("files", nargs="+")
    vf.add_argument("--ca", help="clinic CA certificate (default: the data directory's)")

    ex = sub.add_parser("export", parents=[common], help="export signed notes (administrators)")
    ex.add_argument("--from", dest="date_from", required=True, help="first date, YYYY-MM-DD")
    ex.add_argument("--to", dest="date_to", required=True, help="last date, YYYY-MM-DD")
    ex.add_argument("--out", required=True, help="destination folder")
    ex.add_argument("--format", default="pdf,csv,fhir", help="comma list of pdf, csv, fhir")
    ex.add_argument("--user", required=True, help="administrator user name")
    ex.add_argument("--mrn", help="only this patient")
    ex.add_argument("--chair", help="only this chair")
    ex.add_argument("--signer", help="only notes signed by this user name")
    ex.add_argument("--status", help="signed, approved or addended")
    ex.add_argument(
        "--include-failed", action="store_true", help="include notes that fail verification"
    )

    us = sub.add_parser("user", parents=[common], help="manage users")
    uss = us.add_subparsers(dest="user_command", metavar="ACTION")
    ua = uss.add_parser("add", parents=[common], help="add a user (the first must be an admin)")
    ua.add_argument("username")
    ua.add_argument("--full-name", required=True)
    ua.add_argument("--role", action="append", required=True, dest="roles")
    ua.add_argument("--credentials", default="", help="e.g. RN")
    ua.add_argument("--user", dest="as_user", help="administrator performing the change")
    ul = uss.add_parser("list", parents=[common], help="list users")
    ul.add_argument("--user", dest="as_user", required=True)
    ud = uss.add_parser("disable", parents=[common], help="disable a user")
    ud.add_argument("username")
    ud.add_argument("--user", dest="as_user", required=True)

    ca = sub.add_parser("ca", parents=[common], help="the clinic CA (signing keys)")
    cas = ca.add_subparsers(dest="ca_command", metavar="ACTION")
    ci = cas.add_parser("init", parents=[common], help="create the clinic CA (first run)")
    ci.add_argument("--clinic-name", required=True)
    ci.add_argument("--user", dest="as_user", help="administrator (once one exists)")
    cp = cas.add_parser("passphrase", parents=[common], help="change the CA passphrase")
    cp.add_argument("--user", dest="as_user", required=True)
    cr = cas.add_parser("renew", parents=[common], help="renew a user's signing certificate")
    cr.add_argument("username")
    cr.add_argument("--user", dest="as_user", required=True)

    db = sub.add_parser("db", parents=[common], help="database maintenance")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION")
    dbs.add_parser("upgrade", parents=[common], help="run the schema migrations")
    di = dbs.add_parser(
        "init",
        parents=[common],
        help="PostgreSQL: create the schema (owned by --db's user) and the stations' role",
    )
    di.add_argument(
        "--app-role",
        default=None,
        help="role the stations connect as (env NURSESTATION_APP_ROLE, default nursestation_app)",
    )
    return p


def read_password(prompt: str, stdin: TextIO | None = None) -> str:
    """From the terminal without echo, or one line of standard input when it is not a terminal."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        return getpass.getpass(prompt)
    line = stdin.readline()
    if not line:
        raise UsageError("a password is required on standard input")
    return line.rstrip("\r\n")


def _config(args: argparse.Namespace) -> StationConfig:
    return resolve_config(args.data_dir, args.db)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nursestation` command."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"nursestation: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear sentence, not a traceback, for clinic IT
        from nursestation.clinic import ConfigError
        from nursestation.config import DatabaseUnavailable
        from nursestation.errors import DomainError

        if isinstance(exc, DatabaseUnavailable):
            print(f"nursestation: {exc}", file=sys.stderr)
            return 2 if exc.bad_url else 1
        if isinstance(exc, ConfigError):
            print(f"nursestation: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, DomainError):
            print(f"nursestation: {exc.message}", file=sys.stderr)
            return 1 if exc.code in ("not_permitted", "bad_password", "locked_out") else 2
        if os.environ.get("NURSESTATION_DEBUG"):
            raise
        print(f"nursestation: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command or "gui"
    if cmd == "gui":
        from nursestation.ui.launch import run_gui

        return run_gui(_config(args))
    if cmd == "demo":
        from nursestation.ui.launch import run_demo

        return run_demo(args.data_dir, keep=args.keep)
    if cmd == "check":
        from nursestation.app.checks import run_checks

        return run_checks(_config(args), sys.stdout, headless=args.headless)
    if cmd == "backup":
        return _backup(args)
    if cmd == "restore":
        return _restore(args)
    if cmd == "replay":
        from nursestation.devices.replay import run_replay

        return run_replay(
            args.protocol,
            input_path=args.input,
            url=args.url,
            out=sys.stdout,
            err=sys.stderr,
            duration_s=args.duration,
            record_path=args.record,
        )
    if cmd == "scenario":
        if args.scenario_command != "run":
            raise UsageError("usage: nursestation scenario run FILE.json [--out DIR]")
        from nursestation.scenario import run_scenario_file

        return run_scenario_file(
            args.file, out_dir=args.out, data_dir=args.data_dir, db_url=args.db
        )
    if cmd == "verify":
        from nursestation.app.notes import verify_files

        return verify_files(_config(args), args.files, ca_path=args.ca, out=sys.stdout)
    if cmd == "export":
        return _export(args)
    if cmd == "user":
        return _user(args)
    if cmd == "ca":
        return _ca(args)
    if cmd == "db":
        if args.db_command == "init":
            return _db_init(args)
        if args.db_command != "upgrade":
            raise UsageError("usage: nursestation db upgrade|init")
        from nursestation.app.context import AppContext
        from nursestation.db.migrate import current_revision

        ctx = AppContext.open(_config(args))
        print(f"database at revision {current_revision(ctx.engine)}")
        ctx.close()
        return 0
    raise UsageError(f"unknown command {cmd}")


def _db_init(args: argparse.Namespace) -> int:
    """`db init`: schema and application role on PostgreSQL (nursestation/db/roles.py). The
    role's password comes from NURSESTATION_APP_PASSWORD, else the terminal or standard input."""
    from datetime import UTC, datetime

    from sqlalchemy import make_url

    from nursestation.db.engine import make_engine
    from nursestation.db.roles import DEFAULT_APP_ROLE, InitError, check_app_role, init_database

    config = _config(args)
    if config.sqlite_path is not None or config.db_url.startswith("sqlite"):
        raise UsageError(
            "db init is for PostgreSQL: give --db postgresql+psycopg://OWNER@HOST/DATABASE "
            "(SQLite needs no init: the app creates its file, readable by you only)"
        )
    role = args.app_role or os.environ.get("NURSESTATION_APP_ROLE") or DEFAULT_APP_ROLE
    password = os.environ.get("NURSESTATION_APP_PASSWORD") or read_password(
        f"New password for the application role {role}: "
    )
    try:
        check_app_role(role, password)  # before connecting: a bad option costs nothing
        engine = make_engine(config.db_url)
        try:
            result = init_database(
                engine, app_role=role, password=password, at=datetime.now(UTC),
                station=config.station,
            )  # fmt: skip
        finally:
            engine.dispose()
    except InitError as exc:
        raise UsageError(str(exc)) from None
    # Never the owner's password: URL.set() ignores None, so replace the field itself.
    station_url = make_url(config.db_url)._replace(username=role, password=None)
    state = "created" if result.created else "existing: password and grants reset"
    print(f"schema at the newest revision, owned by {result.owner}")
    print(
        f"application role {role} ({state}): may add to {len(result.append_only)} append-only "
        f"tables but not change or delete their rows; read and write {len(result.read_write)} others"
    )
    print(f"stations: --db {station_url.render_as_string(hide_password=False)} (with its password)")
    return 0


def _login(ctx: AppContext, username: str) -> Actor:
    from nursestation.app.users import authenticate

    return authenticate(ctx, username, read_password(f"Password for {username}: "))


def _user(args: argparse.Namespace) -> int:
    from nursestation.app.context import AppContext
    from nursestation.app.users import create_user, list_users, set_disabled, user_count

    ctx = AppContext.open(_config(args))
    try:
        if args.user_command == "add":
            actor: Actor | None = None
            if user_count(ctx) > 0:
                if not args.as_user:
                    raise UsageError("--user ADMIN is required once an administrator exists")
                actor = _login(ctx, args.as_user)
            password = read_password(f"New password for {args.username}: ")
            ca_passphrase = None
            if set(args.roles) & {"nurse", "charge_nurse"} and not ctx.ca_passphrase:
                # A clinical user gets a signing key from the clinic CA: its passphrase.
                ca_passphrase = read_password("Clinic CA passphrase: ")
            info = create_user(
                ctx,
                actor,
                username=args.username,
                full_name=args.full_name,
                roles=set(args.roles),
                password=password,
                credentials=args.credentials,
                ca_passphrase=ca_passphrase,
            )
            print(f"added {info.username} ({', '.join(sorted(info.roles))})")
            return 0
        if args.user_command == "list":
            actor = _login(ctx, args.as_user)
            assert actor is not None
            for u in list_users(ctx, actor):
                state = "disabled" if u.disabled else "active"
                print(f"{u.username}\t{u.full_name}\t{','.join(sorted(u.roles))}\t{state}")
            return 0
        if args.user_command == "disable":
            actor = _login(ctx, args.as_user)
            assert actor is not None
            set_disabled(ctx, actor, args.username, True)
            print(f"disabled {args.username}")
            return 0
        raise UsageError("usage: nursestation user add|list|disable")
    finally:
        ctx.close()


def _ca(args: argparse.Namespace) -> int:
    from nursestation.app import pki
    from nursestation.app.context import AppContext
    from nursestation.app.users import user_count

    ctx = AppContext.open(_config(args))
    try:
        actor = _login(ctx, args.as_user) if getattr(args, "as_user", None) else None
        if args.ca_command == "init":
            if actor is None and user_count(ctx) > 0:
                raise UsageError("--user ADMIN is required once an administrator exists")
            passphrase = read_password("New clinic CA passphrase: ")
            if read_password("Repeat the CA passphrase: ") != passphrase:
                raise UsageError("the two CA passphrases differ")
            print(f"created {pki.create_clinic_ca(ctx, actor, args.clinic_name, passphrase)}")
            return 0
        if actor is None:
            raise UsageError("--user ADMIN is required")
        if args.ca_command == "passphrase":
            old = read_password("Current CA passphrase (empty: this station's former pki file): ")
            new = read_password("New clinic CA passphrase: ")
            if read_password("Repeat the new CA passphrase: ") != new:
                raise UsageError("the two CA passphrases differ")
            pki.change_ca_passphrase(ctx, actor, old or None, new)
            print("the clinic CA key is sealed under the new passphrase")
            return 0
        if args.ca_command == "renew":
            until = pki.renew_certificate(
                ctx, actor, args.username, read_password("Clinic CA passphrase: ")
            )
            print(f"renewed {args.username}'s signing certificate: valid until {until}")
            return 0
        raise UsageError("usage: nursestation ca init|passphrase|renew")
    finally:
        ctx.close()


def _export(args: argparse.Namespace) -> int:
    from nursestation.app.context import AppContext
    from nursestation.app.export import ExportFilter, export_notes, parse_formats

    ctx = AppContext.open(_config(args))
    try:
        actor = _login(ctx, args.user)
        flt = ExportFilter.from_strings(
            args.date_from,
            args.date_to,
            mrn=args.mrn,
            chair=args.chair,
            signer=args.signer,
            status=args.status,
        )
        result = export_notes(
            ctx,
            actor,
            flt,
            args.out,
            parse_formats(args.format),
            include_failed=args.include_failed,
        )
        print(result.summary())
        return 0 if result.ok else 1
    finally:
        ctx.close()


def _backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nursestation.app.backup import make_backup

    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be 1 or more")
    result = make_backup(
        _config(args), out_dir=Path(args.out) if args.out else None, keep=args.keep
    )
    print(f"backup written and verified in {result.seconds:.1f} s: {result.info.path}")
    print(result.info.summary())
    for old in result.removed:
        print(f"removed old backup {old.name}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nursestation.app.backup import restore_backup

    if not getattr(args, "data_dir", None):
        raise UsageError("restore needs --data-dir NEW_DIRECTORY (a new, empty data directory)")
    config = _config(args)
    checked = restore_backup(Path(args.backup), config)
    print(
        f"restored into {config.data_dir}: audit trail of {checked.audit_rows} rows verified, "
        f"{checked.notes_verified} signed note documents match their hashes. Run `nursestation "
        f"check --data-dir {config.data_dir}` next."
    )
    return 0
