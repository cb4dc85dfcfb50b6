"""Checks on free text that names a person or a clinical fact (patient and user names, MRNs,
allergy entries): it is stored, printed on signed notes and shown on the board, so it must be
what it looks like.

Refused, with a message naming the field: text that is not text (a number, or a single string
where a list is expected), text longer than its column, control characters (they break lines
and exports), and the Unicode bidirectional overrides and isolates U+202A-U+202E and
U+2066-U+2069 (they make "Doe, Jane" display as something else: CVE-2021-42574, "Trojan
Source").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from nursestation.errors import BAD_INPUT, OUT_OF_RANGE, DomainError

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _bad_char(value: str) -> tuple[int, str] | None:
    for i, ch in enumerate(value, start=1):
        if ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            return i, ch
    return None


def clean_text(
    value: Any, *, field: str, label: str, max_len: int, required: bool = True
) -> str | None:
    """The text stripped of surrounding spaces, or DomainError naming `field`: not a string,
    empty when `required`, longer than `max_len` characters, or holding a control or text
    direction character. Empty and not required gives None."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(
            BAD_INPUT, f"{label} must be text (got {type(value).__name__}).", field=field
        )
    text = value.strip()
    if not text:
        if required:
            raise DomainError(BAD_INPUT, f"{label} is required.", field=field)
        return None
    if len(text) > max_len:
        raise DomainError(
            OUT_OF_RANGE,
            f"{label} is {len(text)} characters long: allowed 1–{max_len}.",
            field=field,
        )
    bad = _bad_char(text)
    if bad is not None:
        pos, ch = bad
        kind = "a text-direction" if ch in BIDI_CONTROLS else "a control"
        raise DomainError(
            BAD_INPUT,
            f"{label} contains {kind} character (U+{ord(ch):04X}) at position {pos}: allowed "
            "letters, digits, spaces and punctuation only.",
            field=field,
        )
    return text


def clean_list(values: Any, *, field: str, label: str, max_len: int, max_items: int) -> list[str]:
    """A list of text entries, each checked like `clean_text` (blank entries dropped). A single
    string is refused, never split into its letters; so is anything else that is not a list."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        got = f"the text '{values}'" if isinstance(values, str) else type(values).__name__
        raise DomainError(
            BAD_INPUT,
            f'{label} must be a list of entries, e.g. ["penicillin"] (got {got}).',
            field=field,
        )
    items: Iterable[Any] = values
    out: list[str] = []
    for i, raw in enumerate(items, start=1):
        text = clean_text(
            raw, field=field, label=f"{label} entry {i}", max_len=max_len, required=False
        )
        if text is not None:
            out.append(text)
    if len(out) > max_items:
        raise DomainError(
            OUT_OF_RANGE, f"{label}: {len(out)} entries, allowed at most {max_items}.", field=field
        )
    return out
