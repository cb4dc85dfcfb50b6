"""The SPRAVATO REMS Patient Monitoring Form as a printable PDF (issue 17); the same table
(note_pdf.rems_form_section) is printed in the signed session note.

Every field of the form (clinical.md §4.3) is printed with who filled it: the session's record
("session") or the nurse ("nurse"); an empty field is marked MISSING so an incomplete form is
never mistaken for a complete one. The layout reuses the note's fonts and table style.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from io import BytesIO

from reportlab.platypus import Flowable, Spacer

from nursestation.report.note_pdf import (
    CONTENT_WIDTH,
    _canvas_class,
    _doc,
    _esc,
    _p,
    _table,
    register_fonts,
    rems_form_section,
)
from nursestation.spravato import MonitoringForm
from nursestation.wording import date_hm


@dataclass(frozen=True)
class FormHeader:
    """What the printed form says about itself."""

    clinic_name: str
    session_label: str  # "S-12"
    generated_at: datetime
    due_date: date
    submitted: str  # "" while not submitted


def render_rems_form_pdf(form: MonitoringForm, header: FormHeader, tz: tzinfo) -> bytes:
    """The printable form: the heading, every field with its origin, the due date and the
    submission (or a line to record it by hand)."""
    register_fonts()
    if header.generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    patient = form.value("patient_name")
    buf = BytesIO()
    doc = _doc(buf, f"SPRAVATO REMS Patient Monitoring Form — {patient}", header.clinic_name)
    story: list[Flowable] = [
        _p("SPRAVATO® REMS — Patient Monitoring Form", "title"),
        Spacer(1, 4),
        _p(
            f"<b>Session</b> {_esc(header.session_label)} · <b>Submit by</b> "
            f"{header.due_date.isoformat()} (within 7 days of the session) · "
            f"<b>Submitted</b> {_esc(header.submitted or 'not yet')}",
            "body",
        ),
        Spacer(1, 4),
        *rems_form_section(form, "Form fields"),
        Spacer(1, 14),
        _table(
            [["Submitted on / how / confirmation number", ""], ["Monitoring HCP signature", ""]],
            [220, CONTENT_WIDTH - 220],
            [("TOPPADDING", (0, 0), (-1, -1), 10), ("BOTTOMPADDING", (0, 0), (-1, -1), 10)],
            header=False,
        ),
    ]
    gen = header.generated_at
    canvas_cls = _canvas_class(
        (
            header.clinic_name,
            patient,
            "SPRAVATO REMS Patient Monitoring Form",
            f"Session {header.session_label}",
        ),
        f"Printed {gen.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')} ({date_hm(gen, tz)})",
        "Submit to the SPRAVATO REMS within 7 days of the session (online or by fax).",
    )
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()
