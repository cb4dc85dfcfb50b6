"""Render a session note (NoteContent) to PDF bytes with reportlab platypus.

Pure function of its input: the same NoteContent gives byte-identical output (reportlab's
invariant mode, fixed timestamps, embedded DejaVu Sans). Signature boxes are left blank on the last
page at the coordinates in `nursestation.report.layout.NOTE_SIGNATURE_LAYOUT`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from io import BytesIO
from typing import Any

from reportlab import rl_config
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, Line, Path, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import CondPageBreak

from nursestation import wording
from nursestation.note_content import (
    VITAL_PARAMS,
    ChartMarker,
    ChartSeries,
    NoteContent,
    SignatureSlot,
    VitalsRow,
)
from nursestation.report.anchor import AUDIT_HEAD_KEYWORD
from nursestation.report.layout import (
    APPROVAL_RECORD_BOX,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    NOTE_SIGNATURE_LAYOUT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    SIGNATURE_BAND_HEIGHT,
    SignatureBox,
)
from nursestation.resources import resource_path
from nursestation.spravato import MonitoringForm

# Process-wide reportlab switches: binary (not ASCII85) streams are smaller and faster to write,
# and attribute validation of chart shapes is a development aid that costs ~6 ms per note.
rl_config.useA85 = 0
rl_config.shapeChecking = 0

FONT = "NoteSans"
FONT_BOLD = "NoteSans-Bold"
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X

ACTION_FG = colors.HexColor("#b71c1c")
ACTION_BG = colors.HexColor("#fde2e2")
NOTIFY_FG = colors.HexColor("#7a4f00")
NOTIFY_BG = colors.HexColor("#fff1c4")
HEAD_BG = colors.HexColor("#e8edf3")
RULE = colors.HexColor("#9aa5b1")
MUTED = colors.HexColor("#666666")
OK_FG = colors.HexColor("#1b5e20")


@cache
def register_fonts() -> str:
    """Register DejaVu Sans (regular, bold, italics) once per process; returns the family name."""
    files = {
        FONT: "DejaVuSans.ttf",
        FONT_BOLD: "DejaVuSans-Bold.ttf",
        "NoteSans-Oblique": "DejaVuSans-Oblique.ttf",
        "NoteSans-BoldOblique": "DejaVuSans-BoldOblique.ttf",
    }
    for name, file in files.items():
        pdfmetrics.registerFont(TTFont(name, str(resource_path("fonts", file))))
    pdfmetrics.registerFontFamily(
        FONT,
        normal=FONT,
        bold=FONT_BOLD,
        italic="NoteSans-Oblique",
        boldItalic="NoteSans-BoldOblique",
    )
    return FONT


@cache
def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    body = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=10.5)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.2, leading=8.6),
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9),
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=14, leading=17),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=10.5,
            leading=13,
            spaceBefore=8,
            spaceAfter=3,
            backColor=HEAD_BG,
            borderPadding=(2, 3, 2, 3),
        ),
        "banner": ParagraphStyle(
            "banner",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=9.5,
            leading=12,
            textColor=ACTION_FG,
            backColor=ACTION_BG,
            borderColor=ACTION_FG,
            borderWidth=1,
            borderPadding=5,
            spaceBefore=4,
            spaceAfter=8,
        ),
        "right": ParagraphStyle("right", parent=body, alignment=TA_RIGHT),
    }


# ---------------------------------------------------------------- formatting


display_zone = wording.display_zone  # the one zone rule (nursestation.wording)


def _num(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.{digits}f}"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Fmt:
    """Date/time formatting in the note's display zone."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone)

    def hm(self, when: datetime | None) -> str:
        return "—" if when is None else self.local(when).strftime("%H:%M")

    def hms(self, when: datetime) -> str:
        return self.local(when).strftime("%H:%M:%S")

    def full(self, when: datetime | None) -> str:
        return "—" if when is None else self.local(when).strftime("%Y-%m-%d %H:%M %Z")

    def zone_label(self, when: datetime) -> str:
        local = self.local(when)
        return f"{local.tzname()} (UTC{local.strftime('%z')[:3]}:{local.strftime('%z')[3:]})"


def _p(text: str, style: str = "cell") -> Paragraph:
    return Paragraph(text, _styles()[style])


class _Text(str):
    """Plain cell text: stays a cheap string if it fits its column, else becomes a Paragraph."""


def _t(text: str) -> _Text:
    return _Text(text)


def _fit_cells(rows: list[list[Any]], widths: Sequence[float]) -> list[list[Any]]:
    # Paragraphs cost ~50x a plain string to lay out; most cells are short.
    out = []
    for row in rows:
        new = []
        for cell, width in zip(row, widths, strict=True):
            if isinstance(cell, _Text):
                fits = "\n" not in cell and pdfmetrics.stringWidth(cell, FONT, 7.5) <= width - 6
                cell = str(cell) if fits else _p(_esc(cell))
            new.append(cell)
        out.append(new)
    return out


def _table(
    rows: list[list[Any]],
    widths: Sequence[float],
    extra: Iterable[tuple[Any, ...]] = (),
    header: bool = True,
) -> Table:
    rows = _fit_cells(rows, widths)
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("LEADING", (0, 0), (-1, -1), 9),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style += [
            ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ]
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _none(text: str = "None recorded.") -> Paragraph:
    return _p(f"<i>{text}</i>", "body")


def _flag_colours(flag: str) -> tuple[colors.Color, colors.Color]:
    return (ACTION_FG, ACTION_BG) if "action" in flag.lower() else (NOTIFY_FG, NOTIFY_BG)


# ---------------------------------------------------------------- page chrome


def _canvas_class(header: tuple[str, str, str, str], footer_left: str, footer_right: str) -> type:
    """A Canvas that defers page chrome to save() so it can print "Page x of y"."""

    class NoteCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._chrome(number, total)
                Canvas.showPage(self)
            Canvas.save(self)

        def _chrome(self, number: int, total: int) -> None:
            self.saveState()
            top = PAGE_HEIGHT - 26
            self.setFont(FONT_BOLD, 9)
            self.drawString(MARGIN_X, top, header[0])
            self.drawRightString(PAGE_WIDTH - MARGIN_X, top, header[1])
            self.setFont(FONT, 7.5)
            self.drawString(MARGIN_X, top - 11, header[2])
            self.drawRightString(PAGE_WIDTH - MARGIN_X, top - 11, header[3])
            self.setStrokeColor(RULE)
            self.setLineWidth(0.6)
            self.line(MARGIN_X, top - 16, PAGE_WIDTH - MARGIN_X, top - 16)
            self.line(MARGIN_X, 38, PAGE_WIDTH - MARGIN_X, 38)
            self.setFont(FONT, 7)
            self.setFillColor(MUTED)
            self.drawString(MARGIN_X, 28, footer_left)
            self.drawString(MARGIN_X, 19, footer_right)
            self.setFillColor(colors.black)
            self.setFont(FONT_BOLD, 8)
            self.drawRightString(PAGE_WIDTH - MARGIN_X, 28, f"Page {number} of {total}")
            self.restoreState()

    return NoteCanvas


# ---------------------------------------------------------------- signature band


class SignatureBand(Flowable):
    """Takes the rest of the last page so the signature boxes land at fixed page coordinates."""

    def __init__(
        self,
        slots: Sequence[SignatureSlot],
        boxes: Sequence[SignatureBox],
        approval_box: SignatureBox | None = APPROVAL_RECORD_BOX,
    ) -> None:
        super().__init__()
        self.slots = list(slots)
        self.boxes = {b.field_name: b for b in boxes}
        self.approval_box = approval_box
        self._origin = (0.0, 0.0)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        # Fill what is left (the band then ends at the frame bottom); too little left -> next page.
        self.height = (
            avail_height - 1 if avail_height >= SIGNATURE_BAND_HEIGHT else SIGNATURE_BAND_HEIGHT
        )
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        return []

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:
        self._origin = (x, y)
        super().drawOn(canvas, x, y, _sW)

    def draw(self) -> None:
        c = self.canv
        ox, oy = self._origin
        tops = [b.y2 for b in self.boxes.values()]
        heading_y = max(tops) + 36 - oy
        left = MARGIN_X - ox
        ab = self.approval_box
        if ab is not None:
            # Only a label and a frame here: the text is the field's own appearance, filled at
            # approval and covered by the countersignature, so this page never says "pending".
            ax, ay = ab.x1 - ox, ab.y1 - oy
            c.setFillColor(colors.black)
            c.setFont(FONT_BOLD, 8.5)
            c.drawString(ax, ay + ab.height + 5, "Discharge approval record")
            c.setStrokeColor(RULE)
            c.setDash(3, 2)
            c.setLineWidth(0.8)
            c.rect(ax, ay, ab.width, ab.height, stroke=1, fill=0)
            c.setDash()
        c.setFont(FONT_BOLD, 10)
        c.drawString(left, heading_y, "Signatures")
        c.setFont(FONT, 7)
        c.setFillColor(MUTED)
        c.drawString(
            left + pdfmetrics.stringWidth("Signatures", FONT_BOLD, 10) + 8,
            heading_y,
            "Each signature shows the signer's printed name, the date and time with time zone, "
            "and its meaning.",
        )
        for slot in self.slots:
            box = self.boxes.get(slot.field_name)
            if box is None:
                continue
            x, y = box.x1 - ox, box.y1 - oy
            c.setFillColor(colors.black)
            c.setFont(FONT_BOLD, 8.5)
            c.drawString(x, y + box.height + 18, slot.role)
            c.setFont(FONT, 7.5)
            c.drawString(x, y + box.height + 7, f"Meaning: {slot.meaning}")
            c.setStrokeColor(RULE)
            c.setDash(3, 2)
            c.setLineWidth(0.8)
            c.rect(x, y, box.width, box.height, stroke=1, fill=0)
            c.setDash()
            c.setFillColor(MUTED)
            c.setFont(FONT, 6.5)
            c.drawString(x, y - 9, f"Digital signature field “{slot.field_name}” (PAdES)")
        c.setFillColor(colors.black)


# ---------------------------------------------------------------- sections


def _header_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    h = n.header
    series = f"#{h.session_number}" if h.session_number is not None else "—"
    rows = [
        ["Patient", _p(f"<b>{_esc(h.patient_name)}</b>"), "MRN", h.mrn, "DOB", h.dob.isoformat()],
        ["Session date", h.session_date.isoformat(), "Chair", h.chair, "Session in series", series],
        [
            "Clinic",
            _t(n.clinic_name),
            "Nurse",
            _t(h.nurse),
            "Prescriber",
            _t(h.prescriber or "—"),
        ],
        [
            "Protocol",
            _t(h.protocol),
            "Allergies",
            _t(h.allergies),
            "Note",
            f"{n.note_id} v{n.version}",
        ],
    ]
    last = len(rows) - 1  # the six-column rows; the order row below spans the five after its label
    if h.order:
        rows.append(["Order", _t(h.order), "", "", "", ""])
    label_cols = [(c, 0) for c in (0, 2, 4)]
    extra: list[tuple[Any, ...]] = [
        ("FONTNAME", (c, 0), (c, last), FONT_BOLD) for c, _ in label_cols
    ]
    extra += [("BACKGROUND", (c, 0), (c, last), HEAD_BG) for c, _ in label_cols]
    if h.order:
        extra += [
            ("SPAN", (1, last + 1), (5, last + 1)),
            ("FONTNAME", (0, last + 1), (0, last + 1), FONT_BOLD),
            ("BACKGROUND", (0, last + 1), (0, last + 1), HEAD_BG),
        ]
    title = (
        "Spravato (esketamine) — Session Note"
        if n.spravato is not None
        else "IV Ketamine Infusion — Session Note"
    )
    out: list[Flowable] = [_p(title, "title"), Spacer(1, 4)]
    if n.not_treated_reason:
        out.append(_p(f"NOT TREATED — {_esc(n.not_treated_reason)}", "banner"))
    if n.safety_flag:
        out.append(_p(_esc(n.safety_flag), "banner"))
    if n.addendum:
        a = n.addendum
        out.append(
            _p(
                f"ADDENDUM — version {n.version} supersedes note {_esc(a.supersedes_note_id)} "
                f"version {a.supersedes_version}. Reason: {_esc(a.reason)}. Entered by "
                f"{_esc(a.entered_by)} at {f.full(a.entered_at)}. The earlier signed version is "
                "kept unchanged.",
                "banner",
            )
        )
    out.append(_table(rows, [62, 152, 52, 92, 84, 84], extra, header=False))
    if h.course_plan:  # only when a plan was set: notes without one print as before
        out.append(_p(f"<b>Course plan:</b> {_esc(h.course_plan)}", "body"))
    return out


def _vitals_line(v: VitalsRow, f: _Fmt) -> str:
    parts = [
        f"BP {_num(v.sbp)}/{_num(v.dbp)} (MAP {_num(v.map)}) mmHg",
        f"HR {_num(v.hr)} /min",
        f"SpO2 {_num(v.spo2)} %",
        f"RR {_num(v.rr)} /min",
    ]
    if v.etco2 is not None:
        parts.append(f"EtCO2 {_num(v.etco2)} mmHg")
    if v.temp is not None:
        parts.append(f"Temp {_num(v.temp)} °C")
    return f"{f.hm(v.observed_at)} ({_esc(v.source)}): " + ", ".join(parts)


def _preprocedure_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Pre-procedure checklist and baseline", "h2")]
    if n.checklist:
        rows = [["Check", "Answer", "Note"]]
        rows += [[_t(r.item), _t(r.answer), _t(r.note)] for r in n.checklist]
        out.append(_table(rows, [200, 130, CONTENT_WIDTH - 330]))
    else:
        out.append(_none("No checklist recorded."))
    out.append(Spacer(1, 3))
    if n.baseline_vitals:
        out.append(_p(f"<b>Baseline vitals</b> {_esc(_vitals_line(n.baseline_vitals, f))}", "body"))
    else:
        out.append(_none("No baseline vitals recorded."))
    return out


def _infusion_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Infusion record", "h2")]
    inf = n.infusion
    if inf is None:
        if n.not_treated_reason:
            reason = _esc(n.not_treated_reason)
            return [*out, _none(f"NOT TREATED: no ketamine was given. Reason: {reason}.")]
        return [*out, _none("Infusion not started.")]
    d = inf.dose
    weight = f"{_num(d.weight_kg)} kg" + (
        f" (weighed {d.weight_recorded_on.isoformat()})" if d.weight_recorded_on else ""
    )
    calc = [
        ["Drug", _t(inf.drug), "Lot / expiry", f"{inf.lot} / {inf.expiry}"],
        ["Weight", weight, "Diluent", _t(inf.diluent)],
        [
            "Dose",
            f"{_num(d.dose_mg_per_kg, 2)} mg/kg × {_num(d.weight_kg)} kg = {_num(d.total_mg)} mg",
            "IV site",
            _t(inf.site),
        ],
        [
            "Concentration",
            f"{_num(d.total_mg)} mg in {_num(d.volume_ml)} mL = {_num(d.concentration_mg_per_ml, 3)} mg/mL",
            "Planned duration",
            f"{_num(d.duration_min)} min",
        ],
        [
            "Rate",
            f"{_num(d.rate_mg_per_h)} mg/h = {_num(d.rate_ml_per_h)} mL/h",
            "Delivered",
            _p(f"<b>{_num(inf.delivered_mg)} mg</b> over {_num(inf.minutes_infused)} min infused"),
        ],
    ]
    extra = [("FONTNAME", (c, 0), (c, -1), FONT_BOLD) for c in (0, 2)]
    extra += [("BACKGROUND", (c, 0), (c, -1), HEAD_BG) for c in (0, 2)]
    out.append(_table(calc, [70, 200, 84, CONTENT_WIDTH - 354], extra, header=False))
    out.append(Spacer(1, 4))
    rows: list[list[Any]] = [["Time", "Event", "Rate", "Reason", "By"]]
    for e in inf.events:
        rate = f"{_num(e.rate_ml_per_h)} mL/h" if e.rate_ml_per_h is not None else ""
        rows.append([f.hm(e.at), e.kind, rate, _t(e.reason), _t(e.by)])
    out.append(_table(rows, [40, 70, 60, 246, CONTENT_WIDTH - 416]))
    return out


def _spravato_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    """A Spravato session's dose record: the devices with time and lot (no pump, no mg/kg)."""
    sp = n.spravato
    assert sp is not None
    out: list[Flowable] = [_p("Spravato (esketamine) administration", "h2")]
    given = sum(d.mg for d in sp.devices)
    out.append(
        _p(
            f"<b>Ordered</b> {sp.dose_mg} mg intranasal · <b>Given</b> {given} mg in "
            f"{len(sp.devices)} device(s), self-administered under direct observation",
            "body",
        )
    )
    if sp.decision:
        out.append(_p(f"<b>Pre-dose BP decision</b> {_esc(sp.decision)}", "body"))
    if not sp.devices:
        return [*out, _none("No device given.")]
    rows: list[list[Any]] = [["Device", "Time", "Dose", "Lot", "Observed by"]]
    rows += [[str(d.number), f.hm(d.at), f"{d.mg} mg", _t(d.lot), _t(d.by)] for d in sp.devices]
    out.append(_table(rows, [50, 50, 50, 120, CONTENT_WIDTH - 270]))
    return out


REMS_ORIGIN_WORDS = {"session": "session", "nurse": "nurse"}
REMS_FORM_WIDTHS = (150, 170, 44, CONTENT_WIDTH - 364)


def rems_form_rows(form: MonitoringForm) -> list[list[Any]]:
    """The REMS form as table rows: field, value (MISSING when empty), filled by, evidence."""
    rows: list[list[Any]] = [["Field", "Value", "Filled by", "Evidence from the record"]]
    for fl in form.fields:
        value = fl.value if fl.origin is not None else "MISSING"
        rows.append(
            [
                _p(f"<b>{_esc(fl.label)}</b>"),
                _p(_esc(value)),
                REMS_ORIGIN_WORDS.get(fl.origin or "", ""),
                _p(_esc(fl.evidence)),
            ]
        )
    return rows


def rems_form_section(
    form: MonitoringForm, title: str = "SPRAVATO REMS Patient Monitoring Form"
) -> list[Flowable]:
    """The form as flowables (heading, completeness, table): the form PDF and the note."""
    if form.complete:
        state = "Complete."
    else:
        names = ", ".join(fl.label for fl in form.missing)
        state = f"Incomplete: {len(form.missing)} field(s) missing — {names}."
    extra: list[tuple[Any, ...]] = [("BACKGROUND", (0, 1), (0, -1), HEAD_BG)]
    for i, fl in enumerate(form.fields, start=1):
        if fl.origin is None:
            extra += [("BACKGROUND", (1, i), (1, i), ACTION_BG)]
    return [
        _p(_esc(title), "h2"),
        _p(_esc(state), "body" if form.complete else "banner"),
        _table(rems_form_rows(form), list(REMS_FORM_WIDTHS), extra),
    ]


FLOWSHEET_CHUNK = 40  # rows per Table: reportlab splits one long table in quadratic time


def _vitals_cells(v: VitalsRow) -> tuple[list[str], list[str]]:
    """Value texts (with ▲/▼ on flagged values) and the flag sentences for the Notes column."""
    texts: dict[str, str] = {}
    notes: list[str] = []
    for param in VITAL_PARAMS:
        value = v.value(param)
        flag = v.flags.get(param)
        # Blank = not measured: most monitor rows carry SpO2 and HR only, and an empty cell
        # costs nothing to draw.
        text = "" if value is None else _num(value)
        if param == "hr" and v.hr_from_pulse and value is not None:
            text += " PR"
        if flag:
            arrow = "▼" if flag.upper().startswith("LOW") else "▲"
            if v.kind == "interval":
                # The last value of the interval, then the flagged extreme: "99 ▼88".
                extreme = v.extremes.get(param)
                if extreme is None or extreme == value:
                    text += arrow
                else:
                    text += f" {arrow}{_num(extreme)}"
                notes.append(f"{_label(param)} {flag}")
            else:
                text += arrow
                notes.append(f"{_label(param)} {_num(value)} {flag}")
        texts[param] = text
    bp = f"{texts['sbp'] or '—'}/{texts['dbp'] or '—'}" if texts["sbp"] or texts["dbp"] else ""
    return [
        bp,
        texts["map"],
        texts["hr"],
        texts["spo2"],
        texts["rr"],
        texts["etco2"],
        texts["temp"],
    ], notes


def _label(param: str) -> str:
    return {"spo2": "SpO2", "etco2": "EtCO2", "temp": "Temp"}.get(param, param.upper())


def _resolution(seconds: int | None) -> str:
    if seconds is None:
        return "every reading"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@dataclass
class _SheetRow:
    """One flowsheet row as drawn: cell texts, per-cell (colour, background, bold), notes as
    (text, colour, bold) segments, each starting a line, and a whole-row tint."""

    cells: list[str]
    styled: dict[int, tuple[colors.Color, colors.Color, bool]]
    notes: list[tuple[str, colors.Color, bool]]
    muted: bool = False
    lines: list[list[tuple[str, colors.Color, bool]]] = field(default_factory=list)
    height: float = 0.0


_SHEET_FONT = 7.5
_SHEET_NOTE_FONT = 7.2  # the Notes column, as the "small" paragraph style
_SHEET_LEADING = 9.0
_SHEET_PAD = 2.0
_SHEET_RIGHT = range(3, 10)  # value columns, right-aligned


class _FlowsheetRows(Flowable):
    """A run of flowsheet rows drawn directly on the canvas: one text object, one path of grid
    lines and a rectangle per tinted cell. A reportlab Table spends most of a long note's render
    time per cell (style lookup, wrap, a text object each); monitor rows are simple."""

    def __init__(self, header: list[str], rows: list[_SheetRow], widths: Sequence[float]) -> None:
        super().__init__()
        self.hAlign = "CENTER"  # as a Table
        self.header = header
        self.rows = rows
        self.widths = list(widths)
        self.xs = [0.0]
        for w in self.widths:
            self.xs.append(self.xs[-1] + w)
        self.head_h = _SHEET_LEADING + 2 * _SHEET_PAD
        for row in rows:
            if not row.lines:
                row.lines = self._wrap_cells(row)
                row.height = max(len(c) for c in row.lines) * _SHEET_LEADING + 2 * _SHEET_PAD

    def _wrap_cells(self, row: _SheetRow) -> list[list[tuple[str, colors.Color, bool]]]:
        out = []
        for col, (text, width) in enumerate(zip(row.cells, self.widths[:-1], strict=False)):
            fg, _bg, bold = row.styled.get(col, (MUTED if row.muted else colors.black, None, False))
            font = FONT_BOLD if bold else FONT
            room = width - 2 * 3
            parts = (
                [text]
                if pdfmetrics.stringWidth(text, font, _SHEET_FONT) <= room
                else simpleSplit(text, font, _SHEET_FONT, room)
            )
            out.append([(t, fg, bold) for t in parts])
        notes: list[tuple[str, colors.Color, bool]] = []
        room = self.widths[-1] - 2 * 3
        for text, fg, bold in row.notes:
            font = FONT_BOLD if bold else FONT
            notes += [(t, fg, bold) for t in simpleSplit(text, font, _SHEET_NOTE_FONT, room)]
        out.append(notes or [("", colors.black, False)])
        return out

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = self.xs[-1]
        self.height = self.head_h + sum(r.height for r in self.rows)
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        used = self.head_h
        k = 0
        for row in self.rows:
            if used + row.height > avail_height:
                break
            used += row.height
            k += 1
        if k == 0 or k == len(self.rows):
            return []
        return [
            _FlowsheetRows(self.header, self.rows[:k], self.widths),
            _FlowsheetRows(self.header, self.rows[k:], self.widths),
        ]

    def draw(self) -> None:
        c = self.canv
        top = self.height
        right = self.xs[-1]
        # Backgrounds first: the heading, tinted rows, flagged cells.
        c.setFillColor(HEAD_BG)
        c.rect(0, top - self.head_h, right, self.head_h, stroke=0, fill=1)
        y = top - self.head_h
        for row in self.rows:
            y -= row.height
            if row.muted:
                c.setFillColor(colors.HexColor("#f0f0f0"))
                c.rect(0, y, right, row.height, stroke=0, fill=1)
            for col, (_fg, bg, _bold) in row.styled.items():
                if bg is not None:
                    c.setFillColor(bg)
                    c.rect(self.xs[col], y, self.widths[col], row.height, stroke=0, fill=1)
        # All text in one text object.
        t = c.beginText()
        state: tuple[str, Any, float] = ("", None, 0.0)

        def put(
            x: float,
            yy: float,
            text: str,
            fg: colors.Color,
            bold: bool,
            align_right: bool,
            size: float = _SHEET_FONT,
        ) -> None:
            nonlocal state
            font = FONT_BOLD if bold else FONT
            if state != (font, fg, size):
                t.setFont(font, size, _SHEET_LEADING)
                t.setFillColor(fg)
                state = (font, fg, size)
            if align_right:
                x -= pdfmetrics.stringWidth(text, font, size)
            t.setTextOrigin(x, yy)
            t.textOut(text)

        base = top - _SHEET_PAD - _SHEET_FONT
        for col, title in enumerate(self.header):
            put(self.xs[col] + 3, base, title, colors.black, True, False)
        y = top - self.head_h
        for row in self.rows:
            first = y - _SHEET_PAD - _SHEET_FONT
            last = len(row.lines) - 1
            for col, lines in enumerate(row.lines):
                right_col = col in _SHEET_RIGHT
                x = self.xs[col + 1] - 3 if right_col else self.xs[col] + 3
                size = _SHEET_NOTE_FONT if col == last else _SHEET_FONT
                for i, (text, fg, bold) in enumerate(lines):
                    if text:
                        put(x, first - i * _SHEET_LEADING, text, fg, bold, right_col, size)
            y -= row.height
        c.drawText(t)
        # Grid: one path.
        c.setStrokeColor(RULE)
        c.setLineWidth(0.4)
        path = c.beginPath()
        ys = [top, top - self.head_h]
        for row in self.rows:
            ys.append(ys[-1] - row.height)
        for yy in ys:
            path.moveTo(0, yy)
            path.lineTo(right, yy)
        for x in self.xs:
            path.moveTo(x, top)
            path.lineTo(x, ys[-1])
        c.drawPath(path, stroke=1, fill=0)


def _flowsheet_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Intra-procedure and recovery flowsheet", "h2")]
    if not n.vitals:
        return [*out, _none()]
    header = [
        "Observed",
        "Entered",
        "Source",
        "BP",
        "MAP",
        "HR",
        "SpO2",
        "RR",
        "EtCO2",
        "Temp",
        "Sedation",
        "Flags and notes",
    ]
    body: list[_SheetRow] = []
    devices: dict[str, str] = {}
    col_of = {"sbp": 3, "dbp": 3, "map": 4, "hr": 5, "spo2": 6, "rr": 7, "etco2": 8, "temp": 9}
    intervals = 0
    for v in n.vitals:
        values, notes = _vitals_cells(v)
        entered = f.hm(v.recorded_at) if v.recorded_at != v.observed_at else "="
        note_parts: list[tuple[str, colors.Color, bool]] = [
            (t, ACTION_FG if "action" in t.lower() else NOTIFY_FG, True) for t in notes
        ]
        if v.late:
            entered += " LATE"
            note_parts.append((f"Late entry (entered {f.hm(v.recorded_at)})", colors.black, True))
        if v.superseded:
            note_parts.insert(0, ("SUPERSEDED", colors.black, True))
        if v.correction:
            note_parts.append((v.correction, colors.black, False))
        if v.source == "manual":
            source = "manual"
        else:
            source = devices.setdefault(v.source, f"dev {len(devices) + 1}")
        if v.kind == "interval":
            intervals += 1
            source += f" ×{v.count}"
            entered = ""
        # A monitor reading shown in full carries its second: several may share a minute.
        observed = f.hms(v.observed_at) if v.source != "manual" and v.kind != "interval" else None
        styled: dict[int, tuple[colors.Color, colors.Color, bool]] = {}
        if not v.superseded:
            for param, flag in v.flags.items():
                col = col_of.get(param)
                if col is not None:
                    fg, bg = _flag_colours(flag)
                    styled[col] = (fg, bg, True)
        body.append(
            _SheetRow(
                [observed or f.hm(v.observed_at), entered, source, *values, v.sedation or ""],
                styled,
                note_parts,
                muted=v.superseded,
            )
        )
    widths = [46, 40, 46, 52, 26, 32, 36, 20, 30, 28, 44, CONTENT_WIDTH - 400]
    # Runs of FLOWSHEET_CHUNK rows, each with its heading row: page splitting stays linear.
    for start in range(0, len(body), FLOWSHEET_CHUNK):
        out.append(_FlowsheetRows(header, body[start : start + FLOWSHEET_CHUNK], widths))
    out.append(Spacer(1, 2))
    resolution = _resolution(n.vitals_interval_s)
    interval_note = (
        f"Monitor data at {resolution} resolution: a row “dev N ×k” gives the last values of the "
        f"{resolution} starting at its time, summarising k readings; a minimum or maximum that "
        "crossed a limit in that interval follows the last value (“99 ▼88”) and is written in the "
        "last column, and every reading that crossed a limit is also listed in full, with its "
        "second. The full monitor stream is kept in the record "
        "and in the export. "
        if intervals
        else ""
    )
    out.append(
        _p(
            f'Flags: <font color="{ACTION_FG.hexval()}"><b>▲/▼ red = action threshold</b></font>, '
            f'<font color="{NOTIFY_FG.hexval()}"><b>▲/▼ amber = notify threshold</b></font>; '
            "each flag is also written out in the last column. “=” entered at the time observed; "
            "LATE = entered after the clinic's late-entry limit. Superseded rows stay on the record. "
            "A blank cell: not measured. HR “PR” = pulse rate from the oximeter (no ECG heart rate). "
            + interval_note
            + "Sources: manual = typed by the nurse"
            + "".join(f"; {code} = {_esc(name)}" for name, code in devices.items())
            + ".",
            "small",
        )
    )
    return out


def _chart(
    title: str,
    series: Sequence[ChartSeries],
    markers: Sequence[ChartMarker],
    y_range: tuple[float, float],
    y_step: float,
    x_label: Callable[[float], str],
    x_range: tuple[float, float],
) -> Drawing:
    width, height = CONTENT_WIDTH, 168.0
    d = Drawing(width, height, initialFontName=FONT)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 34, 28, width - 120, height - 48
    palette = [colors.HexColor(c) for c in ("#c62828", "#1565c0", "#6a1b9a", "#2e7d32", "#00838f")]
    plot.data = [list(s.points) for s in series]
    plot.joinedLines = 1
    for i, _s in enumerate(series):
        plot.lines[i].strokeColor = palette[i % len(palette)]
        plot.lines[i].strokeWidth = 1.2
    xmin, xmax = x_range
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = xmin, xmax
    step = 15 if xmax - xmin > 90 else 10
    first = xmin + (-xmin % step)
    plot.xValueAxis.valueSteps = [first + k * step for k in range(int((xmax - first) // step) + 1)]
    plot.xValueAxis.labelTextFormat = x_label
    plot.xValueAxis.labels.fontName = FONT
    plot.xValueAxis.labels.fontSize = 6.5
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_range
    plot.yValueAxis.valueStep = y_step
    plot.yValueAxis.labels.fontName = FONT
    plot.yValueAxis.labels.fontSize = 6.5
    plot.yValueAxis.visibleGrid = 1
    plot.yValueAxis.gridStrokeColor = colors.HexColor("#e3e3e3")
    d.add(plot)
    # A small square per measurement, so interpolated stretches are visible. One Path per series:
    # LinePlot's marker widgets (or one Circle per point) cost 7-13 ms per note.
    ymin, ymax = y_range
    half = 1.2
    for i, s in enumerate(series):
        dots = Path(fillColor=palette[i % len(palette)], strokeColor=None)
        for mx, my in s.points:
            if xmin <= mx <= xmax and ymin <= my <= ymax:
                cx = plot.x + (mx - xmin) / (xmax - xmin) * plot.width
                cy = plot.y + (my - ymin) / (ymax - ymin) * plot.height
                dots.moveTo(cx - half, cy - half)
                dots.lineTo(cx + half, cy - half)
                dots.lineTo(cx + half, cy + half)
                dots.lineTo(cx - half, cy + half)
                dots.closePath()
        d.add(dots)
    d.add(String(0, height - 10, title, fontName=FONT_BOLD, fontSize=8.5))

    # Markers: a dashed line each; labels of markers closer than 9 pt share one rotated label.
    def x_of(m: float) -> float:
        return plot.x + (m - xmin) / (xmax - xmin) * plot.width

    clusters: list[list[ChartMarker]] = []
    for m in sorted(markers, key=lambda m: m.minute):
        if not xmin <= m.minute <= xmax:
            continue
        if clusters and x_of(m.minute) - x_of(clusters[-1][-1].minute) < 9:
            clusters[-1].append(m)
        else:
            clusters.append([m])
    for cluster in clusters:
        for m in cluster:
            x = x_of(m.minute)
            d.add(
                Line(
                    x,
                    plot.y,
                    x,
                    plot.y + plot.height,
                    strokeColor=MUTED,
                    strokeWidth=0.6,
                    strokeDashArray=[2, 2],
                )
            )
        label = Group(
            String(
                0,
                0,
                ", ".join(m.label for m in cluster),
                fontName=FONT,
                fontSize=6,
                fillColor=MUTED,
                textAnchor="end",
            )
        )
        label.rotate(90)
        label.translate(plot.y + plot.height - 2, -(x_of(cluster[-1].minute) + 6.5))
        d.add(label)
    legend = Legend()
    legend.x, legend.y = plot.x + plot.width + 14, plot.y + plot.height
    legend.fontName, legend.fontSize = FONT, 7
    legend.alignment = "right"
    legend.colorNamePairs = [(palette[i % len(palette)], s.name) for i, s in enumerate(series)]
    legend.deltay = 10
    legend.dx = legend.dy = 6
    d.add(legend)
    return d


def _chart_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Trends", "h2")]
    if not any(s.points for s in n.chart_series):
        return [*out, _none("No vitals to chart.")]
    xs = [p[0] for s in n.chart_series for p in s.points] + [m.minute for m in n.chart_markers]
    xmin, xmax = min(xs), max(xs)
    xmin = 5 * (xmin // 5)
    xmax = max(xmin + 10, 5 * -(-xmax // 5))
    start = (
        n.infusion.events[0].at
        if n.infusion and n.infusion.events
        else n.vitals[0].observed_at
        if n.vitals
        else n.generated_at
    )

    def x_label(minute: float) -> str:
        return f.hm(start + timedelta(minutes=minute))

    bp = [s for s in n.chart_series if s.chart == "bp"]
    hr = [s for s in n.chart_series if s.chart == "hr_spo2"]
    if bp:
        out.append(
            _chart(
                "Blood pressure (mmHg): systolic, diastolic, mean",
                bp,
                n.chart_markers,
                (40, 200),
                20,
                x_label,
                (xmin, xmax),
            )
        )
    if hr:
        out.append(
            _chart(
                "Heart rate (/min) and SpO2 (%)",
                hr,
                n.chart_markers,
                (40, 110),
                10,
                x_label,
                (xmin, xmax),
            )
        )
    out.append(
        _p(
            f"x axis: clock time, {f.zone_label(start)}; dashed lines mark infusion events and medications.",
            "small",
        )
    )
    return out


def _medication_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("PRN medications", "h2")]
    if not n.medications:
        return [*out, _none("No PRN medications given.")]
    rows: list[list[Any]] = [
        [
            "Time",
            "Drug and dose",
            "Indication",
            "Pre-dose vitals",
            "Response / reassessment",
            "Nurse",
        ]
    ]
    extra: list[tuple[Any, ...]] = []
    for i, m in enumerate(n.medications, start=1):
        drug = f"<b>{_esc(m.drug)}</b> {_num(m.dose, 2)} {_esc(m.unit)} {_esc(m.route)}"
        if m.override_reason:
            drug += f'<br/><font color="{ACTION_FG.hexval()}"><b>OVERRIDE:</b> {_esc(m.override_reason)}</font>'
            extra.append(("BACKGROUND", (1, i), (1, i), ACTION_BG))
        rows.append(
            [
                f.hm(m.at),
                _p(drug),
                _t(m.indication),
                _t(m.pre_vitals),
                _t(m.response),
                _t(m.nurse),
            ]
        )
    out.append(_table(rows, [32, 150, 80, 86, 110, CONTENT_WIDTH - 458], extra))
    return out


def _outcome_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    """Outcome measures and the suicide-risk screen (issue 16): printed only when the session
    has any, so a note without them reads as before."""
    if not n.outcomes and not n.safety:
        return []
    out: list[Flowable] = [_p("Outcome measures and suicide-risk screen", "h2")]
    if n.outcomes:
        rows: list[list[Any]] = [["Time", "Scale", "Score", "Answers (item:answer)", "Given as"]]
        extra: list[tuple[Any, ...]] = []
        for i, o in enumerate(n.outcomes, start=1):
            score = f"<b>{_esc(o.score)}</b>"
            if o.course:
                score += f"<br/>{_esc(o.course)}"
            if o.safety:
                score += f'<br/><font color="{ACTION_FG.hexval()}"><b>POSITIVE:</b> {_esc(o.safety)}</font>'
                extra.append(("BACKGROUND", (2, i), (2, i), ACTION_BG))
            rows.append(
                [
                    f.hm(o.at),
                    _t(f"{o.scale}, {o.timepoint}"),
                    _p(score),
                    _t(o.answers),
                    _t(o.administered),
                ]
            )
        out.append(_table(rows, [32, 80, 120, 150, CONTENT_WIDTH - 382], extra))
    if n.safety:
        out.append(Spacer(1, 3))
        rows = [["Time", "Safety check", "Assessment", "Plan", "Decision", "By"]]
        rows += [
            [f.hm(a.at), _t(a.kind), _t(a.assessment), _t(a.plan), _t(a.decision), _t(a.by)]
            for a in n.safety
        ]
        out.append(_table(rows, [32, 84, 140, 140, 66, CONTENT_WIDTH - 462]))
    return out


def _assessment_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Assessments and scores", "h2")]
    if not n.assessments:
        return [*out, _none()]
    rows: list[list[Any]] = [["Time", "Scale", "Score", "Detail"]]
    rows += [[f.hm(a.at), _t(a.scale), _num(a.score), _t(a.detail)] for a in n.assessments]
    out.append(_table(rows, [40, 110, 40, CONTENT_WIDTH - 190]))
    return out


def _alarm_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Alarms and responses", "h2")]
    if not n.alarms:
        return [*out, _none("No alarms.")]
    rows: list[list[Any]] = [["Time", "Priority", "Alarm", "Acknowledged", "Response"]]
    extra: list[tuple[Any, ...]] = []
    for i, a in enumerate(n.alarms, start=1):
        ack = (
            f"{a.acknowledged_by} {f.hm(a.acknowledged_at)}"
            if a.acknowledged_by
            else "NOT acknowledged"
        )
        rows.append([f.hm(a.at), a.priority.upper(), _t(a.text), _t(ack), _t(a.response)])
        if a.priority.lower() == "high":
            extra += [
                ("TEXTCOLOR", (1, i), (1, i), ACTION_FG),
                ("FONTNAME", (1, i), (1, i), FONT_BOLD),
            ]
        elif a.priority.lower() == "medium":
            extra += [
                ("TEXTCOLOR", (1, i), (1, i), NOTIFY_FG),
                ("FONTNAME", (1, i), (1, i), FONT_BOLD),
            ]
    out.append(_table(rows, [36, 50, 170, 110, CONTENT_WIDTH - 366], extra))
    return out


def _discharge_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Recovery and discharge", "h2")]
    dc = n.discharge
    if dc is None:
        return [*out, _none("Discharge not yet assessed.")]
    rows: list[list[Any]] = [[f"{dc.scale_name} ({f.hm(dc.assessed_at)})", "Score", "Detail"]]
    rows += [[_t(i.name), f"{_num(i.score)} / {_num(i.max_score)}", _t(i.detail)] for i in dc.items]
    rows.append(["Total", f"{_num(dc.total)} / {_num(dc.max_total)}", ""])
    items = _table(
        rows, [150, 50, CONTENT_WIDTH - 200], [("FONTNAME", (0, -1), (1, -1), FONT_BOLD)]
    )
    crit: list[list[Any]] = [["Discharge criterion", "Result", "Evidence"]]
    extra: list[tuple[Any, ...]] = []
    for i, c in enumerate(dc.criteria, start=1):
        crit.append([_t(c.text), "✔ met" if c.met else "✘ NOT MET", _t(c.evidence)])
        fg, bg = (OK_FG, colors.white) if c.met else (ACTION_FG, ACTION_BG)
        extra += [
            ("TEXTCOLOR", (1, i), (1, i), fg),
            ("BACKGROUND", (1, i), (1, i), bg),
            ("FONTNAME", (1, i), (1, i), FONT_BOLD),
        ]
    criteria = _table(crit, [200, 62, CONTENT_WIDTH - 262], extra)
    facts = [
        [
            "Escort",
            _t(dc.escort or "—"),
            "Instructions given",
            "yes" if dc.instructions_given else "NO",
        ],
        [
            "Condition",
            _t(dc.condition or "—"),
            "Next appointment",
            _t(dc.next_appointment or "—"),
        ],
        [
            "Approved by",
            _t(dc.approved_by or "see the discharge approval record"),
            "Approved at",
            f.full(dc.approved_at),
        ],
    ]
    fx = [("FONTNAME", (c, 0), (c, -1), FONT_BOLD) for c in (0, 2)] + [
        ("BACKGROUND", (c, 0), (c, -1), HEAD_BG) for c in (0, 2)
    ]
    out += [
        items,
        Spacer(1, 4),
        criteria,
        Spacer(1, 4),
        _table(facts, [70, 200, 86, CONTENT_WIDTH - 356], fx, header=False),
    ]
    return out


def _override_section(n: NoteContent, f: _Fmt) -> list[Flowable]:
    out: list[Flowable] = [_p("Overrides", "h2")]
    rows_src = n.all_overrides
    if not rows_src:
        return [*out, _none("No overrides.")]
    rows: list[list[Any]] = [["Time", "Rule overridden", "Reason", "By"]]
    rows += [[f.hm(o.at), _t(o.what), _t(o.reason), _t(o.by)] for o in rows_src]
    out.append(_table(rows, [36, 150, 240, CONTENT_WIDTH - 426]))
    return out


# ---------------------------------------------------------------- public API


def _doc(buf: BytesIO, title: str, author: str, keywords: str = "") -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buf,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        author=author,
        creator="NurseStation",
        keywords=keywords,
        invariant=1,
        # Otherwise every page references (unembedded) Helvetica as its initial font.
        initialFontName=FONT,
    )


def render_note_pdf(
    content: NoteContent, layout: Sequence[SignatureBox] = NOTE_SIGNATURE_LAYOUT
) -> bytes:
    """Render the session note; signature boxes are left blank on the last page at `layout`."""
    register_fonts()
    f = _Fmt(display_zone(content.display_tz))
    h = content.header
    gen = content.generated_at
    title = f"Session note {content.note_id} v{content.version} — {h.patient_name}"
    buf = BytesIO()
    # The audit chain's head when the note was rendered, in the document information (signed
    # with the rest of the bytes; not printed, so the note's text is unchanged): see app/trail.py.
    keywords = f"{AUDIT_HEAD_KEYWORD}{content.audit_head}" if content.audit_head else ""
    doc = _doc(buf, title, content.clinic_name, keywords)
    story: list[Flowable] = []
    story += _header_section(content, f)
    story += _preprocedure_section(content, f)
    story += _outcome_section(content, f)
    if content.spravato is not None:
        story += _spravato_section(content, f)
    else:
        story += _infusion_section(content, f)
    story += _flowsheet_section(content, f)
    story += [CondPageBreak(200), *_chart_section(content, f)]
    story += _medication_section(content, f)
    story += _assessment_section(content, f)
    story += _alarm_section(content, f)
    if content.spravato is not None:
        story += rems_form_section(content.spravato.form)
    story += [KeepTogether(_discharge_section(content, f))]
    story += [KeepTogether(_override_section(content, f))]
    story.append(Spacer(1, 6))
    story.append(SignatureBand(content.signature_slots, layout))
    addendum = " — ADDENDUM" if content.addendum else ""
    canvas_cls = _canvas_class(
        (
            content.clinic_name,
            f"{h.patient_name} · MRN {h.mrn}",
            f"{'Spravato' if content.spravato else 'IV ketamine'} session note{addendum}",
            f"DOB {h.dob.isoformat()} · Session {h.session_date.isoformat()} · Chair {h.chair}",
        ),
        f"Generated {gen.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')} ({f.full(gen)}) · "
        f"NurseStation {content.app_version}",
        f"Note {content.note_id} version {content.version} · a signed note never changes; "
        "corrections are made as addenda",
    )
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()


# The sheet goes home with a patient who has just had ketamine: type large enough to read
# without glasses in a car (about 14 pt; the note's 8.5 pt is for clinicians) [GK].
SHEET_FONT_PT = 14.0


def render_discharge_instructions_pdf(
    clinic_name: str,
    patient_name: str,
    escort: str,
    text_lines: Sequence[str],
    generated_at: datetime,
    *,
    display_tz: str | None = None,
    next_appointment: str = "",
    clinic_phone: str = "",
) -> bytes:
    """The patient's printable discharge instruction sheet (one item per line of `text_lines`).

    Every time on it is a clock time in the clinic's display zone (a patient reads local time,
    never UTC); `escort` is printed as given (the caller adds the relationship once); without
    `clinic_phone` a blank line is left for the nurse to write the number in by hand."""
    register_fonts()
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    f = _Fmt(display_zone(display_tz))
    s = _styles()
    size = SHEET_FONT_PT
    body = ParagraphStyle("sheet", parent=s["body"], fontSize=size, leading=size * 1.35)
    title = ParagraphStyle("sheet_title", parent=s["title"], fontSize=size + 6, leading=size + 10)
    item = ParagraphStyle(
        "sheet_item",
        parent=body,
        spaceAfter=6,
        leftIndent=size * 1.4,
        bulletIndent=0,
        bulletFontSize=size,
    )
    phone_style = ParagraphStyle(
        "sheet_phone",
        parent=body,
        fontName=FONT_BOLD,
        fontSize=size + 2,
        leading=(size + 2) * 1.35,
        backColor=HEAD_BG,
        borderPadding=6,
        spaceBefore=6,
        spaceAfter=6,
    )
    phone = clinic_phone.strip()
    phone_text = (
        # the number whole on one line of its own: a wrapped phone number is misdialled
        f"Questions or feeling unwell? Call the clinic:<br/>{_esc(phone).replace(' ', '&nbsp;')}"
        if phone
        else "Questions or feeling unwell? Call the clinic:<br/>______________________"
    )
    buf = BytesIO()
    doc = _doc(buf, f"Discharge instructions — {patient_name}", clinic_name)
    story: list[Flowable] = [
        Paragraph("After your ketamine treatment: going home", title),
        Spacer(1, 8),
        Paragraph(f"<b>Patient:</b> {_esc(patient_name)}", body),
        Paragraph(f"<b>Going home with:</b> {_esc(escort or '—')}", body),
        Paragraph(
            f"<b>Next appointment:</b> {_esc(next_appointment.strip() or 'to be arranged')}", body
        ),
        Paragraph(f"<b>Printed:</b> {f.full(generated_at)}", body),
        Spacer(1, 4),
        Paragraph(phone_text, phone_style),
        Spacer(1, 8),
    ]
    story += [Paragraph(_esc(line), item, bulletText="•") for line in text_lines]
    story += [
        Spacer(1, 24),
        _table(
            [["Patient / escort signature", ""], ["Nurse", ""]],
            [200, CONTENT_WIDTH - 200],
            [
                ("FONTSIZE", (0, 0), (-1, -1), 11),
                ("TOPPADDING", (0, 0), (-1, -1), 14),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 14),
            ],
            header=False,
        ),
    ]
    canvas_cls = _canvas_class(
        (clinic_name, patient_name, "Discharge instructions", phone),
        f"Printed {f.full(generated_at)}",
        "Keep this sheet. If you feel unwell, call the clinic or your emergency number.",
    )
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()
