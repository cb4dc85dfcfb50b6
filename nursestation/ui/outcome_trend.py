"""The course trend of the outcome measures (issue 16): each trended scale's pre-infusion total
per session, the course baseline, the response threshold (the clinic's fall from the baseline),
and the sessions where response and remission were first reached, marked and labelled.

Embeddable: the session view opens it in a window for the patient of the session; the patient
chart (engineer "chart") can put the same widget in its course tab (`set_trend` or `load`).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nursestation.app.outcomes import CourseTrend, course_trend, outcome_settings
from nursestation.outcome_scales import NAMES, OutcomeSettings, ScaleTrend, trend_text
from nursestation.ui.station import Station

# Colour AND symbol differ per scale, so the plot reads in greyscale too.
SCALE_LOOK = {
    "phq9": ("#1565c0", "o", pg.QtCore.Qt.PenStyle.SolidLine),
    "gad7": ("#2e7d32", "s", pg.QtCore.Qt.PenStyle.DashLine),
    "pcl5": ("#6a1b9a", "t", pg.QtCore.Qt.PenStyle.DotLine),
}
RESPONSE_COLOUR = "#b26a00"
REMISSION_COLOUR = "#00838f"


class OutcomeTrend(QWidget):
    """Totals per session of the course, with response and remission marked."""

    def __init__(self, settings: OutcomeSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        pg.setConfigOptions(antialias=True, background="w", foreground="k")
        lay = QVBoxLayout(self)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "Session in the course")
        self.plot.setLabel("left", "Total score")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(5, 5), labelTextSize="9pt")
        self.plot.setMouseEnabled(x=False, y=False)
        lay.addWidget(self.plot, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.trend: CourseTrend | None = None
        # What is drawn, for tests and the chart: scale -> [(session number, total)], and the
        # marker labels at their session numbers.
        self.series: dict[str, list[tuple[int, int]]] = {}
        self.markers: list[tuple[int, str]] = []

    @classmethod
    def for_station(cls, station: Station, parent: QWidget | None = None) -> OutcomeTrend:
        """A trend widget with the clinic's scale settings."""
        return cls(outcome_settings(station.ctx), parent)

    def load(self, station: Station, mrn: str) -> None:
        """Read the patient's course and draw it."""
        self.set_trend(station.read(course_trend, mrn))

    def set_trend(self, trend: CourseTrend) -> None:
        """Draw a course (replaces what was drawn)."""
        self.trend = trend
        self.plot.clear()
        self.series.clear()
        self.markers.clear()
        lines: list[str] = []
        top = 0
        for t in trend.trends:
            if not t.points:
                continue
            self._draw_scale(t)
            top = max(top, max(p.total for p in t.points))
            lines.append(self._summary_line(t))
        self._draw_markers()
        numbers = sorted({n for pts in self.series.values() for n, _ in pts})
        if numbers:
            self.plot.getAxis("bottom").setTicks([[(n, f"#{n}") for n in numbers]])
            self.plot.setXRange(numbers[0] - 0.3, numbers[-1] + 0.3, padding=0)
        self.plot.setYRange(0, max(top + 3, 10))
        self.summary.setText("\n".join(lines) or "No outcome scores recorded in this course yet.")

    def _draw_scale(self, t: ScaleTrend) -> None:
        colour, symbol, style = SCALE_LOOK.get(
            t.scale, ("#555555", "o", pg.QtCore.Qt.PenStyle.SolidLine)
        )
        xs = [p.session_number for p in t.points]
        ys = [p.total for p in t.points]
        self.series[t.scale] = list(zip(xs, ys, strict=True))
        self.plot.plot(
            xs, ys, name=NAMES.get(t.scale, t.scale),
            pen=pg.mkPen(colour, width=2, style=style), symbol=symbol, symbolSize=9,
            symbolBrush=colour,
        )  # fmt: skip
        if t.baseline:
            # the response threshold: a fall of the clinic's percentage from the course baseline
            threshold = t.baseline * (1 - self.settings.response_fall_pct / 100)
            self.plot.addItem(
                pg.InfiniteLine(
                    pos=threshold, angle=0,
                    pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DotLine),
                    label=f"{NAMES.get(t.scale, t.scale)} response ≤ {threshold:g}",
                    labelOpts={"position": 0.3, "color": colour, "anchors": [(0.5, 1), (0.5, 1)]},
                )
            )  # fmt: skip
        if t.scale == self.settings.remission_scale:
            self.plot.addItem(
                pg.InfiniteLine(
                    pos=self.settings.remission_below - 0.5, angle=0,
                    pen=pg.mkPen(REMISSION_COLOUR, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                    label=f"remission < {self.settings.remission_below}",
                    labelOpts={"position": 0.05, "color": REMISSION_COLOUR, "anchors": [(0, 1), (0, 1)]},
                )
            )  # fmt: skip
        for p in t.points:
            for first, word in ((p.first_response, "response"), (p.first_remission, "remission")):
                if first:
                    self.markers.append((p.session_number, f"{NAMES.get(t.scale, t.scale)} {word}"))

    def _draw_markers(self) -> None:
        """One labelled vertical line per session and kind (scales reaching response at the
        same session share it: "PHQ-9, GAD-7 response")."""
        grouped: dict[tuple[int, str], list[str]] = {}
        for number, label in self.markers:
            scale, word = label.rsplit(" ", 1)
            grouped.setdefault((number, word), []).append(scale)
        for (number, word), scales in sorted(grouped.items()):
            col = RESPONSE_COLOUR if word == "response" else REMISSION_COLOUR
            self.plot.addItem(
                pg.InfiniteLine(
                    pos=number, angle=90,
                    pen=pg.mkPen(col, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                    label=f"{', '.join(scales)} {word}",
                    labelOpts={"position": 0.95 if word == "response" else 0.88, "color": col,
                               "anchors": [(1, 0), (1, 0)]},
                )
            )  # fmt: skip

    def _summary_line(self, t: ScaleTrend) -> str:
        last = t.points[-1]
        words = [f"{NAMES.get(t.scale, t.scale)}: baseline {t.baseline}, now {last.total} "
                 f"(session {last.session_number}: {trend_text(last, t.baseline)})"]  # fmt: skip
        if t.response_session is not None:
            words.append(f"response first at session {t.response_session}")
        if t.remission_session is not None:
            words.append(f"remission first at session {t.remission_session}")
        return "; ".join(words)
