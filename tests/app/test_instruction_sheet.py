"""The patient's instruction sheet (issue 18, paper): the escort once, the next appointment,
clock times in the clinic's zone (never UTC), the clinic's phone from the settings, large type."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO

import pytest
from discharge_support import World, make_world
from pypdf import PdfReader

from nursestation.app import discharge as dc
from nursestation.app.context import AppContext
from nursestation.clinic import load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.report.note_pdf import SHEET_FONT_PT


@pytest.fixture
def tokyo(station: StationConfig, clock: FakeClock) -> Iterator[AppContext]:
    """A clinic in Asia/Tokyo (UTC+9, far from the test station's UTC) with its phone set."""
    settings = load_clinic_settings(station.clinic_file).with_overrides(
        {"general": {"timezone_display": "Asia/Tokyo", "clinic_phone": "+81 3 5555 0100"}},
        "test",
    )
    c = AppContext.open(station, clock=clock, settings=settings)
    yield c
    c.close()


def _text(pdf: bytes) -> str:
    pages = PdfReader(BytesIO(pdf)).pages
    return " ".join(" ".join((p.extract_text() or "").split()) for p in pages)


def _font_sizes(pdf: bytes) -> dict[str, float]:
    """Each text fragment of the first page with its font size."""
    sizes: dict[str, float] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            sizes[" ".join(text.split())] = size

    PdfReader(BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return sizes


def _sheet(w: World, **answers: str) -> str:
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers=answers)
    return _text(dc.instruction_sheet_pdf(w.ctx, w.nurse, w.sid))


def test_the_escort_is_named_once_with_the_relationship(
    tokyo: AppContext, clock: FakeClock
) -> None:
    w = make_world(tokyo, clock)
    text = _sheet(w, escort_relationship="husband")
    assert "Going home with: John Doe (husband)" in text
    assert "(husband) (husband)" not in text


def test_a_relationship_already_typed_into_the_name_is_not_repeated(
    tokyo: AppContext, clock: FakeClock
) -> None:
    w = make_world(tokyo, clock)
    text = _sheet(w, escort_name="John Doe (husband)", escort_relationship="Husband")
    assert "Going home with: John Doe (husband)" in text
    assert text.count("(husband)") + text.count("(Husband)") == 1


def test_next_appointment_local_times_and_the_clinic_phone(
    tokyo: AppContext, clock: FakeClock
) -> None:
    w = make_world(tokyo, clock)
    text = _sheet(w, escort_relationship="husband", next_appointment="Thu 10 Dec, 09:30")
    assert "Next appointment: Thu 10 Dec, 09:30" in text
    assert "Call the clinic: +81 3 5555 0100" in text
    local = clock.now().astimezone(tokyo_zone()).strftime("%Y-%m-%d %H:%M")
    assert f"Printed: {local} JST" in text
    assert "UTC" not in text  # a patient reads clock time, never UTC (footer included)


def test_no_phone_set_leaves_a_line_to_write_it_and_no_appointment_says_so(
    ctx: AppContext, clock: FakeClock
) -> None:
    w = make_world(ctx, clock)
    assert ctx.settings.get("general.clinic_phone") == ""  # shipped default: not set
    text = _sheet(w, escort_relationship="husband")
    assert "Call the clinic: ____" in text
    assert "Next appointment: to be arranged" in text


def test_the_sheet_is_in_large_type(tokyo: AppContext, clock: FakeClock) -> None:
    w = make_world(tokyo, clock)
    dc.record_assessment(w.ctx, w.nurse, w.sid, answers={"escort_relationship": "husband"})
    sizes = _font_sizes(dc.instruction_sheet_pdf(w.ctx, w.nurse, w.sid))
    lines = tokyo.settings.section("discharge.instructions")
    assert lines, "the clinic ships instruction lines"
    wanted = ["Going home with:", "Next appointment:", "Printed:", *map(str, lines.values())]
    for want in wanted:
        found = [size for text, size in sizes.items() if text.startswith(want[:25])]
        assert found, f"{want!r} not on the sheet"
        assert min(found) >= SHEET_FONT_PT >= 14, want


def tokyo_zone() -> object:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Tokyo")
