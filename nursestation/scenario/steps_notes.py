"""Scenario steps for the signed session note: `sign_note`, `add_addendum`, `verify_note`, and
the `expect_state` key `note` (docs/scenarios.md, "Session note")."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from nursestation.app import notes
from nursestation.app.context import Actor
from nursestation.app.pki import ca_certificate_pem
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.scenario import steps_discharge
from nursestation.scenario.registry import StepContext, need, state_check, step

_WRITTEN_KEY = "note_files"  # document sha256 already written to --out


def _write(sc: StepContext, actor: Actor, info: notes.NoteInfo) -> str:
    """Write the latest signed bytes of `info` to --out (with the clinic CA beside them, so the
    files can be verified after the scenario's throw-away data directory is gone)."""
    if sc.out_dir is None:
        return "no --out folder"
    pdf = notes.note_pdf(sc.ctx, actor, info.note_id)
    path = sc.out_dir / info.file_name
    path.write_bytes(pdf)
    (sc.out_dir / "ca.pem").write_bytes(ca_certificate_pem(sc.ctx))
    sc.notes.setdefault(_WRITTEN_KEY, {})[info.note_id] = hashlib.sha256(pdf).hexdigest()
    return f"written to {path}"


def refresh_outputs(sc: StepContext, actor: Actor, session_id: int) -> None:
    """Re-write note files whose stored document grew (e.g. countersigned at approval)."""
    if sc.out_dir is None:
        return
    written = sc.notes.get(_WRITTEN_KEY, {})
    for info in notes.list_notes(sc.ctx, actor, session_id):
        if info.note_id in written and written[info.note_id] != info.sha256:
            _write(sc, actor, info)


@step("sign_note")
def _sign(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    info = notes.sign_note(sc.ctx, actor, sc.session_id(st), str(need(st, "password")))
    where = _write(sc, actor, info)
    return f"note {info.label} v{info.version} signed by {info.signed_by}; {where}"


@step("add_addendum")
def _addendum(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    refresh_outputs(sc, actor, sid)
    info = notes.add_addendum(
        sc.ctx,
        actor,
        sid,
        str(need(st, "reason")),
        str(need(st, "text")),
        str(need(st, "password")),
    )
    where = _write(sc, actor, info)
    return f"addendum: note {info.label} v{info.version} signed by {info.signed_by}; {where}"


@step("verify_note")
def _verify(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    sid = sc.session_id(st)
    refresh_outputs(sc, actor, sid)
    latest = notes.latest_note(sc.ctx, actor, sid)
    if latest is None:
        raise DomainError("expectation_failed", "The session has no signed note to verify.")
    check = notes.verify_note(sc.ctx, actor, latest.note_id)
    if not check.ok:
        raise DomainError("expectation_failed", "; ".join(check.lines))
    return f"note {latest.label} v{latest.version}: " + "; ".join(check.lines)


_NOTE_RE = re.compile(r"^(none|signed|countersigned)(?:\s+v(\d+))?$")


@state_check("note")
def _check_note(sc: StepContext, actor: Actor, sid: int, want: Any) -> str | None:
    """ "none", "signed", "countersigned", optionally with " vN" (the newest version)."""
    m = _NOTE_RE.match(str(want).strip())
    if m is None:
        raise DomainError(
            BAD_INPUT,
            'expect_state "note" must be none, signed or countersigned, optionally with " vN".',
            field="note",
        )
    refresh_outputs(sc, actor, sid)
    latest = notes.latest_note(sc.ctx, actor, sid)
    got = "none" if latest is None else f"{latest.stage} v{latest.version}"
    wanted_stage, wanted_version = m[1], m[2]
    if latest is None:
        return None if wanted_stage == "none" else f"note is none, expected {want}"
    if latest.stage != wanted_stage or (wanted_version and int(wanted_version) != latest.version):
        return f"note is {got}, expected {want}"
    return None


# Approval countersigns the note inside the discharge step: keep the PDF in --out current. The
# discharge step is imported by name, so this wrapper replaces it whatever the import order.
@step("approve_discharge")
def _approve_and_refresh(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str | None:
    message = steps_discharge.approve_discharge(sc, actor, st)
    refresh_outputs(sc, actor, sc.session_id(st))
    return message
