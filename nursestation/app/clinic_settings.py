"""Clinic settings in the database (issue 15): one clinic, one set of settings for every station.

The shipped defaults (resources/clinic/*.json, each number with its source) stay the defaults;
the clinic's own overrides are stored as versions in `clinic_settings_versions`: every change is
a new row holding the whole override document with who, when, where and why; the newest row is
in force at every station (AppContext.settings follows it within SETTINGS_POLL_S). Typed access
stays in nursestation/clinic.py (ClinicSettings.get / section): this module only stores.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.clinic import ClinicSettings, ConfigError, load_defaults
from nursestation.db.models import ClinicSettingsVersion
from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError


@dataclass(frozen=True)
class SettingsVersion:
    """One stored version of the clinic's overrides."""

    id: int
    created_at: datetime
    station: str
    username: str | None
    reason: str
    overrides: dict[str, Any]


def current_overrides(s: Session, *, lock: bool = False) -> dict[str, Any]:
    """The override document in force (the newest version; {} before the first). With `lock`
    the newest row is locked (PostgreSQL) so that two stations' changes queue, not overwrite."""
    stmt = select(ClinicSettingsVersion).order_by(ClinicSettingsVersion.id.desc()).limit(1)
    if lock:
        stmt = stmt.with_for_update()
    row = s.execute(stmt).scalar_one_or_none()
    return copy.deepcopy(row.overrides) if row is not None else {}


def store_version(
    ctx: AppContext, s: Session, actor: Actor | None, overrides: Mapping[str, Any], reason: str
) -> int:
    """Store `overrides` (the whole document) as the clinic's newest settings version, inside
    the caller's transaction (which writes the audit row of its own change). Returns its id."""
    row = ClinicSettingsVersion(
        created_at=ctx.now(),
        station=ctx.config.station,
        user_id=actor.user_id if actor else None,
        username=actor.username if actor else None,
        reason=reason,
        overrides=json.loads(json.dumps(overrides)),
    )
    s.add(row)
    s.flush()
    return row.id


def _nested(changes: Mapping[str, Any]) -> dict[str, Any]:
    """{"general.min_observation_min": 45} -> {"general": {"min_observation_min": 45}}."""
    out: dict[str, Any] = {}
    for path, value in changes.items():
        node = out
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def normalized(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An override document with every key nested under its section (an override file may
    write `{"min_observation_min": 30}` for general.min_observation_min, or dotted keys): so a
    later change of the same setting replaces it instead of competing with it."""
    sections = {p.split(".", 1)[0] for p in load_defaults().settings}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key.startswith("_"):
            out[key] = copy.deepcopy(value)
            continue
        parts = key.split(".")
        if parts[0] not in sections:
            parts = ["general", *parts]
        merge_overrides(out, _nested({".".join(parts): value}))
    return out


def merge_overrides(into: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the nested override document `patch` into `into` (returned); a setting node
    ({"value": ...} or a plain value) replaces what was there."""
    for key, value in patch.items():
        if isinstance(value, Mapping) and "value" not in value and isinstance(into.get(key), dict):
            merge_overrides(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def change_clinic_settings(
    ctx: AppContext, actor: Actor, changes: Mapping[str, Any], reason: str
) -> ClinicSettings:
    """Change clinic settings by dotted path ({"general.min_observation_min": 45}) for every
    station: validated like an override file (range, type, known key), stored as a new version
    with the reason, audited with before and after. Needs change_settings."""
    ctx.require(actor, "change_settings")
    if not reason or not reason.strip():
        raise DomainError(BAD_INPUT, "A settings change needs a reason.", field="reason")
    if not changes:
        raise DomainError(BAD_INPUT, "Name at least one setting to change.", field=None)
    settings = ctx.settings
    before: dict[str, Any] = {}
    for path in changes:
        try:
            before[path] = settings.get(path)
        except KeyError:
            raise DomainError(BAD_INPUT, f"Unknown clinic setting '{path}'.", field=path) from None
    patch = _nested(
        {
            p: {"value": v, "source": f"{actor.full_name or actor.username}: {reason.strip()}"}
            for p, v in changes.items()
        }
    )
    with ctx.tx() as s:
        doc = merge_overrides(normalized(current_overrides(s, lock=True)), patch)
        try:
            load_defaults().with_overrides(doc, "clinic settings")  # what every station loads
            new_settings = settings.with_overrides(patch, "clinic settings")
        except ConfigError as exc:
            raise DomainError(OUT_OF_RANGE, str(exc), field=exc.key) from None
        version = store_version(ctx, s, actor, doc, reason.strip())
        ctx.audit(
            s,
            actor,
            "clinic_settings.change",
            "clinic_settings",
            version,
            before=before,
            after={**dict(changes), "reason": reason.strip()},
        )
    ctx.settings = new_settings
    return new_settings


def settings_history(ctx: AppContext, actor: Actor) -> list[SettingsVersion]:
    """Every stored version, newest first (who, when, where, why, the document)."""
    ctx.require(actor, "change_settings")
    with ctx.read_tx() as s:
        rows = s.execute(
            select(ClinicSettingsVersion).order_by(ClinicSettingsVersion.id.desc())
        ).scalars()
        return [
            SettingsVersion(r.id, r.created_at, r.station, r.username, r.reason, r.overrides)
            for r in rows
        ]
