"""The GUI's link to the use cases: the open AppContext, the signed-in actor, and change signals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from nursestation.app.context import Actor, AppContext
from nursestation.errors import NOT_PERMITTED, DomainError

T = TypeVar("T")


class Station(QObject):
    """One per window. Widgets call use cases through `run` and refresh on `changed`."""

    changed = Signal()  # something was written: views re-read what they show
    actor_changed = Signal()  # sign-in, user switch, sign-out
    locked_changed = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._actor: Actor | None = None
        self.locked = False

    @property
    def actor(self) -> Actor:
        """The signed-in user; use cases are refused when nobody is signed in."""
        if self._actor is None or self.locked:
            raise DomainError(NOT_PERMITTED, "Sign in first.")
        return self._actor

    @property
    def signed_in(self) -> Actor | None:
        """The signed-in user or None (also while locked, for the lock screen)."""
        return self._actor

    def set_actor(self, actor: Actor | None) -> None:
        """Switch the signed-in user (None signs out)."""
        self._actor = actor
        if self.locked:
            self.locked = False
            self.locked_changed.emit(False)
        self.actor_changed.emit()
        self.changed.emit()

    def set_locked(self, locked: bool) -> None:
        """Lock or unlock the screen (the actor stays signed in while locked)."""
        if self.locked != locked:
            self.locked = locked
            self.locked_changed.emit(locked)

    def can(self, use_case: str) -> bool:
        """True when the signed-in user may perform `use_case` (for enabling buttons)."""
        from nursestation.permissions import allowed

        return self._actor is not None and not self.locked and allowed(self._actor.roles, use_case)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a read-only use case as the signed-in actor."""
        return fn(self.ctx, self.actor, *args, **kwargs)

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a use case that changes data, then tell every view to refresh."""
        result = fn(self.ctx, self.actor, *args, **kwargs)
        self.changed.emit()
        return result
