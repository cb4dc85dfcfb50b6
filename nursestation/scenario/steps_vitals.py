"""Scenario steps for vital signs, corrections, sedation/dissociation assessments, and the
`expect_state` check "alarms"."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from nursestation.app import alarms, vitals
from nursestation.app.context import Actor
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step
from nursestation.vitals import VITAL_ALIASES

_NOT_VALUES = {
    "t",
    "as",
    "do",
    "chair",
    "session_id",
    "expect",
    "error",
    "confirm",
    "observed",
    "observed_at",
    "reading",
    "reason",
}


def _observed(sc: StepContext, st: dict[str, Any]) -> datetime | None:
    """`observed`: "-H:MM" (that long before the step time) or an ISO 8601 time with offset."""
    raw = st.get("observed", st.get("observed_at"))
    if raw is None:
        return None
    text = str(raw).strip()
    if text.startswith("-"):
        parts = text[1:].split(":")
        if not all(p.isdigit() for p in parts) or len(parts) != 2:
            raise DomainError(
                BAD_INPUT, f"observed '{text}' must look like -H:MM.", field="observed"
            )
        return sc.clock.now() - timedelta(hours=int(parts[0]), minutes=int(parts[1]))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(
            BAD_INPUT, f"observed '{text}' is not a time.", field="observed"
        ) from None
    if when.tzinfo is None:
        raise DomainError(BAD_INPUT, f"observed '{text}' needs a UTC offset.", field="observed")
    return when


def _values(st: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The step's vital-sign values under their one name, and a note naming each deprecated
    alias used (`temp` for `temp_c`, accepted until the next release). Both names: bad_input."""
    values: dict[str, Any] = {}
    used: list[str] = []
    for key, value in st.items():
        if key in _NOT_VALUES:
            continue
        name = VITAL_ALIASES.get(key)
        if name is None:
            values[key] = value
            continue
        if name in st:
            raise DomainError(
                BAD_INPUT,
                f"'{key}' is the deprecated name of '{name}': give '{name}' only.",
                field=key,
            )
        values[name] = value
        used.append(f"'{key}' is a deprecated alias of '{name}'")
    return values, f" (note: {'; '.join(used)})" if used else ""


def _reading_id(sc: StepContext, st: dict[str, Any]) -> int:
    """`reading`: an id, or "last" (default) for the newest reading this scenario stored on the
    chair's session."""
    ref = st.get("reading", "last")
    if ref == "last":
        sid = sc.session_id(st)
        last = sc.notes.get("last_reading", {}).get(sid)
        if last is None:
            raise DomainError(
                BAD_INPUT, "No reading to correct on this chair yet.", field="reading"
            )
        return int(last)
    return int(ref)


@step("vitals")
def _vitals(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    values, notice = _values(st)
    sid = sc.session_id(st)
    rec = vitals.record_vitals(
        sc.ctx,
        actor,
        sid,
        values,
        observed_at=_observed(sc, st),
        soft_confirmed=bool(st.get("confirm", False)),
    )
    sc.notes.setdefault("last_reading", {})[sid] = rec.id
    text = f"vitals #{rec.id} recorded" + (f" (MAP {rec.map:g})" if rec.map is not None else "")
    return text + (", late entry" if rec.late else "") + notice


@step("correct_vitals")
def _correct(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    values, notice = _values(st)
    rid = _reading_id(sc, st)
    rec = vitals.correct_vitals(
        sc.ctx,
        actor,
        rid,
        values,
        str(need(st, "reason")),
        soft_confirmed=bool(st.get("confirm", False)),
    )
    sc.notes.setdefault("last_reading", {})[sc.session_id(st)] = rec.id
    return f"vitals #{rid} corrected by #{rec.id}{notice}"


@step("assess")
def _assess(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """{"do": "assess", "scale": "moaas"|"rass", "score": n} or {"scale": "cadss", "items":
    [23 scores], "baseline_total": n} or {"scale": "dissociation", "resolved": true}."""
    rec = vitals.record_assessment(
        sc.ctx,
        actor,
        sc.session_id(st),
        str(need(st, "scale")),
        score=st.get("score"),
        items=st.get("items"),
        baseline_total=st.get("baseline_total"),
        resolved=st.get("resolved"),
        at=_observed(sc, st),
    )
    return rec.text


@step("acknowledge_alarms")
def _ack(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    events = alarms.acknowledge_alarm(sc.ctx, actor, str(need(st, "chair")))
    return f"{sum(e.kind == 'acknowledged' for e in events)} alarm(s) acknowledged"


@step("pause_alarm_audio")
def _pause_audio(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    alarms.pause_alarm_audio(sc.ctx, actor, str(need(st, "chair")))
    return "alarm audio paused"


def _describe(chair_state: Any) -> list[str]:
    return [f"{d.alarm.priority}:{d.alarm.source}" for d in chair_state.alarms]


@state_check("alarms")
def _alarms(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """["high:sbp", "medium:map"] = exactly these alarms present (any order; [] = none);
    {"highest": "high"|None, "includes": [...], "audio": true|false, "count": n}."""
    from nursestation.app.sessions import get_summary

    chair = get_summary(sc.ctx, actor, sid).chair
    state = alarms.chair_alarms(sc.ctx, chair)
    got = _describe(state)
    if isinstance(want, list):
        if sorted(got) == sorted(str(w) for w in want):
            return None
        return f"alarms are {got or 'none'}, expected {want or 'none'}"
    if not isinstance(want, dict):
        raise DomainError(BAD_INPUT, "alarms must be a list or an object.", field="alarms")
    problems = []
    if "highest" in want:
        top = state.highest.alarm.priority if state.highest else None
        if top != want["highest"]:
            problems.append(f"highest alarm is {top}, expected {want['highest']}")
    for item in want.get("includes", []):
        if item not in got:
            problems.append(f"{item} not among alarms {got or 'none'}")
    if "audio" in want and state.audio_on != bool(want["audio"]):
        problems.append(f"audio on is {state.audio_on}, expected {want['audio']}")
    if "count" in want and len(got) != int(want["count"]):
        problems.append(f"{len(got)} alarm(s), expected {want['count']}")
    return "; ".join(problems) or None
