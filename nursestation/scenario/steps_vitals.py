"""Scenario steps for vital signs."""

from __future__ import annotations

from typing import Any

from nursestation.app import vitals
from nursestation.app.context import Actor
from nursestation.scenario.registry import StepContext, step

_NOT_VALUES = {"t", "as", "do", "chair", "session_id", "expect", "error", "confirm", "observed"}


@step("vitals")
def _vitals(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    values = {k: v for k, v in st.items() if k not in _NOT_VALUES}
    rec = vitals.record_vitals(
        sc.ctx, actor, sc.session_id(st), values, soft_confirmed=bool(st.get("confirm", False))
    )
    return f"vitals recorded (MAP {rec.map})" if rec.map is not None else "vitals recorded"
