"""One station as a separate process, driven by the two-station tests (issue 15): JSON commands
on stdin, one JSON answer per line on stdout. It opens its own AppContext (own connections,
caches, change feed) on the database URL given, under the station name given, with the real
clock, and calls the use cases as the GUI would.

Usage: python tests/station_process.py DB_URL STATION_NAME DATA_DIR

Each command is {"cmd": name, ...}; the answer {"ok": true, ...} or, for a refused use case,
{"ok": false, "code": ..., "message": ...}. Add a command to COMMANDS for a new check (a note
verified, an alarm acknowledged...).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nursestation.app.context import Actor, AppContext
from nursestation.config import StationConfig
from nursestation.errors import DomainError


class Station:
    """The process's context and its signed-in user."""

    def __init__(self, url: str, name: str, data_dir: str) -> None:
        self.ctx = AppContext.open(StationConfig(Path(data_dir), url, name))
        self.actor: Actor | None = None

    def me(self) -> Actor:
        assert self.actor is not None, "sign in first"
        return self.actor


def sign_in(st: Station, username: str, password: str) -> dict[str, Any]:
    from nursestation.app.users import authenticate

    st.actor = authenticate(st.ctx, username, password)
    return {"user": st.actor.full_name}


def record_vitals(st: Station, session_id: int, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """Store each reading as its own entry, one after the other, as fast as they go."""
    from nursestation.app import vitals

    ids = [vitals.record_vitals(st.ctx, st.me(), session_id, r).id for r in readings]
    return {"ids": ids}


def summary(st: Station, session_id: int) -> dict[str, Any]:
    from nursestation.app import sessions

    sm = sessions.get_summary(st.ctx, st.me(), session_id)
    return {"version": sm.version, "phase": sm.state.phase, "rate": sm.state.set_rate_mg_per_h}


def change_rate(
    st: Station, session_id: int, rate: float, reason: str, expected_version: int | None
) -> dict[str, Any]:
    from nursestation.app import sessions

    sm = sessions.change_rate(
        st.ctx, st.me(), session_id, rate, reason, expected_version=expected_version
    )
    return {"version": sm.version}


def wait_change(st: Station, timeout_s: float) -> dict[str, Any]:
    """Look for another station's change as the GUI does (ChangeListener: every 0.5 s), from
    now on; answers how long it took (None: not seen within `timeout_s`)."""
    st.ctx.poll_changes()
    seen = st.ctx.changes_seen
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        time.sleep(0.5)
        st.ctx.poll_changes()
        if st.ctx.changes_seen != seen:
            return {"seen_after_s": time.monotonic() - start}
    return {"seen_after_s": None}


def record_confirmed(st: Station, session_id: int, reading: dict[str, Any]) -> dict[str, Any]:
    """One entry whose values the nurse confirmed as correct though outside the usual range
    (e.g. SBP 215): the alarms follow in its transaction."""
    from nursestation.app import vitals

    return {
        "id": vitals.record_vitals(st.ctx, st.me(), session_id, reading, soft_confirmed=True).id
    }


def chair_alarms(st: Station, chair: str) -> dict[str, Any]:
    """The chair's alarms as this station shows them (the alarm strip's read)."""
    from nursestation.app import alarms

    state = alarms.chair_alarms(st.ctx, chair)
    shown = [
        {"id": d.alarm.id, "priority": d.alarm.priority, "acknowledged_by": d.alarm.acknowledged_by}
        for d in state.alarms
    ]
    return {"alarms": shown, "audio_on": state.audio_on}


def acknowledge_alarm(st: Station, chair: str) -> dict[str, Any]:
    """Acknowledge every alarm of the chair as the signed-in user."""
    from nursestation.app import alarms

    events = alarms.acknowledge_alarm(st.ctx, st.me(), chair)
    return {"acknowledged": [e.alarm_id for e in events if e.kind == "acknowledged"]}


def stop_infusion(st: Station, session_id: int, reason: str) -> dict[str, Any]:
    """Stop the pump (observation starts): the note can be signed from then on."""
    from nursestation.app import sessions

    return {"version": sessions.stop_infusion(st.ctx, st.me(), session_id, reason).version}


def sign_note(st: Station, session_id: int, password: str) -> dict[str, Any]:
    """Sign the session's note as the signed-in nurse (her key from the database)."""
    from nursestation.app import notes

    info = notes.sign_note(st.ctx, st.me(), session_id, password)
    return {"note_id": info.note_id, "version": info.version}


def verify_note(st: Station, note_id: int) -> dict[str, Any]:
    """Verify a stored note at this station, against the clinic CA it reads."""
    from nursestation.app import notes

    check = notes.verify_note(st.ctx, st.me(), note_id)
    return {"verified": check.ok, "lines": list(check.lines)}


def export_notes(st: Station, out_dir: str, date_from: str, date_to: str) -> dict[str, Any]:
    """The administrator export (PDF) of the notes of sessions between the two dates."""
    from nursestation.app import export

    flt = export.ExportFilter.from_strings(date_from, date_to)
    result = export.export_notes(st.ctx, st.me(), flt, out_dir, ("pdf",))
    return {
        "all_verified": result.ok,
        "exported": [n.note_id for n in result.exported],
        "failed": [[n.note_id, list(n.problems)] for n in result.failed],
    }


def ca_pem(st: Station) -> dict[str, Any]:
    """The clinic CA certificate this station trusts (PEM)."""
    from nursestation.app.pki import ca_certificate_pem

    return {"pem": ca_certificate_pem(st.ctx).decode()}


COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {
    "sign_in": sign_in,
    "record_vitals": record_vitals,
    "summary": summary,
    "change_rate": change_rate,
    "wait_change": wait_change,
    "record_confirmed": record_confirmed,
    "chair_alarms": chair_alarms,
    "acknowledge_alarm": acknowledge_alarm,
    "stop_infusion": stop_infusion,
    "sign_note": sign_note,
    "verify_note": verify_note,
    "export_notes": export_notes,
    "ca_pem": ca_pem,
}


def main(argv: list[str]) -> int:
    url, name, data_dir = argv[1:4]
    st = Station(url, name, data_dir)
    print(json.dumps({"ok": True, "ready": name}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        cmd = request.pop("cmd")
        if cmd == "quit":
            break
        try:
            answer = {"ok": True, **COMMANDS[cmd](st, **request)}
        except DomainError as exc:
            answer = {"ok": False, "code": exc.code, "message": exc.message}
        except Exception as exc:
            answer = {
                "ok": False,
                "code": "crash",
                "message": repr(exc),
                "trace": traceback.format_exc(),
            }
        print(json.dumps(answer), flush=True)
    st.ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
