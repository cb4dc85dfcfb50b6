"""Users and sign-in: unique accounts, Argon2id passwords, lockout with a growing delay."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.pki import issue_for_user, reseal_at_sign_in, rewrap_for_user
from nursestation.db.models import User, UserRole
from nursestation.errors import (
    BAD_INPUT,
    BAD_PASSWORD,
    DUPLICATE,
    INVALID_STATE,
    LOCKED_OUT,
    NOT_FOUND,
    NOT_PERMITTED,
    OUT_OF_RANGE,
    DomainError,
)
from nursestation.permissions import ADMINISTRATOR, ROLE_LABELS, ROLES
from nursestation.security import (
    check_password_policy,
    hash_password,
    lockout_delay,
    verify_password,
)
from nursestation.text_checks import clean_text

# The user name column is 64 long (db/models.py User). The full name is also the common name of
# the user's signing certificate, which X.509 limits to 64 bytes of UTF-8 (RFC 5280 ub-common-name):
# a longer name crashed certificate issuance.
MAX_USERNAME = 64
MAX_FULL_NAME = 64


@dataclass(frozen=True)
class UserInfo:
    """A user as shown in lists (never the password hash)."""

    id: int
    username: str
    full_name: str
    credentials: str
    roles: frozenset[str]
    disabled: bool
    must_change_password: bool


def _role_words() -> str:
    """The roles as the users dialog names them ("Nurse, Charge nurse, Administrator"): a
    message never shows the internal keys."""
    return ", ".join(ROLE_LABELS[r] for r in ROLES)


def _info(u: User) -> UserInfo:
    return UserInfo(
        u.id,
        u.username,
        u.full_name,
        u.credentials,
        u.role_names,
        u.disabled,
        u.must_change_password,
    )


def actor_of(u: User) -> Actor:
    """The Actor for a user row."""
    return Actor(u.id, u.username, u.full_name, u.role_names)


def user_count(ctx: AppContext) -> int:
    """How many accounts exist (0 means the first-run wizard must create an administrator)."""
    with ctx.tx() as s:
        return s.execute(select(func.count(User.id))).scalar_one()


def validate_new_user(username: str, full_name: str, roles: set[str], password: str) -> None:
    """Refuse a new account's input (user name, full name, roles, password policy), naming the
    field: before anything is stored."""
    if (
        not isinstance(username, str)
        or not username
        or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        raise DomainError(
            BAD_INPUT,
            "User name must be letters, digits, '.', '_' or '-' (e.g. rn.ana).",
            field="username",
        )
    if len(username) > MAX_USERNAME:
        raise DomainError(
            OUT_OF_RANGE,
            f"User name is {len(username)} characters long: allowed 1–{MAX_USERNAME}.",
            field="username",
        )
    if isinstance(full_name, str) and not full_name.strip():
        raise DomainError(
            BAD_INPUT, "Full name is required (it is printed on signatures).", field="full_name"
        )
    # Printed on every signature: no control or text-direction characters, column length.
    clean_text(full_name, field="full_name", label="Full name", max_len=MAX_FULL_NAME)
    size = len(full_name.strip().encode("utf-8"))
    if size > MAX_FULL_NAME:
        raise DomainError(
            OUT_OF_RANGE,
            f"Full name is {size} bytes in UTF-8: allowed at most {MAX_FULL_NAME} (it names the "
            "signing certificate); shorten it.",
            field="full_name",
        )
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise DomainError(
            BAD_INPUT, f"Roles must be one or more of {_role_words()}.", field="roles"
        )
    check_password_policy(password, username)


def _insert_user(
    ctx: AppContext,
    s: Session,
    *,
    username: str,
    full_name: str,
    roles: set[str],
    password: str,
    credentials: str,
    must_change_password: bool,
    ca_passphrase: str | None,
) -> User:
    if s.execute(select(User.id).where(User.username == username)).first():
        raise DomainError(DUPLICATE, f"User name '{username}' is already taken.", field="username")
    now = ctx.now()
    user = User(
        username=username,
        full_name=full_name.strip(),
        credentials=credentials,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        created_at=now,
        password_changed_at=now,
        roles=[UserRole(role=r) for r in sorted(roles)],
    )
    s.add(user)
    s.flush()
    _issue_signing_credential(ctx, s, user, password, ca_passphrase)
    return user


def create_user(
    ctx: AppContext,
    actor: Actor | None,
    *,
    username: str,
    full_name: str,
    roles: set[str] | frozenset[str],
    password: str,
    credentials: str = "",
    must_change_password: bool = True,
    ca_passphrase: str | None = None,
) -> UserInfo:
    """Create an account. With no actor this is only allowed for the very first user, who must be
    an administrator (the first-run wizard and `nursestation user add` on an empty database).
    A nurse or charge nurse gets a signing key from the clinic CA: `ca_passphrase` is the CA
    passphrase the administrator types (app/pki.py)."""
    roles = set(roles)
    if actor is not None:  # who may do it comes before whether the input is right
        ctx.require(actor, "manage_users")
    validate_new_user(username, full_name, roles, password)
    with ctx.tx() as s:
        if actor is None:
            if s.execute(select(func.count(User.id))).scalar_one() > 0:
                raise DomainError(NOT_PERMITTED, "Only an administrator may add users.")
            if "administrator" not in roles:
                raise DomainError(
                    BAD_INPUT, "The first user must be an administrator.", field="roles"
                )
            # The first administrator chose their own password: no forced change.
            must_change_password = False
        else:
            ctx.require(actor, "manage_users")
        user = _insert_user(
            ctx,
            s,
            username=username,
            full_name=full_name,
            roles=roles,
            password=password,
            credentials=credentials,
            must_change_password=must_change_password,
            ca_passphrase=ca_passphrase,
        )
        ctx.audit(
            s,
            actor,
            "user.create",
            "user",
            user.id,
            after={"username": username, "full_name": full_name, "roles": sorted(roles)},
            username=username if actor is None else None,
        )
        return _info(user)


def provision_user(
    ctx: AppContext,
    *,
    username: str,
    full_name: str,
    roles: set[str] | frozenset[str],
    password: str,
    credentials: str = "",
    ca_passphrase: str | None = None,
) -> UserInfo:
    """Installer / scenario set-up path: create an account without an administrator session.
    Audited as 'user.provision' so it is never mistaken for an in-app change. Clinical users'
    signing keys need the CA passphrase: `ca_passphrase`, else the set-up process's
    (AppContext.ca_passphrase)."""
    roles = set(roles)
    validate_new_user(username, full_name, roles, password)
    with ctx.tx() as s:
        user = _insert_user(
            ctx,
            s,
            username=username,
            full_name=full_name,
            roles=roles,
            password=password,
            credentials=credentials,
            must_change_password=False,
            ca_passphrase=ca_passphrase,
        )
        ctx.audit(
            s,
            None,
            "user.provision",
            "user",
            user.id,
            after={"username": username, "full_name": full_name, "roles": sorted(roles)},
            username="(setup)",
        )
        return _info(user)


def _issue_signing_credential(
    ctx: AppContext, s: Session, user: User, password: str, ca_passphrase: str | None
) -> None:
    """Clinical users get a personal signing key from the clinic CA (see app.pki)."""
    if not (user.role_names & {"nurse", "charge_nurse"}):
        return
    issue_for_user(ctx, s, user, password, ca_passphrase)


def list_users(ctx: AppContext, actor: Actor) -> list[UserInfo]:
    """All accounts, for administrators."""
    ctx.require(actor, "manage_users")
    with ctx.tx() as s:
        return [_info(u) for u in s.execute(select(User).order_by(User.username)).scalars()]


def _active_administrators(s: Session) -> set[int]:
    return set(
        s.execute(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == ADMINISTRATOR, User.disabled.is_(False))
        ).scalars()
    )


def _keep_an_administrator(s: Session, user: User, what: str) -> None:
    """Refuse when `user` is the last active administrator: nobody could manage users again."""
    if _active_administrators(s) == {user.id}:
        raise DomainError(
            INVALID_STATE,
            f"'{user.username}' is the last active administrator and cannot {what}: make "
            "another account an administrator first.",
            field="username",
        )


def set_disabled(ctx: AppContext, actor: Actor, username: str, disabled: bool = True) -> UserInfo:
    """Disable (or re-enable) an account; accounts are never deleted (audit trail refers to them).
    A disabled account is signed out everywhere at once: every use case re-reads the account
    (AppContext.require). The last active administrator cannot be disabled."""
    ctx.require(actor, "manage_users")
    with ctx.tx() as s:
        user = _get(s, username)
        if disabled and not user.disabled:
            _keep_an_administrator(s, user, "be disabled")
        before = {"disabled": user.disabled}
        user.disabled = disabled
        ctx.audit(
            s,
            actor,
            "user.disable" if disabled else "user.enable",
            "user",
            user.id,
            before,
            {"disabled": disabled},
        )
        return _info(user)


def set_roles(
    ctx: AppContext, actor: Actor, username: str, roles: set[str] | frozenset[str]
) -> UserInfo:
    """Replace an account's roles (at least one known role). The last active administrator
    cannot lose the administrator role. Takes effect at once for a signed-in user (every use
    case re-reads the roles). A clinical role given here does not issue a signing key: that
    needs the user's password, so the user is told at signing to ask for one."""
    ctx.require(actor, "manage_users")
    wanted = set(roles)
    unknown = wanted - set(ROLES)
    if not wanted or unknown:
        raise DomainError(
            BAD_INPUT,
            f"Roles must be one or more of {_role_words()}"
            + (f"; unknown: {', '.join(sorted(unknown))}." if unknown else "."),
            field="roles",
        )
    with ctx.tx() as s:
        user = _get(s, username)
        before = sorted(user.role_names)
        if ADMINISTRATOR in user.role_names and ADMINISTRATOR not in wanted and not user.disabled:
            _keep_an_administrator(s, user, "lose the administrator role")
        for r in list(user.roles):
            if r.role not in wanted:
                user.roles.remove(r)
        for role in sorted(wanted - user.role_names):
            user.roles.append(UserRole(role=role))
        s.flush()
        ctx.audit(
            s, actor, "user.roles", "user", user.id, {"roles": before}, {"roles": sorted(wanted)}
        )
        return _info(user)


def _get(s: Session, username: str) -> User:
    user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise DomainError(NOT_FOUND, f"No user named '{username}'.", field="username")
    return user


def _check_lockout(user: User, now: datetime) -> None:
    if user.locked_until is not None and now < user.locked_until:
        wait = math.ceil((user.locked_until - now).total_seconds())
        raise DomainError(
            LOCKED_OUT,
            f"Too many failed attempts for '{user.username}': try again in {wait} s.",
        )


def authenticate(
    ctx: AppContext, username: str, password: str, *, purpose: str = "sign_in"
) -> Actor:
    """Check a password. Failures are counted and audited; repeated failures lock the account
    for a growing delay. `purpose` is "sign_in", "unlock" or "signature" (re-asked at signing)."""
    now = ctx.now()
    with ctx.tx() as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or user.disabled:
            ctx.audit(
                s,
                None,
                f"{purpose}.failed",
                "user",
                None,
                after={"username": username, "why": "unknown or disabled"},
                username=username,
            )
            failure = DomainError(BAD_PASSWORD, "User name or password is not correct.")
        else:
            _check_lockout(user, now)
            if verify_password(user.password_hash, password):
                user.failed_attempts = 0
                user.locked_until = None
                if reseal_at_sign_in(user, password):
                    # A former-format key sealed the current way, or a renewed certificate
                    # put into the credential: the password is only at hand now.
                    ctx.audit(s, actor_of(user), "user.key_reseal", "user", user.id)
                ctx.audit(s, actor_of(user), f"{purpose}.ok", "user", user.id)
                return actor_of(user)
            user.failed_attempts += 1
            delay = lockout_delay(user.failed_attempts)
            user.locked_until = now + delay if delay.total_seconds() > 0 else None
            ctx.audit(
                s,
                None,
                f"{purpose}.failed",
                "user",
                user.id,
                after={"username": username, "failed_attempts": user.failed_attempts},
                username=username,
            )
            failure = DomainError(BAD_PASSWORD, "User name or password is not correct.")
    # Raised after the transaction committed, so the failure and its count are kept.
    raise failure


def reauthenticate(ctx: AppContext, actor: Actor, password: str) -> None:
    """Re-ask the signed-in user's password before a signature (Part 11 §11.200)."""
    authenticate(ctx, actor.username, password, purpose="signature")


def change_password(ctx: AppContext, actor: Actor, old_password: str, new_password: str) -> None:
    """Change one's own password (required at first sign-in); re-wraps the signing key."""
    authenticate(ctx, actor.username, old_password, purpose="password_change")
    check_password_policy(new_password, actor.username)
    with ctx.tx() as s:
        user = _get(s, actor.username)
        user.password_hash = hash_password(new_password)
        user.must_change_password = False
        user.password_changed_at = ctx.now()
        if user.signing_credential is not None:
            rewrap_for_user(user, old_password, new_password)
        ctx.audit(s, actor, "user.password_change", "user", user.id)


def reset_password(
    ctx: AppContext,
    actor: Actor,
    username: str,
    temporary_password: str,
    ca_passphrase: str | None = None,
) -> UserInfo:
    """An administrator gives a user who lost their password a temporary one (to be changed at
    the next sign-in). A nurse's or charge nurse's signing key was sealed under the lost
    password and cannot be opened again: a new key and certificate are issued, sealed under
    the temporary password, which needs the clinic CA passphrase (notes signed with the former
    key still verify: their certificates are inside them). Also how a user who was given a
    clinical role later gets a key. Audited; the lockout is cleared."""
    ctx.require(actor, "manage_users")
    check_password_policy(temporary_password, username)
    with ctx.tx() as s:
        user = _get(s, username)
        if user.id == actor.user_id:
            raise DomainError(
                NOT_PERMITTED, "Change your own password with your current one.", field="username"
            )
        had_key = user.signing_credential is not None
        user.password_hash = hash_password(temporary_password)
        user.must_change_password = True
        user.password_changed_at = ctx.now()
        user.failed_attempts = 0
        user.locked_until = None
        _issue_signing_credential(ctx, s, user, temporary_password, ca_passphrase)
        issued = user.signing_credential is not None
        ctx.audit(
            s,
            actor,
            "user.password_reset",
            "user",
            user.id,
            before={"signing_key": had_key},
            after={"signing_key": "new" if issued else None, "must_change_password": True},
        )
        return _info(user)


def must_change_password(ctx: AppContext, actor: Actor) -> bool:
    """True when the user still has the password an administrator gave them."""
    with ctx.tx() as s:
        return _get(s, actor.username).must_change_password
