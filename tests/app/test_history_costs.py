"""Costs that do not grow with history (issue 19): the board and the discharge-readiness check read
a bounded number of rows by index, and give exactly what the old read-everything code gave.

Equality is checked against reference implementations of the old behaviour (all current rows
loaded, then picked in Python) on mixed data: manual and device rows, missing vitals, equal
observation times, corrections. Boundedness is counted (SQL statements, ORM rows loaded), never
timed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, insert, select
from support import T0

from nursestation.app import board, discharge, sessions
from nursestation.app.discharge import latest_snapshot
from nursestation.db.models import VitalReading
from nursestation.db.queries import drop_superseded, sedation_readings, snapshot_readings


def _row(sid: int, at: datetime, rng: random.Random, **extra: object) -> dict[str, object]:
    def maybe(value: float) -> float | None:
        return value if rng.random() < 0.6 else None

    sbp = maybe(rng.randint(95, 160))
    return {
        "session_id": sid,
        "observed_at": at,
        "recorded_at": at,
        "source": rng.choice(["device", "manual"]),
        "sbp": sbp,
        "dbp": (rng.randint(55, 95) if rng.random() < 0.9 else None) if sbp else None,
        "hr": maybe(rng.randint(55, 110)),
        "pulse_rate": maybe(rng.randint(55, 110)),
        "spo2": maybe(rng.randint(90, 100)),
        "rr": maybe(rng.randint(10, 20)),
        "temp_c": maybe(36.5) if rng.random() < 0.3 else None,
        "on_room_air": rng.choice([None, True, False]),
        "sedation_scale": None,
        "sedation_score": None,
        **extra,
    }


def _fill(ctx, sid: int, seed: int, n: int = 120) -> None:  # type: ignore[no-untyped-def]
    """n readings from T0+6 min, some at the same second, some corrected (several times)."""
    rng = random.Random(seed)
    rows = []
    at = T0 + timedelta(minutes=6)
    for _ in range(n):
        at += timedelta(seconds=rng.choice([0, 1, 1, 5, 30]))  # 0: equal times, id decides
        extra = {}
        if rng.random() < 0.05:
            extra = {"sedation_scale": rng.choice(["moaas", "rass"]), "sedation_score": 4.0}
        rows.append(_row(sid, at, rng, **extra))
    with ctx.engine.begin() as conn:
        conn.execute(insert(VitalReading.__table__), rows)
    with ctx.tx() as s:
        ids = list(
            s.execute(select(VitalReading.id).where(VitalReading.session_id == sid)).scalars()
        )
        for target in rng.sample(ids, 15):  # corrections, newest rows included by chance
            old = s.get(VitalReading, target)
            assert old is not None
            fix = _row(sid, old.observed_at, rng, supersedes_id=target, correction_reason="typo")
            s.add(VitalReading(**fix))
            s.flush()
        newest = max(ids)  # and a correction of the newest row: the second newest must show
        s.add(
            VitalReading(
                **_row(sid, at, rng, supersedes_id=newest, correction_reason="wrong patient")
            )
        )


def _all_current(ctx, sid: int) -> list[VitalReading]:  # type: ignore[no-untyped-def]
    with ctx.tx() as s:
        rows = s.execute(select(VitalReading).where(VitalReading.session_id == sid)).scalars()
        return sorted(drop_superseded(rows), key=lambda r: (r.observed_at, r.id))


def _old_latest(rows: list[VitalReading]) -> board.LatestVitals | None:
    """The board's latest vitals as the code before issue 19 computed them."""
    newest_first = list(reversed(rows))
    if not newest_first:
        return None

    def first(pred):  # type: ignore[no-untyped-def]
        return next((r for r in newest_first if pred(r)), None)

    hr = first(lambda r: r.hr is not None or r.pulse_rate is not None)
    spo2 = first(lambda r: r.spo2 is not None)
    rr = first(lambda r: r.rr is not None)
    bp = first(lambda r: r.sbp is not None)
    return board.LatestVitals(
        observed_at=newest_first[0].observed_at,
        sbp=bp.sbp if bp else None,
        dbp=bp.dbp if bp else None,
        hr=(hr.hr if hr.hr is not None else hr.pulse_rate) if hr else None,
        spo2=spo2.spo2 if spo2 else None,
        rr=rr.rr if rr else None,
        source=newest_first[0].source,
        bp_at=bp.observed_at if bp else None,
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_latest_vitals_by_index_equal_the_full_scan(ctx, people, infusing, seed) -> None:
    _fill(ctx, infusing, seed)
    expected = _old_latest(_all_current(ctx, infusing))
    card = {c.chair: c for c in board.board_cards(ctx, people["nurse"])}["1"]
    assert card.latest == expected


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_discharge_snapshot_from_few_rows_equals_all_rows(ctx, infusing, seed) -> None:
    _fill(ctx, infusing, seed)
    everything = _all_current(ctx, infusing)
    # `since` before, inside (also exactly on a reading) and after the data
    for since in (
        None,
        T0,
        everything[len(everything) // 2].observed_at,
        everything[-3].observed_at + timedelta(microseconds=1),
        everything[-1].observed_at + timedelta(hours=1),
    ):
        with ctx.tx() as s:
            few = snapshot_readings(s, infusing, since)
            assert len(few) <= 6
            for on_air in (None, True, False):
                assert latest_snapshot(few, since, on_air) == latest_snapshot(
                    everything, since, on_air
                )


def test_sedation_readings_are_the_current_scored_rows_in_id_order(ctx, infusing) -> None:
    _fill(ctx, infusing, 7, n=300)
    expected = sorted(
        (r for r in _all_current(ctx, infusing) if r.sedation_score is not None),
        key=lambda r: r.id,
    )
    with ctx.tx() as s:
        got = sedation_readings(s, infusing)
    assert [r.id for r in got] == [r.id for r in expected]
    assert expected  # the data has some


def test_board_refresh_is_bounded_whatever_the_history(ctx, people, infusing, clock) -> None:
    """SQL statements and ORM rows of one board refresh: the same with 10 minutes and with 2 hours
    of 1 Hz monitor data, for a chair infusing and a chair in observation (whose discharge
    readiness is evaluated on each refresh)."""
    from support import CHECKLIST_OK

    from nursestation.app import patients
    from nursestation.dosing import Protocol

    nurse = people["nurse"]
    # a slow pump keeps chair 1 infusing for the whole 2 h (35 mg at 5 mg/h): both refreshes
    # compare the same phases
    sessions.change_rate(ctx, nurse, infusing, 5.0, "slowed for the test")
    patients.register_patient(
        ctx,
        nurse,
        mrn="K-2",
        name="Roe, Ann",
        dob=datetime(1990, 1, 1).date(),
        weight_kg=60,
        sex="female",
        reproductive_potential=False,
    )
    other = sessions.check_in(
        ctx, nurse, mrn="K-2", chair="2", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    from nursestation.app import vitals

    vitals.record_vitals(ctx, nurse, other, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 99, "rr": 12})
    sessions.start_infusion(ctx, nurse, other)
    clock.advance(minutes=1)
    sessions.stop_infusion(ctx, nurse, other, "completed")

    statements: list[str] = []
    loaded: list[object] = []

    def on_sql(*args: object) -> None:
        statements.append(str(args[2]))

    def on_load(target: object, _context: object) -> None:
        loaded.append(target)

    def one_refresh() -> tuple[int, int]:
        ctx.data_written()  # as after a write: nothing reused (the rows went in around the app)
        statements.clear()
        loaded.clear()
        board.board_cards(ctx, nurse)
        return len(statements), len(loaded)

    def stream(seconds: int, start: datetime) -> None:
        rows = []
        for sid in (infusing, other):
            for k in range(seconds):
                at = start + timedelta(seconds=k)
                rows.append(
                    {
                        "session_id": sid,
                        "observed_at": at,
                        "recorded_at": at,
                        "source": "device",
                        "spo2": 97.0,
                        "pulse_rate": 72.0,
                        "sbp": 120.0 if k % 120 == 0 else None,
                        "dbp": 80.0 if k % 120 == 0 else None,
                    }
                )
        with ctx.engine.begin() as conn:
            conn.execute(insert(VitalReading.__table__), rows)

    start = clock.now()
    stream(600, start)
    clock.set(start + timedelta(seconds=600))
    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    event.listen(VitalReading, "load", on_load)
    try:
        one_refresh()  # warm: the alarm center restores itself on first use
        short = one_refresh()
        event.remove(ctx.engine, "before_cursor_execute", on_sql)
        stream(7200 - 600, start + timedelta(seconds=600))
        clock.set(start + timedelta(seconds=7200))
        event.listen(ctx.engine, "before_cursor_execute", on_sql)
        long = one_refresh()
    finally:
        event.remove(VitalReading, "load", on_load)
        if event.contains(ctx.engine, "before_cursor_execute", on_sql):
            event.remove(ctx.engine, "before_cursor_execute", on_sql)
    cards = {c.chair: c for c in board.board_cards(ctx, nurse)}
    assert cards["1"].phase == "infusing" and cards["2"].phase == "observation"
    assert long == short
    statements_n, rows_n = long
    # Per chair: five newest-vital lookups on the board, at most six for the discharge snapshot
    # plus the sedation rows (none here), a baseline: a few dozen rows, never thousands.
    assert rows_n <= 30
    assert statements_n <= 80


def test_readiness_data_is_reloaded_after_a_write_and_reused_otherwise(
    ctx, people, infusing, clock, monkeypatch
) -> None:
    """The readiness check of a session summary (the session view; the board keeps its own,
    below) loads the session's discharge data again only when this process wrote something
    (or after READY_REUSE_S), and then sees the new data."""
    from nursestation.app import discharge, vitals

    nurse = people["nurse"]
    clock.advance(minutes=1)
    sessions.stop_infusion(ctx, nurse, infusing, "completed")
    loads: list[int] = []
    real = discharge.load_recorded

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(discharge, "load_recorded", counting)
    sessions.get_summary(ctx, nurse, infusing)
    n = len(loads)
    assert n == 1
    clock.advance(seconds=1)
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == n  # nothing written: reused (the evaluation still runs at the new now)
    vitals.record_vitals(ctx, nurse, infusing, {"sbp": 120, "dbp": 80, "hr": 70})
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == n + 1  # a write: loaded again
    clock.advance(seconds=discharge.READY_REUSE_S + 1)
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == n + 2  # and at least every READY_REUSE_S


def test_a_monitor_second_rereads_only_the_vital_signs_of_the_readiness_data(
    ctx, people, infusing, clock, monkeypatch
) -> None:
    """A monitor second (device rows and alarms only) moves ctx.data_version but not
    ctx.other_version: a session summary (the session view) re-reads the readiness data's
    vital-sign part by index and keeps the rest, and what it then holds equals a full reload.
    A nurse's entry reloads all."""
    from nursestation.app import devices, discharge, vitals
    from nursestation.devices.reading import VALID, make_reading

    nurse = people["nurse"]
    clock.advance(minutes=1)
    sessions.stop_infusion(ctx, nurse, infusing, "completed")
    loads: list[int] = []
    real = discharge.load_recorded

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(discharge, "load_recorded", counting)
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == 1
    other, version = ctx.other_version, ctx.data_version
    clock.advance(seconds=1)
    host = clock.now()
    readings = [
        make_reading("masimo-ascii", p, v, VALID, None, host, host, "EQ1")
        for p, v in (("spo2", 95.0), ("pulse_rate", 88.0))  # within limits: no alarm
    ]
    devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", readings)
    assert ctx.data_version > version and ctx.other_version == other
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == 1  # the rest kept: only the vital-sign part read again
    cached = ctx.ready_cache[infusing][4]
    assert cached.latest is not None and cached.latest.spo2 == 95.0 and cached.latest.hr == 88.0
    with ctx.read_tx() as s:
        row = s.get(sessions.InfusionSession, infusing)
        fresh = real(ctx, s, row)
    assert cached.latest == fresh.latest and cached.baseline == fresh.baseline
    assert cached.sedation == fresh.sedation
    assert cached.evaluate(clock.now()) == fresh.evaluate(clock.now())
    vitals.record_vitals(ctx, nurse, infusing, {"sbp": 120, "dbp": 80, "hr": 70})
    assert ctx.other_version > other  # a nurse's entry (with its audit row)
    sessions.get_summary(ctx, nurse, infusing)
    assert len(loads) == 2


def test_settings_derived_objects_are_built_once_per_settings_object(ctx) -> None:
    """ctx.per_settings reuses what it built until ctx.settings is replaced."""
    from nursestation.app import medications

    built: list[object] = []

    def build(settings: object) -> object:
        built.append(settings)
        return object()

    first = ctx.per_settings("probe", build)
    assert ctx.per_settings("probe", build) is first and len(built) == 1
    assert medications.formulary(ctx) is medications.formulary(ctx)
    ctx.settings = ctx.settings.with_overrides({}, "test")
    assert ctx.per_settings("probe", build) is not first and len(built) == 2


def test_reassessment_timers_reread_only_after_a_nurses_write(ctx, people, infusing, clock) -> None:
    """The board's reassessment timers (every chair, every second) read the doses again only
    after a write other than the monitor stream's, or after READY_REUSE_S; the existing
    timer test (tests/app/test_medications.py) shows a response is seen at once."""
    from nursestation.app import devices, medications
    from nursestation.devices.reading import VALID, make_reading

    statements: list[str] = []

    def on_sql(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    try:
        medications.reassessments_for_chair(ctx, infusing)
        assert statements  # first call reads
        statements.clear()
        host = clock.now()
        reading = make_reading("masimo-ascii", "spo2", 97.0, VALID, None, host, host, "EQ1")
        devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", [reading])
        statements.clear()
        medications.reassessments_for_chair(ctx, infusing)
        assert statements == []  # a monitor second: reused
        ctx.data_written()
        medications.reassessments_for_chair(ctx, infusing)
        assert any("medication_administrations" in x for x in statements)
        statements.clear()
        clock.advance(seconds=medications.READY_REUSE_S + 1)
        medications.reassessments_for_chair(ctx, infusing)
        assert any("medication_administrations" in x for x in statements)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", on_sql)


def test_alarm_baseline_is_reused_but_follows_a_late_bp_before_the_start(
    ctx, people, infusing, clock
) -> None:
    """The alarm evaluation keeps each session's baseline between monitor seconds, and still
    takes a device BP observed before the infusion started but stored after it (a batch kept
    for a retry) exactly as a fresh session_baseline would."""
    from nursestation.app import alarms, devices
    from nursestation.devices.reading import VALID, make_reading

    center = alarms.alarm_center(ctx)
    start = T0 + timedelta(minutes=5)  # the `infusing` fixture's start

    def second(params: tuple[tuple[str, float], ...], host: datetime) -> None:
        readings = [
            make_reading("masimo-ascii", p, v, VALID, None, host, host, "EQ1") for p, v in params
        ]
        devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", readings)

    def fresh() -> object:
        with ctx.read_tx() as s:
            return alarms.session_baseline(s, infusing)

    clock.advance(minutes=1)
    second((("spo2", 97.0),), clock.now())
    cached = center._baselines[infusing]
    assert cached[2] == fresh() and cached[2] is not None and cached[2].sbp == 128
    clock.advance(seconds=1)
    second((("spo2", 96.0),), clock.now())
    assert center._baselines[infusing] is cached  # a monitor second: reused
    # a BP observed 30 s before the start, delivered now: the newest reading before the start
    second((("sbp", 150.0), ("dbp", 90.0)), start - timedelta(seconds=30))
    assert center._baselines[infusing][2] == fresh()
    assert center._baselines[infusing][2].sbp == 150


# ---------------------------------------------------------------- the monitor writer (perfcpu)


def _second(ctx, chair: str, host: datetime, **values: float):  # type: ignore[no-untyped-def]
    from nursestation.app import devices
    from nursestation.devices.reading import VALID, make_reading

    readings = [
        make_reading("masimo-ascii", p, v, VALID, None, host, host, f"EQ{chair}")
        for p, v in (values or {"spo2": 97.0, "pulse_rate": 72.0}).items()
    ]
    return devices.ingest_readings(ctx, chair, f"/dev/pts/{chair}", "masimo-ascii", readings)


def _check_in_second(ctx, nurse, chair: str, mrn: str) -> int:  # type: ignore[no-untyped-def]
    from support import CHECKLIST_OK

    from nursestation.app import patients
    from nursestation.dosing import Protocol

    patients.register_patient(
        ctx,
        nurse,
        mrn=mrn,
        name=f"Roe, {mrn}",
        dob=datetime(1990, 1, 1).date(),
        weight_kg=60,
        sex="female",
        reproductive_potential=False,
    )
    return sessions.check_in(
        ctx, nurse, mrn=mrn, chair=chair, protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id


def test_writer_sees_a_session_ended_and_one_opened_at_once(ctx, people, checked_in, clock) -> None:
    """The monitor writer keeps the chairs' open sessions between seconds (no query per chair
    and second), yet the batch right after a session ends goes to no session, and the batch
    right after a new check-in goes to the new session: the same as reading them each time."""
    nurse = people["nurse"]
    statements: list[str] = []

    def on_sql(*args: object) -> None:
        statements.append(str(args[2]))

    for _ in range(2):  # the first also restores the alarm center (audited): read again once
        clock.advance(seconds=1)
        assert _second(ctx, "1", clock.now()).session_id == checked_in
    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    try:
        clock.advance(seconds=1)
        assert _second(ctx, "1", clock.now()).session_id == checked_in
    finally:
        event.remove(ctx.engine, "before_cursor_execute", on_sql)
    assert not any("FROM infusion_sessions" in x for x in statements), statements  # kept
    sessions.end_not_treated(ctx, nurse, checked_in, "patient_left")
    clock.advance(seconds=1)
    ended = _second(ctx, "1", clock.now())
    assert ended.session_id is None and ended.vital_ids == ()  # device_readings only
    other = _check_in_second(ctx, nurse, "1", "K-2")
    clock.advance(seconds=1)
    res = _second(ctx, "1", clock.now())
    assert res.session_id == other and len(res.vital_ids) == 1
    with ctx.read_tx() as s:
        row = s.get(VitalReading, res.vital_ids[0])
        assert row is not None and row.session_id == other


def test_writer_sees_another_stations_check_in_and_end_at_once(
    ctx, people, checked_in, clock
) -> None:
    """Another process (a second station on the same database) ends the chair's session and
    checks a new patient in: this station's very next monitor second follows (the change mark
    is the newest audit row, written by every use case in any process)."""
    from nursestation.app.context import AppContext

    nurse = people["nurse"]
    clock.advance(seconds=1)
    assert _second(ctx, "1", clock.now()).session_id == checked_in
    other_station = AppContext.open(ctx.config, clock=clock, settings=ctx.settings)
    try:
        sessions.end_not_treated(other_station, nurse, checked_in, "patient_left")
        clock.advance(seconds=1)
        assert _second(ctx, "1", clock.now()).session_id is None
        new = _check_in_second(other_station, nurse, "1", "K-3")
        clock.advance(seconds=1)
        assert _second(ctx, "1", clock.now()).session_id == new
    finally:
        other_station.close()


def test_writer_rows_equal_what_the_orm_wrote(ctx, people, infusing, clock) -> None:
    """The stream's rows go in with one executemany per table: every column as the ORM unit
    of work wrote it (model defaults included), ids in batch order, NIBP once per measurement
    even when the same measurement comes twice in one call."""
    from nursestation.app import devices
    from nursestation.db.models import DeviceReading
    from nursestation.devices.reading import VALID, make_reading

    clock.advance(minutes=1)
    host = clock.now()
    measured = host - timedelta(seconds=20)

    def hl7(at: datetime) -> list:  # type: ignore[type-arg]
        return [
            make_reading("hl7-mllp", p, v, VALID, None, measured, at, "EQ9")
            for p, v in (("sbp", 131.0), ("dbp", 84.0), ("map", 99.0))
        ] + [make_reading("hl7-mllp", "hr", 70.0, VALID, None, at, at, "EQ9")]

    results = devices.ingest_batches(
        ctx,
        [
            ("1", "/dev/pts/1", "hl7-mllp", hl7(host)),
            ("2", "/dev/pts/2", "hl7-mllp", hl7(host)),  # no session in chair 2
            ("1", "/dev/pts/1", "hl7-mllp", hl7(host + timedelta(seconds=1))),  # NIBP repeat
        ],
    )
    assert [r.session_id for r in results] == [infusing, None, infusing]
    assert [r.nibp_repeats for r in results] == [0, 0, 3]
    assert [len(r.vital_ids) for r in results] == [1, 0, 1]
    with ctx.read_tx() as s:
        first = s.get(VitalReading, results[0].vital_ids[0])
        second = s.get(VitalReading, results[2].vital_ids[0])
        assert first is not None and second is not None
        assert (first.sbp, first.dbp, first.map, first.hr) == (131.0, 84.0, 99.0, 70.0)
        assert (second.sbp, second.hr) == (None, 70.0)
        for row in (first, second):
            assert (row.late, row.soft_confirmed, row.is_baseline) == (False, False, False)
            assert row.source == "device" and row.device_protocol == "hl7-mllp"
            assert row.device_id == "EQ9" and row.entered_by is None
            assert row.supersedes_id is None and row.on_room_air is None
        assert first.recorded_at == host and first.observed_at == host
        device = list(s.execute(select(DeviceReading).order_by(DeviceReading.id)).scalars())
    assert [d.chair for d in device] == ["1"] * 4 + ["2"] * 4 + ["1"] * 4
    assert [d.session_id for d in device] == [infusing] * 4 + [None] * 4 + [infusing] * 4
    assert [d.param for d in device[:4]] == ["sbp", "dbp", "map", "hr"]


# ---------------------------------------------------------------- the board's kept summaries


def _fresh_cards(ctx, nurse):  # type: ignore[no-untyped-def]
    """The cards as a station started now on the same database reads them: a full reload."""
    from nursestation.app.context import AppContext

    restarted = AppContext.open(ctx.config, clock=ctx.clock, settings=ctx.settings)
    try:
        return board.board_cards(restarted, nurse)
    finally:
        restarted.close()


def test_board_summaries_kept_up_to_date_equal_a_full_reload(ctx, people, infusing, clock) -> None:
    """The board keeps each chair's card data between refreshes and merges the rows stored
    since; after monitor seconds (with a BP, and one arriving late), a nurse's entry, a
    correction, another station's monitor second and entry, and rows written around the app,
    its cards equal those of a station started afresh (restart = full reload), for a chair
    infusing and one in observation (its discharge readiness included). (Another station's
    stream stays below the alarm limits: the alarm state is each station's own, in memory.)"""
    from nursestation.app import vitals
    from nursestation.app.context import AppContext

    nurse = people["nurse"]
    other = _check_in_second(ctx, nurse, "2", "K-2")
    vitals.record_vitals(ctx, nurse, other, {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 99, "rr": 12})
    sessions.start_infusion(ctx, nurse, other)
    clock.advance(minutes=1)
    sessions.stop_infusion(ctx, nurse, other, "completed")

    def same() -> None:
        kept = board.board_cards(ctx, nurse)
        fresh = _fresh_cards(ctx, nurse)
        for a, b in zip(kept, fresh, strict=True):
            for name in a.__dataclass_fields__:
                assert getattr(a, name) == getattr(b, name), (a.chair, name)

    same()
    for k in range(3):
        clock.advance(seconds=1)
        _second(ctx, "1", clock.now(), spo2=96.0 + k, pulse_rate=80.0)
        _second(ctx, "2", clock.now(), spo2=97.0, hr=71.0 + k, rr=13.0)
        same()
    clock.advance(seconds=1)
    _second(ctx, "2", clock.now(), sbp=118.0, dbp=76.0)
    same()
    _second(ctx, "2", clock.now() - timedelta(seconds=30), spo2=91.0)  # late: not the newest
    same()
    cards = {c.chair: c for c in board.board_cards(ctx, nurse)}
    assert cards["2"].latest is not None and cards["2"].latest.spo2 == 97.0
    assert cards["2"].latest.sbp == 118.0
    clock.advance(minutes=1)
    manual = vitals.record_vitals(ctx, nurse, other, {"sbp": 112, "dbp": 70, "hr": 66})
    same()
    vitals.correct_vitals(ctx, nurse, manual.id, {"sbp": 110}, "typo")
    same()
    station_b = AppContext.open(ctx.config, clock=clock, settings=ctx.settings)
    try:
        clock.advance(seconds=1)
        _second(station_b, "1", clock.now(), spo2=96.0, pulse_rate=90.0)  # no alarm: see below
        same()
        vitals.record_vitals(station_b, nurse, other, {"rr": 15})
        same()
    finally:
        station_b.close()
    clock.advance(seconds=1)
    with ctx.engine.begin() as conn:  # around the app, no ctx.data_written(): still seen
        conn.execute(
            insert(VitalReading.__table__),
            [
                _row(
                    infusing,
                    clock.now(),
                    random.Random(5),
                    source="device",
                    **{"sbp": None, "dbp": None, "temp_c": None},
                    **{"hr": 75.0, "pulse_rate": 75.0, "spo2": 97.0, "rr": 14.0},
                )
            ],
        )
    same()
    with ctx.read_tx() as s:  # a correction written around the app (no audit row): reloaded
        newest = max(s.execute(select(VitalReading.id).where(VitalReading.session_id == infusing)))
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(VitalReading.__table__),
            [
                _row(
                    infusing,
                    clock.now(),
                    random.Random(6),
                    supersedes_id=newest[0],
                    correction_reason="wrong patient",
                    **{"sbp": None, "dbp": None, "temp_c": None, "hr": None},
                    **{"pulse_rate": None, "spo2": None, "rr": None},
                )
            ],
        )
    same()
    cards = {c.chair: c for c in board.board_cards(ctx, nurse)}
    assert cards["1"].phase == "infusing" and cards["2"].phase == "observation"


def test_an_unchanged_board_refresh_reads_no_chair(ctx, people, infusing, clock) -> None:
    """Nothing stored since the last refresh: the board reads the change mark, the rows stored
    since (none) and the alarm events stored since, nothing per chair; a monitor second adds no
    per-chair statement."""
    nurse = people["nurse"]
    statements: list[str] = []

    def on_sql(*args: object) -> None:
        statements.append(str(args[2]))

    board.board_cards(ctx, nurse)
    clock.advance(seconds=1)
    _second(ctx, "1", clock.now())
    board.board_cards(ctx, nurse)  # the first monitor second may raise or restore alarms
    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    try:
        for _ in range(2):
            clock.advance(seconds=1)
            board.board_cards(ctx, nurse)
            clock.advance(seconds=1)
            _second(ctx, "1", clock.now())
            statements.clear()
            board.board_cards(ctx, nurse)
            # SQLite's BEGIN is a statement here; psycopg sends PostgreSQL's BEGIN itself.
            if ctx.engine.dialect.name == "sqlite":
                assert statements[0].startswith("BEGIN")
            reads = [x for x in statements if not x.startswith("BEGIN")]
            # The change mark, the rows stored since, and the alarm events other stations stored
            # since the last one seen (issue 15: alarms shared through alarm_events): three range
            # reads, none per chair.
            assert [x.split()[0] for x in reads] == ["SELECT", "SELECT", "SELECT"]
            assert "audit_events" in reads[0] and "vital_readings" in reads[1]
            assert "FROM alarm_events" in reads[2] and "alarm_events.id >" in reads[2]
    finally:
        event.remove(ctx.engine, "before_cursor_execute", on_sql)
    clock.advance(seconds=discharge.READY_REUSE_S + 1)  # a full reload at least this often
    statements.clear()
    event.listen(ctx.engine, "before_cursor_execute", on_sql)
    try:
        board.board_cards(ctx, nurse)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", on_sql)
    assert any("FROM infusion_sessions" in x for x in statements)


@pytest.mark.parametrize("span", [1000, 3])
def test_alarm_pictures_kept_by_range_equal_a_full_build(
    ctx, people, infusing, clock, monkeypatch, span
) -> None:
    """The alarm evaluation brings each session's picture up to date from the rows stored
    since (one primary-key range for the sessions near the newest row, the session's own rows
    for one far behind: TAIL_SPAN); after monitor seconds on two chairs, a late reading, a
    nurse's entry on the chair charted by hand and a correction, every picture equals one built
    from all of the session's rows."""
    from nursestation.app import alarms, vitals

    monkeypatch.setattr(alarms, "TAIL_SPAN", span)
    nurse = people["nurse"]
    other = _check_in_second(ctx, nurse, "2", "K-2")
    center = alarms.alarm_center(ctx)

    def same() -> None:
        with ctx.read_tx() as s:
            for sid, pic in center._pictures.items():
                kept = alarms._picture_input(s, sid, pic)
                assert kept == alarms.current_picture(s, sid), sid

    for k in range(6):
        clock.advance(seconds=1)
        _second(ctx, "1", clock.now(), spo2=95.0 + k % 3, pulse_rate=70.0 + k)
        if k % 2:
            _second(ctx, "2", clock.now(), spo2=97.0, hr=66.0 + k, rr=12.0)
        same()
    _second(ctx, "1", clock.now() - timedelta(seconds=20), spo2=99.0)  # late: not the newest
    same()
    entry = vitals.record_vitals(ctx, nurse, other, {"sbp": 118, "dbp": 74, "hr": 64})
    same()
    for _ in range(4):  # chair 2 is charted by hand only from now on: its picture falls behind
        clock.advance(seconds=1)
        _second(ctx, "1", clock.now(), spo2=96.0, pulse_rate=75.0)
    vitals.correct_vitals(ctx, nurse, entry.id, {"hr": 62}, "typo")
    same()
    clock.advance(seconds=1)
    vitals.record_vitals(ctx, nurse, other, {"rr": 13})
    same()
    assert set(center._pictures) >= {infusing, other}


def test_a_board_reload_reads_each_chairs_discharge_data_once(
    ctx, people, infusing, clock, monkeypatch
) -> None:
    """A full reload of the board (after a write, or every READY_REUSE_S) reads the discharge
    data of a chair in observation once, not once for the summary and once for the board."""
    from nursestation.app import discharge

    nurse = people["nurse"]
    clock.advance(minutes=1)
    sessions.stop_infusion(ctx, nurse, infusing, "completed")
    loads: list[int] = []
    real = discharge.load_recorded

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(discharge, "load_recorded", counting)
    board.board_cards(ctx, nurse)

    def reload_loads(prepare) -> int:  # type: ignore[no-untyped-def]
        prepare()
        loads.clear()
        board.board_cards(ctx, nurse)
        return len(loads)

    assert reload_loads(ctx.data_written) == 1  # after a write
    assert reload_loads(lambda: clock.advance(seconds=discharge.READY_REUSE_S + 1)) == 1

    def summary_just_read() -> None:  # the session view's summary reused: the board reads it
        sessions.get_summary(ctx, nurse, infusing)
        ctx.board_cache = None

    assert reload_loads(summary_just_read) == 1
