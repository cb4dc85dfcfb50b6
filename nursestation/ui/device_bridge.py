"""Qt adapter for bedside-monitor capture. The capture itself (workers, the writer thread that
stores a monitor second of all chairs in one transaction, the retry of refused batches, link
states) is app.capture.CaptureService, below the UI; this module turns its callbacks into
queued signals for the GUI thread (`readings_stored`, `state_changed`, `ingest_failed`, then
`station.changed`), so storing never stalls the event loop and no widget is touched off the GUI
thread. Also the demo's simulated monitors (`start_demo_monitors`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal

from nursestation.app.capture import DEMO_PROTOCOLS, CaptureService, DemoMonitors
from nursestation.app.capture import start_demo_monitors as demo_monitors
from nursestation.app.devices import BindingInfo
from nursestation.ui.station import Station

if TYPE_CHECKING:  # the worker class is the service's business; named here for the type only
    from nursestation.devices.capture import CaptureWorker

# How long after stored readings the views are told to refresh (coalesces many chairs' batches).
NOTIFY_MS = 500


class _Signals:
    """CaptureListener of the bridge: every callback becomes a signal (queued where it comes
    from the writer thread)."""

    def __init__(self, bridge: DeviceBridge) -> None:
        self.bridge = bridge

    def stored(self, chairs: list[str]) -> None:  # writer thread
        self.bridge._stored_sig.emit(chairs)

    def state(self, chair: str, state: str, detail: str) -> None:  # writer thread
        self.bridge._state_sig.emit(chair, state, detail)

    def failed(self, chair: str, message: str) -> None:  # writer thread
        self.bridge._failed_sig.emit(chair, message)

    def closed(self, chair: str) -> None:  # GUI thread (stop/restart)
        self.bridge.state_changed.emit(chair, "", "")
        self.bridge._notify.start()


class DeviceBridge(QObject):
    """The station's capture service (app.capture) with Qt signals for the views."""

    readings_stored = Signal(str)  # chair
    state_changed = Signal(str, str, str)  # chair, state, detail
    ingest_failed = Signal(str, str)  # chair, message
    # From the writer thread to the GUI thread (queued): chairs stored / state recorded / failure.
    _stored_sig = Signal(object)
    _state_sig = Signal(str, str, str)
    _failed_sig = Signal(str, str)

    def __init__(
        self,
        station: Station,
        parent: QObject | None = None,
        *,
        worker_options: Mapping[str, Any] | None = None,
        notify_ms: int = NOTIFY_MS,
    ) -> None:
        super().__init__(parent if parent is not None else station)
        self.station = station
        self.ctx = station.ctx
        queued = Qt.ConnectionType.QueuedConnection
        self._stored_sig.connect(self._on_stored, queued)
        self._state_sig.connect(self._on_state, queued)
        self._failed_sig.connect(self.ingest_failed, queued)
        self._notify = QTimer(self)
        self._notify.setSingleShot(True)
        self._notify.setInterval(notify_ms)
        self._notify.timeout.connect(self.station.changed.emit)
        self.capture = CaptureService(self.ctx, _Signals(self), worker_options=worker_options)
        # A chair bound again at another station is that station's to capture: stop ours when a
        # change shows it (another station's included: ui/refresh.ChangeListener).
        station.changed.connect(self.capture.release_moved)
        station.device_bridge = self  # the Monitors dialog finds it
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_all)

    # ------------------------------------------------------------ the service's API

    def start_all(self) -> list[str]:
        """Start a worker for every enabled binding not running yet; returns the chairs started."""
        return self.capture.start_all()

    def stop_all(self) -> None:
        """Stop every worker, store what they delivered, and forget their link states."""
        self.capture.stop_all()

    def restart(self, chair: str) -> bool:
        """Restart the chair's capture from its stored binding (see CaptureService.restart)."""
        return self.capture.restart(chair)

    def running(self) -> dict[str, BindingInfo]:
        """The bindings whose worker runs, by chair."""
        return self.capture.running()

    def worker(self, chair: str) -> CaptureWorker | None:
        """The chair's capture worker (diagnostics and tests)."""
        return self.capture.worker(chair)

    def unsaved_readings(self) -> int:
        """Readings received but not stored yet."""
        return self.capture.unsaved_readings()

    def accounted(
        self, stored: Callable[[], int], *, wait: bool = True
    ) -> tuple[int, int, int] | None:
        """(received, not stored yet, `stored()`): see CaptureService.accounted."""
        return self.capture.accounted(stored, wait=wait)

    @property
    def readings_received(self) -> int:
        """Readings the workers handed over (see CaptureService)."""
        return self.capture.readings_received

    @property
    def readings_refused(self) -> int:
        """Readings answered AE because their transaction failed."""
        return self.capture.readings_refused

    @property
    def ingest_seconds(self) -> deque[float]:
        """Seconds spent storing each transaction, newest last."""
        return self.capture.ingest_seconds

    # ------------------------------------------------------------ GUI thread

    def _on_stored(self, chairs: list[str]) -> None:
        for chair in chairs:
            self.readings_stored.emit(chair)
        if not self._notify.isActive():
            self._notify.start()  # views refresh once for many chairs' batches

    def _on_state(self, chair: str, state: str, detail: str) -> None:
        self.state_changed.emit(chair, state, detail)
        # A link problem must show at once, not at the next board tick.
        self.station.changed.emit()


# ---------------------------------------------------------------- demo monitors


def start_demo_monitors(
    station: Station,
    *,
    protocols: Sequence[str] = DEMO_PROTOCOLS,
    speed: float = 1.0,
    use_tcp: bool | None = None,
    bridge: DeviceBridge | None = None,
) -> DemoMonitors:
    """Start a simulated monitor for every occupied chair, bound and captured through the
    station's bridge (see app.capture.start_demo_monitors)."""
    if bridge is None:
        known = station.device_bridge
        bridge = known if isinstance(known, DeviceBridge) else DeviceBridge(station)
    return demo_monitors(station.ctx, bridge, protocols=protocols, speed=speed, use_tcp=use_tcp)
