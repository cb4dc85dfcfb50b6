"""Optimistic version checks for sessions (issue 15): two stations changing the same session at
once, exactly one wins and the other is told who changed it, where and when.

A screen keeps the session's `version` (SessionSummary.version, DischargeView.version) it based
its form on and passes it as `expected_version` to the use case; `claim_session` locks the
session row (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the transaction's BEGIN IMMEDIATE has
already taken the write lock), refuses with changed_elsewhere when the version moved since, and
otherwise records who changed it, so the row's version moves at the commit. Without an expected
version (scenarios, the command line) the change is still recorded and serialised: a form open
elsewhere then sees it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from nursestation.app.context import Actor, AppContext
from nursestation.app.record import clinic_zone
from nursestation.app.session_rows import get_session_row
from nursestation.db.models import InfusionSession
from nursestation.errors import CHANGED_ELSEWHERE, DomainError
from nursestation.wording import hm, session_change_phrase


class ChangedElsewhere(DomainError):
    """The session changed since the form was read: `current_version` is the version to base a
    deliberate second attempt on (after the nurse has seen the change)."""

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(CHANGED_ELSEWHERE, message)
        self.current_version = current_version


def claim_session(
    ctx: AppContext,
    s: Session,
    session_id: int,
    actor: Actor | None,
    action: str,
    expected_version: int | None = None,
) -> InfusionSession:
    """The session row, locked for this transaction and re-read, after the version check (see
    the module). Call first in a use case that changes the session, before its state checks:
    they then judge what the winner committed."""
    row = s.execute(
        select(InfusionSession)
        .where(InfusionSession.id == session_id)
        .with_for_update(of=InfusionSession)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        return get_session_row(s, session_id)  # raises the usual not_found
    if expected_version is not None and row.version != expected_version:
        raise ChangedElsewhere(changed_message(ctx, row), row.version)
    row.changed_at = ctx.now()
    row.changed_by = (actor.full_name or actor.username) if actor is not None else None
    row.changed_station = ctx.config.station
    row.changed_action = action
    # Always an UPDATE (the same nurse may repeat the same change in the same second): the ORM
    # moves the version column with it (version_id_col).
    flag_modified(row, "changed_at")
    return row


def changed_message(ctx: AppContext, row: InfusionSession) -> str:
    """The refusal's sentence: what changed, by whom, at which station and when; what to do."""
    where = (
        "at this station"
        if row.changed_station == ctx.config.station
        else f"at another station ({row.changed_station})"
    )
    if row.changed_at is None:
        what = "was changed since you opened it"
    else:
        who = row.changed_by or "the system"
        when = hm(row.changed_at, clinic_zone(ctx))
        what = f"was changed {where}: {who} {session_change_phrase(row.changed_action)} at {when}"
    return (
        f"Not saved: chair {row.chair} {what}. The screen now shows the change; check it, then "
        "save again if still needed. What you entered is kept."
    )
