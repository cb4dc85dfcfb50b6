"""Who may do what: the one permission table, checked by every use case in the service layer.

Roles follow clinical.md §6.1 (Part 11 authority checks): a nurse charts; a charge nurse charts,
overrides and approves discharge; an administrator manages users, settings and exports but does
not chart or sign clinical data unless also given a clinical role.
"""

from __future__ import annotations

from nursestation.errors import NOT_PERMITTED, DomainError

NURSE = "nurse"
CHARGE_NURSE = "charge_nurse"
ADMINISTRATOR = "administrator"
ROLES: tuple[str, ...] = (NURSE, CHARGE_NURSE, ADMINISTRATOR)
ROLE_LABELS = {NURSE: "Nurse", CHARGE_NURSE: "Charge nurse", ADMINISTRATOR: "Administrator"}

_CLINICAL = frozenset({NURSE, CHARGE_NURSE})
_CHARGE = frozenset({CHARGE_NURSE})
_ADMIN = frozenset({ADMINISTRATOR})
_ANY = frozenset(ROLES)

# use case -> roles allowed. Keep in one place; tests walk every role x every use case.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_board": _ANY,
    "view_session": _CLINICAL,
    "register_patient": _CLINICAL,
    "edit_patient": _CLINICAL,
    "check_in": _CLINICAL,
    "override_checklist": _CHARGE,
    "start_infusion": _CLINICAL,
    "pause_infusion": _CLINICAL,
    "resume_infusion": _CLINICAL,
    "change_rate": _CLINICAL,
    "stop_infusion": _CLINICAL,
    "end_not_treated": _CLINICAL,
    "cancel_session": _CHARGE,
    "record_vitals": _CLINICAL,
    "correct_vitals": _CLINICAL,
    "record_assessment": _CLINICAL,
    "acknowledge_alarm": _CLINICAL,
    "pause_alarm_audio": _CLINICAL,
    "give_medication": _CLINICAL,
    "override_prn_indication": _CHARGE,
    "record_response": _CLINICAL,
    "discharge_assessment": _CLINICAL,
    "override_discharge": _CHARGE,
    "approve_discharge": _CHARGE,
    "sign_note": _CLINICAL,
    "add_addendum": _CLINICAL,
    "view_note": _ANY,
    "verify_note": _ANY,
    "bind_device": _CHARGE | _ADMIN,
    "change_limits": _CHARGE | _ADMIN,
    "edit_formulary": _ADMIN,
    "change_settings": _ADMIN,
    "manage_users": _ADMIN,
    "view_audit": _ADMIN,
    "export_notes": _ADMIN,
    # Spravato under the REMS (issue 17)
    "record_rems_enrolment": _CLINICAL,
    "give_spravato_device": _CLINICAL,
    "complete_rems_form": _CLINICAL,
    "rems_tracker": _CHARGE | _ADMIN,
}


def allowed(roles: frozenset[str] | set[str], use_case: str) -> bool:
    """True when any of `roles` may perform `use_case`."""
    try:
        permitted = PERMISSIONS[use_case]
    except KeyError:
        raise KeyError(f"unknown use case '{use_case}'") from None
    return bool(permitted & set(roles))


def require(roles: frozenset[str] | set[str], use_case: str, who: str = "this user") -> None:
    """Raise not_permitted unless `roles` allow `use_case`."""
    if not allowed(roles, use_case):
        needed = " or ".join(ROLE_LABELS[r] for r in ROLES if r in PERMISSIONS[use_case])
        raise DomainError(
            NOT_PERMITTED,
            f"{who} may not {use_case.replace('_', ' ')}: this needs the role {needed}.",
        )
