"""The alarm center through the service layer: readings raise alarms against clinic limits and the
session baseline, acknowledgement, audio pause with breakthrough, technical alarms, persistence
to alarm_events and the audit trail, rollback safety and the restart policy."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from support import CHECKLIST_OK as CHECKLIST
from support import PASSWORD

from nursestation.app import alarms, sessions, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.notes import build_note_content
from nursestation.app.patients import register_patient
from nursestation.app.users import authenticate, provision_user
from nursestation.db.models import AlarmEvent, AuditEvent
from nursestation.dosing import Protocol
from nursestation.errors import DomainError

NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def nurse(ctx: AppContext, username: str = "rn.ana", role: str = "nurse") -> Actor:
    provision_user(ctx, username=username, full_name=username, roles={role}, password=PASSWORD)
    return authenticate(ctx, username, PASSWORD)


def seated(ctx: AppContext, actor: Actor, chair: str = "1", mrn: str = "K-1") -> int:
    register_patient(
        ctx,
        actor,
        mrn=mrn,
        name="Doe, Jane",
        dob=date(1985, 4, 2),
        weight_kg=70,
        sex="male",
    )
    s = sessions.check_in(
        ctx, actor, mrn=mrn, chair=chair, protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST
    )
    return s.id


def started(ctx: AppContext, actor: Actor, clock: Any, chair: str = "1", mrn: str = "K-1") -> int:
    sid = seated(ctx, actor, chair, mrn)
    vitals.record_vitals(ctx, actor, sid, NORMAL)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, actor, sid)
    clock.advance(minutes=5)
    return sid


def events(ctx: AppContext) -> list[tuple[str, str, str]]:
    with ctx.tx() as s:
        rows = s.execute(select(AlarmEvent).order_by(AlarmEvent.id)).scalars()
        return [(r.event, r.priority, r.category) for r in rows]


def audit_actions(ctx: AppContext, prefix: str = "alarm.") -> list[str]:
    with ctx.tx() as s:
        rows = s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars()
        return [a for a in rows if a.startswith(prefix)]


def test_critical_reading_raises_high_alarm_persisted_and_audited(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    assert alarms.highest_alarm(ctx, "1") is None
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 210, "dbp": 100}, soft_confirmed=True)
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None
    assert (badge.priority, badge.marker, badge.colour) == ("high", "***", "red")
    assert "SBP 210" in badge.text and not badge.acknowledged and not badge.technical
    assert badge.flash_hz > 0 and badge.audio_paused_s is None
    assert badge.count >= 1
    assert ("raised", "high", "physiological") in events(ctx)
    assert "alarm.raised" in audit_actions(ctx)
    with ctx.tx() as s:
        row = s.execute(select(AlarmEvent).where(AlarmEvent.priority == "high")).scalars().first()
        assert row.session_id == sid and row.chair == "1"


def test_baseline_change_alarm_uses_the_pre_infusion_baseline(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    # HR 76 -> 118: below the absolute action limit (120), but 55 % above baseline (critical 50 %).
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "hr": 118})
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.priority == "high"
    assert "baseline 76" in badge.text


def test_high_alarm_latches_until_acknowledged(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "spo2": 86}, soft_confirmed=True)
    clock.advance(minutes=1)
    vitals.record_vitals(ctx, ana, sid, NORMAL)
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.priority == "high"  # latched
    assert "condition_ended" in [e for e, _, _ in events(ctx)]
    alarms.acknowledge_alarm(ctx, ana, "1")
    assert alarms.highest_alarm(ctx, "1") is None
    assert audit_actions(ctx)[-2:] == ["alarm.acknowledged", "alarm.cleared"]


def test_acknowledged_alarm_stays_visible_while_condition_persists(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 210, "dbp": 100}, soft_confirmed=True)
    alarms.acknowledge_alarm(ctx, ana, "1")
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.acknowledged
    with ctx.tx() as s:
        acks = s.execute(select(AlarmEvent).where(AlarmEvent.event == "acknowledged")).scalars()
        acks = list(acks)
        assert len(acks) == 3  # SBP critical, MAP action, DBP advisory
        assert {a.user_id for a in acks} == {ana.user_id}


def test_audio_pause_counts_down_and_higher_priority_breaks_through(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 100})  # action -> medium
    assert alarms.highest_alarm(ctx, "1").priority == "medium"
    alarms.pause_alarm_audio(ctx, ana, "1")
    assert alarms.chair_alarms(ctx, "1").audio_on is False
    clock.advance(seconds=30)
    badge = alarms.highest_alarm(ctx, "1")
    assert badge.audio_paused_s == pytest.approx(90)
    assert badge.flash_hz == 0  # steady while paused
    clock.advance(seconds=10)
    vitals.record_vitals(
        ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 100, "spo2": 85}, soft_confirmed=True
    )
    state = alarms.chair_alarms(ctx, "1")
    assert state.audio_paused_remaining_s == 0 and state.audio_on
    assert state.highest.alarm.priority == "high"
    assert "breakthrough" in [e for e, _, _ in events(ctx)]


def test_audio_pause_expires_after_two_minutes_and_tone_returns(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 185, "dbp": 100})
    alarms.pause_alarm_audio(ctx, ana, "1")
    clock.advance(seconds=119)
    assert alarms.chair_alarms(ctx, "1").audio_on is False
    clock.advance(seconds=2)
    state = alarms.chair_alarms(ctx, "1")
    assert state.audio_on and state.audio_paused_remaining_s == 0
    assert audit_actions(ctx)[-1] == "alarm.audio_resumed"


def test_technical_alarms_are_kept_apart(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    alarms.raise_technical(ctx, "1", "device_link_lost", "Monitor link lost on /dev/ttyUSB0")
    badge = alarms.highest_alarm(ctx, "1")
    assert badge.technical and badge.priority == "medium"
    vitals.record_vitals(ctx, ana, sid, NORMAL)  # a normal reading does not clear it
    assert alarms.highest_alarm(ctx, "1").technical
    alarms.clear_technical(ctx, "1", "device_link_lost")
    assert alarms.highest_alarm(ctx, "1") is None
    assert ("raised", "medium", "technical") in events(ctx)
    assert ("cleared", "medium", "technical") in events(ctx)


def test_technical_alarm_on_an_empty_chair_has_no_session(ctx) -> None:
    alarms.raise_technical(ctx, "4", "device_link_lost", "Monitor link lost")
    with ctx.tx() as s:
        row = s.execute(select(AlarmEvent)).scalar_one()
        assert row.session_id is None and row.chair == "4"


def test_acknowledge_needs_a_clinical_role(ctx, clock) -> None:
    ana = nurse(ctx)
    admin = nurse(ctx, "admin", "administrator")
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "spo2": 86}, soft_confirmed=True)
    with pytest.raises(DomainError) as exc:
        alarms.acknowledge_alarm(ctx, admin, "1")
    assert exc.value.code == "not_permitted"
    with pytest.raises(DomainError):
        alarms.pause_alarm_audio(ctx, admin, "1")
    assert not alarms.highest_alarm(ctx, "1").acknowledged


def test_rolled_back_transaction_leaves_no_alarm_in_memory(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), ctx.tx() as s:
        from nursestation.db.models import VitalReading

        s.add(
            VitalReading(
                session_id=sid,
                observed_at=clock.now(),
                recorded_at=clock.now(),
                spo2=80,
                source="device",
                device_port="loop://",
                device_protocol="nonin-df8",
            )
        )
        s.flush()
        alarms.on_reading_stored(ctx, s, sid)
        assert alarms.alarm_center(ctx).badge("1") is not None
        raise Boom
    assert alarms.highest_alarm(ctx, "1") is None
    assert events(ctx) == []


def test_correction_reevaluates_alarms(ctx, clock) -> None:
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    rec = vitals.record_vitals(ctx, ana, sid, {**NORMAL, "spo2": 86}, soft_confirmed=True)
    assert alarms.highest_alarm(ctx, "1").priority == "high"
    vitals.correct_vitals(ctx, ana, rec.id, {"spo2": 96}, "typo: 96 not 86")
    # High latches: the condition is over but the alarm waits for an acknowledgement.
    assert alarms.highest_alarm(ctx, "1").priority == "high"
    alarms.acknowledge_alarm(ctx, ana, "1")
    assert alarms.highest_alarm(ctx, "1") is None


def test_restart_restores_alarms_of_open_sessions(station, clock) -> None:
    ctx = AppContext.open(station, clock=clock)
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 210, "dbp": 100}, soft_confirmed=True)
    # A later device reading carrying only SpO2 must not hide the BP alarm after restart.
    with ctx.tx() as s:
        from nursestation.db.models import VitalReading

        clock.advance(minutes=1)
        s.add(
            VitalReading(
                session_id=sid,
                observed_at=clock.now(),
                recorded_at=clock.now(),
                spo2=97,
                source="device",
                device_port="loop://",
                device_protocol="nonin-df8",
            )
        )
    ctx.close()

    ctx2 = AppContext.open(station, clock=clock)
    try:
        badge = alarms.highest_alarm(ctx2, "1")
        assert badge is not None and badge.priority == "high" and "SBP 210" in badge.text
        assert not badge.acknowledged
        # The same alarm comes back (one raise, no duplicate): it was stored with its source.
        assert events(ctx2).count(("raised", "high", "physiological")) == 1
        assert ("restored", "high", "physiological") not in events(ctx2)
    finally:
        ctx2.close()


def test_restart_raises_a_condition_no_stored_alarm_covers_as_restored(station, clock) -> None:
    """A breaching reading with no alarm stored for it (written around the alarm center, as
    rows from before alarm sources were stored) is raised at restart and logged `restored`."""
    from nursestation.db.models import VitalReading

    ctx = AppContext.open(station, clock=clock)
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    with ctx.tx() as s:
        s.add(
            VitalReading(
                session_id=sid,
                observed_at=clock.now(),
                recorded_at=clock.now(),
                sbp=210,
                dbp=100,
                source="manual",
                entered_by=ana.user_id,
            )
        )
    ctx.close()
    ctx2 = AppContext.open(station, clock=clock)
    try:
        badge = alarms.highest_alarm(ctx2, "1")
        assert badge is not None and "SBP 210" in badge.text and not badge.acknowledged
        assert ("restored", "high", "physiological") in events(ctx2)
        assert "alarm.restored" in audit_actions(ctx2)
        # The note lists it like any other alarm (not hidden for lacking a "raised" row).
        with ctx2.tx() as s:
            content = build_note_content(ctx2, s, sid, clock.now(), 1)
        assert any("SBP 210" in a.text and a.acknowledged_by is None for a in content.alarms)
    finally:
        ctx2.close()


def test_acknowledgement_survives_a_restart_and_the_note_says_who_and_when(station, clock) -> None:
    """Issue 13: after a restart the note said two critical alarms were "NOT acknowledged"
    although the nurse had acknowledged them."""
    from datetime import timedelta

    ctx = AppContext.open(station, clock=clock)
    ana = nurse(ctx)
    ana_name = "rn.ana"  # nurse() gives the full name = the user name
    sid = started(ctx, ana, clock)
    vitals.record_vitals(
        ctx, ana, sid, {**NORMAL, "sbp": 210, "dbp": 100, "spo2": 85}, soft_confirmed=True
    )
    present = alarms.chair_alarms(ctx, "1").alarms
    assert len([d for d in present if d.alarm.priority == "high"]) >= 2
    clock.advance(seconds=40)
    acked_at = clock.now()
    alarms.acknowledge_alarm(ctx, ana, "1")
    before = {d.alarm.id: d.alarm for d in alarms.chair_alarms(ctx, "1").alarms}
    assert before and all(a.acknowledged for a in before.values())
    with ctx.tx() as s:  # stored when it happened: an alarm_events row and an audit row
        acks = list(
            s.execute(select(AlarmEvent).where(AlarmEvent.event == "acknowledged")).scalars()
        )
        assert {a.alarm_key for a in acks} == set(before)
        assert all(a.user_id == ana.user_id and a.at == acked_at for a in acks)
    assert audit_actions(ctx).count("alarm.acknowledged") == len(before)
    ctx.close()

    clock.advance(minutes=3)
    ctx2 = AppContext.open(station, clock=clock)
    try:
        after = {d.alarm.id: d.alarm for d in alarms.chair_alarms(ctx2, "1").alarms}
        assert set(after) == set(before)  # the same alarms, not new ones
        for key, a in after.items():
            assert a.acknowledged_by == ana_name and a.acknowledged_at == acked_at, key
        assert not alarms.chair_alarms(ctx2, "1").audio_on  # acknowledged alarms stay quiet
        assert ("restored", "high", "physiological") not in events(ctx2)
        with ctx2.tx() as s:
            content = build_note_content(ctx2, s, sid, clock.now(), 1)
        assert len([a for a in content.alarms if a.priority == "high"]) >= 2
        assert len(content.alarms) == len(before)
        for row in content.alarms:
            assert row.acknowledged_by == ana_name and row.acknowledged_at == acked_at
        # The conditions end after the restart: acknowledged alarms clear, nothing new is raised.
        clock.advance(minutes=1)
        vitals.record_vitals(ctx2, ana, sid, NORMAL)
        assert alarms.chair_alarms(ctx2, "1").alarms == ()
        with ctx2.tx() as s:
            content = build_note_content(ctx2, s, sid, clock.now() + timedelta(seconds=1), 1)
        assert all(a.acknowledged_by == ana_name for a in content.alarms)
        assert all("cleared" in a.response for a in content.alarms)
    finally:
        ctx2.close()


def test_closed_session_does_not_restore(station, clock) -> None:
    ctx = AppContext.open(station, clock=clock)
    try:
        assert alarms.highest_alarm(ctx, "1") is None
        assert events(ctx) == []
    finally:
        ctx.close()


def test_late_entry_observed_before_newer_reading_does_not_alarm(ctx, clock) -> None:
    from datetime import timedelta

    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    clock.advance(minutes=15)
    vitals.record_vitals(ctx, ana, sid, NORMAL)  # the newest observation: normal
    vitals.record_vitals(
        ctx,
        ana,
        sid,
        {**NORMAL, "spo2": 86},
        observed_at=clock.now() - timedelta(minutes=12),
        soft_confirmed=True,
    )
    assert alarms.highest_alarm(ctx, "1") is None
    # ...and the flowsheet still flags it.
    sheet = vitals.flowsheet(ctx, ana, sid)
    late = [r for r in sheet if r.record.late]
    assert late and late[0].flags["spo2"].tier == "critical"


# ---------------------------------------------------------------- session end


def test_not_treated_session_end_clears_its_alarms_and_the_next_patient_starts_clean(
    station, clock
) -> None:
    """SBP 200 at baseline raises a high alarm; the session ends not treated: the alarm is
    cleared ("cleared: session ended", by the nurse, audited), the chair shows none, the next
    patient checked into the chair starts with none, and a restart keeps it that way."""
    ctx = AppContext.open(station, clock=clock)
    try:
        ana = nurse(ctx)
        sid = seated(ctx, ana)
        vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 200, "dbp": 100}, soft_confirmed=True)
        badge = alarms.highest_alarm(ctx, "1")
        assert badge is not None and "SBP 200" in badge.text
        raised = badge.count  # SBP and the other breaches of this reading
        clock.advance(minutes=3)
        sessions.end_not_treated(ctx, ana, sid, "start_refused_at_baseline")
        assert alarms.highest_alarm(ctx, "1") is None
        assert alarms.chair_alarms(ctx, "1").alarms == ()
        with ctx.tx() as s:
            cleared = list(
                s.execute(
                    select(AlarmEvent).where(
                        AlarmEvent.event == "cleared", AlarmEvent.category == "physiological"
                    )
                ).scalars()
            )
            assert len(cleared) == raised
            assert any("SBP 200" in c.text for c in cleared)
            for c in cleared:
                assert c.session_id == sid and c.chair == "1"
                assert c.text.endswith("(cleared: session ended)")
                assert c.user_id == ana.user_id and c.at == clock.now()
            audit = s.execute(
                select(AuditEvent).where(AuditEvent.action == "alarm.cleared")
            ).scalars()
            assert [a.user_id for a in audit] == [ana.user_id] * raised
        # The next patient in chair 1: no alarm inherited, and normal readings raise none.
        nxt = seated(ctx, ana, mrn="K-2")
        assert alarms.highest_alarm(ctx, "1") is None
        vitals.record_vitals(ctx, ana, nxt, NORMAL)
        assert alarms.highest_alarm(ctx, "1") is None
    finally:
        ctx.close()
    ctx2 = AppContext.open(station, clock=clock)
    try:
        assert alarms.highest_alarm(ctx2, "1") is None
        assert alarms.chair_alarms(ctx2, "1").alarms == ()
        with ctx2.tx() as s:
            kinds = list(s.execute(select(AlarmEvent.event).order_by(AlarmEvent.id)).scalars())
        assert kinds == ["raised"] * raised + ["cleared"] * raised  # nothing restored
    finally:
        ctx2.close()


def test_session_end_clears_latched_and_acknowledged_alarms_but_keeps_technical_ones(
    ctx, clock
) -> None:
    ana = nurse(ctx)
    sid = seated(ctx, ana)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "spo2": 86}, soft_confirmed=True)
    clock.advance(minutes=1)
    vitals.record_vitals(ctx, ana, sid, NORMAL)  # SpO2 alarm now latched (high latches)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 200, "dbp": 100}, soft_confirmed=True)
    by_source = {d.alarm.source: d.alarm for d in alarms.chair_alarms(ctx, "1").alarms}
    alarms.acknowledge_alarm(ctx, ana, "1", by_source["sbp"].id)
    alarms.raise_technical(ctx, "1", "device_link_lost", "Monitor link lost")
    alarms.pause_alarm_audio(ctx, ana, "1")
    st = alarms.chair_alarms(ctx, "1")
    physio = {d.alarm.source: d.alarm for d in st.alarms if d.alarm.kind == "physiological"}
    assert physio["spo2"].state == "latched" and not physio["spo2"].acknowledged
    assert physio["sbp"].state == "acknowledged"
    assert st.audio_paused_remaining_s > 0
    sessions.end_not_treated(ctx, ana, sid, "patient_left")
    st = alarms.chair_alarms(ctx, "1")
    assert [(a.alarm.kind, a.alarm.source) for a in st.alarms] == [
        ("technical", "device_link_lost")
    ]
    # The pause was given for the patient's alarms: it ends with the session.
    assert st.audio_paused_remaining_s == 0 and st.audio_on
    n = len(physio)
    assert audit_actions(ctx)[-n - 1 :] == ["alarm.cleared"] * n + ["alarm.audio_resumed"]


def test_session_end_leaves_other_chairs_alone(ctx, clock) -> None:
    ana = nurse(ctx)
    one = seated(ctx, ana)
    two = seated(ctx, ana, chair="2", mrn="K-2")
    for sid in (one, two):
        vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 200, "dbp": 100}, soft_confirmed=True)
    sessions.end_not_treated(ctx, ana, one, "patient_left")
    assert alarms.highest_alarm(ctx, "1") is None
    badge = alarms.highest_alarm(ctx, "2")
    assert badge is not None and "SBP 200" in badge.text


def test_refused_session_end_keeps_the_alarms(ctx, clock) -> None:
    """end_not_treated refused (infusion started): nothing ends, the alarm stays."""
    ana = nurse(ctx)
    sid = started(ctx, ana, clock)
    vitals.record_vitals(ctx, ana, sid, {**NORMAL, "sbp": 210, "dbp": 100}, soft_confirmed=True)
    with pytest.raises(DomainError):
        sessions.end_not_treated(ctx, ana, sid, "patient_left")
    assert alarms.highest_alarm(ctx, "1") is not None
    assert "cleared" not in [e for e, _, _ in events(ctx)]


def test_discharge_approval_clears_the_session_alarms(ctx, clock, monkeypatch) -> None:
    from discharge_support import CHARGE_PW, complete_assessment, make_world, stand_in_for_note

    from nursestation.app import discharge as dc

    stand_in_for_note(monkeypatch)
    w = make_world(ctx, clock)
    vitals.record_vitals(ctx, w.nurse, w.sid, {"spo2": 86}, soft_confirmed=True)
    clock.advance(minutes=1)
    complete_assessment(w)  # SpO2 back to 98: the high alarm stays latched, unacknowledged
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.priority == "high" and not badge.acknowledged
    clock.advance(minutes=60)
    assert dc.get_status(ctx, w.nurse, w.sid).ready
    dc.approve_discharge(ctx, w.charge, w.sid, CHARGE_PW)
    assert alarms.highest_alarm(ctx, "1") is None
    with ctx.tx() as s:
        rows = s.execute(
            select(AlarmEvent).where(AlarmEvent.event == "cleared", AlarmEvent.session_id == w.sid)
        ).scalars()
        assert any(r.user_id == w.charge.user_id and "session ended" in r.text for r in rows)
