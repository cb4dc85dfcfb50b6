"""Scenario steps for session (PRN) medications: `give_medication`, `record_response`, and the
`medications` / `medication_total_mg` / `reassessments` keys of `expect_state`."""

from __future__ import annotations

from typing import Any

from nursestation.app import medications as meds
from nursestation.app.context import Actor
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step
from nursestation.vitals import fmt_number


def _number(st: dict[str, Any], key: str) -> float:
    value = need(st, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(BAD_INPUT, f"'{key}' must be a number, got {value!r}.", field=key)
    return float(value)


@step("give_medication")
def _give(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    drug = meds.formulary(sc.ctx).get(str(need(st, "drug")))
    rec = meds.give_medication(
        sc.ctx,
        actor,
        sc.session_id(st),
        drug=drug.key,
        dose=_number(st, "dose"),
        unit=str(st.get("unit", drug.unit)),
        route=str(need(st, "route")),
        indication=str(need(st, "indication")),
        confirm_reason=st.get("confirm_reason"),
        lot=st.get("lot"),
        note=st.get("note"),
        indication_override_reason=st.get("indication_override_reason"),
    )
    text = (
        f"{rec.dose_text} given ({rec.indication_label}); session total "
        f"{fmt_number(rec.session_total)} of {fmt_number(rec.cumulative_max)} {rec.unit}"
    )
    if rec.soft_max_reason:
        text += f"; above the usual maximum, reason: {rec.soft_max_reason}"
    if rec.indication_override_reason:
        text += f"; indication not met, override: {rec.indication_override_reason}"
    return text


@step("record_response")
def _response(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    if "administration" in st:
        admin_id = int(st["administration"])
    else:
        admin_id = meds.latest_administration_id(
            sc.ctx, actor, sc.session_id(st), str(need(st, "drug"))
        )
    vitals = st.get("vitals")
    if vitals is not None and not isinstance(vitals, dict):
        raise DomainError(BAD_INPUT, "'vitals' must be an object like {\"sbp\": 150}.")
    resp = meds.record_response(
        sc.ctx,
        actor,
        admin_id,
        text=str(st.get("text", "")),
        measure=st.get("measure"),
        vitals=vitals,
        soft_confirmed=bool(st.get("confirm", False)),
    )
    shown = ", ".join(t for t in (resp.vital_text, resp.text) if t)
    return f"{resp.measure} response recorded: {shown}"


def _given(sc: StepContext, actor: Actor, sid: int) -> list[meds.AdministrationRecord]:
    return list(meds.medication_list(sc.ctx, actor, sid).administrations)


@state_check("medications")
def _medications(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """A list of drug names in the order given (keys, names or brands), or a count."""
    given = _given(sc, actor, sid)
    if isinstance(want, int) and not isinstance(want, bool):
        return None if len(given) == want else f"{len(given)} doses given, expected {want}"
    if not isinstance(want, list):
        return "medications must be a count or a list of drug names"
    f = meds.formulary(sc.ctx)
    try:
        wanted = [f.get(str(w)).key for w in want]
    except DomainError as exc:
        return exc.message
    got = [g.drug_key for g in given]
    return None if got == wanted else f"medications given {got}, expected {wanted}"


@state_check("medication_totals")
def _totals(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """{"labetalol": 300}: each drug's session total in its unit."""
    if not isinstance(want, dict):
        return 'medication_totals must be an object like {"labetalol": 300}'
    f = meds.formulary(sc.ctx)
    got = {t.drug: t.total for t in meds.medication_list(sc.ctx, actor, sid).totals}
    problems = []
    for name, value in want.items():
        drug = f.get(str(name))
        total = got.get(drug.name, 0.0)
        if abs(total - float(value)) > 1e-9:
            problems.append(f"{drug.name} total {fmt_number(total)}, expected {value}")
    return "; ".join(problems) or None


@state_check("reassessments_due")
def _due(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """How many doses have a reassessment due or overdue now."""
    items = meds.reassessments_for_chair(sc.ctx, sid)
    got = sum(1 for r in items if r.status in ("due", "overdue"))
    return None if got == int(want) else f"{got} reassessments due, expected {want}"
