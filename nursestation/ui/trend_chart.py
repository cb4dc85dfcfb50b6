"""Live trend of a session: blood pressure (systolic, diastolic, mean) above, HR and SpO2 below,
against wall-clock time, with infusion start/pause/stop and medications marked by labelled
vertical lines. New readings are appended to the chart's arrays (grown by doubling, never rebuilt
for an append); a 1 Hz timer redraws only when points or markers arrived (never per sample).
HR is the ECG heart rate, else the oximeter's pulse rate.

A long session's older part comes as history (`add_history`: per flowsheet interval the highest
and lowest value, manual readings in full), read page by page after the session is on screen.
Drawing costs what the screen can show, not what the session holds: a dense series is reduced
to one highest/lowest pair per pixel column (pyqtgraph's peak downsampling) and drawn with a
1-pixel pen (Qt's cosmetic-line path: a 2-pixel antialiased pen over 14,000 points took 250 ms to
paint, 1 pixel 15 ms)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nursestation.app.vitals import ChartMarker, TrendData
from nursestation.flowsheet import Reading

REDRAW_MS = 1000
SYMBOLS_UP_TO = 400  # beyond this many points the per-point symbols are dropped (a 1 Hz stream)
# and the line is drawn 1 px wide (2 px below): see the module docstring.
DENSE_PEN_PX, SPARSE_PEN_PX = 1, 2
SAMPLES_PER_PX = 1.0  # peak downsampling keeps one highest/lowest pair per pixel column
# Curve look: colour AND line style/symbol differ, so the chart reads in greyscale too.
CURVES = {
    "sbp": ("SBP", "#c62828", "t", pg.QtCore.Qt.PenStyle.SolidLine),
    "dbp": ("DBP", "#1565c0", "t1", pg.QtCore.Qt.PenStyle.SolidLine),
    "map": ("MAP", "#6a1b9a", "o", pg.QtCore.Qt.PenStyle.DashLine),
    "hr": ("HR", "#2e7d32", "s", pg.QtCore.Qt.PenStyle.SolidLine),
    "spo2": ("SpO2", "#00838f", "d", pg.QtCore.Qt.PenStyle.DashLine),
}
MARKER_COLOURS = {
    "start": "#2e7d32",
    "resume": "#2e7d32",
    "pause": "#b26a00",
    "rate_change": "#555555",
    "stop": "#c62828",
    "medication": "#1565c0",
}


def _xs(data: TrendData) -> np.ndarray:
    return np.array([t.timestamp() for t in data.times], dtype=float)


def _ys(values: tuple[float | None, ...]) -> np.ndarray:
    # Missing values are NaN: pyqtgraph leaves a gap (connect="finite") instead of a false line.
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


class TrendChart(QWidget):
    """Two stacked plots sharing the time axis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True, background="w", foreground="k")
        self.layout_ = pg.GraphicsLayoutWidget()
        self.bp_plot = self.layout_.addPlot(
            row=0, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.hr_plot = self.layout_.addPlot(
            row=1, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.hr_plot.setXLink(self.bp_plot)
        self.bp_plot.setLabel("left", "BP", units="mmHg")
        self.hr_plot.setLabel("left", "HR /min · SpO2 %")
        for plot in (self.bp_plot, self.hr_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=(5, 5), labelTextSize="8pt")
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMouseEnabled(x=True, y=False)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, (name, colour, symbol, style) in CURVES.items():
            plot = self.bp_plot if key in ("sbp", "dbp", "map") else self.hr_plot
            pen = pg.mkPen(colour, width=2, style=style)
            self.curves[key] = plot.plot(
                [],
                [],
                name=name,
                pen=pen,
                symbol=symbol,
                symbolSize=7,
                symbolBrush=colour,
                symbolPen=colour,
                connect="finite",
            )
            # pyqtgraph's default keeps 5 samples per pixel; one pair per column shows the same.
            self.curves[key].opts["autoDownsampleFactor"] = SAMPLES_PER_PX
        self._dense = dict.fromkeys(self.curves, False)
        self.marker_lines: list[pg.InfiniteLine] = []
        self._placed: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._pending: TrendData | None = None
        self.bottom_axes = (self.bp_plot.getAxis("bottom"), self.hr_plot.getAxis("bottom"))
        self._data: TrendData | None = None
        self._drawn: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self.redraws = 0
        self.clear()
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.layout_)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.redraw)
        self._timer.start(REDRAW_MS)

    def set_zone(self, tz: tzinfo, at: datetime) -> None:
        """Label the time axis in the clinic's display zone `tz` (as every other time on the
        screens), with its UTC offset at `at`: one offset for the chart, so a daylight-saving
        change inside the shown span shifts the later labels by the hour."""
        offset = tz.utcoffset(at.astimezone(tz))
        seconds = int(offset.total_seconds()) if offset is not None else 0
        for axis in self.bottom_axes:
            axis.utcOffset = -seconds  # pyqtgraph: seconds west of UTC (as time.timezone)
            axis.picture = None  # redraw the labels
            axis.update()

    def set_data(self, data: TrendData) -> None:
        """Queue new data; the chart redraws on its next timer tick."""
        self._pending = data

    # -- fed by readings (the Vitals tab) ----------------------------------------------------

    def clear(self) -> None:
        """No points, no markers."""
        # One growing array pair per series: a monitor sends SpO2 every second but BP every few
        # minutes, and a shared time axis full of gaps would leave the BP line invisible.
        self._clear_live()
        self.clear_history()
        self._markers_now: tuple[ChartMarker, ...] = ()
        self._markers_drawn: tuple[ChartMarker, ...] | None = None
        self._points_dirty = True

    def _clear_live(self) -> None:
        self._n = dict.fromkeys(self.curves, 0)
        self._x = {key: np.empty(0) for key in self.curves}
        self._y = {key: np.empty(0) for key in self.curves}

    def clear_history(self) -> None:
        """Drop the older part (`add_history`); the readings and markers stay."""
        self._hx = {key: np.empty(0) for key in self.curves}
        self._hy = {key: np.empty(0) for key in self.curves}
        self._points_dirty = True

    def add_history(self, points: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]) -> None:
        """Add older points (epoch seconds, value) per series, e.g. a page of
        app.flowsheet.trend_history; drawn before the readings."""
        for key, (xs, ys) in points.items():
            if key not in self.curves or not xs:
                continue
            hx = np.concatenate([np.asarray(xs, dtype=float), self._hx[key]])
            hy = np.concatenate([np.asarray(ys, dtype=float), self._hy[key]])
            order = np.argsort(hx, kind="stable")
            self._hx[key], self._hy[key] = hx[order], hy[order]
            self._points_dirty = True

    def set_readings(self, readings: list[Reading]) -> None:
        """Chart these readings (corrected originals left out), replacing the readings there
        (the history and the markers stay)."""
        self._clear_live()
        self._points_dirty = True
        self.append(readings)

    def append(self, readings: tuple[Reading, ...] | list[Reading]) -> None:
        """Add new readings at the end of the arrays (a reading older than the last point, e.g.
        a late entry, is put in its place by one sort of that series)."""
        live = sorted(
            (r for r in readings if r.superseded_by is None), key=lambda r: (r.observed_at, r.id)
        )
        for key in self.curves:
            points = [(r.observed_at.timestamp(), r.values[key]) for r in live if key in r.values]
            if points:
                self._extend(key, points)
        self._points_dirty = self._points_dirty or bool(live)

    def set_markers(self, markers: tuple[ChartMarker, ...]) -> None:
        """Infusion events and medications to mark (redrawn only when they change)."""
        self._markers_now = tuple(markers)
        self._points_dirty = True

    def _extend(self, key: str, points: list[tuple[float, float]]) -> None:
        n = self._n[key]
        need = n + len(points)
        if need > len(self._x[key]):
            cap = max(256, need, 2 * len(self._x[key]))
            for arrays in (self._x, self._y):
                grown = np.empty(cap)
                grown[:n] = arrays[key][:n]
                arrays[key] = grown
        xs, ys = self._x[key], self._y[key]
        last = xs[n - 1] if n else -np.inf
        xs[n:need] = [p[0] for p in points]
        ys[n:need] = [p[1] for p in points]
        self._n[key] = need
        if points[0][0] < last:
            order = np.argsort(xs[:need], kind="stable")
            xs[:need] = xs[:need][order]
            ys[:need] = ys[:need][order]

    def _draw_points(self) -> None:
        self._points_dirty = False
        lo, hi = np.inf, -np.inf
        drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key, curve in self.curves.items():
            xs, ys = drawn[key] = self._series(key)
            n = len(xs)
            dense = n > SYMBOLS_UP_TO
            if dense != self._dense[key]:
                self._dense[key] = dense
                _name, colour, symbol, style = CURVES[key]
                width = DENSE_PEN_PX if dense else SPARSE_PEN_PX
                curve.setPen(pg.mkPen(colour, width=width, style=style))
                curve.setSymbol(None if dense else symbol)
            curve.setData(xs, ys)
            if n:
                lo, hi = min(lo, xs[0]), max(hi, xs[n - 1])
        if self._markers_now != self._markers_drawn:
            self._markers_drawn = self._markers_now
            self._draw_markers(self._markers_now)
        self.redraws += 1
        self._drawn = drawn
        self._data = None  # built on demand (`data`): drawing does not need it
        if hi >= lo:
            pad = 120.0
            self.bp_plot.setXRange(lo - pad, hi + pad, padding=0)

    def _series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """History then readings of one series (a reading stored late for an older time sits
        among the history: one stable sort then)."""
        n = self._n[key]
        if not len(self._hx[key]):
            return self._x[key][:n], self._y[key][:n]
        xs = np.concatenate([self._hx[key], self._x[key][:n]])
        ys = np.concatenate([self._hy[key], self._y[key][:n]])
        if n and self._x[key][0] < self._hx[key][-1]:
            order = np.argsort(xs, kind="stable")
            xs, ys = xs[order], ys[order]
        return xs, ys

    def redraw(self) -> None:
        """Draw the queued data (no-op when nothing changed)."""
        if self._points_dirty:
            self._draw_points()
            return
        data = self._pending
        if data is None:
            return
        self._pending = None
        self.data = data
        self.redraws += 1
        xs = _xs(data)
        for key, curve in self.curves.items():
            curve.setData(xs, _ys(data.series.get(key, ())))
        self._draw_markers(data.markers)
        if len(xs):
            pad = 120.0
            self.bp_plot.setXRange(xs.min() - pad, xs.max() + pad, padding=0)

    def _draw_markers(self, markers: tuple[ChartMarker, ...]) -> None:
        for plot, line in self._placed:
            plot.removeItem(line)
        self._placed.clear()
        self.marker_lines.clear()
        for i, m in enumerate(markers):
            colour = MARKER_COLOURS.get(m.kind, "#555555")
            # Horizontal text right of the line, staggered so neighbouring labels do not overlap.
            opts = {
                "position": 0.97 - 0.12 * (i % 3),
                "color": colour,
                "fill": (255, 255, 255, 220),
                "anchors": [(0, 0), (0, 0)],
            }
            for plot, labelled in ((self.bp_plot, True), (self.hr_plot, False)):
                line = pg.InfiniteLine(
                    pos=m.at.timestamp(),
                    angle=90,
                    pen=pg.mkPen(colour, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine),
                    label=m.label if labelled else None,
                    labelOpts=opts if labelled else None,
                )
                plot.addItem(line)
                self._placed.append((plot, line))
                self.marker_lines.append(line)

    @property
    def data(self) -> TrendData | None:
        """What the chart shows (built on demand from the arrays when fed by readings): the
        times of all points and each series on them (None where a series has no point)."""
        if self._data is None and self._drawn is not None:
            per = {k: dict(zip(*self._drawn[k], strict=True)) for k in self.curves}
            stamps = sorted({t for points in per.values() for t in points})
            self._data = TrendData(
                times=tuple(datetime.fromtimestamp(t, UTC) for t in stamps),
                series={
                    k: tuple(float(per[k][t]) if t in per[k] else None for t in stamps)
                    for k in self.curves
                },
                markers=self._markers_drawn or (),
            )
        return self._data

    @data.setter
    def data(self, value: TrendData | None) -> None:
        self._data = value
        self._drawn = None

    def marker_labels(self) -> list[str]:
        """Labels of the markers drawn (for tests)."""
        labels = (getattr(ln, "label", None) for ln in self.marker_lines)
        return [lb.format for lb in labels if lb is not None]
