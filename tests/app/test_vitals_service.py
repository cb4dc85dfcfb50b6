"""Vitals through the service layer: two-tier checks, observed time and late marking,
corrections that keep the original, flowsheet flags, trend data, assessments, clinic limits,
and a property test that nothing outside the hard range is ever stored."""

from __future__ import annotations

import contextlib
import math
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import CHECKLIST_OK as CHECKLIST
from support import PASSWORD

from nursestation.app import alarms, sessions, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import register_patient
from nursestation.app.users import authenticate, provision_user
from nursestation.db.models import Assessment, AuditEvent, VitalReading
from nursestation.dosing import Protocol
from nursestation.errors import DomainError
from nursestation.vitals import VitalRanges

NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def user(ctx: AppContext, username: str = "rn.ana", role: str = "nurse") -> Actor:
    provision_user(ctx, username=username, full_name=username, roles={role}, password=PASSWORD)
    return authenticate(ctx, username, PASSWORD)


def seated(ctx: AppContext, actor: Actor, chair: str = "1") -> int:
    register_patient(
        ctx, actor, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    return sessions.check_in(
        ctx, actor, mrn="K-1", chair=chair, protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST
    ).id


def rows(ctx: AppContext) -> list[VitalReading]:
    with ctx.tx() as s:
        out = list(s.execute(select(VitalReading).order_by(VitalReading.id)).scalars())
        s.expunge_all()
        return out


def test_hard_value_is_refused_naming_field_and_range(ctx) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 300})
    assert exc.value.code == "out_of_range" and exc.value.field == "sbp"
    assert "SBP" in exc.value.message and "40–280" in exc.value.message
    assert rows(ctx) == []


def test_soft_value_needs_confirmation(ctx) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 205, "dbp": 100})
    assert exc.value.code == "confirmation_required"
    rec = vitals.record_vitals(
        ctx, ana, sid, {**NORMAL, "sbp": 205, "dbp": 100}, soft_confirmed=True
    )
    assert rec.map == pytest.approx(135.0)
    assert rows(ctx)[0].soft_confirmed is True


def test_observed_time_and_late_marking(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    clock.advance(minutes=30)  # the patient has been seated for 30 min
    on_time = vitals.record_vitals(
        ctx, ana, sid, NORMAL, observed_at=clock.now() - timedelta(minutes=5)
    )
    late = vitals.record_vitals(
        ctx, ana, sid, NORMAL, observed_at=clock.now() - timedelta(minutes=25)
    )
    assert not on_time.late and late.late
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(ctx, ana, sid, NORMAL, observed_at=clock.now() + timedelta(minutes=5))
    assert exc.value.field == "observed_at"


def test_correction_supersedes_and_keeps_the_original(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    first = vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 182, "dbp": 90})
    clock.advance(minutes=3)
    fixed = vitals.correct_vitals(ctx, ana, first.id, {"sbp": 128}, "transposed digits")
    assert fixed.supersedes_id == first.id and fixed.sbp == 128
    assert fixed.map == pytest.approx(102.7)  # recomputed from 128/90
    assert fixed.observed_at == first.observed_at
    sheet = vitals.flowsheet(ctx, ana, sid)
    assert [r.record.id for r in sheet] == [first.id, fixed.id]
    assert sheet[0].corrected_by == fixed.id and sheet[0].record.sbp == 182
    with pytest.raises(DomainError) as exc:
        vitals.correct_vitals(ctx, ana, first.id, {"sbp": 130}, "again")
    assert exc.value.code == "invalid_state" and f"#{fixed.id}" in exc.value.message
    with pytest.raises(DomainError):
        vitals.correct_vitals(ctx, ana, fixed.id, {"sbp": 130}, "  ")  # reason required
    with pytest.raises(DomainError) as exc:
        vitals.correct_vitals(ctx, ana, fixed.id, {"sbp": 20}, "typo")
    assert exc.value.code == "out_of_range"
    with ctx.tx() as s:
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "vitals.correct")
        ).scalar_one()
        assert audit.before["sbp"] == 182 and audit.after["sbp"] == 128
        assert audit.after["reason"] == "transposed digits"
    # the chart only shows the current values
    trend = vitals.trend_data(ctx, ana, sid)
    assert trend.series["sbp"] == (128,)


def test_flowsheet_flags_by_text(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    vitals.record_vitals(ctx, ana, sid, NORMAL)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, ana, sid)
    clock.advance(minutes=10)
    vitals.record_vitals(
        ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 95, "spo2": 91}, soft_confirmed=True
    )
    sheet = vitals.flowsheet(ctx, ana, sid)
    assert sheet[0].flags == {}
    flags = sheet[1].flags
    assert flags["sbp"].mark == "▲ACTION"
    assert flags["spo2"].mark == "▼ACTION"
    assert flags["dbp"].mark == "▲ADVISORY"


def test_trend_markers_include_infusion_events_and_medications(ctx, clock) -> None:
    from nursestation.db.models import MedicationAdministration

    ana = user(ctx)
    sid = seated(ctx, ana)
    vitals.record_vitals(ctx, ana, sid, NORMAL)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, ana, sid)
    clock.advance(minutes=10)
    sessions.pause_infusion(ctx, ana, sid, "nausea")
    with ctx.tx() as s:  # the medications service is another module; write the row directly
        s.add(
            MedicationAdministration(
                session_id=sid,
                drug="ondansetron",
                dose=4,
                unit="mg",
                route="IV",
                indication="nausea",
                given_at=clock.now(),
                recorded_at=clock.now(),
                given_by=ana.user_id,
            )
        )
    trend = vitals.trend_data(ctx, ana, sid)
    assert [m.kind for m in trend.markers] == ["start", "pause", "medication"]
    assert trend.markers[1].label == "Paused: nausea"
    assert trend.markers[2].label == "ondansetron 4 mg IV"


def test_sedation_assessment_is_stored_and_alarms(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    rec = vitals.record_assessment(ctx, ana, sid, "moaas", score=3)
    assert rec.text.startswith("MOAA/S 3")
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.priority == "medium" and "MOAA/S 3" in badge.text
    vitals.record_assessment(ctx, ana, sid, "cadss", items=[1] * 23, baseline_total=20)
    with ctx.tx() as s:
        kinds = [a.kind for a in s.execute(select(Assessment)).scalars()]
    assert kinds == ["moaas", "cadss"]
    with pytest.raises(DomainError) as exc:
        vitals.record_assessment(ctx, ana, sid, "rass", score=7)
    assert exc.value.code == "out_of_range"


def test_update_limits_permission_file_audit_and_reevaluation(ctx, clock) -> None:
    ana = user(ctx)
    ben = user(ctx, "cn.ben", "charge_nurse")
    sid = seated(ctx, ana)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 150, "dbp": 85})
    assert alarms.highest_alarm(ctx, "1").priority == "low"  # advisory SBP > 140
    with pytest.raises(DomainError) as exc:
        vitals.update_limits(ctx, ana, {"sbp.advisory.high": 160}, "too noisy")
    assert exc.value.code == "not_permitted"
    with pytest.raises(DomainError) as exc:
        vitals.update_limits(ctx, ben, {"sbp.advisory.high": 190}, "nesting broken")
    assert exc.value.code == "out_of_range"  # above the action high (180)
    vitals.update_limits(ctx, ben, {"sbp.advisory.high": 155}, "medical director, memo 12")
    from nursestation.app.clinic_settings import current_overrides

    with ctx.read_tx() as s:
        data = current_overrides(s)  # stored for every station, not in a station's file
    assert data["vitals"]["limits"]["sbp"]["advisory"]["high"]["value"] == 155
    assert "memo 12" in ctx.settings.source("vitals.limits.sbp.advisory.high")
    assert alarms.highest_alarm(ctx, "1") is None  # 150 no longer breaches
    with ctx.tx() as s:
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "limits.update")
        ).scalar_one()
        assert audit.before == {"sbp.advisory.high": 140}
        assert audit.after["sbp.advisory.high"] == 155


RANGES_KEYS = ("sbp", "dbp", "map", "hr", "spo2", "rr", "etco2", "temp_c")
wild = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-50, 400),
    st.text(max_size=6),
    st.sampled_from(["", " ", "12,5", "nan", "inf", "-0", "1e3", "98"]),
    st.booleans(),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.dictionaries(st.sampled_from(RANGES_KEYS), wild, max_size=8),
    sedation=st.one_of(st.none(), st.tuples(st.sampled_from(["moaas", "rass", "x", ""]), wild)),
    confirm=st.booleans(),
)
def test_property_nothing_outside_the_hard_range_is_stored(ctx, values, sedation, confirm) -> None:
    if not hasattr(ctx, "_prop_actor"):
        ctx._prop_actor = user(ctx)
        ctx._prop_sid = seated(ctx, ctx._prop_actor)
    data = dict(values)
    if sedation is not None:
        data["sedation_scale"], data["sedation_score"] = sedation
    with contextlib.suppress(DomainError):
        vitals.record_vitals(ctx, ctx._prop_actor, ctx._prop_sid, data, soft_confirmed=confirm)
    ranges = VitalRanges.from_settings(ctx.settings)
    for r in rows(ctx):
        for name, key in [
            ("sbp", "sbp"),
            ("dbp", "dbp"),
            ("map", "map"),
            ("hr", "hr"),
            ("spo2", "spo2"),
            ("rr", "rr"),
            ("etco2", "etco2"),
            ("temp_c", "temp_c"),
        ]:
            v = getattr(r, name)
            if v is None:
                continue
            fr = ranges.fields[key]
            assert isinstance(v, float) and math.isfinite(v)
            assert fr.hard_min <= v <= fr.hard_max, (name, v)
            if not (fr.soft_min <= v <= fr.soft_max):
                assert r.soft_confirmed
        if r.sbp is not None and r.dbp is not None:
            assert r.sbp - r.dbp >= ranges.min_pulse_pressure
        if r.sedation_score is not None:
            sr = ranges.sedation[r.sedation_scale]
            assert sr.min <= r.sedation_score <= sr.max and float(r.sedation_score).is_integer()
    ctx._prop_stored = len(rows(ctx))


def test_empty_reading_is_refused(ctx) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(ctx, ana, sid, {"sbp": "", "hr": None})
    assert exc.value.code == "bad_input"
    assert rows(ctx) == []


def test_example_vitals_scenario_meets_every_expectation(example_runs) -> None:
    run = example_runs("vitals_alarms")  # the session's one run of it
    assert run.rc == 0, run.lines
    lines = run.lines
    by_do = {(x["do"], x["ok"]) for x in lines}
    assert ("correct_vitals", True) in by_do and ("assess", True) in by_do
    assert [x["error"] for x in lines if not x["ok"]] == ["out_of_range", "confirmation_required"]


def test_alarms_state_check_reports_a_mismatch(ctx, clock) -> None:
    from nursestation.scenario import steps_vitals
    from nursestation.scenario.registry import StepContext

    ana = user(ctx)
    sid = seated(ctx, ana)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "spo2": 86}, soft_confirmed=True)
    sc = StepContext(ctx=ctx, clock=clock, actors={}, passwords={}, out_dir=None)
    assert steps_vitals._alarms(sc, ana, sid, ["high:spo2"]) is None
    assert steps_vitals._alarms(sc, ana, sid, {"highest": "high", "count": 1}) is None
    assert "expected none" in steps_vitals._alarms(sc, ana, sid, [])
    assert "highest alarm is high" in steps_vitals._alarms(sc, ana, sid, {"highest": "low"})


def test_observed_time_before_check_in_is_refused_naming_the_range(ctx, clock) -> None:
    from nursestation.db.models import InfusionSession

    ana = user(ctx)
    sid = seated(ctx, ana)
    with ctx.tx() as s:
        checked_in_at = s.get(InfusionSession, sid).checked_in_at
    clock.advance(minutes=10)
    # Just outside: one second before the check-in (the baseline of issue 13 was stored so).
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(
            ctx, ana, sid, NORMAL, observed_at=checked_in_at - timedelta(seconds=1)
        )
    assert exc.value.code == "bad_input" and exc.value.field == "observed_at"
    local = checked_in_at.astimezone().strftime("%H:%M")
    assert f"before the check-in at {local}" in exc.value.message
    assert f"allowed from {local} to " in exc.value.message
    assert rows(ctx) == []
    # Just inside: at the check-in itself; 10 min before now is not late (limit is "more than").
    rec = vitals.record_vitals(ctx, ana, sid, NORMAL, observed_at=checked_in_at)
    assert rec.observed_at == checked_in_at and not rec.late
    # A sedation assessment obeys the same bound.
    with pytest.raises(DomainError) as exc:
        vitals.record_assessment(
            ctx, ana, sid, "moaas", score=5, at=checked_in_at - timedelta(minutes=1)
        )
    assert exc.value.field == "observed_at"


def test_baseline_before_check_in_is_impossible(ctx, clock) -> None:
    """Issue 13: a baseline was stored observed before its check-in. The start gate finds only
    readings from this check-in on."""
    ana = user(ctx)
    sid = seated(ctx, ana)
    clock.advance(minutes=3)
    with pytest.raises(DomainError):
        vitals.record_vitals(ctx, ana, sid, NORMAL, observed_at=clock.now() - timedelta(minutes=4))
    with ctx.tx() as s:
        assert sessions.baseline_vitals(s, sid) is None


def test_future_observed_time_tolerance_boundary(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    allowed = VitalRanges.from_settings(ctx.settings).max_future_s
    rec = vitals.record_vitals(
        ctx, ana, sid, NORMAL, observed_at=clock.now() + timedelta(seconds=allowed)
    )
    assert rec.id
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(
            ctx, ana, sid, NORMAL, observed_at=clock.now() + timedelta(seconds=allowed + 1)
        )
    assert exc.value.field == "observed_at" and "allowed at most" in exc.value.message


def test_late_entry_boundary_is_the_clinic_setting(ctx, clock) -> None:
    ana = user(ctx)
    sid = seated(ctx, ana)
    clock.advance(minutes=30)
    late_after = float(ctx.settings.get("general.late_entry_after_min"))
    assert late_after == 10
    inside = vitals.record_vitals(
        ctx, ana, sid, NORMAL, observed_at=clock.now() - timedelta(minutes=late_after)
    )
    outside = vitals.record_vitals(
        ctx,
        ana,
        sid,
        NORMAL,
        observed_at=clock.now() - timedelta(minutes=late_after, seconds=1),
    )
    assert not inside.late and outside.late
    sheet = vitals.flowsheet(ctx, ana, sid)
    assert [r.record.late for r in sheet] == [True, False]
    # The note's flowsheet rows carry the mark (the PDF prints "Late entry (entered HH:MM)").
    from nursestation.app.notes import build_note_content

    with ctx.tx() as s:
        content = build_note_content(ctx, s, sid, clock.now(), 1)
    assert [v.late for v in content.vitals] == [True, False]


def test_device_frame_received_before_check_in_never_becomes_the_baseline(
    ctx, clock, checked_in
) -> None:
    """A capture batch delivered just after check-in can hold frames received a moment before
    it: they stay in device_readings and never become this session's (baseline) reading."""
    from nursestation.app import devices
    from nursestation.db.models import DeviceReading, InfusionSession
    from nursestation.devices.reading import VALID, make_reading

    with ctx.tx() as s:
        checked_in_at = s.get(InfusionSession, checked_in).checked_in_at

    def frame(at, sbp):
        return [
            make_reading("masimo-ascii", p, v, VALID, None, None, at, "SN1")
            for p, v in (("sbp", sbp), ("dbp", 80.0), ("spo2", 97.0))
        ]

    clock.advance(seconds=5)
    batch = frame(checked_in_at - timedelta(seconds=1), 150.0) + frame(checked_in_at, 124.0)
    result = devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", batch)
    assert len(result.vital_ids) == 1  # only the frame at the check-in itself
    with ctx.tx() as s:
        base = sessions.baseline_vitals(s, checked_in)
        assert base is not None and base.sbp == 124 and base.observed_at == checked_in_at
        assert s.query(DeviceReading).count() == 6  # the raw stream is all kept


def test_refusal_names_times_in_the_clinic_zone_not_the_stations(ctx, clock) -> None:
    # Issue 14, one zone: the message a nurse reads names the clock times the screens show.
    from zoneinfo import ZoneInfo

    from nursestation.db.models import InfusionSession

    ctx.settings = ctx.settings.with_overrides(
        {"general": {"timezone_display": "Asia/Tokyo"}}, "test"
    )
    ana = user(ctx)
    sid = seated(ctx, ana)
    with ctx.tx() as s:
        checked_in_at = s.get(InfusionSession, sid).checked_in_at
    with pytest.raises(DomainError) as exc:
        vitals.record_vitals(
            ctx, ana, sid, NORMAL, observed_at=checked_in_at - timedelta(seconds=1)
        )
    tokyo = checked_in_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    station = checked_in_at.astimezone().strftime("%H:%M")
    assert tokyo != station
    assert f"before the check-in at {tokyo}" in exc.value.message
