"""Station access: sign-in with clear refusals, the automatic screen lock, and quick user switch.

Wraps `users.authenticate` (which counts, audits and locks out) so the sign-in screen and the
scenario runner tell the same story: a lockout delay is announced with its remaining seconds, and
a disabled account is named as such only to someone who knows its password (HIPAA 164.312(a),
(d); Part 11 §11.300 transaction safeguards).
"""

from __future__ import annotations

import math

from sqlalchemy import select

from nursestation.app.context import Actor, AppContext
from nursestation.app.users import authenticate
from nursestation.db.models import User
from nursestation.errors import BAD_PASSWORD, NOT_PERMITTED, DomainError
from nursestation.security import verify_password


def wait_seconds(ctx: AppContext, username: str) -> int:
    """Seconds until `username` may try again (0 when not locked out or unknown)."""
    now = ctx.now()
    with ctx.tx() as s:
        until = s.execute(
            select(User.locked_until).where(User.username == username)
        ).scalar_one_or_none()
    if until is None or now >= until:
        return 0
    return math.ceil((until - now).total_seconds())


def _disabled_with_right_password(ctx: AppContext, username: str, password: str) -> bool:
    with ctx.tx() as s:
        row = s.execute(
            select(User.disabled, User.password_hash).where(User.username == username)
        ).first()
    return bool(row and row.disabled and verify_password(row.password_hash, password))


def sign_in(ctx: AppContext, username: str, password: str, *, purpose: str = "sign_in") -> Actor:
    """Authenticate for the sign-in screen. Raises bad_password (adding the lockout delay when
    this failure started one), locked_out ("try again in N s"), or not_permitted for a disabled
    account whose password was right. Every failure is audited by `users.authenticate`."""
    try:
        actor = authenticate(ctx, username, password, purpose=purpose)
    except DomainError as exc:
        if exc.code != BAD_PASSWORD:
            raise
        if _disabled_with_right_password(ctx, username, password):
            raise DomainError(
                NOT_PERMITTED,
                f"The account '{username}' is disabled: ask an administrator to enable it.",
            ) from None
        wait = wait_seconds(ctx, username)
        if wait > 0:
            raise DomainError(
                BAD_PASSWORD,
                f"User name or password is not correct. Too many failed attempts: "
                f"try again in {wait} s.",
            ) from None
        raise
    # The password is at hand: a due checkpoint of the audit trail is signed with this user's
    # key (app/trail.py); it never stands between the nurse and the station.
    from nursestation.app.trail import checkpoint_after_sign_in

    if purpose == "sign_in":
        checkpoint_after_sign_in(ctx, actor, password)
    return actor


def account_active(ctx: AppContext, actor: Actor) -> bool:
    """True while the signed-in account exists and is not disabled (the station polls this to
    sign a disabled user out of every open screen at once; use cases refuse on their own)."""
    disabled, _ = ctx.account_state(actor.user_id)
    return not disabled


def lock_screen(ctx: AppContext, actor: Actor, reason: str, idle_min: float | None = None) -> None:
    """Record that the station locked (`reason` "idle" or "manual")."""
    after: dict[str, object] = {"reason": reason}
    if idle_min is not None:
        after["idle_min"] = idle_min
    with ctx.tx() as s:
        ctx.audit(s, actor, "screen.lock", "user", actor.user_id, after=after)


def unlock_screen(ctx: AppContext, actor: Actor, password: str) -> Actor:
    """Unlock with the same user's password. A wrong password is counted toward lockout and
    audited ("unlock.failed"); success is audited as "screen.unlock"."""
    unlocked = sign_in(ctx, actor.username, password, purpose="unlock")
    with ctx.tx() as s:
        ctx.audit(s, unlocked, "screen.unlock", "user", unlocked.user_id)
    return unlocked


def record_switch(
    ctx: AppContext, previous: Actor | None, new: Actor, *, while_locked: bool = False
) -> None:
    """Audit a quick user switch at a shared station ("user.switch"; also "screen.unlock" when
    the switch ended a lock)."""
    with ctx.tx() as s:
        ctx.audit(
            s,
            new,
            "user.switch",
            "user",
            new.user_id,
            before={"username": previous.username if previous else None},
            after={"username": new.username, "while_locked": while_locked},
        )
        if while_locked:
            ctx.audit(s, new, "screen.unlock", "user", new.user_id, after={"by": "switch user"})
