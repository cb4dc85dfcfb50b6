"""The one session loader (issue 14): a fixed number of statements whatever the history, plain
immutable values, corrections applied once, the heart rate resolved once (HR, else the
oximeter's pulse rate)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from nursestation.app import devices, medications, vitals
from nursestation.app.record import get_record, load_record
from nursestation.devices.reading import VALID, make_reading
from nursestation.errors import DomainError
from nursestation.record import HR_SOURCE_HR, HR_SOURCE_PULSE, heart_rate


def _statements(ctx: Any, session_id: int) -> tuple[int, Any]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        with ctx.read_tx() as s:
            rec = load_record(ctx, s, session_id)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", count)
    return len([x for x in seen if x.lstrip().upper().startswith("SELECT")]), rec


def _pulse_frames(ctx: Any, clock: Any, n: int) -> None:
    """`n` oximeter seconds (SpO2 97, pulse 88, no HR) on chair 1."""
    for _ in range(n):
        clock.advance(seconds=1)
        at = clock.now()
        batch = [
            make_reading("masimo-ascii", "spo2", 97, VALID, None, None, at, "SN1"),
            make_reading("masimo-ascii", "pulse_rate", 88, VALID, None, None, at, "SN1"),
        ]
        devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", batch)


def test_loader_statement_count_does_not_grow_with_history(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    few, small = _statements(ctx, infusing)
    _pulse_frames(ctx, clock, 30)
    nurse = people["nurse"]
    clock.advance(minutes=1)
    vitals.record_vitals(ctx, nurse, infusing, {"sbp": 150, "dbp": 90, "hr": 80})
    many, big = _statements(ctx, infusing)
    assert few == many  # the same statements for 1 reading and 32
    assert len(small.vitals) == 1 and len(big.vitals) == 32
    assert big.names[big.order.checked_in_by] == "Ana Ruiz, RN"


def test_record_is_plain_and_immutable(ctx: Any, people: dict[str, Any], infusing: int) -> None:
    rec = get_record(ctx, people["nurse"], infusing)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.session_id = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        rec.checklist.answers["consent_confirmed"] = False  # type: ignore[index]
    assert isinstance(rec.events, tuple) and rec.events[0].kind == "start"
    assert rec.patient.mrn == "K-1001" and rec.order.chair == "1"
    assert rec.baseline() is not None and rec.baseline().hr == 76  # type: ignore[union-attr]


def test_get_record_checks_the_role_and_the_session(
    ctx: Any, people: dict[str, Any], infusing: int
) -> None:
    with pytest.raises(DomainError) as refused:
        get_record(ctx, people["admin"], infusing)
    assert refused.value.code == "not_permitted"
    with pytest.raises(DomainError) as missing:
        get_record(ctx, people["nurse"], infusing + 99)
    assert missing.value.code == "not_found"


def test_heart_rate_resolved_once_with_its_source(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    _pulse_frames(ctx, clock, 1)
    rec = get_record(ctx, people["nurse"], infusing)
    manual, device = rec.vitals
    assert heart_rate(manual) is not None and heart_rate(manual).source == HR_SOURCE_HR  # type: ignore[union-attr]
    hr = heart_rate(device)
    assert hr is not None and (hr.value, hr.source, hr.from_pulse) == (88, HR_SOURCE_PULSE, True)


def test_corrections_applied_and_originals_kept(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    nurse = people["nurse"]
    clock.advance(minutes=2)
    first = vitals.record_vitals(ctx, nurse, infusing, {"sbp": 140, "dbp": 85, "hr": 70})
    clock.advance(minutes=1)
    vitals.correct_vitals(ctx, nurse, first.id, {"sbp": 130, "dbp": 85, "hr": 70}, reason="typo")
    rec = get_record(ctx, nurse, infusing)
    assert len(rec.vitals) == 3  # baseline, original, correction: nothing is lost
    current = rec.current_vitals
    assert [v.sbp for v in current] == [128, 130]
    assert current[-1].supersedes_id == first.id


def test_medication_responses_follow_the_dose(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    nurse = people["nurse"]
    clock.advance(minutes=5)
    given = medications.give_medication(
        ctx, nurse, infusing, drug="ondansetron", dose=4, unit="mg", route="IV",
        indication="nausea",
    )  # fmt: skip
    clock.advance(minutes=15)
    medications.record_response(ctx, nurse, given.id, measure="nausea", text="settled")
    rec = get_record(ctx, nurse, infusing)
    (m,) = rec.current_medications
    assert m.drug == "ondansetron" and m.dose == 4
    assert [r.text for r in rec.responses_to(m)] == ["settled"]
    assert clock.now() - timedelta(minutes=15) == m.given_at


def test_discharge_answers_merge_latest_wins(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    from nursestation.app import discharge, sessions

    nurse = people["nurse"]
    clock.advance(minutes=45)
    sessions.stop_infusion(ctx, nurse, infusing, "dose complete")
    clock.advance(minutes=5)
    discharge.record_assessment(ctx, nurse, infusing, answers={"escort_present": False})
    clock.advance(minutes=5)
    discharge.record_assessment(ctx, nurse, infusing, answers={"escort_present": True})
    rec = get_record(ctx, nurse, infusing)
    assert rec.discharge_answers["escort_present"] is True
    assert [a.kind for a in rec.assessments].count("discharge_checklist") == 2  # both kept


def test_discharge_answers_read_former_keys_under_the_one_name(
    ctx: Any, people: dict[str, Any], infusing: int, clock: Any
) -> None:
    from nursestation.record import AssessmentRecord, freeze

    rec = get_record(ctx, people["nurse"], infusing)
    old = AssessmentRecord(
        1, "discharge_checklist", clock.now(), None, freeze({"answers": {"gait_steady": True}}), 1
    )
    new = AssessmentRecord(
        2, "discharge_checklist", clock.now(), None, freeze({"answers": {"steady_gait": False}}), 1
    )
    assert dataclasses.replace(rec, assessments=(old,)).discharge_answers == {"steady_gait": True}
    later = dataclasses.replace(rec, assessments=(old, new)).discharge_answers
    assert dict(later) == {"steady_gait": False}  # the later answer wins, under one name
