"""Colours and formatting shared by the widgets. Alarm colours follow IEC 60601-1-8 (red / yellow /
cyan); phases get calm colours so an alarm always stands out."""

from __future__ import annotations

from datetime import datetime, tzinfo

# The one zone function (app/record.py), re-exported for the screens beside local_hm.
from nursestation.app.record import clinic_zone as clinic_zone
from nursestation.wording import hm

PHASE_COLOURS = {
    "empty": "#f2f2f2",
    "checked_in": "#e8eef7",
    "infusing": "#dcefdc",
    "paused": "#fff1cc",
    "dose_complete": "#ffd8a8",
    "observation": "#e3e8fb",
    "ready_for_discharge": "#d7f0ee",
    "discharged": "#ececec",
    "not_treated": "#ececec",
}
ALARM_COLOURS = {"high": "#d32f2f", "medium": "#f9c800", "low": "#4dd0e1"}
ALARM_TEXT_COLOURS = {"high": "#ffffff", "medium": "#000000", "low": "#000000"}
DUE_COLOURS = {"ok": "#2e7d32", "due": "#b26a00", "overdue": "#c62828", "none": "#555555"}

APP_STYLESHEET = """
QWidget { font-size: 11pt; }
QPushButton { padding: 6px 12px; }
QPushButton:disabled { color: #888; }
QToolBar QToolButton { padding: 6px 10px; font-size: 11pt; }
"""


def mmss(seconds: float) -> str:
    """Seconds as M:SS, or H:MM:SS past an hour (timers on cards)."""
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def local_hm(when: datetime | None, tz: tzinfo) -> str:
    """A stored (UTC) time as HH:MM in the clinic's display zone `tz` (see clinic_zone)."""
    return hm(when, tz)
