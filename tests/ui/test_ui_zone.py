"""Issue 14 on the screens: with a clinic display zone (Asia/Tokyo, UTC+9) other than the
station's (UTC, pinned by conftest), every time the widgets show is in the clinic's zone, as in
the note; a time typed into the vitals form or the checklist dialog in clinic time is stored as
the right UTC instant. Driven through the real widgets (pytest-qt, offscreen)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select
from support import CHECKLIST_OK, PASSWORD, T0

from nursestation.app import sessions, users, vitals
from nursestation.app.context import AppContext
from nursestation.app.patients import register_patient
from nursestation.clinic import load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.db.models import VitalReading
from nursestation.dosing import Protocol
from nursestation.ui.board import ChairBoard
from nursestation.ui.infusion_dialogs import ChecklistDialog
from nursestation.ui.session_view import SessionView
from nursestation.ui.station import Station
from nursestation.ui.style import clinic_zone
from nursestation.ui.vitals_entry import VitalsEntryForm
from nursestation.ui.vitals_panel import VitalsPanel

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9, no DST: every clock time differs from the station's UTC
NORMAL = {"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98, "rr": 14}


def _open(station_cfg: StationConfig, clock: FakeClock, zone: str) -> AppContext:
    settings = load_clinic_settings(station_cfg.clinic_file).with_overrides(
        {"general": {"timezone_display": zone}}, "test"
    )
    return AppContext.open(station_cfg, clock=clock, settings=settings)


@pytest.fixture
def zoned(station: StationConfig, clock: FakeClock) -> Iterator[AppContext]:
    c = _open(station, clock, "Asia/Tokyo")
    yield c
    c.close()


@pytest.fixture
def infusing(zoned: AppContext, clock: FakeClock) -> dict[str, Any]:
    """Checked in at T0 (14:00 UTC = 23:00 Tokyo), baseline at T0+3, started at T0+5; now T0+12."""
    ctx = zoned
    users.provision_user(
        ctx, username="rn.ana", full_name="Ana Ruiz, RN", roles={"nurse"}, password=PASSWORD
    )
    ana = users.authenticate(ctx, "rn.ana", PASSWORD)
    register_patient(
        ctx, ana, mrn="K-1", name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )
    clock.set(T0)
    sid = sessions.check_in(
        ctx, ana, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1.0), checklist=CHECKLIST_OK
    ).id
    clock.set(T0 + timedelta(minutes=3))
    vitals.record_vitals(ctx, ana, sid, NORMAL)
    clock.set(T0 + timedelta(minutes=5))
    sessions.start_infusion(ctx, ana, sid)
    clock.set(T0 + timedelta(minutes=12))
    station = Station(ctx)
    station.set_actor(ana)
    return {"station": station, "sid": sid}


def _readings(ctx: AppContext) -> list[VitalReading]:
    with ctx.read_tx() as s:
        return list(s.execute(select(VitalReading).order_by(VitalReading.id)).scalars())


def test_clinic_zone_is_the_setting_and_local_is_the_station(
    zoned: AppContext, station: StationConfig, clock: FakeClock
) -> None:
    assert clinic_zone(zoned) == TOKYO
    local = _open(station, clock, "local")
    try:
        # conftest pins the station's zone to UTC: "local" shows UTC wall-clock times.
        assert clinic_zone(local).utcoffset(T0) == timedelta(0)
    finally:
        local.close()


def test_board_card_shows_clinic_times(qtbot: Any, infusing: dict[str, Any]) -> None:
    board = ChairBoard(infusing["station"])
    qtbot.addWidget(board)
    board.show()
    board.refresh()
    card = board.card("1")
    # Baseline at 14:03 UTC: 23:03 in Tokyo.
    assert "(23:03)" in card.vitals.text() and card.vitals.text().endswith("at 23:03")
    assert "14:03" not in card.vitals.text()
    due = card.due.text()
    assert due, "an infusing session has a vitals reminder"
    hour = due.split()[2] if due.startswith("Vitals due") else due.split("since ")[1][:5]
    assert hour.startswith("23:"), due  # the next check, T0+3 + interval, before midnight Tokyo


def test_session_view_header_and_detail_show_clinic_times(
    qtbot: Any, infusing: dict[str, Any]
) -> None:
    station = infusing["station"]
    view = SessionView(station)
    qtbot.addWidget(view)
    view.set_session(infusing["sid"])
    assert "checked in 23:00" in view.subheader.text()
    assert "started 23:05" in view.detail.text()
    assert "14:0" not in view.subheader.text() + view.detail.text()
    station.ctx.clock.set(T0 + timedelta(minutes=50))  # past the 40 min: dose complete
    view.refresh()
    assert view.phase.text().startswith("DOSE COMPLETE")
    assert "at 23:45 · stop the pump" in view.detail.text()  # 14:45 UTC


def test_flowsheet_rows_show_clinic_times(qtbot: Any, infusing: dict[str, Any]) -> None:
    panel = VitalsPanel(infusing["station"])
    qtbot.addWidget(panel)
    panel.set_session(infusing["sid"])
    panel.refresh()
    assert panel.cell_text(0, "Observed") == "23:03"
    assert panel.model.tz == TOKYO


def test_vitals_form_round_trips_a_clinic_time(
    qtbot: Any, infusing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor shows the clinic's wall clock; a time typed there (across the clinic's
    midnight, which is not the station's) is stored as the right UTC instant."""
    station, sid = infusing["station"], infusing["sid"]
    clock = station.ctx.clock
    clock.set(T0 + timedelta(minutes=70))  # 15:10 UTC = 00:10 on 3 March in Tokyo
    monkeypatch.setattr(
        "nursestation.ui.vitals_entry.confirm", lambda *a, **k: True, raising=False
    )
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    assert form.observed.text() == "2026-03-03 00:10"
    assert form.observed_at() == T0 + timedelta(minutes=70)
    # The nurse types 00:07 (clinic time) over the minutes.
    form.observed.setFocus()
    form.observed.setCurrentSection(form.observed.Section.MinuteSection)
    for _ in range(3):
        qtbot.keyClick(form.observed, Qt.Key.Key_Down)
    assert form.observed.text() == "2026-03-03 00:07"
    assert form.time_edited
    assert form.observed_at() == datetime(2026, 3, 2, 15, 7, tzinfo=UTC)
    for name, value in NORMAL.items():
        form.edits[name].clear()
        qtbot.keyClicks(form.edits[name], str(value))
    n = len(_readings(station.ctx))
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    rows = _readings(station.ctx)
    assert len(rows) == n + 1
    assert rows[-1].observed_at == datetime(2026, 3, 2, 15, 7, tzinfo=UTC)


def test_vitals_form_follows_the_clock_in_clinic_time(
    qtbot: Any, infusing: dict[str, Any]
) -> None:
    station, sid = infusing["station"], infusing["sid"]
    form = VitalsEntryForm(station, session_id=sid)
    qtbot.addWidget(form)
    assert form.observed.text() == "2026-03-02 23:12"
    station.ctx.clock.set(T0 + timedelta(minutes=13))
    form.follow_clock()
    assert form.observed.text() == "2026-03-02 23:13"
    assert not form.time_edited


def test_checklist_dialog_shows_and_reads_times_in_the_clinic_zone(qtbot: Any) -> None:
    sent: list[dict[str, Any]] = []
    dlg = ChecklistDialog(dict(CHECKLIST_OK), TOKYO, sent.append)
    qtbot.addWidget(dlg)
    # Stored 04:00 UTC is 13:00 in Tokyo.
    assert dlg.widgets["last_solids_at"].text() == "2026-03-02 13:00"
    assert dlg.changed() == {}  # shown and read back unchanged: nothing to store
    dlg.widgets["last_solids_at"].setText("2026-03-02 15:30")
    assert dlg.changed() == {"last_solids_at": "2026-03-02T06:30:00+00:00"}


def test_trend_chart_axis_labels_clinic_times(qtbot: Any, infusing: dict[str, Any]) -> None:
    import pyqtgraph.graphicsItems.DateAxisItem as date_axis

    panel = VitalsPanel(infusing["station"])
    qtbot.addWidget(panel)
    for axis in panel.chart.bottom_axes:
        axis.zoomLevel = date_axis.HOUR_MINUTE_ZOOM_LEVEL
        spacing = date_axis.MINUTE_SPACING
        # 14:03 UTC is labelled 23:03, the clinic's time.
        label = axis.tickStrings([(T0 + timedelta(minutes=3)).timestamp()], 1.0, spacing)
        assert label == ["23:03"]
