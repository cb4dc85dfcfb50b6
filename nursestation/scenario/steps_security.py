"""Scenario steps for sign-in, lockout, user administration and the audit trail."""

from __future__ import annotations

from typing import Any

from nursestation.app import access, users
from nursestation.app.audit import check_chain
from nursestation.app.context import Actor
from nursestation.errors import INVALID_STATE, DomainError
from nursestation.scenario.registry import StepContext, need, step


@step("sign_in")
def _sign_in(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """Sign in as `username` (default: the step's user) with `password`, exactly as the sign-in
    screen does: bad_password, locked_out, or not_permitted for a disabled account."""
    username = str(st.get("username", actor.username))
    signed = access.sign_in(sc.ctx, username, str(need(st, "password")))
    # A successful sign-in makes this user's actor current for later steps.
    sc.actors[signed.username] = signed
    if users.must_change_password(sc.ctx, signed):
        return f"signed in as {signed.username} (must choose a new password first)"
    return f"signed in as {signed.username}"


@step("add_user")
def _add_user(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """An administrator adds an account (needs manage_users); it must change its password."""
    roles = set(st["roles"]) if "roles" in st else {str(need(st, "role"))}
    info = users.create_user(
        sc.ctx,
        actor,
        username=str(need(st, "username")),
        full_name=str(st.get("full_name", st.get("username"))),
        roles=roles,
        password=str(need(st, "password")),
        credentials=str(st.get("credentials", "")),
    )
    sc.passwords[info.username] = str(st["password"])
    return f"added {info.username} ({', '.join(sorted(info.roles))})"


@step("disable_user")
def _disable_user(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """An administrator disables an account (needs manage_users)."""
    info = users.set_disabled(sc.ctx, actor, str(need(st, "username")), True)
    return f"disabled {info.username}"


@step("check_audit_chain")
def _check_audit_chain(sc: StepContext, actor: Actor, st: dict[str, Any]) -> str:
    """Walk the audit hash chain (needs view_audit); fails with invalid_state when broken."""
    result = check_chain(sc.ctx, actor)
    if not result.ok:
        raise DomainError(INVALID_STATE, f"Audit trail broken: {result.problem}.")
    return f"audit chain intact ({result.rows} rows)"
