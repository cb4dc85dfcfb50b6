"""Scenario steps for discharge: `discharge_assessment`, `override`, `approve_discharge`,
`discharge_ready`, `print_instructions`, and the `expect_state` keys `ready`, `failing`,
`overridden` and `approved_by` (docs/scenarios.md, "Discharge")."""

from __future__ import annotations

from typing import Any

from nursestation.app import discharge as dc
from nursestation.app.context import Actor
from nursestation.discharge import ANSWER_ALIASES, SCALES
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step

_FRAME = {"t", "as", "do", "chair", "session_id", "expect", "error", "_comment"}
_OTHER = {
    "scores",
    "sedation",
    "sedation_scale",
    "sedation_score",
    "moaas",
    "rass",
    "dissociation_resolved",
    "cadss_total",
    "cadss_baseline",
}
ENDED_KEY = "ended_sessions_by_chair"  # chair -> session id, so steps can name a freed chair


def _sedation(st: dict[str, Any]) -> tuple[str, int] | None:
    raw = st.get("sedation")
    if isinstance(raw, dict):
        return str(need(raw, "scale")), need(raw, "score")
    if raw is not None:
        raise DomainError(
            BAD_INPUT,
            'sedation must look like {"scale": "moaas", "score": 5}.',
            field="sedation",
        )
    if "sedation_scale" in st:
        return str(st["sedation_scale"]), need(st, "sedation_score")
    for scale in ("moaas", "rass"):
        if scale in st:
            return scale, st[scale]
    return None


def _renamed(st: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The step with deprecated answer keys (ANSWER_ALIASES, accepted until the next release)
    renamed to their one name, and a notice per alias used. An alias beside its one name is
    ambiguous: bad_input naming both."""
    out: dict[str, Any] = {}
    notices: list[str] = []
    for key, value in st.items():
        name = ANSWER_ALIASES.get(key)
        if name is None:
            out[key] = value
            continue
        if name in st:
            raise DomainError(
                BAD_INPUT,
                f"discharge_assessment has both '{key}' and '{name}': '{key}' is the deprecated "
                f"name of '{name}'; write '{name}' only.",
                field=key,
            )
        out[name] = value
        notices.append(f"'{key}' is a deprecated alias of '{name}'")
    return out, notices


@step("discharge_assessment")
def _assess(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    st, notices = _renamed(st)
    unknown = sorted(set(st) - _FRAME - _OTHER - set(SCALES) - set(dc.ANSWER_KEYS))
    if unknown:
        allowed = ", ".join([*SCALES, *dc.ANSWER_KEYS, *sorted(_OTHER)])
        raise DomainError(
            BAD_INPUT,
            f"discharge_assessment does not know '{unknown[0]}'; allowed: {allowed}.",
            field=unknown[0],
        )
    scores = dict(st.get("scores", {}))
    scores.update({k: st[k] for k in SCALES if k in st})
    status = dc.record_assessment(
        sc.ctx,
        actor,
        sc.session_id(st),
        scores=scores,
        answers={k: st[k] for k in dc.ANSWER_KEYS if k in st},
        sedation=_sedation(st),
        dissociation_resolved=st.get("dissociation_resolved"),
        cadss_total=st.get("cadss_total"),
        cadss_baseline=st.get("cadss_baseline"),
    )
    if notices:
        return f"{_readiness_text(status)} (note: {'; '.join(notices)})"
    return _readiness_text(status)


def _readiness_text(status: dc.DischargeStatus) -> str:
    if status.ready:
        return "ready for discharge"
    return "not ready: " + "; ".join(f"{c.id} ({c.reason})" for c in status.failing)


@step("override")
def _override(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    criterion = str(need(st, "criterion"))
    status = dc.override_criterion(
        sc.ctx, actor, sc.session_id(st), criterion, str(need(st, "reason"))
    )
    return f"{criterion} overridden; " + _readiness_text(status)


@step("discharge_ready")
def _ready(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    dc.require_ready(sc.ctx, actor, sc.session_id(st))
    return "ready for discharge"


@step("approve_discharge")
def approve_discharge(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """The charge nurse approves (the note's steps wrap this to refresh the PDF in --out)."""
    sid = sc.session_id(st)
    status = dc.approve_discharge(sc.ctx, actor, sid, str(need(st, "password")))
    if "chair" in st:
        sc.notes.setdefault(ENDED_KEY, {})[str(st["chair"])] = sid
    assert status.approval is not None
    return f"{status.approval.meaning} by {status.approval.by}"


@step("print_instructions")
def _print(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    pdf = dc.instruction_sheet_pdf(sc.ctx, actor, sid)
    if sc.out_dir is None:
        return f"instruction sheet rendered ({len(pdf)} bytes; no --out folder)"
    path = sc.out_dir / f"discharge_instructions_session_{sid}.pdf"
    path.write_bytes(pdf)
    return f"instruction sheet written to {path}"


def _status(sc: StepContext, actor: Actor, sid: int) -> dc.DischargeStatus:
    return dc.get_status(sc.ctx, actor, sid)


def _ids(want: Any, key: str) -> set[str]:
    if not isinstance(want, list) or not all(isinstance(x, str) for x in want):
        raise DomainError(BAD_INPUT, f"expect_state '{key}' must be a list of criterion ids.")
    return set(want)


@state_check("ready")
def _check_ready(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    status = _status(sc, actor, sid)
    if status.ready == bool(want):
        return None
    return f"ready is {status.ready}, expected {bool(want)}" + (
        f" (failing: {', '.join(status.failing_ids)})" if status.failing_ids else ""
    )


@state_check("failing")
def _check_failing(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    got = _status(sc, actor, sid).failing_ids
    if set(got) == _ids(want, "failing"):
        return None
    return f"failing criteria are [{', '.join(got)}], expected [{', '.join(want)}]"


@state_check("overridden")
def _check_overridden(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    with sc.ctx.tx() as s:
        note = dc.discharge_for_note(sc.ctx, s, sid)  # what the note will show
    got = [o.criterion for o in note.overrides]
    if set(got) == _ids(want, "overridden"):
        return None
    return f"overridden criteria are [{', '.join(got)}], expected [{', '.join(want)}]"


@state_check("approved_by")
def _check_approved_by(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    approval = _status(sc, actor, sid).approval
    got = approval.by if approval else None
    return None if got == want else f"approved by {got}, expected {want}"
