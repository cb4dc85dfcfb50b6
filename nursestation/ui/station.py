"""The GUI's link to the use cases: the open AppContext, the signed-in actor, and change signals.

Kept light (no SQLAlchemy at import): the start-up imports it before the first paint."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Signal

from nursestation.errors import NOT_PERMITTED, DomainError

if TYPE_CHECKING:
    from nursestation.app.context import Actor, AppContext
    from nursestation.clinic import ClinicSettings
    from nursestation.config import StationConfig

T = TypeVar("T")


class MonitorCapture(Protocol):
    """What screens ask of the station's monitor capture (ui/device_bridge.DeviceBridge)."""

    def restart(self, chair: str) -> bool: ...

    def running(self) -> Mapping[str, object]: ...


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
        # The monitor capture, once the main window starts one (the Monitors dialog finds it).
        self.device_bridge: MonitorCapture | None = None

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


class ContextLoader(QObject):
    """Opens the AppContext (SQLAlchemy, the models, migrations, the clinic CA), restores the
    alarm state and runs `preload` (the launcher's import of the main window's modules: passed
    in, so this module does not import the window that imports it) in a background thread, so
    the sign-in dialog paints and takes input at once. `ready` is emitted (queued to the GUI thread) when it is done, failed or not;
    `wait()` returns the context or raises what opening it raised."""

    ready = Signal()

    def __init__(
        self,
        config: StationConfig,
        settings: ClinicSettings,
        parent: QObject | None = None,
        *,
        preload: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.settings = settings
        self._preload = preload
        self._ctx: AppContext | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._started = False
        self._thread = threading.Thread(target=self._run, name="nursestation-open", daemon=True)

    def start(self) -> None:
        """Start opening in the background; later calls do nothing."""
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def _run(self) -> None:
        try:
            from nursestation.app.context import AppContext

            # The settings in force come from the database (the clinic's, followed as other
            # stations change them); `self.settings` only showed a bad file before opening.
            self._ctx = AppContext.open(self.config)
            # The alarm state of every open session is rebuilt from the stored readings on first
            # use (2 s with 12 chairs x 2 h of 1 Hz data): here, behind the sign-in dialog, rather
            # than in the main window's constructor on the GUI thread.
            from nursestation.app.alarms import alarm_center

            alarm_center(self._ctx)
            if self._preload is not None:
                self._preload()
        except BaseException as exc:  # re-raised in the GUI thread by wait()
            self._error = exc
        finally:
            self._done.set()
            self.ready.emit()

    def is_ready(self) -> bool:
        """True once opening has finished (successfully or not)."""
        return self._done.is_set()

    def wait(self) -> AppContext:
        """Block until the context is open; raise the opening's error, if any."""
        self.start()
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._ctx is not None
        return self._ctx
