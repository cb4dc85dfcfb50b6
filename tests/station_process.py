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


COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {
    "sign_in": sign_in,
    "record_vitals": record_vitals,
    "summary": summary,
    "change_rate": change_rate,
    "wait_change": wait_change,
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
