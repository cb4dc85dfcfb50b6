"""Scenario steps for check-in, the infusion pump, and `expect_state`."""

from __future__ import annotations

from datetime import date
from typing import Any

from nursestation.app import patients, sessions
from nursestation.app.context import Actor
from nursestation.dosing import MG_PER_H, ML_PER_H, Protocol
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import STATE_CHECKS, StepContext, need, state_check, step
from nursestation.scenario.steps_chart import carried_over_check_in
from nursestation.scenario.steps_spravato import spravato_check_in
from nursestation.spravato import SESSION_TYPE as SPRAVATO

ENDED_KEY = "ended_sessions_by_chair"  # chair -> session id (registry.session_id reads it)


def _protocol(sc: StepContext, raw: dict[str, Any]) -> Protocol:
    defaults = sc.ctx.settings.section("session")["protocol"]
    return Protocol(
        dose_mg_per_kg=float(raw.get("dose_mg_per_kg", defaults["dose_mg_per_kg"]["default"])),
        duration_min=float(raw.get("duration_min", defaults["duration_min"]["default"])),
        concentration_mg_per_ml=float(
            raw.get("concentration_mg_per_ml", defaults["concentration_mg_per_ml"]["default"])
        ),
    )


@step("register_patient")
def _register(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    p = patients.register_patient(
        sc.ctx,
        actor,
        mrn=str(need(st, "mrn")),
        name=str(need(st, "name")),
        dob=date.fromisoformat(str(need(st, "dob"))),
        weight_kg=need(st, "weight_kg"),
        allergies=st.get("allergies", []),
    )
    return f"registered {p.mrn}"


@step("check_in")
def _check_in(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    if st.get("session_type") == SPRAVATO:
        return spravato_check_in(sc, actor, st)
    st = carried_over_check_in(sc, actor, st)  # issue 16: "carry_over" from the last visit
    summary = sessions.check_in(
        sc.ctx,
        actor,
        mrn=str(need(st, "mrn")),
        chair=str(need(st, "chair")),
        protocol=_protocol(sc, st.get("protocol", {})),
        checklist=st.get("checklist", {}),
        session_type=st.get("session_type"),
        ketamine_lot=st.get("lot"),
        prescriber=st.get("prescriber"),
        order_text=st.get("order"),
        order_date=st.get("order_date"),
        weight_kg=st.get("weight_kg"),
        confirm_weight_change=bool(st.get("confirm_weight_change", False)),
        carried_over=list(st.get("carry_over") or ()),
    )
    return "; ".join(summary.dose.lines())


@step("update_checklist")
def _update_checklist(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sessions.update_checklist(sc.ctx, actor, sc.session_id(st), dict(need(st, "checklist")))
    return "checklist updated"


@step("override_checklist")
def _override_checklist(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sessions.override_checklist(sc.ctx, actor, sc.session_id(st), str(need(st, "reason")))
    return "checklist hard stops overridden"


@step("start_infusion")
def _start(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    s = sessions.start_infusion(sc.ctx, actor, sc.session_id(st), lot=st.get("lot"))
    return f"started at {s.state.set_rate_mg_per_h} mg/h"


@step("pause_infusion")
def _pause(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sessions.pause_infusion(sc.ctx, actor, sc.session_id(st), str(st.get("reason", "")))
    return "paused"


@step("resume_infusion")
def _resume(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sessions.resume_infusion(sc.ctx, actor, sc.session_id(st), st.get("rate_mg_per_h"))
    return "resumed"


def _rate_and_unit(st: dict[str, Any]) -> tuple[Any, str]:
    """`rate_mg_per_h` or `rate_ml_per_h` (exactly one): the value as written and its unit."""
    has_mg, has_ml = "rate_mg_per_h" in st, "rate_ml_per_h" in st
    if has_mg == has_ml:
        raise DomainError(
            BAD_INPUT, "change_rate needs exactly one of rate_mg_per_h or rate_ml_per_h."
        )
    if has_ml:
        return st["rate_ml_per_h"], ML_PER_H
    return st["rate_mg_per_h"], MG_PER_H


def _number(value: Any) -> Any:
    # JSON has no NaN/inf literals: the strings "NaN"/"inf" let a scenario type them anyway
    return float(value) if isinstance(value, str) else value


@step("change_rate")
def _rate(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    value, unit = _rate_and_unit(st)
    s = sessions.change_rate(
        sc.ctx,
        actor,
        sc.session_id(st),
        _number(value),
        st.get("reason"),
        unit=unit,
        confirm_reason=st.get("confirm_reason"),
    )
    st_ = s.state
    return (
        f"rate {st_.set_rate_mg_per_h:g} mg/h ({st_.set_rate_ml_per_h or 0:g} mL/h); "
        f"{st_.remaining_min:.1f} min left"
    )


@step("stop_infusion")
def _stop(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    # Scenario files written before reasons were required stop as "completed" (documented).
    reason = st.get("reason", "completed")
    s = sessions.stop_infusion(sc.ctx, actor, sc.session_id(st), reason)
    return (
        f"stopped: {s.state.infused_min:.1f} min infused, {s.state.delivered_mg:.1f} mg delivered"
    )


@step("end_not_treated")
def _end_not_treated(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    s = sessions.end_not_treated(sc.ctx, actor, sid, str(need(st, "reason")), st.get("text"))
    # the chair is free now; later steps naming it still mean this session
    sc.notes.setdefault(ENDED_KEY, {})[s.chair] = sid
    return f"chair {s.chair} freed: NOT TREATED ({s.end_detail})"


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def _summary(sc: StepContext, actor: Actor, session_id: int) -> sessions.SessionSummary:
    return sessions.get_summary(sc.ctx, actor, session_id)


@state_check("phase")
def _phase(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.phase
    return None if got == want else f"phase is {got}, expected {want}"


@state_check("infusion_min")
def _minutes(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.infused_min
    return None if _close(got, float(want), 0.05) else f"infused {got:.2f} min, expected {want}"


@state_check("delivered_mg")
def _mg(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.delivered_mg
    return None if _close(got, float(want), 0.05) else f"delivered {got:.2f} mg, expected {want}"


@state_check("observation_remaining_min")
def _obs(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.observation_remaining_min
    if got is None:
        return "observation has not started"
    return (
        None
        if _close(got, float(want), 0.05)
        else f"observation remaining {got:.2f} min, expected {want}"
    )


@state_check("remaining_min")
def _left(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.remaining_min
    return None if _close(got, float(want), 0.05) else f"{got:.2f} min left, expected {want}"


@state_check("rate_mg_per_h")
def _set_rate(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).state.set_rate_mg_per_h
    if got is not None and _close(got, float(want), 0.05):
        return None
    return f"rate {got} mg/h, expected {want}"


@state_check("chair_free")
def _chair_free(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    chair = _summary(sc, actor, sid).chair
    with sc.ctx.tx() as s:
        free = sessions.open_session_in_chair(s, chair) is None
    return None if free == bool(want) else f"chair {chair} free is {free}, expected {want}"


@state_check("total_mg")
def _total(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _summary(sc, actor, sid).dose.total_mg
    return None if _close(got, float(want), 0.05) else f"ordered {got} mg, expected {want}"


@step("expect_state")
def _expect_state(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    checks = {
        k: v
        for k, v in st.items()
        if k not in ("t", "as", "do", "chair", "session_id", "expect", "error")
    }
    if not checks:
        raise DomainError(BAD_INPUT, "expect_state names nothing to check.")
    unknown = sorted(set(checks) - set(STATE_CHECKS))
    if unknown:
        raise DomainError(
            BAD_INPUT,
            f"expect_state cannot check {', '.join(unknown)}; known: {', '.join(sorted(STATE_CHECKS))}.",
        )
    problems = [p for k, v in checks.items() if (p := STATE_CHECKS[k](sc, actor, sid, v))]
    if problems:
        raise DomainError("expectation_failed", "; ".join(problems) + ".")
    return "state as expected: " + ", ".join(f"{k}={v}" for k, v in checks.items())
