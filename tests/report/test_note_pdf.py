"""The rendered session note: every §6.3 section, page chrome, flags, determinism."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO

import pytest
from pypdf import PdfReader

from nursestation.note_content import AddendumInfo, NoteContent
from nursestation.report.layout import NOTE_SIGNATURE_LAYOUT, PAGE_WIDTH
from nursestation.report.note_pdf import render_discharge_instructions_pdf, render_note_pdf
from nursestation.report.sample import sample_note_content


def _pages(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(BytesIO(pdf)).pages]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_section_of_the_note_is_present(note_pdf: bytes) -> None:
    text = _flat(" ".join(_pages(note_pdf)))
    for needle in (
        "IV Ketamine Infusion — Session Note",
        "Pre-procedure checklist and baseline",
        "Consent on file and confirmed",
        "Baseline vitals 09:00 (manual): BP 124/80",
        "Infusion record",
        "0.50 mg/kg × 70 kg = 35 mg",
        "52.5 mg/h = 150 mL/h",
        "KX2291-B",
        "34.6 mg over 41 min infused",
        "Intra-procedure and recovery flowsheet",
        "Trends",
        "Blood pressure (mmHg): systolic, diastolic, mean",
        "Heart rate (/min) and SpO2 (%)",
        "PRN medications",
        "Ondansetron",
        "OVERRIDE: second dose window not reached",
        "Assessments and scores",
        "Alarms and responses",
        "SBP 164 mmHg ≥ 160 mmHg (action)",
        "Recovery and discharge",
        "✘ NOT MET",
        "Overrides",
        "Asymptomatic, BP trending down",
        "Signatures",
        "Documented by (infusion RN)",
        "Approved for discharge (charge RN)",
        "Meaning: Reviewed — approved for discharge",
    ):
        assert needle in text, needle


def test_flagged_values_carry_text_as_well_as_colour(note_pdf: bytes) -> None:
    text = _flat(" ".join(_pages(note_pdf)))
    assert "164▲/102▲" in text
    assert "SBP 164 HIGH (action)" in text
    assert "SpO2 93 LOW (notify)" in text
    assert "SUPERSEDED" in text
    assert "Late entry (entered 10:44)" in text
    assert "dev 1 = Masimo Radical-7 (COM3, SN 0000056661)" in text


def test_every_page_has_header_footer_and_page_x_of_y(note_pdf: bytes) -> None:
    pages = _pages(note_pdf)
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Doe, Jane · MRN K-1001" in text
        assert "Generated 2026-03-02 16:01 UTC (2026-03-02 11:01 EST)" in text
        assert "NurseStation 0.1.0" in text
        assert "Note N-2026-000123 version 1" in text


def test_signature_band_is_on_the_last_page_only(note_pdf: bytes) -> None:
    pages = _pages(note_pdf)
    assert "Documented by (infusion RN)" in pages[-1]
    assert all("Documented by (infusion RN)" not in p for p in pages[:-1])


def test_every_font_is_embedded_dejavu(note_pdf: bytes) -> None:
    for page in PdfReader(BytesIO(note_pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            assert "DejaVuSans" in str(font["/BaseFont"]), font["/BaseFont"]
            assert "/FontFile2" in font["/FontDescriptor"].get_object()


def test_output_is_deterministic() -> None:
    content = sample_note_content()
    assert render_note_pdf(content) == render_note_pdf(content)


def test_signature_boxes_fit_inside_the_page() -> None:
    for box in NOTE_SIGNATURE_LAYOUT:
        assert 0 < box.x1 < box.x2 < PAGE_WIDTH
        assert box.y2 - box.y1 == 84
    left, right = NOTE_SIGNATURE_LAYOUT
    assert left.x2 < right.x1


def test_addendum_banner_and_header_marker() -> None:
    content: NoteContent = replace(
        sample_note_content(version=2),
        addendum=AddendumInfo(
            "late entry of a 10:20 BP reading",
            "N-2026-000123",
            1,
            "Ana Ruiz, RN",
            datetime(2026, 3, 2, 17, 0, tzinfo=UTC),
        ),
    )
    pages = [_flat(p) for p in _pages(render_note_pdf(content))]
    assert "ADDENDUM — version 2 supersedes note N-2026-000123 version 1" in pages[0]
    assert "late entry of a 10:20 BP reading" in pages[0]
    assert all("IV ketamine session note — ADDENDUM" in p for p in pages)


def test_empty_sections_say_so() -> None:
    content = replace(
        sample_note_content(),
        medications=(),
        alarms=(),
        discharge=None,
        chart_series=(),
    )
    text = _flat(" ".join(_pages(render_note_pdf(content))))
    assert "No PRN medications given." in text
    assert "No alarms." in text
    assert "Discharge not yet assessed." in text
    assert "No vitals to chart." in text
    assert "No overrides." in text


def test_naive_generated_at_is_refused() -> None:
    with pytest.raises(ValueError):
        replace(sample_note_content(), generated_at=datetime(2026, 3, 2, 16, 0))


def test_discharge_instruction_sheet_renders() -> None:
    pdf = render_discharge_instructions_pdf(
        "Riverside Ketamine Clinic",
        "Doe, Jane",
        "Jordan Doe (spouse)",
        ["Do not drive until tomorrow morning.", "Call 555-0100 if you feel unwell — 24 h."],
        datetime(2026, 3, 2, 16, 5, tzinfo=UTC),
        display_tz="America/New_York",
    )
    pages = _pages(pdf)
    assert len(pages) == 1
    text = _flat(pages[0])
    assert "Doe, Jane" in text and "Jordan Doe (spouse)" in text
    assert "Do not drive until tomorrow morning." in text
    assert "Call 555-0100 if you feel unwell — 24 h." in text
    assert "Printed: 2026-03-02 11:05 EST" in text
    assert "Page 1 of 1" in text
