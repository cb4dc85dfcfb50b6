"""Optimistic version checks (issue 15): two stations change the same session; exactly one wins,
the other is refused with changed_elsewhere naming who changed it, where and when, and nothing
it sent is written. Through the use cases, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from discharge_support import BASELINE, CHARGE_PW, NURSE_PW
from sqlalchemy import func, select
from stations import open_station, sync_pg_url  # noqa: F401 - the fixture is used by name
from support import T0

from nursestation.app import discharge as dc
from nursestation.app import sessions
from nursestation.app.concurrency import ChangedElsewhere
from nursestation.app.context import AppContext
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.db.models import Assessment, InfusionEvent
from nursestation.errors import CHANGED_ELSEWHERE


def _infusing(ctx: AppContext, clock: FakeClock) -> dict[str, Any]:
    """A nurse and a charge nurse; Jane Doe's 40-min infusion in chair 1, 10 minutes in."""
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients, users, vitals
    from nursestation.dosing import Protocol

    for username, name, role, pw in (
        ("rn.ana", "Ana Ruiz, RN", "nurse", NURSE_PW),
        ("cn.ben", "Ben Ode, RN", "charge_nurse", CHARGE_PW),
    ):
        users.provision_user(ctx, username=username, full_name=name, roles={role}, password=pw)
    nurse = users.authenticate(ctx, "rn.ana", NURSE_PW)
    charge = users.authenticate(ctx, "cn.ben", CHARGE_PW)
    patients.register_patient(
        ctx, nurse, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70
    )
    sid = sessions.check_in(
        ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK
    ).id
    vitals.record_vitals(ctx, nurse, sid, BASELINE)
    clock.advance(minutes=2)
    sessions.start_infusion(ctx, nurse, sid)
    clock.advance(minutes=10)
    return {"nurse": nurse, "charge": charge, "sid": sid}


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Stations A and B on one database; Jane Doe's infusion 10 minutes in (at 14:12)."""
    clock = FakeClock(T0)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    else:
        url = request.getfixturevalue("sync_pg_url")
    a = AppContext.open(StationConfig(tmp_path / "a", url, "station-A"), clock=clock)
    built = _infusing(a, clock)
    b = open_station(a, "station-B")
    try:
        yield {"a": a, "b": b, "clock": clock, **built}
    finally:
        b.close()
        a.close()


def _events(ctx: AppContext, sid: int) -> int:
    with ctx.read_tx() as s:
        return int(
            s.execute(
                select(func.count(InfusionEvent.id)).where(InfusionEvent.session_id == sid)
            ).scalar_one()
        )


def test_the_second_change_on_the_same_version_is_refused_with_who_where_when(world) -> None:
    a, b, nurse, charge, sid = world["a"], world["b"], world["nurse"], world["charge"], world["sid"]
    seen_a = sessions.get_summary(a, nurse, sid).version
    seen_b = sessions.get_summary(b, charge, sid).version
    assert seen_a == seen_b
    sessions.pause_infusion(a, nurse, sid, "patient request", expected_version=seen_a)
    before = _events(b, sid)
    with pytest.raises(ChangedElsewhere) as refused:
        sessions.change_rate(b, charge, sid, 40, "slower", expected_version=seen_b)
    err = refused.value
    assert err.code == CHANGED_ELSEWHERE
    # who, where, when (the test clinic shows UTC)
    assert "at another station (station-A)" in err.message
    assert "Ana Ruiz, RN paused the infusion at 14:12" in err.message
    assert "What you entered is kept" in err.message
    assert "chair 1" in err.message
    assert _events(b, sid) == before  # nothing of B's was written
    state = sessions.get_summary(b, charge, sid).state
    assert state.phase == "paused" and state.set_rate_mg_per_h == pytest.approx(52.5)
    # B has now seen the change: a deliberate second attempt on the new version goes through.
    after = sessions.resume_infusion(b, charge, sid, expected_version=err.current_version)
    assert after.state.phase == "infusing"
    assert after.version == err.current_version + 1


def test_the_version_read_is_accepted_and_one_older_is_not(world) -> None:
    """At the boundary: the version just read wins; the one before it (a change ago) loses."""
    a, nurse, sid = world["a"], world["nurse"], world["sid"]
    v = sessions.get_summary(a, nurse, sid).version
    paused = sessions.pause_infusion(a, nurse, sid, "patient request", expected_version=v)
    assert paused.version == v + 1
    with pytest.raises(ChangedElsewhere) as refused:
        sessions.resume_infusion(a, nurse, sid, expected_version=v)
    assert "at this station" in refused.value.message
    assert sessions.resume_infusion(a, nurse, sid, expected_version=v + 1).version == v + 2


def test_a_change_without_a_version_still_moves_it(world) -> None:
    """Scenarios and the command line pass no version; a form open elsewhere still sees them."""
    a, b, nurse, charge, sid = world["a"], world["b"], world["nurse"], world["charge"], world["sid"]
    v = sessions.get_summary(b, charge, sid).version
    sessions.change_rate(a, nurse, sid, 45, "slower")  # no expected version
    with pytest.raises(ChangedElsewhere):
        sessions.pause_infusion(b, charge, sid, "patient request", expected_version=v)


def test_discharge_answers_saved_at_two_stations_on_one_version(world) -> None:
    a, b, nurse, charge, sid = world["a"], world["b"], world["nurse"], world["charge"], world["sid"]
    world["clock"].advance(minutes=30)
    sessions.stop_infusion(a, nurse, sid, "completed")
    view_a = dc.get_discharge(a, nurse, sid)
    view_b = dc.get_discharge(b, charge, sid)
    assert view_a.version == view_b.version
    dc.record_assessment(
        a, nurse, sid, answers={"escort_relationship": "husband"}, expected_version=view_a.version
    )
    with pytest.raises(ChangedElsewhere) as refused:
        dc.record_assessment(
            b,
            charge,
            sid,
            answers={"escort_relationship": "sister"},
            expected_version=view_b.version,
        )
    assert "recorded discharge answers" in refused.value.message
    assert dc.get_discharge(b, charge, sid).answers["escort_relationship"] == "husband"
    with b.read_tx() as s:
        kinds = s.execute(select(Assessment.items).where(Assessment.session_id == sid)).scalars()
        assert all("sister" not in str(items) for items in kinds)


def test_checklist_answers_changed_at_two_stations(world, tmp_path: Path) -> None:
    """Before the start: A's checklist change wins, B's on the same version is refused."""
    from datetime import date

    from support import CHECKLIST_OK

    from nursestation.app import patients
    from nursestation.dosing import Protocol

    a, b, nurse, charge = world["a"], world["b"], world["nurse"], world["charge"]
    patients.register_patient(
        a, nurse, mrn="K-2", name="Roe, Rick", dob=date(1979, 1, 5), weight_kg=80
    )
    sid = sessions.check_in(
        a, nurse, mrn="K-2", chair="2", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    v = sessions.get_summary(b, charge, sid).version
    sessions.update_checklist(a, nurse, sid, {"iv_site": "right hand"}, expected_version=v)
    with pytest.raises(ChangedElsewhere) as refused:
        sessions.update_checklist(b, charge, sid, {"iv_site": "left wrist"}, expected_version=v)
    assert "changed the checklist" in refused.value.message
    assert sessions.get_summary(b, charge, sid).checklist["iv_site"] == "right hand"


def test_two_stations_at_the_same_moment_exactly_one_wins(world) -> None:
    """Both stations send a change on the same version at once (threads released together):
    one is stored, the other refused; never both, never neither."""
    a, b, nurse, charge, sid = world["a"], world["b"], world["nurse"], world["charge"], world["sid"]
    v = sessions.get_summary(a, nurse, sid).version
    before = _events(a, sid)
    gate = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def change(name: str, ctx: AppContext, actor: Any, rate: float) -> None:
        gate.wait()
        try:
            sessions.change_rate(ctx, actor, sid, rate, "titration", expected_version=v)
            outcome[name] = "won"
        except ChangedElsewhere:
            outcome[name] = "refused"

    threads = [
        threading.Thread(target=change, args=("A", a, nurse, 45)),
        threading.Thread(target=change, args=("B", b, charge, 40)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcome.values()) == ["refused", "won"], outcome
    assert _events(a, sid) == before + 1
    winner_rate = 45 if outcome["A"] == "won" else 40
    state = sessions.get_summary(b, charge, sid).state
    assert state.set_rate_mg_per_h == pytest.approx(winner_rate)
