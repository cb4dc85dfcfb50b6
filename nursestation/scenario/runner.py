"""Run a scenario file: set up a data directory, users and patients, then perform each step as
its user at its simulated time, printing one JSON line per step."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from nursestation.app.context import CA_PASSPHRASE_ENV, Actor, AppContext
from nursestation.clinic import ConfigError, load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import resolve_config
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario import (
    steps_chart,
    steps_devices,
    steps_discharge,
    steps_medications,
    steps_notes,
    steps_outcomes,
    steps_security,
    steps_session,
    steps_spravato,
    steps_vitals,
)
from nursestation.scenario.registry import STEPS, StepContext

# The CA passphrase of a scenario's data directory when the environment gives none
# (NURSESTATION_CA_PASSPHRASE): scenarios are examples and tests, not a clinic's records.
SCENARIO_CA_PASSPHRASE = "Scenario CA passphrase 1"

# Importing the step modules registers their steps (registry.step): imported by name, never
# probed, so a missing or broken step module fails at start-up (CONVENTIONS.md 7).
STEP_MODULES = (
    steps_session,
    steps_vitals,
    steps_devices,
    steps_medications,
    steps_discharge,
    steps_notes,
    steps_security,
    steps_spravato,
    steps_outcomes,
    steps_chart,
)


class ScenarioError(Exception):
    """The scenario file itself is malformed (exit code 2)."""


def parse_offset(text: str, start: datetime) -> datetime:
    """ "+H:MM" (or "+H:MM:SS") from the scenario start, or an ISO 8601 time with offset."""
    text = str(text).strip()
    if text.startswith("+"):
        parts = text[1:].split(":")
        if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
            raise ScenarioError(f"step time '{text}' must look like +H:MM")
        nums = [int(p) for p in parts]
        if len(nums) == 1:
            delta = timedelta(minutes=nums[0])
        elif len(nums) == 2:
            delta = timedelta(hours=nums[0], minutes=nums[1])
        else:
            delta = timedelta(hours=nums[0], minutes=nums[1], seconds=nums[2])
        return start + delta
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ScenarioError(f"step time '{text}' is neither +H:MM nor ISO 8601") from exc
    if when.tzinfo is None:
        raise ScenarioError(f"step time '{text}' needs a UTC offset")
    return when


def _setup(sc: StepContext, spec: dict[str, Any]) -> None:
    from nursestation.app.patients import register_patient
    from nursestation.app.users import authenticate, provision_user

    for u in spec.get("users", []):
        for key in ("username", "role", "password"):
            if key not in u:
                raise ScenarioError(f"each user needs '{key}'")
        roles = set(u["roles"]) if "roles" in u else {u["role"]}
        provision_user(
            sc.ctx,
            username=u["username"],
            full_name=u.get("full_name", u["username"]),
            roles=roles,
            password=u["password"],
            credentials=u.get("credentials", ""),
        )
        sc.passwords[u["username"]] = u["password"]
        sc.actors[u["username"]] = authenticate(sc.ctx, u["username"], u["password"])
    clinical = [a for a in sc.actors.values() if a.roles & {"nurse", "charge_nurse"}]
    for p in spec.get("patients", []):
        if not clinical:
            raise ScenarioError("patients need at least one nurse among the users")
        register_patient(
            sc.ctx,
            clinical[0],
            mrn=str(p["mrn"]),
            name=p["name"],
            dob=date.fromisoformat(p["dob"]),
            weight_kg=p["weight_kg"],
            weight_date=date.fromisoformat(p["weight_date"]) if "weight_date" in p else None,
            allergies=p.get("allergies", []),
            sex=p.get("sex"),
            reproductive_potential=p.get("reproductive_potential"),
        )


def run_scenario(
    spec: dict[str, Any],
    *,
    out: TextIO,
    out_dir: Path | None = None,
    data_dir: str | None = None,
    db_url: str | None = None,
) -> int:
    """Run a parsed scenario; 0 only if every step met its expectation."""
    if "start" not in spec or "steps" not in spec:
        raise ScenarioError("a scenario needs 'start' and 'steps'")
    start = parse_offset(spec["start"], datetime.now().astimezone())
    clock = FakeClock(start)
    tmp = None
    if data_dir is None and db_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="nursestation-scenario-")
        data_dir = tmp.name
    config = resolve_config(data_dir, db_url)
    try:
        settings = load_clinic_settings(config.clinic_file)
        if spec.get("clinic"):
            settings = settings.with_overrides(spec["clinic"], "scenario 'clinic'")
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from exc
    # A scenario is a set-up process: it holds a CA passphrase in memory (the environment's,
    # else the scenarios' own) to create the CA of its data directory and issue signing keys.
    passphrase = os.environ.get(CA_PASSPHRASE_ENV) or SCENARIO_CA_PASSPHRASE
    ctx = AppContext.open(config, clock=clock, settings=settings, ca_passphrase=passphrase)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    sc = StepContext(ctx=ctx, clock=clock, actors={}, passwords={}, out_dir=out_dir)
    failures = 0
    try:
        try:
            _setup(sc, spec)
        except DomainError as exc:
            raise ScenarioError(f"setup failed: {exc.message}") from exc
        for i, step in enumerate(spec["steps"], start=1):
            ok, error, message = _run_step(sc, step, start)
            met = _expectation_met(step, ok, error)
            failures += not met
            line = {"step": i, "do": step.get("do"), "ok": ok, "error": error, "message": message}
            if not met:
                line["expectation"] = "not met: " + _describe_expectation(step)
            print(json.dumps(line, ensure_ascii=False), file=out, flush=True)
    finally:
        ctx.close()
        if tmp is not None:
            tmp.cleanup()
    return 0 if failures == 0 else 1


def _run_step(
    sc: StepContext, step: dict[str, Any], start: datetime
) -> tuple[bool, str | None, str]:
    name = step.get("do")
    if "t" in step:
        when = parse_offset(step["t"], start)
        if when < sc.clock.now():
            return False, BAD_INPUT, f"step time {step['t']} is earlier than the previous step"
        sc.clock.set(when)
    handler = STEPS.get(str(name))
    if handler is None:
        return False, BAD_INPUT, f"unknown step '{name}'; known: {', '.join(sorted(STEPS))}"
    who = step.get("as")
    actor: Actor | None = sc.actors.get(str(who)) if who else None
    if actor is None:
        return False, BAD_INPUT, f"step '{name}' needs 'as' naming one of the scenario's users"
    try:
        message = handler(sc, actor, step) or "ok"
        return True, None, message
    except DomainError as exc:
        return False, exc.code, exc.message


def _expectation_met(step: dict[str, Any], ok: bool, error: str | None) -> bool:
    expect = step.get("expect", "ok")
    if expect in ("ok", "success", "accepted"):
        return ok
    if expect == "rejected":
        wanted = step.get("error")
        return (not ok) and (wanted is None or wanted == error)
    return False


def _describe_expectation(step: dict[str, Any]) -> str:
    expect = step.get("expect", "ok")
    if expect == "rejected" and step.get("error"):
        return f"expected rejection with {step['error']}"
    return f"expected {expect}"


def run_scenario_file(
    path: str, *, out_dir: str | None = None, data_dir: str | None = None, db_url: str | None = None
) -> int:
    """CLI entry: exit 0 when every step met its expectation, 1 otherwise, 2 for a bad file."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"nursestation: cannot read scenario {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(
            f"nursestation: scenario {path} is not valid JSON: {exc.msg} at line {exc.lineno}",
            file=sys.stderr,
        )
        return 2
    try:
        return run_scenario(
            spec,
            out=sys.stdout,
            out_dir=Path(out_dir) if out_dir else None,
            data_dir=data_dir,
            db_url=db_url,
        )
    except ScenarioError as exc:
        print(f"nursestation: scenario {path}: {exc}", file=sys.stderr)
        return 2
