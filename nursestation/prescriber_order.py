"""The prescriber's order recorded at check-in (issue 18, paper): who ordered the treatment,
the order as written and its date. Printed in the note's header: the prescriber in place of
"Prescriber: —", the order on a row of its own.

All three are optional (a clinic that keeps orders elsewhere, and every session checked in
before they were asked, have none), but an order's text or date without the prescriber who
wrote it is refused: an order is only an order with its author.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError
from nursestation.text_checks import clean_text

PRESCRIBER_MAX = 200  # the infusion_sessions.prescriber column
ORDER_TEXT_MAX = 1000


@dataclass(frozen=True)
class PrescriberOrder:
    """Who ordered the session, the order as written and its date (each may be missing)."""

    prescriber: str | None = None
    text: str | None = None
    ordered_on: date | None = None

    def order_line(self) -> str | None:
        """The note's order row: "2026-03-01: 0.5 mg/kg over 40 min" (or the date alone, or the
        text alone), or None when neither was entered."""
        if self.ordered_on is not None and self.text:
            return f"{self.ordered_on.isoformat()}: {self.text}"
        if self.ordered_on is not None:
            return f"{self.ordered_on.isoformat()} (order text not recorded)"
        return self.text


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise DomainError(
        BAD_INPUT, f"Order date '{value}' is not a date (YYYY-MM-DD).", field="order_date"
    )


def check_order(prescriber: Any, text: Any, ordered_on: Any, today: date) -> PrescriberOrder:
    """The order as stored, or DomainError naming the field: text too long or not text, a date
    that is not one or lies after `today` (the clinic's date), an order without its prescriber."""
    who = clean_text(
        prescriber, field="prescriber", label="Prescriber", max_len=PRESCRIBER_MAX, required=False
    )
    what = clean_text(
        text, field="order_text", label="Order", max_len=ORDER_TEXT_MAX, required=False
    )
    when = _as_date(ordered_on)
    if when is not None and when > today:
        raise DomainError(
            OUT_OF_RANGE,
            f"Order date {when.isoformat()} is after today ({today.isoformat()}): allowed up to "
            "today.",
            field="order_date",
        )
    if who is None and (what is not None or when is not None):
        raise DomainError(
            BAD_INPUT,
            "An order needs the prescriber who wrote it: enter the prescriber.",
            field="prescriber",
        )
    return PrescriberOrder(who, what, when)
