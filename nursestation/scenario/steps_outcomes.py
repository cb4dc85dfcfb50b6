"""Scenario steps for outcome measures, scale drafts and the suicide-risk safety routing, and
the `expect_state` checks "safety", "course" and "draft" (issue 16)."""

from __future__ import annotations

from typing import Any

from nursestation.app import outcomes
from nursestation.app.context import Actor
from nursestation.app.sessions import get_summary
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario.registry import StepContext, need, state_check, step

SAFETY_STATES = ("none", "held", "recheck_due", "cleared")


def _answers(st: dict[str, Any]) -> list[Any]:
    answers = need(st, "answers")
    if not isinstance(answers, list):
        raise DomainError(BAD_INPUT, "'answers' must be a list, one per item.", field="answers")
    return answers


@step("outcome")
def _outcome(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """{"do": "outcome", "scale": "phq9"|"gad7"|"pcl5"|"cssrs"|"cadss"|"moaas", "answers": [..],
    "timepoint": "pre", "administered": "self_report"|"clinician", "on_station": false}."""
    v = outcomes.record_outcome(
        sc.ctx,
        actor,
        sc.session_id(st),
        str(need(st, "scale")),
        _answers(st),
        timepoint=str(st.get("timepoint", "pre")),
        administered=st.get("administered"),
        on_station=bool(st.get("on_station", False)),
    )
    return v.text


@step("correct_outcome")
def _correct(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """{"do": "correct_outcome", "scale": "phq9", "answers": [..], "reason": "..."}: the newest
    current score of that scale in the session (or "outcome": id) is superseded."""
    sid = sc.session_id(st)
    if "outcome" in st:
        oid = int(st["outcome"])
    else:
        scale = str(need(st, "scale"))
        mine = [v for v in outcomes.session_outcomes(sc.ctx, actor, sid) if v.scale == scale]
        if not mine:
            raise DomainError(BAD_INPUT, f"No {scale} recorded in this session.", field="scale")
        oid = mine[-1].id
    v = outcomes.correct_outcome(sc.ctx, actor, oid, _answers(st), str(need(st, "reason")))
    return f"score #{oid} corrected by #{v.id}: {v.text}"


@step("save_scale_draft")
def _draft(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """{"do": "save_scale_draft", "scale": "gad7", "timepoint": "pre", "answers": [1, 2, null]}."""
    d = outcomes.save_scale_draft(
        sc.ctx, actor, sc.session_id(st), str(need(st, "scale")),
        str(st.get("timepoint", "pre")), _answers(st),
    )  # fmt: skip
    return f"draft kept: {d.answered} of {len(d.answers)} answered"


@step("safety_assessment")
def _safety(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """{"do": "safety_assessment", "kind": "pre_infusion"|"discharge_recheck", "assessment":
    "...", "plan": "...", "proceed": true}."""
    proceed = need(st, "proceed")
    if not isinstance(proceed, bool):
        raise DomainError(BAD_INPUT, "'proceed' must be true or false.", field="proceed")
    status = outcomes.record_safety_assessment(
        sc.ctx, actor, sc.session_id(st), str(need(st, "kind")), str(need(st, "assessment")),
        str(need(st, "plan")), proceed=proceed,
    )  # fmt: skip
    return status.flag_text() or "safety assessment recorded"


def _safety_state(status: outcomes.SafetyStatus) -> str:
    if not status.flagged:
        return "none"
    if status.start_held:
        return "held"
    return "recheck_due" if status.recheck_due else "cleared"


@state_check("safety")
def _check_safety(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """ "none" (no positive screen), "held" (start held for the safety assessment),
    "recheck_due" (assessed, re-check before discharge not yet recorded), "cleared"."""
    if want not in SAFETY_STATES:
        raise DomainError(
            BAD_INPUT, f"safety must be one of {', '.join(SAFETY_STATES)}.", field="safety"
        )
    got = _safety_state(outcomes.safety_status(sc.ctx, actor, sid))
    return None if got == want else f"safety is {got}, expected {want}"


@state_check("course")
def _check_course(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """{"scale": "phq9", "totals": [18, 12, 8], "response_session": 3, "remission_session":
    null}: the patient's course up to now (any key may be left out)."""
    if not isinstance(want, dict) or "scale" not in want:
        raise DomainError(BAD_INPUT, "course must be an object with 'scale'.", field="course")
    mrn = get_summary(sc.ctx, actor, sid).patient.mrn
    trend = outcomes.course_trend(sc.ctx, actor, mrn).trend(str(want["scale"]))
    if trend is None:
        return f"{want['scale']} is not a trended scale"
    problems = []
    totals = [p.total for p in trend.points]
    if "totals" in want and totals != list(want["totals"]):
        problems.append(f"totals are {totals}, expected {want['totals']}")
    for key in ("response_session", "remission_session"):
        if key in want and getattr(trend, key) != want[key]:
            problems.append(f"{key} is {getattr(trend, key)}, expected {want[key]}")
    return "; ".join(problems) or None


@state_check("draft")
def _check_draft(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """{"scale": "gad7", "timepoint": "pre", "answers": [1, 2, null, ...]} or {"scale": "gad7",
    "answers": null} for no open draft."""
    if not isinstance(want, dict) or "scale" not in want:
        raise DomainError(BAD_INPUT, "draft must be an object with 'scale'.", field="draft")
    d = outcomes.open_draft(
        sc.ctx, actor, sid, str(want["scale"]), str(want.get("timepoint", "pre"))
    )
    got = list(d.answers) if d is not None else None
    expected = want.get("answers")
    return None if got == expected else f"draft is {got}, expected {expected}"
