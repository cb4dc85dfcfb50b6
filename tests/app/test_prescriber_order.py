"""The prescriber and the order recorded at check-in (issue 18, paper), through the real use
cases: stored, audited, printed in the note's header; each field optional; bad input names its
field; the order date at its boundary (today allowed, tomorrow refused, in the clinic's zone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from support import CHECKLIST_OK

from nursestation.app import notes, patients, sessions, spravato
from nursestation.app.context import AppContext
from nursestation.clinic import load_clinic_settings
from nursestation.clock import FakeClock
from nursestation.config import StationConfig
from nursestation.db.models import AuditEvent, InfusionSession
from nursestation.dosing import Protocol
from nursestation.errors import DomainError
from nursestation.prescriber_order import ORDER_TEXT_MAX, PrescriberOrder

DR = "Dr. Mira Patel, MD"
# Spravato: the IV checklist without its IV questions, no concomitant medication taken.
SPRAVATO_CHECKLIST = {
    k: v for k, v in CHECKLIST_OK.items() if k not in ("iv_site", "iv_gauge", "iv_patent")
}
NO_CONMEDS = dict.fromkeys(
    ("benzodiazepines", "non_benzodiazepine_hypnotics", "psychostimulants", "maois", "opioids"),
    False,
)
ORDER = "Ketamine 0.5 mg/kg IV over 40 min, 6 infusions over 2-3 weeks"


def _register(ctx: AppContext, nurse: Any, mrn: str = "K-1") -> None:
    patients.register_patient(
        ctx, nurse, mrn=mrn, name="Doe, Jane", dob=date(1985, 4, 2), weight_kg=70, sex="male"
    )


def _check_in(ctx: AppContext, nurse: Any, **order: Any) -> int:
    return sessions.check_in(
        ctx, nurse, mrn="K-1", chair="1", protocol=Protocol(0.5, 40, 1), checklist=CHECKLIST_OK,
        **order,
    ).id  # fmt: skip


def _refused(fn: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*args, **kwargs)
    return e.value


def _row(ctx: AppContext, sid: int) -> InfusionSession:
    with ctx.tx() as s:
        row = s.get(InfusionSession, sid)
        assert row is not None
        s.expunge(row)
        return row


def _header(ctx: AppContext, nurse: Any, sid: int) -> str:
    """The note's first lines (the identity block) as the preview text has them."""
    text = notes.preview_text(ctx, nurse, sid)
    return text[: text.index("Pre-procedure checklist")]


def test_prescriber_and_order_are_stored_audited_and_printed(
    ctx: AppContext, people: dict[str, Any], clock: FakeClock
) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse)
    today = clock.now().date()
    sid = _check_in(ctx, nurse, prescriber=f"  {DR} ", order_text=ORDER, order_date=today)
    row = _row(ctx, sid)
    assert (row.prescriber, row.order_text, row.order_date) == (DR, ORDER, today)
    with ctx.tx() as s:
        audit = s.execute(
            select(AuditEvent).where(AuditEvent.action == "session.check_in")
        ).scalar_one()
        after = dict(audit.after or {})
    assert (after["prescriber"], after["order_text"], after["order_date"]) == (
        DR,
        ORDER,
        today.isoformat(),
    )
    header = " ".join(_header(ctx, nurse, sid).split())
    assert f"Prescriber {DR}" in header
    assert f"Order {today.isoformat()}: {ORDER}" in header


def test_without_them_the_note_still_says_prescriber_dash_and_has_no_order_row(
    ctx: AppContext, people: dict[str, Any]
) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse)
    sid = _check_in(ctx, nurse)
    row = _row(ctx, sid)
    assert (row.prescriber, row.order_text, row.order_date) == (None, None, None)
    header = " ".join(_header(ctx, nurse, sid).split())
    assert "Prescriber —" in header and "Order" not in header


def test_the_order_date_today_is_allowed_tomorrow_is_refused(
    ctx: AppContext, people: dict[str, Any], clock: FakeClock
) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse)
    tomorrow = clock.now().date() + timedelta(days=1)
    e = _refused(_check_in, ctx, nurse, prescriber=DR, order_date=tomorrow.isoformat())
    assert (e.code, e.field) == ("out_of_range", "order_date")
    assert f"Order date {tomorrow.isoformat()} is after today" in e.message
    e = _refused(_check_in, ctx, nurse, prescriber=DR, order_date="2026-02-30")
    assert (e.code, e.field) == ("bad_input", "order_date")
    assert "'2026-02-30' is not a date (YYYY-MM-DD)" in e.message
    with ctx.tx() as s:
        assert s.execute(select(InfusionSession)).first() is None  # nothing stored
    sid = _check_in(ctx, nurse, prescriber=DR, order_date=clock.now().date().isoformat())
    assert _row(ctx, sid).order_date == clock.now().date()


@pytest.fixture
def tokyo(
    station: StationConfig, clock: FakeClock, _standard_world: dict[str, Any]
) -> Iterator[AppContext]:
    # After the standard world is in place (its database exists on PostgreSQL too).
    settings = load_clinic_settings(station.clinic_file).with_overrides(
        {"general": {"timezone_display": "Asia/Tokyo"}}, "test"
    )
    c = AppContext.open(station, clock=clock, settings=settings)
    yield c
    c.close()


def test_today_is_the_clinics_date_not_utcs(
    tokyo: AppContext, people: dict[str, Any], clock: FakeClock
) -> None:
    """At 15:00 UTC it is already tomorrow in Tokyo: an order dated the Tokyo date is today's."""
    clock.set(clock.now().replace(hour=15, minute=0))
    nurse = people["nurse"]
    _register(tokyo, nurse)
    utc_today = clock.now().date()
    tokyo_today = utc_today + timedelta(days=1)
    e = _refused(_check_in, tokyo, nurse, prescriber=DR, order_date=tokyo_today + timedelta(days=1))
    assert e.field == "order_date"
    sid = _check_in(tokyo, nurse, prescriber=DR, order_date=tokyo_today)
    assert _row(tokyo, sid).order_date == tokyo_today


def test_an_order_without_its_prescriber_is_refused_naming_the_prescriber(
    ctx: AppContext, people: dict[str, Any]
) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse)
    for order in (
        {"order_text": ORDER},
        {"order_date": "2026-02-27"},
        {"prescriber": "  ", "order_text": ORDER},
    ):
        e = _refused(_check_in, ctx, nurse, **order)
        assert (e.code, e.field) == ("bad_input", "prescriber"), order
        assert "An order needs the prescriber who wrote it" in e.message


def test_order_text_length_at_its_limit(ctx: AppContext, people: dict[str, Any]) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse)
    e = _refused(_check_in, ctx, nurse, prescriber=DR, order_text="x" * (ORDER_TEXT_MAX + 1))
    assert (e.code, e.field) == ("out_of_range", "order_text")
    assert f"allowed 1–{ORDER_TEXT_MAX}" in e.message
    e = _refused(_check_in, ctx, nurse, prescriber=DR + "\u202e", order_text=ORDER)
    assert e.field == "prescriber"
    sid = _check_in(ctx, nurse, prescriber=DR, order_text="x" * ORDER_TEXT_MAX)
    assert _row(ctx, sid).order_text == "x" * ORDER_TEXT_MAX


def test_a_spravato_check_in_takes_them_too(
    ctx: AppContext, people: dict[str, Any], clock: FakeClock
) -> None:
    nurse = people["nurse"]
    _register(ctx, nurse, "S-1")
    spravato.record_enrolment(
        ctx, nurse, "S-1", rems_patient_id="RP-1", enrolled_on=date(2026, 2, 20)
    )
    sid = spravato.check_in(
        ctx, nurse, mrn="S-1", chair="2", dose_mg=56, checklist=SPRAVATO_CHECKLIST,
        conmeds=NO_CONMEDS, prescriber=DR, order_text="Spravato 56 mg", order_date="2026-02-27",
    ).id  # fmt: skip
    row = _row(ctx, sid)
    assert (row.prescriber, row.order_text, row.order_date) == (
        DR,
        "Spravato 56 mg",
        date(2026, 2, 27),
    )
    e = _refused(
        spravato.check_in, ctx, nurse, mrn="S-1", chair="3", dose_mg=56,
        checklist=SPRAVATO_CHECKLIST, conmeds=NO_CONMEDS, order_text="Spravato 56 mg",
    )  # fmt: skip
    assert e.field == "prescriber"


@pytest.mark.parametrize(
    ("order", "line"),
    [
        (PrescriberOrder(DR, ORDER, date(2026, 2, 27)), f"2026-02-27: {ORDER}"),
        (PrescriberOrder(DR, None, date(2026, 2, 27)), "2026-02-27 (order text not recorded)"),
        (PrescriberOrder(DR, ORDER, None), ORDER),
        (PrescriberOrder(DR, None, None), None),
    ],
)
def test_the_order_row_of_the_note(order: PrescriberOrder, line: str | None) -> None:
    assert order.order_line() == line


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE infusion_sessions SET order_text = '1.0 mg/kg IV over 40 min'",
        "UPDATE infusion_sessions SET order_date = '2026-01-01'",
    ],
)
def test_the_order_is_sealed_an_edit_outside_the_app_is_caught(
    ctx: AppContext, people: dict[str, Any], clock: FakeClock, sql: str
) -> None:
    """The order is a clinical fact like the dose: its columns are sealed (db/seals.py), so
    `check` reports a change made with plain SQL; through the app the seals hold."""
    import io

    from trail_support import Raw

    from nursestation.app.checks import run_checks

    nurse = people["nurse"]
    _register(ctx, nurse)
    _check_in(ctx, nurse, prescriber=DR, order_text=ORDER, order_date=clock.now().date())
    out = io.StringIO()
    assert run_checks(ctx.config, out, headless=True) == 0, out.getvalue()
    Raw(ctx).run(sql)
    out = io.StringIO()
    assert run_checks(ctx.config, out, headless=True) == 1
    assert any(x.startswith("FAIL sealed facts") for x in out.getvalue().splitlines())
