"""Domain errors with stable codes (the codes are part of the scenario contract)."""

from __future__ import annotations


class DomainError(Exception):
    """A refused action: `code` is a stable string from CONTRACTS.md, `message` one clear sentence."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


# Stable error codes (documented in docs/scenarios.md).
OUT_OF_RANGE = "out_of_range"
DOSE_ABOVE_MAX = "dose_above_max"
INTERVAL_TOO_SHORT = "interval_too_short"
CUMULATIVE_MAX = "cumulative_max"
ALLERGY = "allergy"
ROUTE_NOT_ALLOWED = "route_not_allowed"
OBSERVATION_INCOMPLETE = "observation_incomplete"
CRITERIA_NOT_MET = "criteria_not_met"
NOT_PERMITTED = "not_permitted"
BAD_PASSWORD = "bad_password"
LOCKED_OUT = "locked_out"
INVALID_STATE = "invalid_state"
NOT_FOUND = "not_found"
DUPLICATE = "duplicate"
CHECKLIST_INCOMPLETE = "checklist_incomplete"
CONFIRMATION_REQUIRED = "confirmation_required"
BAD_INPUT = "bad_input"
INDICATION_NOT_MET = "indication_not_met"
ACCOUNT_DISABLED = "account_disabled"  # the actor's account was disabled since sign-in
NOTE_STALE = "note_stale"  # something was recorded after the note version was signed
SELF_APPROVAL = "self_approval"  # the approver signed the note being approved
CHANGED_ELSEWHERE = "changed_elsewhere"  # the session changed since the form was read (issue 15)
