"""Scenario steps for the patient chart and the course plan (issue 16): `edit_patient`,
`set_course_plan`, `expect_chart`; and what `check_in` takes from them: `weight_kg` (today's
weight), `confirm_weight_change`, `carry_over` (fields taken from the last visit, as the nurse
confirms them at check-in)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from nursestation.app import course_plan, patients
from nursestation.app.context import Actor
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, step
from nursestation.wording import chart_field_label, chart_value_text

EXPECTATION_FAILED = "expectation_failed"


@step("edit_patient")
def _edit_patient(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    changes = need(st, "changes")
    if not isinstance(changes, dict):
        raise DomainError(BAD_INPUT, "edit_patient: 'changes' must be an object.", field="changes")
    mrn = str(need(st, "mrn"))
    patients.edit_patient(sc.ctx, actor, mrn, changes, str(st.get("reason", "")))
    return f"chart of {mrn} changed: {', '.join(chart_field_label(k) for k in changes)}"


def _when(raw: Any, field: str) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise DomainError(
            BAD_INPUT, f"'{field}' must be an ISO time with a UTC offset, got '{raw}'.", field=field
        )
    return when


@step("set_course_plan")
def _set_course_plan(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    start = st.get("phase_start")
    plan = course_plan.set_course_plan(
        sc.ctx,
        actor,
        str(need(st, "mrn")),
        phase=str(need(st, "phase")),
        sessions_planned=st.get("sessions_planned"),
        phase_start=date.fromisoformat(str(start)) if start else None,
        next_appointment=_when(st.get("next_appointment"), "next_appointment"),
        notes=st.get("notes"),
    )
    return f"course plan: {plan.progress()}"


def carried_over_check_in(sc: StepContext, actor: Actor, st: dict[str, Any]) -> dict[str, Any]:
    """The check-in step with the fields named in `carry_over` taken from the patient's last
    visit (the scenario's stand-in for the nurse ticking them): a field both carried over and
    given in the step is bad_input, a field the last visit did not record is not_found."""
    fields = st.get("carry_over") or []
    if not isinstance(fields, list) or any(f not in course_plan.CARRY_FIELDS for f in fields):
        raise DomainError(
            BAD_INPUT,
            f"carry_over must list some of {', '.join(course_plan.CARRY_FIELDS)}.",
            field="carry_over",
        )
    if not fields:
        return st
    last = course_plan.last_visit(sc.ctx, actor, str(need(st, "mrn")))
    if last is None:
        raise DomainError(
            "not_found", "carry_over: this patient has no earlier visit.", field="carry_over"
        )
    out = dict(st)
    checklist = dict(st.get("checklist", {}))
    for f in fields:
        if f == "protocol":
            if "protocol" in st:
                raise DomainError(BAD_INPUT, "protocol is both given and carried over.", field=f)
            out["protocol"] = {
                "dose_mg_per_kg": last.dose_mg_per_kg,
                "duration_min": last.duration_min,
                "concentration_mg_per_ml": last.concentration_mg_per_ml,
            }
        else:
            if f in checklist:
                raise DomainError(BAD_INPUT, f"{f} is both given and carried over.", field=f)
            if f not in last.values:
                raise DomainError(
                    "not_found", f"carry_over: the last visit recorded no {f}.", field=f
                )
            checklist[f] = last.values[f]
    out["checklist"] = checklist
    return out


@step("expect_chart")
def _expect_chart(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """Compare the chart of `mrn` with `history` (["Field: old → new", …], oldest first),
    `weight_kg`, `allergies` (texts) and `course_plan` (sessions done vs planned, in words)."""
    mrn = str(need(st, "mrn"))
    checks = {k: v for k, v in st.items() if k not in ("t", "as", "do", "mrn", "expect", "error")}
    known = ("history", "weight_kg", "allergies", "course_plan", "dob")
    unknown = sorted(set(checks) - set(known))
    if not checks or unknown:
        raise DomainError(BAD_INPUT, f"expect_chart checks some of {', '.join(known)}.")
    p = patients.get_patient(sc.ctx, actor, mrn)
    got: dict[str, Any] = {}
    if "history" in checks:
        got["history"] = [
            f"{chart_field_label(c.field)}: {chart_value_text(c.field, c.old)} → "
            f"{chart_value_text(c.field, c.new)}"
            for c in patients.chart_history(sc.ctx, actor, mrn)
        ]
    if "weight_kg" in checks:
        got["weight_kg"] = p.weight_kg
    if "allergies" in checks:
        got["allergies"] = [a.text() for a in p.allergy_details]
    if "dob" in checks:
        got["dob"] = p.dob.isoformat()
    if "course_plan" in checks:
        plan = course_plan.course_plan(sc.ctx, actor, mrn)
        got["course_plan"] = plan.progress() if plan is not None else None
    problems = [f"{k}: expected {checks[k]!r}, got {got[k]!r}" for k in checks if got[k] != checks[k]]
    if problems:
        raise DomainError(EXPECTATION_FAILED, "; ".join(problems) + ".")
    return "chart as expected: " + ", ".join(sorted(checks))
