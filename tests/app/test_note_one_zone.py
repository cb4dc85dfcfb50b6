"""Issue 14's intended fixes, through the real use cases: with a clinic display zone other than
the station's, every time in the signed note is in the clinic's zone (medication and response
times were in the station's); an oximeter's pulse rate (SpO2 97, pulse 88, no HR) is the HR in
the note's flowsheet and in the export alike."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from support import CHECKLIST_OK, PASSWORD, T0

from nursestation.app import devices, export, medications, notes, patients, sessions, users, vitals
from nursestation.app.context import AppContext
from nursestation.clinic import load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.devices.reading import VALID, make_reading
from nursestation.dosing import Protocol

CLINIC_ZONE = ZoneInfo("Asia/Tokyo")  # UTC+9, no DST: far from the station's UTC (conftest)


@pytest.fixture
def zoned(station: StationConfig, clock: FakeClock) -> Iterator[AppContext]:
    settings = load_clinic_settings(station.clinic_file).with_overrides(
        {"general": {"timezone_display": "Asia/Tokyo"}}, "test"
    )
    c = AppContext.open(station, clock=clock, settings=settings)
    yield c
    c.close()


def _session(ctx: AppContext, clock: FakeClock) -> dict[str, Any]:
    """Check-in, baseline, start, one oximeter second (SpO2 97, pulse 88), ondansetron with a
    reassessment, stop, and the note signed; returns the actors and session id."""
    actors = {}
    for key, username, full, role in (
        ("nurse", "rn.ana", "Ana Ruiz, RN", "nurse"),
        ("admin", "ad.dana", "Dana Admin", "administrator"),
    ):
        users.provision_user(ctx, username=username, full_name=full, roles={role},
                             password=PASSWORD)  # fmt: skip
        actors[key] = users.authenticate(ctx, username, PASSWORD)
    nurse = actors["nurse"]
    patients.register_patient(
        ctx, nurse, mrn="K-1001", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70,
        sex="female", reproductive_potential=True,
    )  # fmt: skip
    sid = sessions.check_in(
        ctx, nurse, mrn="K-1001", chair="1", protocol=Protocol(0.5, 40, 1.0),
        checklist=CHECKLIST_OK,
    ).id  # fmt: skip
    clock.advance(minutes=3)
    vitals.record_vitals(ctx, nurse, sid, {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14})
    clock.set(T0 + timedelta(minutes=5))
    sessions.start_infusion(ctx, nurse, sid)
    clock.set(T0 + timedelta(minutes=12, seconds=7))
    at = clock.now()
    frame = [
        make_reading("masimo-ascii", "spo2", 97, VALID, None, None, at, "SN1"),
        make_reading("masimo-ascii", "pulse_rate", 88, VALID, None, None, at, "SN1"),
    ]
    devices.ingest_readings(ctx, "1", "/dev/ttyUSB0", "masimo-ascii", frame)
    clock.set(T0 + timedelta(minutes=17))
    dose = medications.give_medication(
        ctx, nurse, sid, drug="ondansetron", dose=4, unit="mg", route="IV", indication="nausea"
    )
    clock.set(T0 + timedelta(minutes=33))
    medications.record_response(ctx, nurse, dose.id, measure="nausea", text="settled")
    clock.set(T0 + timedelta(minutes=46))
    sessions.stop_infusion(ctx, nurse, sid, "dose complete")
    clock.set(T0 + timedelta(minutes=50))
    notes.sign_note(ctx, nurse, sid, PASSWORD)
    return {**actors, "sid": sid}


def _note_text(ctx: AppContext, actor: Any, sid: int) -> str:
    latest = notes.latest_note(ctx, actor, sid)
    assert latest is not None
    pdf = notes.note_pdf(ctx, actor, latest.note_id)
    return "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)


def test_every_time_in_the_note_is_in_the_clinic_zone(zoned: AppContext, clock: FakeClock) -> None:
    w = _session(zoned, clock)
    text = _note_text(zoned, w["nurse"], w["sid"])
    # The footer states the generation time in UTC as well, labelled so, on purpose.
    body = re.sub(r"Generated \S+ \d{2}:\d{2} UTC", "", text)
    times = set(re.findall(r"\b\d{2}:\d{2}\b", body))
    # Session times 14:00-14:50 UTC are 23:00-23:50 in Tokyo: no UTC clock time may show.
    assert not {t for t in times if t.startswith("14:")}, sorted(times)
    for minute in (5, 12, 17, 33, 46):  # start, pulse reading, dose, reassessment, stop
        local = (T0 + timedelta(minutes=minute)).astimezone(CLINIC_ZONE)
        assert f"{local:%H:%M}" in times, (minute, sorted(times))
    # The medication row and its reassessment, where the station's zone used to leak in.
    with zoned.read_tx() as s:
        (med,) = notes.build_note_content(zoned, s, w["sid"], clock.now(), 1).medications
    assert med.response.startswith("23:33 ") and med.pre_vitals == "HR 88, SpO2 97 % at 23:12"


def test_oximeter_pulse_rate_is_the_hr_in_the_note_and_the_export(
    zoned: AppContext, clock: FakeClock, tmp_path: Path
) -> None:
    w = _session(zoned, clock)
    with zoned.read_tx() as s:
        content = notes.build_note_content(zoned, s, w["sid"], clock.now(), 1)
    (row,) = [v for v in content.vitals if v.spo2 == 97]
    assert (row.hr, row.hr_from_pulse) == (88, True)
    assert "88" in _note_text(zoned, w["nurse"], w["sid"])
    flt = export.ExportFilter(date(2026, 3, 1), date(2026, 3, 31))
    export.export_notes(zoned, w["admin"], flt, tmp_path / "out", ("fhir",))
    (bundle_file,) = (tmp_path / "out" / export.FHIR_DIR).glob("*.json")
    bundle = json.loads(bundle_file.read_text(encoding="utf-8"))
    at = (T0 + timedelta(minutes=12, seconds=7)).astimezone(UTC).isoformat(timespec="seconds")
    hr = [
        e["resource"]["valueQuantity"]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "8867-4"
        and e["resource"]["effectiveDateTime"] == at
    ]
    assert hr == [88.0]
