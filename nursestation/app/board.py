"""The chair board: one card per chair, derived fresh from the stored data every refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from nursestation.app import alarms, medications
from nursestation.app.context import Actor, AppContext
from nursestation.app.sessions import SessionSummary, summary_in, sync_dose_complete_alarm
from nursestation.db.models import DeviceBinding, InfusionSession, VitalReading
from nursestation.db.queries import newest_rows
from nursestation.devices.capture import CONNECTING, DISCONNECTED, RECEIVING, SILENT, UNREADABLE
from nursestation.infusion import PHASES
from nursestation.vitals_schedule import VitalsDue, VitalsScheduleSettings, vitals_due_for_state

PHASE_LABELS = {
    "empty": "Empty",
    "checked_in": "Checked in",
    "infusing": "Infusing",
    "paused": "Paused",
    "dose_complete": "Dose complete — stop pump",
    "observation": "Observation",
    "ready_for_discharge": "Ready for discharge",
    "discharged": "Discharged",
    "not_treated": "Not treated",
}
assert set(PHASES) <= set(PHASE_LABELS)

# The chair's monitor link as the card shows it: no binding, a binding not in use, or the state
# its capture worker last reported (devices/capture.py).
MONITOR_NONE = "none"  # no monitor bound to the chair: vitals are entered by hand
MONITOR_DISABLED = "disabled"  # bound, but the binding is switched off
MONITOR_NOT_CAPTURING = "not_capturing"  # bound and enabled, no capture running in this process
MONITOR_PROBLEMS = frozenset({MONITOR_NOT_CAPTURING, SILENT, UNREADABLE, DISCONNECTED})
MONITOR_LABELS = {
    MONITOR_NONE: "No monitor",
    MONITOR_DISABLED: "No monitor (binding disabled)",
    MONITOR_NOT_CAPTURING: "Monitor bound, not capturing",
    CONNECTING: "Monitor: connecting",
    RECEIVING: "Monitor: receiving",
    SILENT: "Monitor: no data",
    UNREADABLE: "Monitor: unreadable data",
    DISCONNECTED: "Monitor: link lost",
}


@dataclass(frozen=True)
class LatestVitals:
    """The newest value of each vital on a chair card: a monitor streaming SpO2 every second
    must not hide the last blood pressure. `bp_at` is when that BP was observed."""

    observed_at: datetime
    sbp: float | None
    dbp: float | None
    hr: float | None
    spo2: float | None
    rr: float | None
    source: str
    bp_at: datetime | None = None


@dataclass(frozen=True)
class ChairCard:
    """Everything one chair shows on the board."""

    chair: str
    session: SessionSummary | None
    vitals_due: VitalsDue | None
    latest: LatestVitals | None
    alarm: Any = None  # app.alarms.AlarmBadge when an alarm is active
    reassessments: tuple[Any, ...] = field(default=())
    device_state: str | None = None  # the capture worker's state, None when none reported
    monitor: str = MONITOR_NONE  # a key of MONITOR_LABELS

    @property
    def monitor_label(self) -> str:
        """The monitor link in one short line ("No monitor", "Monitor: receiving", ...)."""
        return MONITOR_LABELS.get(self.monitor, f"Monitor: {self.monitor}")

    @property
    def phase(self) -> str:
        """Phase key, or "empty" when no patient is in the chair."""
        return self.session.state.phase if self.session else "empty"

    @property
    def phase_label(self) -> str:
        """Phase in words for the card."""
        return PHASE_LABELS[self.phase]


def _latest_vitals(newest: dict[str | None, VitalReading | None]) -> LatestVitals | None:
    """A chair's newest value of each vital from db.queries.newest_rows (found by index, so the
    cost does not grow with the session's history)."""
    row = newest.get(None)
    if row is None:
        return None
    hr_row, spo2_row, rr_row, bp = (newest.get(k) for k in ("hr", "spo2", "rr", "sbp"))
    return LatestVitals(
        observed_at=row.observed_at,
        sbp=bp.sbp if bp else None,
        dbp=bp.dbp if bp else None,
        hr=(hr_row.hr if hr_row.hr is not None else hr_row.pulse_rate) if hr_row else None,
        spo2=spo2_row.spo2 if spo2_row else None,
        rr=rr_row.rr if rr_row else None,
        source=row.source,
        bp_at=bp.observed_at if bp else None,
    )


def _monitor(device_state: str | None, binding_enabled: bool | None) -> str:
    """The card's monitor key: what the capture worker reports wins (it is what is really
    happening on the port); without a report, whether a monitor is bound at all."""
    if device_state is not None:
        return device_state
    if binding_enabled is None:
        return MONITOR_NONE
    return MONITOR_NOT_CAPTURING if binding_enabled else MONITOR_DISABLED


def _extras(ctx: AppContext, chair: str, session_id: int | None) -> dict[str, Any]:
    """Alarms, reassessment timers and device link state from their own modules."""
    out: dict[str, Any] = {}
    out["alarm"] = alarms.highest_alarm(ctx, chair)
    if session_id is not None:
        out["reassessments"] = tuple(medications.reassessments_for_chair(ctx, session_id))
    device = ctx.device_states.get(chair)
    if device is not None:
        out["device_state"] = device
    return out


def board_cards(ctx: AppContext, actor: Actor) -> list[ChairCard]:
    """One card per clinic chair, in the clinic's chair order."""
    ctx.require(actor, "view_board")
    schedule = VitalsScheduleSettings.from_settings(ctx.settings)
    now = ctx.now()
    cards: list[ChairCard] = []
    with ctx.read_tx() as s:
        rows = {
            r.chair: r
            for r in s.execute(
                select(InfusionSession).where(InfusionSession.ended_at.is_(None))
            ).scalars()
        }
        summaries = {chair: summary_in(ctx, s, row) for chair, row in rows.items()}
        newest = newest_rows(s, [row.id for row in rows.values()])  # all chairs at once
        latest = {chair: _latest_vitals(newest.get(row.id, {})) for chair, row in rows.items()}
        bindings = {
            c: on for c, on in s.execute(select(DeviceBinding.chair, DeviceBinding.enabled))
        }
    for open_summary in summaries.values():
        # the dose-complete alarm follows the clock: the board's tick is where time passes
        sync_dose_complete_alarm(ctx, open_summary)
    for chair in ctx.settings.get("general.chairs"):
        summary = summaries.get(chair)
        due = None
        if summary is not None:
            last = latest[chair]
            due = vitals_due_for_state(
                summary.state, last.observed_at if last else None, schedule, now
            )
        extras = _extras(ctx, chair, summary.id if summary else None)
        cards.append(
            ChairCard(
                chair=chair,
                session=summary,
                vitals_due=due,
                latest=latest.get(chair),
                monitor=_monitor(extras.get("device_state"), bindings.get(str(chair))),
                **extras,
            )
        )
    return cards
