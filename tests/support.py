"""Constants shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"

CHECKLIST_OK = {
    "consent_confirmed": True,
    "identity_two_identifiers": True,
    "last_solids_at": "2026-03-02T04:00:00+00:00",
    "last_clear_liquids_at": "2026-03-02T10:00:00+00:00",
    "escort_name": "John Doe",
    "escort_phone": "555-0100",
    "pregnancy_screen": "negative",
    "contraindications_screened": True,
    "contraindications": [],
    "interacting_medications_screened": True,
    "interacting_medications": [],
    "iv_site": "left forearm",
    "iv_gauge": 22,
    "iv_patent": True,
}

# Tests that mostly wait for a subprocess's real time (the shift soak) are started when collection
# ends, beside the rest of the suite (tests/conftest.py pytest_collection_finish): node id -> the
# object their `start_early(workdir)` returned, which the test then takes to judge.
EARLY_STARTED = pytest.StashKey[dict[str, Any]]()
