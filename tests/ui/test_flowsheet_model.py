"""The flowsheet stays bounded as a session's history grows: 2 hours of a 1 Hz monitor stored
through `ingest_readings` in batches, the Vitals tab refreshing after each batch as its timer
would. Asserted by counting the model's signals (resets, inserted/removed rows, changed rows),
not by timing."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt

from nursestation.app import vitals
from nursestation.app.devices import ingest_readings
from nursestation.devices.reading import Reading as DeviceReading
from nursestation.ui.station import Station
from nursestation.ui.vitals_panel import VitalsPanel

SECONDS = 7200  # 2 h at 1 Hz
BATCH = 10  # seconds of monitor data per stored batch / per refresh
DESAT = range(1800, 1820)  # 20 s of SpO2 88 %: below the critical limit 90, flagged
MANUAL_EVERY_S = 900


def _frame(at, second: int) -> list[DeviceReading]:
    spo2 = 88.0 if second in DESAT else 97.0 + second % 3
    return [
        DeviceReading("masimo-ascii", "spo2", spo2, "%", "valid", None, None, at, "SN1"),
        DeviceReading(
            "masimo-ascii", "pulse_rate", 76.0 + second % 4, "/min", "valid", None, None, at, "SN1"
        ),
    ]


def test_two_hours_of_1hz_readings_keep_the_flowsheet_model_bounded(
    ctx, people, infusing, clock, qtbot
) -> None:
    nurse = people["nurse"]
    station = Station(ctx)
    station.set_actor(nurse)
    panel = VitalsPanel(station)
    qtbot.addWidget(panel)
    panel.set_session(infusing)  # the first load: baseline only
    assert panel.model.rowCount() == 1

    model = panel.model
    counts = {"reset": 0, "inserted": 0, "removed": 0, "changed": 0}

    def on_inserted(_parent, first: int, last: int) -> None:
        counts["inserted"] += last - first + 1

    def on_removed(_parent, first: int, last: int) -> None:
        counts["removed"] += last - first + 1

    model.modelReset.connect(lambda: counts.__setitem__("reset", counts["reset"] + 1))
    model.rowsInserted.connect(on_inserted)
    model.rowsRemoved.connect(on_removed)
    model.dataChanged.connect(lambda *_: counts.__setitem__("changed", counts["changed"] + 1))

    start = clock.now()
    manual = 0
    batches = 0
    for first in range(1, SECONDS + 1, BATCH):
        frames: list[DeviceReading] = []
        for second in range(first, first + BATCH):
            frames += _frame(start + timedelta(seconds=second), second)
        clock.set(start + timedelta(seconds=first + BATCH - 1))
        result = ingest_readings(ctx, "1", "loop://", "masimo-ascii", frames)
        assert len(result.vital_ids) == BATCH
        if (first + BATCH - 1) % MANUAL_EVERY_S == 0:
            vitals.record_vitals(
                ctx, nurse, infusing, {"sbp": 130, "dbp": 82, "hr": 78, "spo2": 98, "rr": 14}
            )
            manual += 1
        panel.refresh()
        batches += 1

    # One row per minute with unflagged monitor data, every manual entry and every flagged
    # reading in full; nothing else, and never a reset after the first load.
    minutes = {
        (start + timedelta(seconds=s)).replace(second=0, microsecond=0)
        for s in range(1, SECONDS + 1)
        if s not in DESAT
    }
    expected_inserts = len(minutes) + manual + len(DESAT)
    assert counts["reset"] == 0
    assert counts["removed"] == 0
    assert counts["inserted"] == expected_inserts
    assert model.rowCount() == 1 + expected_inserts  # + the baseline
    # A refresh changes at most the interval row it continues (and the one it opens is an insert).
    assert counts["changed"] <= batches
    assert manual == SECONDS // MANUAL_EVERY_S

    # Every stored reading is covered by exactly one row.
    covered = [i for fr in panel.rows for i in fr.reading_ids]
    assert len(covered) == len(set(covered)) == 1 + manual + SECONDS

    # Newest first; an interval row shows the last value and its source; HR is the pulse rate.
    top = next(
        i
        for i in range(model.rowCount())
        if model.row_at(i).kind == "interval" and model.row_at(i).count == 60
    )
    assert panel.cell_text(top, "Source") == "device, 60 readings (pulse rate as HR)"
    assert panel.cell_text(top, "HR").endswith(" PR")
    desat_minute = next(
        i for i in range(model.rowCount()) if "min 88" in panel.cell_text(i, "SpO2")
    )
    assert "▼CRITICAL" in panel.cell_text(desat_minute, "SpO2")
    flagged = [i for i in range(model.rowCount()) if panel.cell_text(i, "SpO2") == "88 ▼CRITICAL"]
    assert len(flagged) == len(DESAT)

    # Nothing new: a refresh changes nothing.
    before = dict(counts)
    panel.refresh()
    assert counts == before

    # The chart got every valid reading by appending (no re-read of the history).
    panel.chart.redraw()
    hr = panel.chart.curves["hr"]  # every reading has an HR (the pulse rate); xData: all points
    assert len(hr.xData) == 1 + manual + SECONDS and hr.yData[-1] in (76, 77, 78, 79)
    assert len(panel.chart.curves["spo2"].xData) == 1 + manual + SECONDS

    # Expanding: an interval row lists the readings it covers; "every reading" is the raw stream.
    panel._expand(model.index(top, 0))
    assert panel.expanded.model.rowCount() == len(model.row_at(top).reading_ids) == 60
    panel.expanded.close()
    panel.every_box.setChecked(True)
    assert counts["reset"] == 1  # the user asked for another view
    assert model.rowCount() == 1 + manual + SECONDS
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole).startswith("#")


def test_a_hidden_panel_reads_nothing(ctx, people, infusing, clock, qtbot) -> None:
    station = Station(ctx)
    station.set_actor(people["nurse"])
    panel = VitalsPanel(station)
    qtbot.addWidget(panel)
    panel.set_session(infusing)
    last = panel._last_id
    vitals.record_vitals(
        ctx, people["nurse"], infusing, {"sbp": 131, "dbp": 80, "hr": 70, "spo2": 97, "rr": 12}
    )
    station.changed.emit()  # what a write elsewhere does
    panel._tick()  # what the timer does
    assert panel._last_id == last and panel.model.rowCount() == 1  # hidden: not read
    panel.show()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=2000)  # shown: caught up
    assert panel._last_id > last


def test_opening_a_long_session_reads_its_newest_half_hour_and_older_pages_on_scroll(
    ctx, clock, qtbot
) -> None:
    """A 2-hour session at 1 Hz opened in the Vitals tab: the first load reads the newest half
    hour only (counted in readings, not timed); scrolling to the bottom reads older pages as row
    inserts at the bottom, never a reset, until the rows are those of the whole session; the
    trend's older part arrives after the paint, per interval (two points a minute)."""
    import sys
    from pathlib import Path

    from PySide6.QtCore import QModelIndex

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flowsheet_support import monitored_session

    from nursestation.app.flowsheet import FIRST_WINDOW_S, flowsheet_since
    from nursestation.flowsheet import build_rows, interval_start

    sess = monitored_session(ctx, clock, hours=2)
    station = Station(ctx)
    station.set_actor(sess.nurse)
    panel = VitalsPanel(station)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_session(sess.session_id)

    model = panel.model
    loaded = model.builder.readings
    newest = max(r.observed_at for r in loaded.values())
    start = interval_start(newest - timedelta(seconds=FIRST_WINDOW_S), 60)
    assert min(r.observed_at for r in loaded.values()) == start
    assert len(loaded) <= FIRST_WINDOW_S + 60 + 3  # not the 7,200 readings of the session
    assert model.older_from == start and model.canFetchMore(QModelIndex())

    counts = {"reset": 0, "inserted": 0, "removed": 0}
    model.modelReset.connect(lambda: counts.__setitem__("reset", counts["reset"] + 1))
    model.rowsInserted.connect(
        lambda _p, a, b: counts.__setitem__("inserted", counts["inserted"] + b - a + 1)
    )
    model.rowsRemoved.connect(lambda *_: counts.__setitem__("removed", counts["removed"] + 1))
    top_before = panel.rows[0]
    first_rows = model.rowCount()

    # The nurse scrolls to the bottom: Qt asks the model for more (fetchMore).
    panel.table.scrollToBottom()
    qtbot.waitUntil(lambda: len(model.builder.readings) > FIRST_WINDOW_S + 63, timeout=3000)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert counts["reset"] == 0 and counts["removed"] == 0
    assert counts["inserted"] == model.rowCount() - first_rows
    assert panel.rows[0] == top_before  # the newest rows stay on top
    whole = flowsheet_since(ctx, sess.nurse, sess.session_id, 0)
    assert list(reversed(panel.rows)) == build_rows(whole.readings, whole.interval_s)

    # The trend: the first half hour at full resolution, the older part per minute.
    qtbot.waitUntil(lambda: not panel.history_pending, timeout=5000)
    panel.chart.redraw()
    live = [r for r in whole.readings if r.observed_at >= start and "hr" in r.values]
    older_hr: dict = {}  # interval -> the device HR values in it
    for r in whole.readings:
        if r.observed_at < start and r.source == "device" and "hr" in r.values:
            older_hr.setdefault(interval_start(r.observed_at, 60), set()).add(r.values["hr"])
    envelope = sum(1 if len(v) == 1 else 2 for v in older_hr.values())  # highest, lowest
    older_manual = [r for r in whole.readings if r.observed_at < start and r.source != "device"]
    hr = panel.chart.curves["hr"]
    assert len(hr.xData) == len(live) + envelope + len(older_manual)
    assert envelope > len(older_hr) > 60  # two points a minute where the HR moved
    assert list(hr.xData) == sorted(hr.xData)
    # A dense series is drawn 1 px wide without symbols; sparse BP keeps its 2 px and symbols.
    assert hr.opts["pen"].width() == 1 and hr.opts["symbol"] is None
    assert panel.chart.curves["sbp"].opts["pen"].width() == 2


def test_correcting_an_old_reading_redraws_the_trend_history_without_it(ctx, clock, qtbot) -> None:
    """A reading older than the first page corrected after the open: the flowsheet shows the
    original struck through when its page is read, and the trend's older part is read again
    (the original's value gone, the correction charted), not left stale."""
    import sys
    from pathlib import Path

    from sqlalchemy import select

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flowsheet_support import monitored_session

    from nursestation.db.models import VitalReading
    from nursestation.flowsheet import interval_start

    sess = monitored_session(ctx, clock, hours=2)
    station = Station(ctx)
    station.set_actor(sess.nurse)
    panel = VitalsPanel(station)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_session(sess.session_id)
    qtbot.waitUntil(lambda: not panel.history_pending, timeout=5000)
    with ctx.tx() as s:
        nibp, at = s.execute(
            select(VitalReading.id, VitalReading.observed_at)
            .where(VitalReading.session_id == sess.session_id, VitalReading.sbp.is_not(None))
            .where(VitalReading.source == "device")
            .order_by(VitalReading.observed_at)
            .limit(1)
        ).one()
    assert at < panel.model.older_from  # older than the first page
    minute = interval_start(at, 60).timestamp() + 30

    def sbp_points() -> list:
        panel.chart.redraw()
        curve = panel.chart.curves["sbp"]
        return list(zip(curve.xData, curve.yData, strict=True))

    assert (minute, 128.0) in sbp_points()
    vitals.correct_vitals(ctx, sess.nurse, nibp, {"sbp": 131}, "cuff too small")
    panel.refresh()
    qtbot.waitUntil(lambda: not panel.history_pending and not panel._history_replace, timeout=5000)
    points = sbp_points()
    assert (minute, 128.0) not in points and (at.timestamp(), 131.0) in points
    assert panel.model.builder.readings[max(panel.model.builder.readings)].supersedes == nibp
    from PySide6.QtCore import QModelIndex

    while panel.model.canFetchMore(QModelIndex()):
        panel.model.fetchMore(QModelIndex())
    original = panel.model.builder.readings[nibp]
    assert original.superseded_by is not None
    row = next(i for i, fr in enumerate(panel.rows) if fr.reading is original)
    assert "corrected by" in panel.cell_text(row, "Notes")
