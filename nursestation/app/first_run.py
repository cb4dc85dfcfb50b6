"""The first run of a clinic (issue 18): its name, phone and time zone, its signing CA and the
first administrator, asked together by the first-run wizard before anything is created."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from nursestation.app import users
from nursestation.app.clinic_settings import current_overrides, merge_overrides, store_version
from nursestation.app.context import AppContext, clinic_ca_row
from nursestation.app.pki import check_ca_passphrase, create_clinic_ca
from nursestation.db.models import User
from nursestation.errors import BAD_INPUT, NOT_PERMITTED, DomainError
from nursestation.text_checks import clean_text

# The CA certificate's common name is "<clinic> signing CA", at most 64 characters (RFC 5280
# ub-common-name): a longer name could not be put into the certificate.
MAX_CLINIC_NAME = 64 - len(" signing CA")
MAX_PHONE = 40


@dataclass(frozen=True)
class ClinicSetUp:
    """What the first-run wizard asks."""

    clinic_name: str
    phone: str
    time_zone: str  # an IANA name, or "local" (each station's own zone)
    ca_passphrase: str  # unused when the clinic already has its CA
    username: str
    full_name: str
    password: str


def needs_ca(ctx: AppContext) -> str | None:
    """None when the clinic has no CA yet (the wizard asks a passphrase), else the clinic name
    in its certificate (a set-up process or an imported pki folder made it)."""
    with ctx.read_tx() as s:
        row = clinic_ca_row(s)
    return None if row is None else row.clinic_name


def _checked_zone(name: str) -> str:
    name = (name or "").strip() or "local"
    if name == "local":
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            BAD_INPUT,
            f"Time zone '{name}' is not known: choose one from the list (e.g. America/Chicago).",
            field="time_zone",
        ) from None
    return name


def set_up_clinic(ctx: AppContext, form: ClinicSetUp) -> str:
    """Everything is checked first (a refusal names its field and creates nothing); then the
    clinic's settings (name, phone, time zone), its CA naming the clinic (unless it has one) and
    the administrator are stored. Only on a database without accounts. Returns the user name."""
    name = clean_text(form.clinic_name, field="clinic_name", label="Clinic name",
                      max_len=MAX_CLINIC_NAME, required=False) or ""  # fmt: skip
    if not name:
        raise DomainError(
            BAD_INPUT,
            "The clinic's name is required: it is printed on every note and names the clinic's "
            "signing certificate.",
            field="clinic_name",
        )
    phone = clean_text(form.phone, field="phone", label="Phone", max_len=MAX_PHONE, required=False)
    phone = phone or ""
    zone = _checked_zone(form.time_zone)
    existing_ca = needs_ca(ctx)
    if existing_ca is None:
        check_ca_passphrase(form.ca_passphrase)
    users.validate_new_user(form.username, form.full_name, {"administrator"}, form.password)
    changes = {"clinic_name": name, "clinic_phone": phone, "timezone_display": zone}
    with ctx.tx() as s:
        if s.execute(select(func.count(User.id))).scalar_one() > 0:
            raise DomainError(NOT_PERMITTED, "This clinic is already set up: sign in.")
        source = "first-run wizard"
        patch = {"general": {k: {"value": v, "source": source} for k, v in changes.items()}}
        doc = merge_overrides(current_overrides(s, lock=True), patch)
        ctx.settings.with_overrides(patch, "clinic settings")  # validated like any change
        version = store_version(ctx, s, None, doc, "first-run wizard")
        ctx.audit(
            s,
            None,
            "clinic_settings.change",
            "clinic_settings",
            version,
            after={**{f"general.{k}": v for k, v in changes.items()}, "reason": source},
            username="(first run)",
        )
    ctx.refresh_settings()
    if existing_ca is None:
        create_clinic_ca(ctx, None, name, form.ca_passphrase)
    info = users.create_user(
        ctx,
        None,
        username=form.username,
        full_name=form.full_name,
        roles={"administrator"},
        password=form.password,
    )
    return info.username
