"""Queries every area needs on the insert-only clinical tables (one way to do each)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Select, select

T = TypeVar("T")


def current_rows(model: type[T], session_id: int) -> Select[tuple[T]]:
    """A session's rows of an insert-only table, without those a correction superseded.

    `model` needs `session_id`, `id` and `supersedes_id` columns; add `order_by` as needed."""
    m: Any = model
    replaced = select(m.supersedes_id).where(
        m.session_id == session_id, m.supersedes_id.is_not(None)
    )
    return select(model).where(m.session_id == session_id, m.id.not_in(replaced))


def drop_superseded(rows: Iterable[T]) -> list[T]:
    """The same rule for rows already loaded: keep those no other row supersedes."""
    rows = list(rows)
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}  # type: ignore[attr-defined]
    return [r for r in rows if r.id not in replaced]  # type: ignore[attr-defined]
