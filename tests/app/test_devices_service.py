"""The device services: chair bindings (permission, validation, audit), storage of captured
readings (device_readings raw; valid values of a frame as one vital_readings row of the open
session; NIBP once per measurement), alarms from stored device values, link states as technical
alarms."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import T0

from nursestation.app import alarms
from nursestation.app import devices as dev
from nursestation.db.models import (
    AlarmEvent,
    AuditEvent,
    DeviceBinding,
    DeviceReading,
    VitalReading,
)
from nursestation.devices import decoder_for
from nursestation.devices.hl7 import mllp_wrap
from nursestation.devices.reading import QUESTIONABLE, UNAVAILABLE, VALID, make_reading
from nursestation.devices.simulator import PatientModel, hl7_oru, masimo_line
from nursestation.errors import DomainError

PORT = "/dev/ttyUSB0"
HOST = T0 + timedelta(minutes=10)  # after the fixture's manual baseline and start


def rd(
    param: str,
    value: float | None,
    quality: str = VALID,
    reason: str | None = None,
    device_time: datetime | None = None,
    host: datetime = HOST,
    device_id: str | None = "SN1",
    protocol: str = "masimo-ascii",
) -> Any:
    return make_reading(protocol, param, value, quality, reason, device_time, host, device_id)


def rows(ctx: Any, model: Any) -> list[Any]:
    with ctx.tx() as s:
        found = list(s.execute(select(model).order_by(model.id)).scalars())
        s.expunge_all()
        return found


def device_vitals(ctx: Any) -> list[VitalReading]:
    return [r for r in rows(ctx, VitalReading) if r.source == "device"]


# ---------------------------------------------------------------- bindings


def test_bind_needs_permission_validates_and_is_audited(ctx: Any, people: dict[str, Any]) -> None:
    with pytest.raises(DomainError) as refused:
        dev.bind_device(ctx, people["nurse"], "1", "masimo-ascii", PORT, 9600)
    assert refused.value.code == "not_permitted"
    charge = people["charge"]
    with pytest.raises(DomainError) as bad:
        dev.bind_device(ctx, charge, "1", "masimo-ascii", PORT, 9601)
    assert bad.value.field == "baudrate" and "9600" in bad.value.message
    with pytest.raises(DomainError) as bad:
        dev.bind_device(ctx, charge, "99", "masimo-ascii", PORT, 9600)
    assert bad.value.field == "chair"
    with pytest.raises(DomainError) as bad:
        dev.bind_device(ctx, charge, "1", "philips-mib", PORT, 9600)
    assert bad.value.field == "protocol" and "masimo-ascii" in bad.value.message
    with pytest.raises(DomainError) as bad:
        dev.bind_device(ctx, charge, "1", "masimo-ascii", PORT, 9600, {"parity": "X"})
    assert bad.value.field == "parity"
    with pytest.raises(DomainError) as bad:
        dev.bind_device(ctx, charge, "1", "masimo-ascii", "  ", 9600)
    assert bad.value.field == "url"

    b = dev.bind_device(ctx, charge, "1", "masimo-ascii", PORT, 9600, {"parity": "N"})
    assert (b.chair, b.protocol, b.url, b.options, b.updated_by) == (
        "1",
        "masimo-ascii",
        PORT,
        {"parity": "N"},
        "Ben Ode, RN",
    )
    # Rebinding the chair replaces its binding; the same port cannot feed a second chair.
    dev.bind_device(ctx, people["admin"], "1", "nonin-df8", PORT, 19200)
    with pytest.raises(DomainError) as dup:
        dev.bind_device(ctx, charge, "2", "masimo-ascii", PORT, 9600)
    assert dup.value.code == "duplicate" and "chair 1" in dup.value.message
    (only,) = rows(ctx, DeviceBinding)
    assert (only.protocol, only.baudrate) == ("nonin-df8", 19200)
    assert [b.chair for b in dev.enabled_bindings(ctx)] == ["1"]

    dev.unbind_device(ctx, charge, "1")
    assert rows(ctx, DeviceBinding) == []
    with pytest.raises(DomainError) as gone:
        dev.unbind_device(ctx, charge, "1")
    assert gone.value.code == "not_found"
    actions = [a.action for a in rows(ctx, AuditEvent) if a.action.startswith("device.")]
    assert actions == ["device.bind", "device.bind", "device.unbind"]


# ---------------------------------------------------------------- readings


def test_valid_values_of_a_frame_become_one_device_vitals_row(ctx: Any, infusing: int) -> None:
    batch = [rd("spo2", 97), rd("pulse_rate", 72), rd("pi", 3.1)]
    result = dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", batch)
    assert result.device_rows == 3 and result.session_id == infusing
    raw = rows(ctx, DeviceReading)
    assert [(r.param, r.value, r.quality, r.session_id, r.port) for r in raw] == [
        ("spo2", 97, VALID, infusing, PORT),
        ("pulse_rate", 72, VALID, infusing, PORT),
        ("pi", 3.1, VALID, infusing, PORT),
    ]
    (v,) = device_vitals(ctx)
    assert (v.spo2, v.pulse_rate, v.hr, v.sbp) == (97, 72, None, None)
    assert (v.device_port, v.device_protocol, v.device_id, v.entered_by) == (
        PORT,
        "masimo-ascii",
        "SN1",
        None,
    )
    assert v.observed_at == HOST and v.session_id == infusing


def test_questionable_and_unavailable_values_never_reach_vital_readings(
    ctx: Any, infusing: int
) -> None:
    before = len(rows(ctx, VitalReading))
    mixed = [
        rd("spo2", 84, QUESTIONABLE, "artifact"),
        rd("pulse_rate", None, UNAVAILABLE, "probe_off"),
        rd("rr", 15),
    ]
    dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", mixed)
    only_bad = [rd("spo2", 60, QUESTIONABLE, "low_perfusion"), rd("pulse_rate", 250, UNAVAILABLE)]
    result = dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", only_bad)
    assert result.vital_ids == ()
    (v,) = device_vitals(ctx)
    assert (v.spo2, v.pulse_rate, v.rr) == (None, None, 15)
    assert len(rows(ctx, VitalReading)) == before + 1
    assert [r.quality for r in rows(ctx, DeviceReading)] == [
        QUESTIONABLE,
        UNAVAILABLE,
        VALID,
        QUESTIONABLE,
        UNAVAILABLE,
    ]
    # A questionable SpO2 of 60 % alarmed on nothing: the chair has no physiological alarm.
    events = [e for e in rows(ctx, AlarmEvent) if e.category == "physiological"]
    assert events == []


def test_real_decoder_probe_off_and_implausible_lines_stay_out_of_vitals(
    ctx: Any, infusing: int
) -> None:
    """The Masimo decoder's own quality marks, end to end into the tables."""
    v = PatientModel().at(0)
    when = datetime(2026, 3, 2, 14, 0, 0)
    data = masimo_line(when, v) + masimo_line(when + timedelta(seconds=1), None, exc=0x000820)
    data += masimo_line(when + timedelta(seconds=2), v, exc=0x000804)  # low perfusion
    readings = decoder_for("masimo-ascii").feed(data, T0)
    result = dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", readings)
    assert len(result.vital_ids) == 1  # only the first line had valid values
    (row,) = device_vitals(ctx)
    assert (row.spo2, row.pulse_rate) == (v.spo2, v.hr)
    qualities = {(r.param, r.quality) for r in rows(ctx, DeviceReading)}
    assert ("spo2", UNAVAILABLE) in qualities and ("spo2", QUESTIONABLE) in qualities


def test_several_frames_in_one_batch_are_several_rows_in_one_transaction(
    ctx: Any, infusing: int
) -> None:
    t = datetime(2026, 3, 2, 14, 0, 0)
    batch = [
        rd("spo2", 97, device_time=t),
        rd("pulse_rate", 70, device_time=t),
        rd("spo2", 98, device_time=t + timedelta(seconds=1)),
        rd("pulse_rate", 71, device_time=t + timedelta(seconds=1)),
    ]
    assert [len(f) for f in dev.split_frames(batch)] == [2, 2]
    result = dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", batch)
    assert len(result.vital_ids) == 2
    assert [(v.spo2, v.pulse_rate) for v in device_vitals(ctx)] == [(97, 70), (98, 71)]


def test_no_open_session_stores_device_readings_only(ctx: Any, people: dict[str, Any]) -> None:
    result = dev.ingest_readings(ctx, "4", PORT, "masimo-ascii", [rd("spo2", 97)])
    assert result.session_id is None and result.vital_ids == ()
    (raw,) = rows(ctx, DeviceReading)
    assert (raw.chair, raw.session_id, raw.value) == ("4", None, 97)
    assert device_vitals(ctx) == []


def test_nibp_is_charted_once_per_measurement_time(ctx: Any, infusing: int) -> None:
    measured = datetime(2026, 3, 2, 14, 6, tzinfo=UTC)

    def nibp(host: datetime, when: datetime, sbp: float = 131) -> list[Any]:
        return [
            rd("hr", 80, host=host, device_time=host, protocol="hl7-mllp", device_id="EQ1"),
            rd("sbp", sbp, host=host, device_time=when, protocol="hl7-mllp", device_id="EQ1"),
            rd("dbp", 84, host=host, device_time=when, protocol="hl7-mllp", device_id="EQ1"),
            rd("map", 100, host=host, device_time=when, protocol="hl7-mllp", device_id="EQ1"),
        ]

    dev.ingest_readings(ctx, "1", PORT, "hl7-mllp", nibp(T0 + timedelta(minutes=6), measured))
    # The monitor re-sends the same measurement with the next message (e.g. after a restart).
    again = dev.ingest_readings(
        ctx, "1", PORT, "hl7-mllp", nibp(T0 + timedelta(minutes=7), measured)
    )
    assert again.nibp_repeats == 3
    later = measured + timedelta(minutes=5)
    dev.ingest_readings(ctx, "1", PORT, "hl7-mllp", nibp(T0 + timedelta(minutes=11), later, 140))
    got = [(v.hr, v.sbp, v.dbp, v.map) for v in device_vitals(ctx)]
    assert got == [(80, 131, 84, 100), (80, None, None, None), (80, 140, 84, 100)]
    assert len(rows(ctx, DeviceReading)) == 12  # every reading kept raw


def test_hl7_decoder_nibp_repeats_within_one_batch(ctx: Any, infusing: int) -> None:
    """Two messages in one read carrying the same NIBP: charted once (the DB-side dedupe)."""
    v = PatientModel().at(0)
    when = datetime(2026, 3, 2, 14, 10, tzinfo=UTC)
    measured = datetime(2026, 3, 2, 14, 9, tzinfo=UTC)
    data = b"".join(
        mllp_wrap(hl7_oru(f"M{i}", when + timedelta(seconds=5 * i), v, (131, 84, 100, measured)))
        for i in range(2)
    )
    readings = decoder_for("hl7-mllp").feed(data, T0 + timedelta(minutes=10))
    dev.ingest_readings(ctx, "1", PORT, "hl7-mllp", readings)
    got = [(r.sbp, r.spo2) for r in device_vitals(ctx)]
    assert got == [(131, v.spo2), (None, v.spo2)]


def test_valid_device_values_raise_physiological_alarms(ctx: Any, infusing: int) -> None:
    dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", [rd("spo2", 84), rd("pulse_rate", 72)])
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and not badge.technical and "SpO" in badge.text
    raised = [e for e in rows(ctx, AlarmEvent) if e.event == "raised"]
    assert raised and raised[0].category == "physiological"


def test_the_first_reading_after_a_restart_raises_its_alarm_not_restores_it(
    ctx: Any, infusing: int
) -> None:
    # A station (or the scenario runner) whose alarm center is not built yet when the first
    # monitor reading arrives: the reading's alarm is new, so it is "raised", not "restored".
    ctx.alarm_center = None
    dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", [rd("spo2", 84), rd("pulse_rate", 72)])
    events = [(e.event, e.category) for e in rows(ctx, AlarmEvent)]
    assert ("raised", "physiological") in events
    assert all(event != "restored" for event, _ in events)


# ---------------------------------------------------------------- link state


def test_link_states_map_to_technical_alarms(ctx: Any, infusing: int) -> None:
    dev.device_state_changed(ctx, "1", "connecting", "opening", port=PORT, protocol="nonin-df8")
    assert ctx.device_states == {"1": "connecting"}
    assert alarms.highest_alarm(ctx, "1") is None
    dev.device_state_changed(
        ctx, "1", "disconnected", "read failed", port=PORT, protocol="nonin-df8"
    )
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.technical and "link lost" in badge.text
    # A reconnect attempt is not a recovery: the alarm stays.
    dev.device_state_changed(ctx, "1", "connecting", "opening")
    assert alarms.highest_alarm(ctx, "1") is not None
    dev.device_state_changed(ctx, "1", "silent", "no valid frame for 3 s")
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.count == 1 and "No data" in badge.text
    dev.device_state_changed(ctx, "1", "receiving", "frames")
    assert alarms.highest_alarm(ctx, "1") is None
    assert ctx.device_states["1"] == "receiving"
    tech = [(e.event, e.alarm_key) for e in rows(ctx, AlarmEvent) if e.category == "technical"]
    assert [e for e, _ in tech] == ["raised", "cleared", "raised", "cleared"]
    assert all(e.session_id == infusing for e in rows(ctx, AlarmEvent))
    health = dev.link_health(ctx, "1")
    assert health is not None and health.state == "receiving" and health.port == PORT


def test_health_keeps_latest_values_with_quality(ctx: Any, people: dict[str, Any]) -> None:
    dev.ingest_readings(ctx, "2", PORT, "masimo-ascii", [rd("spo2", 97), rd("pulse_rate", 70)])
    dev.ingest_readings(
        ctx, "2", PORT, "masimo-ascii", [rd("spo2", None, UNAVAILABLE, "probe_off")]
    )
    h = dev.link_health(ctx, "2")
    assert h is not None and h.last_frame_at == HOST
    texts = {v.param: v.text for v in h.latest}
    assert texts == {"pulse_rate": "pulse_rate 70 /min", "spo2": "spo2 — (unavailable: probe_off)"}
    dev.device_link_closed(ctx, "2")
    assert dev.link_health(ctx, "2") is None


def test_one_transaction_per_batch(
    ctx: Any, infusing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the rows were added stores nothing of the batch (no half batch)."""

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("alarm evaluation failed")

    monkeypatch.setattr(alarms, "on_reading_stored", boom)
    with pytest.raises(RuntimeError):
        dev.ingest_readings(ctx, "1", PORT, "masimo-ascii", [rd("spo2", 97), rd("pulse_rate", 70)])
    with ctx.tx() as s:
        assert s.execute(select(func.count(DeviceReading.id))).scalar_one() == 0
    assert device_vitals(ctx) == []


# ---------------------------------------------------------------- start-up clean-up


def test_simulator_leftovers_are_removed_at_start_up_audited_as_system(
    ctx: Any, people: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    charge = people["charge"]
    live_pty = tmp_path / "live-pty"
    live_pty.touch()  # a pseudo-terminal link that still exists
    # Chair 1: the demo simulator's binding (made by the system), its pty long gone.
    dev.bind_device_as_system(ctx, "1", "nonin-df8", "/tmp/nursestation-monitors-x/chair-1", 9600)
    # Chair 2: a user bound a pseudo-terminal that no longer exists.
    dev.bind_device(ctx, charge, "2", "masimo-ascii", "/dev/pts/987654", 9600)
    # Chair 3: a user's real port, unplugged now: kept (the nurse must see the link problem).
    dev.bind_device(ctx, charge, "3", "masimo-ascii", "/dev/ttyUSB7", 9600)
    # Chair 4: a user's binding to a temporary path that still exists: kept.
    dev.bind_device(ctx, charge, "4", "hl7-mllp", str(live_pty), 9600)
    # Chair 5: a user's TCP gateway: kept.
    dev.bind_device(ctx, charge, "5", "hl7-mllp", "socket://10.0.0.5:2575", 9600)
    # Chair 6: a Windows port name, absent here, even with the working directory in /tmp: kept.
    monkeypatch.chdir(tempfile.gettempdir())
    dev.bind_device(ctx, charge, "6", "nonin-df8", "COM3", 9600)
    dev.device_state_changed(ctx, "1", "disconnected", "gone", port="x", protocol="nonin-df8")
    assert alarms.highest_alarm(ctx, "1") is not None  # the permanent "link lost" of before

    assert dev.remove_simulator_leftovers(ctx) == ["1", "2"]

    assert [b.chair for b in dev.enabled_bindings(ctx)] == ["3", "4", "5", "6"]
    assert alarms.highest_alarm(ctx, "1") is None
    unbinds = [a for a in rows(ctx, AuditEvent) if a.action == "device.unbind"]
    assert [(a.entity_id, a.user_id, a.username) for a in unbinds] == [
        ("1", None, dev.CLEANUP_USERNAME),
        ("2", None, dev.CLEANUP_USERNAME),
    ]
    assert "simulator" in str(unbinds[0].after) and "no longer exists" in str(unbinds[1].after)
    assert dev.remove_simulator_leftovers(ctx) == []  # nothing left to clean, nothing audited
    assert len([a for a in rows(ctx, AuditEvent) if a.action == "device.unbind"]) == 2


def test_unreadable_data_is_a_technical_alarm_named_for_the_nurse(ctx: Any, infusing: int) -> None:
    dev.device_state_changed(
        ctx, "1", "unreadable", "bytes but no frame", port=PORT, protocol="nonin-df8"
    )
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.technical
    assert badge.text == "Monitor data unreadable (nonin-df8, ttyUSB0)"
    dev.device_state_changed(ctx, "1", "silent", "noise stopped")  # replaces it, not added
    badge = alarms.highest_alarm(ctx, "1")
    assert badge is not None and badge.count == 1 and "No data" in badge.text
    dev.device_state_changed(ctx, "1", "receiving", "frames")
    assert alarms.highest_alarm(ctx, "1") is None
