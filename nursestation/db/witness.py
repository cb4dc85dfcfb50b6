"""What a station does for the audit trail at start-up, and its witness of the chain's head.

The witness (`audit-witness.json` in the data directory, mode 0600) remembers, per database, the
newest audit row this station saw; `check` (app/trail.py) reports when that row has since
disappeared (the newest rows were cut off). It only moves forward: it is never overwritten by a
chain that no longer contains the row it recorded, so the evidence stays.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from nursestation.config import StationConfig
from nursestation.db.append_only import restore_triggers
from nursestation.db.audit import ChainHead, append_audit, chain_head
from nursestation.db.engine import make_session_factory, read_only
from nursestation.db.migrate import current_revision
from nursestation.db.models import APPEND_ONLY_TABLES, AuditEvent
from nursestation.db.seals import ensure_baseline

log = logging.getLogger(__name__)

WITNESS_FILE = "audit-witness.json"
TRIGGERS_RESTORED = "trail.triggers_restored"


def on_start(
    config: StationConfig,
    engine: Engine,
    factory: sessionmaker[Session],
    now: Callable[[], datetime],
) -> list[str]:
    """At start-up, after migrating: put back any missing or disabled protective trigger (and
    audit that it had to), seal rows once per schema revision (db/seals.ensure_baseline), and move
    the witness forward.
    Returns what was found (empty when all was in place)."""
    findings: list[str] = []
    try:
        with engine.begin() as conn:
            wrong = restore_triggers(conn, APPEND_ONLY_TABLES)
    except Exception as exc:  # e.g. an application role that may not create triggers (PG)
        wrong = {}
        findings.append(f"protective triggers could not be checked or restored: {exc}")
        log.warning("protective triggers could not be restored: %s", exc)
    with factory.begin() as s:
        if wrong:
            text = ", ".join(f"{name} ({state})" for name, state in sorted(wrong.items()))
            findings.append(f"restored protective triggers: {text}")
            log.warning("restored protective triggers: %s", text)
            append_audit(
                s, at=now(), station=config.station, action=TRIGGERS_RESTORED,
                after={"triggers": wrong},
            )  # fmt: skip
        ensure_baseline(s, now(), config.station, current_revision(engine))
    update_witness(config, engine)
    return findings


def db_key(engine: Engine) -> str:
    """How a database is named in witnesses and backup manifests (its URL, no password)."""
    return engine.url.render_as_string(hide_password=True)


def _witness_path(config: StationConfig) -> Path:
    return config.data_dir / WITNESS_FILE


def read_witness(config: StationConfig, engine: Engine) -> ChainHead | None:
    """The newest head this station recorded for this database (None if it never did)."""
    path = _witness_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get("databases", {}).get(db_key(engine)) if isinstance(data, dict) else None
    return ChainHead.parse(entry.get("head")) if isinstance(entry, dict) else None


def update_witness(config: StationConfig, engine: Engine) -> ChainHead | None:
    """Record the current head, unless the recorded one is no longer in the chain (then the
    evidence is kept: `check` reports it). Returns the head the witness holds afterwards."""
    with make_session_factory(read_only(engine)).begin() as s:
        head = chain_head(s)
        old = read_witness(config, engine)
        if old is not None:
            stored = s.execute(select(AuditEvent.hash).where(AuditEvent.id == old.id)).scalar()
            if stored != old.hash:
                return old
    if head is None or (old is not None and old.id >= head.id):
        return old
    path = _witness_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("databases", {})[db_key(engine)] = {
        "head": head.text(),
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return head
