"""Scenario steps of Spravato sessions under the SPRAVATO REMS (issue 17), and their
`expect_state` keys. docs/scenarios.md documents them; examples/scenarios/spravato_*.json use
them. A Spravato check-in is the `check_in` step with `"session_type": "spravato"` and
`dose_mg` (steps_session hands it to app.spravato.check_in)."""

from __future__ import annotations

from typing import Any

from nursestation.app import spravato
from nursestation.app.context import Actor
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step


def spravato_check_in(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """The `check_in` step of a Spravato session."""
    if "protocol" in st:
        raise DomainError(
            BAD_INPUT,
            "A Spravato check-in takes 'dose_mg' (56 or 84), not an IV 'protocol'.",
            field="protocol",
        )
    summary = spravato.check_in(
        sc.ctx,
        actor,
        mrn=str(need(st, "mrn")),
        chair=str(need(st, "chair")),
        dose_mg=need(st, "dose_mg"),
        checklist=st.get("checklist", {}),
        conmeds=st.get("conmeds", {}),
        prescriber=st.get("prescriber"),
        order_text=st.get("order"),
        order_date=st.get("order_date"),
    )
    v = spravato.get_spravato(sc.ctx, actor, summary.id)
    return (
        f"Spravato {v.dose_mg} mg: {v.planned_devices} devices; observation at least "
        f"{v.min_observation_min:g} min from the first device"
    )


@step("rems_enrol")
def _enrol(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    e = spravato.record_enrolment(
        sc.ctx,
        actor,
        str(need(st, "mrn")),
        rems_patient_id=str(need(st, "rems_patient_id")),
        enrolled_on=need(st, "enrolled_on"),
    )
    return f"{e.mrn} enrolled in the SPRAVATO REMS ({e.rems_patient_id}, {e.enrolled_on})"


@step("spravato_conmeds")
def _conmeds(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    v = spravato.answer_conmeds(sc.ctx, actor, sc.session_id(st), dict(need(st, "conmeds")))
    left = len(v.unanswered_conmeds)
    return "concomitant medications answered" + (f" ({left} left)" if left else "")


@step("prescriber_decision")
def _decision(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    v = spravato.record_bp_decision(
        sc.ctx,
        actor,
        sc.session_id(st),
        decision=str(need(st, "decision")),
        prescriber=str(need(st, "prescriber")),
        reason=str(need(st, "reason")),
    )
    assert v.decision is not None
    return f"prescriber {v.decision.prescriber}: {v.decision.decision}"


@step("spravato_device")
def _device(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    v = spravato.give_device(sc.ctx, actor, sc.session_id(st), lot=str(st.get("lot", "")))
    d = v.devices[-1]
    return f"device {d.number} of {v.planned_devices} ({d.mg} mg, lot {d.lot})"


@step("rems_form")
def _form(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    v = spravato.complete_form(sc.ctx, actor, sc.session_id(st), dict(need(st, "answers")))
    missing = [f.key for f in v.form.missing]
    return "REMS form complete" if not missing else f"REMS form missing: {', '.join(missing)}"


@step("rems_form_pdf")
def _form_pdf(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    pdf = spravato.form_pdf(sc.ctx, actor, sid)
    if sc.out_dir is not None:
        sc.out_dir.mkdir(parents=True, exist_ok=True)
        (sc.out_dir / f"rems_form_S-{sid}.pdf").write_bytes(pdf)
    return f"REMS form PDF, {len(pdf)} bytes"


@step("rems_submission")
def _submission(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    row = spravato.record_submission(
        sc.ctx,
        actor,
        sc.session_id(st),
        submitted_on=need(st, "submitted_on"),
        method=str(need(st, "method")),
        confirmation=str(need(st, "confirmation")),
    )
    return f"REMS form submitted {row.submission.submitted_on if row.submission else ''}"


@step("expect_rems_tracker")
def _expect_tracker(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    rows = spravato.tracker(sc.ctx, actor)
    got = {
        "pending": sum(1 for r in rows if r.submission is None),
        "overdue": sum(1 for r in rows if r.overdue),
        "submitted": sum(1 for r in rows if r.submission is not None),
    }
    problems = [f"{k}: want {st[k]}, got {v}" for k, v in got.items() if k in st and st[k] != v]
    if problems:
        raise DomainError("expectation_failed", "; ".join(problems))
    return ", ".join(f"{k} {v}" for k, v in got.items())


def _view(sc: StepContext, actor: Actor, sid: int) -> spravato.SpravatoView:
    return spravato.get_spravato(sc.ctx, actor, sid)


@state_check("spravato_devices")
def _devices(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = len(_view(sc, actor, sid).devices)
    return None if got == want else f"spravato_devices: want {want}, got {got}"


def _bp_check(key: str, attr: str) -> None:
    @state_check(key)
    def check(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
        bp = getattr(_view(sc, actor, sid).bp, attr)
        got = None if bp is None else f"{bp.sbp:g}/{'—' if bp.dbp is None else f'{bp.dbp:g}'}"
        return None if got == want else f"{key}: want {want}, got {got}"


_bp_check("bp_pre", "pre")
_bp_check("bp_40", "after_40")
_bp_check("bp_end", "end")


@state_check("reminders")
def _reminders(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = sorted(r.key for r in _view(sc, actor, sid).reminders)
    return None if got == sorted(want) else f"reminders: want {sorted(want)}, got {got}"


@state_check("form_complete")
def _form_complete(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    form = _view(sc, actor, sid).form
    if form.complete == bool(want):
        return None
    return f"form_complete: want {want}, missing {[f.key for f in form.missing]}"


@state_check("total_monitored_min")
def _monitored(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _view(sc, actor, sid).form.total_monitored_min
    return None if got == want else f"total_monitored_min: want {want}, got {got}"


@state_check("rems_due_date")
def _due(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _view(sc, actor, sid).due_date.isoformat()
    return None if got == want else f"rems_due_date: want {want}, got {got}"
