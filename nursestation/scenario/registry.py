"""The step and state-check registries that the steps_*.py modules fill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nursestation.app.context import Actor, AppContext
from nursestation.clock import FakeClock
from nursestation.errors import BAD_INPUT, DomainError


@dataclass
class StepContext:
    """What a step handler may use: the app, the clock, the actors and the output folder."""

    ctx: AppContext
    clock: FakeClock
    actors: dict[str, Actor]
    passwords: dict[str, str]
    out_dir: Path | None
    notes: dict[str, Any] = field(default_factory=dict)  # free space for step modules

    def session_id(self, step: dict[str, Any]) -> int:
        """The open session named by the step's "chair" (or "session_id")."""
        from nursestation.app.sessions import session_id_for_chair

        if "session_id" in step:
            return int(step["session_id"])
        chair = str(need(step, "chair"))
        try:
            return session_id_for_chair(self.ctx, chair)
        except DomainError:
            # After discharge the chair is free; later steps (expect_state, sign_note,
            # add_addendum) still mean the session that was there.
            ended = self.notes.get("ended_sessions_by_chair", {})
            if chair in ended:
                return int(ended[chair])
            raise


StepHandler = Callable[[StepContext, Actor, dict[str, Any]], str | None]
StateCheck = Callable[[StepContext, Actor, int, Any], str | None]

STEPS: dict[str, StepHandler] = {}
STATE_CHECKS: dict[str, StateCheck] = {}


def step(name: str) -> Callable[[StepHandler], StepHandler]:
    """Register a step handler; it returns a short message or None, and raises DomainError."""

    def deco(fn: StepHandler) -> StepHandler:
        STEPS[name] = fn
        return fn

    return deco


def state_check(key: str) -> Callable[[StateCheck], StateCheck]:
    """Register an `expect_state` key; the check returns None when it holds, else a mismatch text."""

    def deco(fn: StateCheck) -> StateCheck:
        STATE_CHECKS[key] = fn
        return fn

    return deco


def need(step: dict[str, Any], key: str) -> Any:
    """A required step field, or bad_input naming it."""
    if key not in step:
        raise DomainError(BAD_INPUT, f"Step '{step.get('do')}' needs '{key}'.", field=key)
    return step[key]
