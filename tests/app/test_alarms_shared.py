"""Shared alarms (issue 15): two stations (two AppContexts) on one database. An alarm raised at
one shows at the other, an acknowledgement or audio pause given at one holds at both and
survives a restart, and two stations judging the same reading store exactly one raise.

On SQLite, and on PostgreSQL under the suite's engine switch (tests/pg_support.py)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from support import CHECKLIST_OK, PASSWORD

from nursestation.app import alarms, sessions, vitals
from nursestation.app.context import Actor, AppContext
from nursestation.app.patients import register_patient
from nursestation.app.users import authenticate, provision_user
from nursestation.config import StationConfig
from nursestation.db.models import AlarmEvent
from nursestation.dosing import Protocol

NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}
HIGH_BP = {**NORMAL, "sbp": 215, "dbp": 100}


@dataclass
class Clinic:
    a: AppContext
    b: AppContext
    config_b: StationConfig
    ana: Actor  # signed in at A
    ben: Actor  # signed in at B
    sid: int  # an infusing session in chair 1
    clock: Any

    def restart_b(self) -> None:
        self.b.close()
        self.b = AppContext.open(self.config_b, clock=self.clock)


@pytest.fixture
def clinic(station: StationConfig, clock: Any) -> Iterator[Clinic]:
    """Stations A and B on the test's database, nurse Ana at A and nurse Ben at B, Jane
    infusing in chair 1; B started (its alarm state restored) before anything alarms."""
    config = station
    config_a = replace(config, station="station-A")
    config_b = replace(config, station="station-B")
    a = AppContext.open(config_a, clock=clock)
    provision_user(a, username="rn.ana", full_name="Ana", roles={"nurse"}, password=PASSWORD)
    provision_user(a, username="rn.ben", full_name="Ben", roles={"nurse"}, password=PASSWORD)
    ana = authenticate(a, "rn.ana", PASSWORD)
    register_patient(
        a, ana, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="female"
    )
    sid = sessions.check_in(
        a, ana, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    vitals.record_vitals(a, ana, sid, NORMAL)
    clock.advance(minutes=2)
    sessions.start_infusion(a, ana, sid)
    clock.advance(minutes=5)
    b = AppContext.open(config_b, clock=clock)
    ben = authenticate(b, "rn.ben", PASSWORD)
    alarms.alarm_center(b)  # B is running (its alarm state restored) before anything alarms
    c = Clinic(a, b, config_b, ana, ben, sid, clock)
    try:
        yield c
    finally:
        c.a.close()
        c.b.close()


def stored(ctx: AppContext) -> list[tuple[str, str, str | None, str]]:
    with ctx.tx() as s:
        rows = s.execute(select(AlarmEvent).order_by(AlarmEvent.id)).scalars()
        return [(r.event, r.priority, r.source, r.alarm_key) for r in rows]


def shown(ctx: AppContext, chair: str = "1") -> dict[str, Any]:
    return {d.alarm.id: d.alarm for d in alarms.chair_alarms(ctx, chair).alarms}


def test_alarm_raised_at_one_station_shows_at_the_other(clinic: Clinic) -> None:
    assert shown(clinic.b) == {}
    vitals.record_vitals(clinic.a, clinic.ana, clinic.sid, HIGH_BP, soft_confirmed=True)
    at_a = shown(clinic.a)
    assert {a.priority for a in at_a.values()} == {"high", "medium", "low"}  # SBP, MAP, DBP
    at_b = shown(clinic.b)
    assert set(at_b) == set(at_a)  # the same alarms, under the same ids
    assert all(not a.acknowledged for a in at_b.values())
    assert alarms.highest_alarm(clinic.b, "1").priority == "high"
    assert alarms.chair_alarms(clinic.b, "1").audio_priority == "high"


def test_acknowledgement_at_b_shows_at_a_and_survives_b_restart(clinic: Clinic) -> None:
    vitals.record_vitals(clinic.a, clinic.ana, clinic.sid, HIGH_BP, soft_confirmed=True)
    ids = set(shown(clinic.b))
    clinic.clock.advance(seconds=20)
    acked_at = clinic.clock.now()
    alarms.acknowledge_alarm(clinic.b, clinic.ben, "1")
    at_a = shown(clinic.a)
    assert set(at_a) == ids
    assert all(
        a.acknowledged_by == "rn.ben" and a.acknowledged_at == acked_at for a in at_a.values()
    )
    assert not alarms.chair_alarms(clinic.a, "1").audio_on  # A's tone stops too
    clinic.clock.advance(minutes=1)
    clinic.restart_b()
    after = shown(clinic.b)
    assert set(after) == ids
    assert all(a.acknowledged_by == "rn.ben" for a in after.values())
    # Nothing raised twice by anybody: one raise per alarm, one acknowledgement per alarm.
    counts = Counter((e, key) for e, _, _, key in stored(clinic.a))
    assert all(counts[("raised", key)] == 1 for key in ids)
    assert all(counts[("acknowledged", key)] == 1 for key in ids)
    assert not any(e == "restored" for e, *_ in stored(clinic.a))


def test_second_station_judging_the_same_reading_raises_nothing_more(clinic: Clinic) -> None:
    """B has not looked at the alarms since A stored the reading (no tick ran at B): B judges
    the session again, as it does when it stores something for it, and must find A's alarms."""
    vitals.record_vitals(clinic.a, clinic.ana, clinic.sid, HIGH_BP, soft_confirmed=True)
    before = stored(clinic.a)
    with clinic.b.tx() as s:
        alarms.on_reading_stored(clinic.b, s, clinic.sid)
    assert stored(clinic.a) == before
    # And B keeps judging the shared alarms: the condition ends at B, the latched high waits.
    clinic.clock.advance(minutes=1)
    vitals.record_vitals(clinic.b, clinic.ben, clinic.sid, NORMAL)
    new = stored(clinic.a)[len(before) :]
    assert sorted((e, p) for e, p, _, _ in new) == [
        ("cleared", "low"),
        ("cleared", "medium"),
        ("condition_ended", "high"),
    ]
    assert {a.state for a in shown(clinic.a).values()} == {"latched"}


def test_audio_pause_at_a_silences_b_with_the_same_countdown(clinic: Clinic) -> None:
    vitals.record_vitals(clinic.a, clinic.ana, clinic.sid, HIGH_BP, soft_confirmed=True)
    assert alarms.chair_alarms(clinic.b, "1").audio_on
    alarms.pause_alarm_audio(clinic.a, clinic.ana, "1")
    clinic.clock.advance(seconds=30)
    st = alarms.chair_alarms(clinic.b, "1")
    assert not st.audio_on and st.audio_paused_remaining_s == pytest.approx(90)
    clinic.restart_b()  # a pause still running is restored at start-up
    st = alarms.chair_alarms(clinic.b, "1")
    assert not st.audio_on and st.audio_paused_remaining_s == pytest.approx(90)
    clinic.clock.advance(seconds=89)
    assert not alarms.chair_alarms(clinic.b, "1").audio_on  # just inside the 2 minutes
    clinic.clock.advance(seconds=2)
    assert alarms.chair_alarms(clinic.b, "1").audio_on  # just outside: the tone returns
    alarms.chair_alarms(clinic.a, "1")  # A ticks too: the pause's end is stored once
    assert [e for e, *_ in stored(clinic.a)].count("audio_resumed") == 1


def test_escalation_is_stored_once_whichever_station_ticks(clinic: Clinic) -> None:
    vitals.record_vitals(clinic.a, clinic.ana, clinic.sid, HIGH_BP, soft_confirmed=True)
    clinic.clock.advance(seconds=59)
    alarms.tick_alarms(clinic.a)
    alarms.tick_alarms(clinic.b)
    assert "escalated" not in [e for e, *_ in stored(clinic.a)]
    clinic.clock.advance(seconds=1)
    alarms.tick_alarms(clinic.b)
    alarms.tick_alarms(clinic.a)
    escalated = [(p, src) for e, p, src, _ in stored(clinic.a) if e == "escalated"]
    assert escalated == [("high", "sbp")]  # high escalates at 60 s; medium only at 180 s
    for ctx in (clinic.a, clinic.b):  # both stations hold the escalation
        high = [a for a in shown(ctx).values() if a.priority == "high"]
        assert high and all(a.escalated_at is not None for a in high)


def test_two_stations_judging_at_once_store_one_raise(clinic: Clinic) -> None:
    """Both stations evaluate the same stored reading in concurrent transactions: the alarm
    write lock lets one decide at a time, so each alarm is raised exactly once."""
    with clinic.a.tx() as s:
        from nursestation.db.models import VitalReading

        now = clinic.clock.now()
        s.add(
            VitalReading(
                session_id=clinic.sid, observed_at=now, recorded_at=now, spo2=84, source="manual"
            )
        )
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def judge(ctx: AppContext) -> None:
        try:
            go.wait()
            with ctx.tx() as s:
                alarms.on_reading_stored(ctx, s, clinic.sid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=judge, args=(c,)) for c in (clinic.a, clinic.b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    raised = [(p, src) for e, p, src, _ in stored(clinic.a) if e == "raised"]
    assert raised == [("high", "spo2")]
    assert set(shown(clinic.a)) == set(shown(clinic.b))


def test_alarm_decisions_wait_for_a_write_that_holds_the_audit_chain(clinic: Clinic) -> None:
    """An alarm decision at B waits while A's transaction extends the audit trail. On
    PostgreSQL it is the audit chain's own lock: with a separate lock, a use case that audits
    first and judges alarms after (record_vitals) and one that judges first and audits after
    (the monitor writer, center creation) deadlocked across stations. On SQLite every write
    transaction is one at a time (BEGIN IMMEDIATE)."""
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    postgres = clinic.a.engine.dialect.name == "postgresql"
    with pytest.raises(RuntimeError, match="release"), clinic.a.tx() as held:
        clinic.a.audit(held, clinic.ana, "test.hold", "alarm", "x")
        held.flush()
        if postgres:
            s2 = clinic.b.factory()
            try:
                s2.execute(text("SET LOCAL lock_timeout = '300ms'"))
                with pytest.raises(OperationalError, match="lock timeout"):
                    alarms.alarm_write_lock(s2)
            finally:
                s2.rollback()
                s2.close()
        else:
            raw = clinic.b.engine.raw_connection()
            try:
                raw.execute("PRAGMA busy_timeout=300")
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
            finally:
                raw.close()
        raise RuntimeError("release")  # rolls A's transaction back
    with clinic.b.tx() as s:  # free again once A's transaction ended
        alarms.alarm_write_lock(s)
