"""Monitor capture below the UI: one CaptureWorker thread per enabled chair binding, and ONE
writer that stores what they deliver and records their link states through the device services.
Qt-free: the UI's adapter (ui/device_bridge.py) turns the callbacks of `CaptureListener` into
queued signals; the scenario runner feeds frames through the same store synchronously
(`CaptureService(threaded=False)` and `FrameFeed`).

Threading: a worker's callbacks only put an item in a thread-safe inbox. The writer thread takes
everything waiting (e.g. one monitor second of every chair), stores all the readings in one
transaction (app.devices.ingest_batches: one commit instead of one per chair) and records state
changes, in arrival order. Device data is written from this one thread only; other writes (a
nurse's entries) are serialized with it by SQLite's BEGIN IMMEDIATE and busy timeout. The writer
thread starts with the first item and ends after a few idle seconds with nothing to store and no
capture running. Without a writer thread (`threaded=False`), each item is handled on the
caller's thread at once, in the same way.

Acknowledgements: a batch whose sender waits for an ACK (HL7) comes with a `Receipt`; the writer
resolves it after the transaction that stored the batch commits, and the worker only then sends
the ACK. If the transaction fails, such a batch is answered AE and taken out of the retry queue
(the sender was told it was not taken and owns the retry: storing it later as well would chart
it twice when the sender sends it again); batches nobody acknowledges are kept for the retry,
in order.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from nursestation.app import devices as device_service
from nursestation.app.context import AppContext
from nursestation.app.devices import BindingInfo
from nursestation.app.sessions import open_sessions
from nursestation.devices.capture import CaptureWorker, NibpDeduplicator, Receipt
from nursestation.devices.reading import Reading
from nursestation.devices.registry import decoder_for

log = logging.getLogger(__name__)

# Undelivered batches kept for a retry when the database refused a write (a few minutes' worth
# for a full clinic); beyond that the oldest are dropped and logged.
MAX_UNSAVED_BATCHES = 20_000
RETRY_S = 1.0
# Batches stored per transaction at most (a backlog after a refused write is caught up in steps).
MAX_BATCHES_PER_TX = 500
# The writer thread ends after this long with nothing to do and no capture running.
WRITER_IDLE_S = 5.0
# After the first batch arrives, the writer gathers what else comes within this window so that a
# monitor second of every chair (monitors are not in phase) is one transaction, not ~8: stored
# readings and their alarms are at most this much later. A state change or a sync ends the window.
GATHER_S = 0.25
# How long stop/restart wait for the writer to store what the stopped workers delivered.
SYNC_TIMEOUT_S = 30.0


class CaptureListener(Protocol):
    """What the capture service tells its owner. `stored`, `state` and `failed` are called on
    the writer thread (a GUI adapter must hand them over to its own thread); `closed` on the
    thread that stopped the chair's capture."""

    def stored(self, chairs: list[str]) -> None: ...

    def state(self, chair: str, state: str, detail: str) -> None: ...

    def failed(self, chair: str, message: str) -> None: ...

    def closed(self, chair: str) -> None: ...


class _Quiet:
    """The listener of a service nobody watches (the scenario runner, tools)."""

    def stored(self, chairs: list[str]) -> None:
        pass

    def state(self, chair: str, state: str, detail: str) -> None:
        pass

    def failed(self, chair: str, message: str) -> None:
        pass

    def closed(self, chair: str) -> None:
        pass


@dataclass(frozen=True)
class _Run:
    chair: str
    generation: int
    binding: BindingInfo
    worker: CaptureWorker


@dataclass(frozen=True)
class CaptureItem:
    """One thing for the writer: readings of a chair, a link state, or a sync mark."""

    kind: str  # "readings" | "state" | "sync" (payload: threading.Event set once handled)
    chair: str
    generation: int
    url: str
    protocol: str
    payload: Any
    receipt: Receipt | None = None  # readings whose sender waits for the storage outcome


WorkerFactory = Callable[..., CaptureWorker]


class CaptureService:
    """Runs the capture workers of a station; its writer stores what they deliver."""

    def __init__(
        self,
        ctx: AppContext,
        listener: CaptureListener | None = None,
        *,
        worker_options: Mapping[str, Any] | None = None,
        threaded: bool = True,
        worker_factory: WorkerFactory = CaptureWorker,
    ) -> None:
        self.ctx = ctx
        self.listener: CaptureListener = listener if listener is not None else _Quiet()
        self.worker_options = dict(worker_options or {})
        self.threaded = threaded
        self.worker_factory = worker_factory
        self._inbox: queue.SimpleQueue[CaptureItem] = queue.SimpleQueue()
        self._runs: dict[str, _Run] = {}
        self._generations = itertools.count(1)
        # Writer only: batches not stored yet (a refused write keeps them, in order).
        self._unsaved: deque[CaptureItem] = deque()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        # Seconds spent storing each transaction (writer, newest last), for diagnostics.
        self.ingest_seconds: deque[float] = deque(maxlen=2000)
        # Readings the workers handed over, counted by the writer as it takes them from the
        # inbox; with those not stored yet (`unsaved_readings`) they account for every reading
        # (scripts/soak.py checks it through `accounted`). Both change under `_flush_lock`.
        self.readings_received = 0
        # Readings answered AE because their transaction failed (given back to the sender: no
        # longer counted as received, see the module docstring).
        self.readings_refused = 0
        self._flush_lock = threading.RLock()
        # ctx.other_version when release_moved last read the bindings.
        self._bindings_seen = -1

    # ------------------------------------------------------------ control

    def start_all(self) -> list[str]:
        """Start a worker for every enabled binding of this station not running yet (claiming
        the bindings no station owns yet: app/devices.claim_unowned_bindings); returns the
        chairs started. Chairs bound at another station are that station's to capture."""
        started = []
        device_service.claim_unowned_bindings(self.ctx)
        for b in device_service.enabled_bindings(self.ctx):
            if b.chair not in self._runs:
                self._start(b)
                started.append(b.chair)
        return started

    def stop_all(self) -> None:
        """Stop every worker, store what they delivered, and forget their link states."""
        runs = list(self._runs.values())
        self._runs.clear()
        for run in runs:
            run.worker.stop(timeout=0)  # ask all first, then wait: stops run in parallel
        for run in runs:
            run.worker.stop()
        self.sync()
        for run in runs:
            self._closed(run.chair)

    def restart(self, chair: str) -> bool:
        """Stop the chair's worker and start it again from its stored binding (after a bind or
        unbind); returns True when a worker runs for the chair afterwards."""
        run = self._runs.pop(chair, None)
        if run is not None:
            run.worker.stop()
            self.sync()
            self._closed(chair)
        binding = device_service.get_binding(self.ctx, chair)
        if binding is None or not device_service.opens_port(self.ctx, binding):
            return False  # unbound, disabled, or bound at another station: its port is not ours
        self._start(binding)
        return True

    def release_moved(self) -> list[str]:
        """Stop the workers whose binding no longer opens its port here (bound again at another
        station, unbound, or disabled elsewhere); returns their chairs. Reads the bindings only
        when something beyond the monitor stream was committed since the last call
        (ctx.other_version moves for any station's change: app/context.poll_changes)."""
        version = self.ctx.other_version
        if version == self._bindings_seen or not self._runs:
            self._bindings_seen = version
            return []
        self._bindings_seen = version
        current = {b.chair for b in device_service.enabled_bindings(self.ctx)}
        moved = [chair for chair in self._runs if chair not in current]
        for chair in moved:
            run = self._runs.pop(chair)
            run.worker.stop()
            self.sync()
            self._closed(chair)
        return moved

    def running(self) -> dict[str, BindingInfo]:
        """The bindings whose worker runs, by chair."""
        return {chair: run.binding for chair, run in self._runs.items()}

    def worker(self, chair: str) -> CaptureWorker | None:
        """The chair's capture worker (diagnostics and tests)."""
        run = self._runs.get(chair)
        return run.worker if run else None

    def unsaved_readings(self) -> int:
        """Readings received but not stored yet (waiting, or kept for a retry after a refused
        write)."""
        with self._flush_lock:
            return sum(len(item.payload) for item in self._unsaved)

    def accounted(
        self, stored: Callable[[], int], *, wait: bool = True
    ) -> tuple[int, int, int] | None:
        """(readings received, not stored yet, `stored()`) taken together while the writer
        stores nothing: received − not stored = stored, when nothing was lost. With
        `wait=False`, None instead of waiting for a transaction of the writer to end (the GUI
        thread must not stall for it)."""
        if not self._flush_lock.acquire(blocking=wait):
            return None
        try:
            return self.readings_received, self.unsaved_readings(), stored()
        finally:
            self._flush_lock.release()

    # ------------------------------------------------------------ delivery

    def deliver(
        self,
        chair: str,
        url: str,
        protocol: str,
        readings: list[Reading],
        receipt: Receipt | None = None,
        *,
        generation: int = 0,
    ) -> None:
        """Any thread: hand readings of `chair` over for storage (stored in order, kept for a
        retry when the database refuses the write)."""
        self.post(CaptureItem("readings", chair, generation, url, protocol, readings, receipt))

    def post(self, item: CaptureItem) -> None:
        """Any thread: queue an item for the writer (started when not running). Without a
        writer thread the item is handled at once on the caller's thread."""
        if not self.threaded:
            with self._writer_lock:
                self._handle([item])
            return
        with self._writer_lock:
            self._inbox.put(item)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="device writer", daemon=True
                )
                self._writer.start()

    def sync(self, timeout: float = SYNC_TIMEOUT_S) -> bool:
        """Wait until the writer has handled every item queued so far (stored, or kept for a
        retry when the database refuses). True when it finished in time."""
        done = threading.Event()
        self.post(CaptureItem("sync", "", 0, "", "", done))
        return done.wait(timeout)

    def flush(self) -> None:
        """Store the batches kept after a refused write now (any thread)."""
        with self._flush_lock:
            self._flush_locked()

    # ------------------------------------------------------------ workers

    def _start(self, b: BindingInfo) -> None:
        generation = next(self._generations)
        chair, url, protocol = b.chair, b.url, b.protocol

        def on_readings(readings: list[Reading]) -> None:  # worker thread (not used: on_batch)
            self.deliver(chair, url, protocol, readings, generation=generation)

        def on_batch(readings: list[Reading], receipt: Receipt | None) -> None:  # worker thread
            self.deliver(chair, url, protocol, readings, receipt, generation=generation)

        def on_state(state: str, detail: str) -> None:  # worker thread
            self.post(CaptureItem("state", chair, generation, url, protocol, (state, detail)))

        worker = self.worker_factory(
            url,
            protocol,
            on_readings,
            on_state,
            settings=self.ctx.settings,
            baudrate=b.baudrate,
            serial_options=b.options,
            clock=self.ctx.clock,
            name=f"capture chair {chair}",
            on_batch=on_batch,
            **self.worker_options,
        )
        self._runs[chair] = _Run(chair, generation, b, worker)
        worker.start()

    def _closed(self, chair: str) -> None:
        try:
            device_service.device_link_closed(self.ctx, chair)
        except Exception:
            log.exception("closing the device link of chair %s failed", chair)
        self.listener.closed(chair)

    # ------------------------------------------------------------ writer

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._inbox.get(timeout=RETRY_S if self._unsaved else WRITER_IDLE_S)
            except queue.Empty:
                if self._unsaved:
                    self.flush()  # retry a refused write
                    continue
                with self._writer_lock:
                    if self._inbox.empty() and not self._runs:
                        self._writer = None
                        return
                continue
            items = [first]
            deadline = time.monotonic() + GATHER_S
            while items[-1].kind == "readings":  # e.g. one monitor second of every chair
                left = deadline - time.monotonic()
                try:
                    items.append(
                        self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait()
                    )
                except queue.Empty:
                    break
            self._handle(items)

    def _handle(self, items: list[CaptureItem]) -> None:
        for item in items:
            if item.kind == "readings":
                # Stored even from a worker already stopped: they are real monitor data.
                with self._flush_lock:
                    self._unsaved.append(item)
                    self.readings_received += len(item.payload)
                continue
            self.flush()  # keep the order: readings before a later state change
            if item.kind == "state":
                self._state(item)
            else:
                item.payload.set()
        self.flush()

    def _flush_locked(self) -> None:
        # Under the lock: the writer's retry and a direct call never store a batch twice, and
        # the counts (`accounted`) never see a batch both committed and still pending.
        while self._unsaved:
            head = list(itertools.islice(self._unsaved, MAX_BATCHES_PER_TX))
            t0 = time.perf_counter()
            try:
                device_service.ingest_batches(
                    self.ctx, [(i.chair, i.url, i.protocol, i.payload) for i in head]
                )
            except Exception as exc:
                log.exception("storing monitor readings of chair %s failed", head[0].chair)
                self.listener.failed(head[0].chair, str(exc))
                self._refuse_acknowledged(head, f"database refused the write: {exc}")
                while len(self._unsaved) > MAX_UNSAVED_BATCHES:
                    lost = self._unsaved.popleft()
                    log.error("dropped an unsaved batch of chair %s", lost.chair)
                    if lost.receipt is not None:
                        lost.receipt.done(False, "too many readings waiting to be stored")
                return  # kept in order; retried with the next batch or in RETRY_S
            self.ingest_seconds.append(time.perf_counter() - t0)
            for _ in head:
                self._unsaved.popleft()
            for item in head:  # committed: the held ACKs may go out now
                if item.receipt is not None:
                    item.receipt.done(True)
            self.listener.stored(list(dict.fromkeys(i.chair for i in head)))

    def _refuse_acknowledged(self, head: list[CaptureItem], why: str) -> None:
        """A failed transaction: batches whose sender waits for an ACK are answered AE and
        leave the retry queue (see the module docstring); the others stay, in order."""
        refused = [i for i in head if i.receipt is not None]
        if not refused:
            return
        gone = {id(i) for i in refused}
        self._unsaved = deque(i for i in self._unsaved if id(i) not in gone)
        for item in refused:
            self.readings_received -= len(item.payload)
            self.readings_refused += len(item.payload)
            if item.receipt is not None:
                item.receipt.done(False, why)

    def _state(self, item: CaptureItem) -> None:
        run = self._runs.get(item.chair)
        if run is None or run.generation != item.generation:
            return  # a worker stopped on purpose: its "disconnected" is no failure
        state, detail = item.payload
        try:
            device_service.device_state_changed(
                self.ctx, item.chair, state, detail, port=item.url, protocol=item.protocol
            )
        except Exception:
            log.exception("device state of chair %s could not be recorded", item.chair)
        self.listener.state(item.chair, state, detail)


# ---------------------------------------------------------------- scripted frames


class FrameFeed:
    """Raw bytes of one monitor on one chair, decoded and stored synchronously (the scenario
    runner's `device_frames`): the protocol's registered decoder, the worker's NIBP
    de-duplication, then the capture service's store, at the caller's clock. Partial frames and
    the NIBP memory carry over between calls, as on a port that stays open."""

    def __init__(self, service: CaptureService, chair: str, protocol: str, url: str) -> None:
        self.service = service
        self.chair = chair
        self.protocol = protocol
        self.url = url
        self.decoder = decoder_for(protocol, service.ctx.settings)
        self._dedupe = NibpDeduplicator()

    def feed(self, data: bytes, host_time: datetime | None = None) -> list[Reading]:
        """Decode `data` as received at `host_time` (default: the context's clock) and store
        what it decoded; returns the readings handed over. Raises what the store raised when
        the database refused the write (the batch stays in the service's retry queue)."""
        when = host_time if host_time is not None else self.service.ctx.now()
        readings = self._dedupe.filter(self.decoder.feed(data, when))
        self.decoder.take_replies()  # nobody listens for ACKs on a scripted feed
        if readings:
            self.store(readings)
        return readings

    def store(self, readings: list[Reading]) -> None:
        """Store readings already decoded through the service, as a worker's delivery is
        stored. Raises RuntimeError when they could not be stored now (the service keeps them
        for its retry, in order)."""
        self.service.deliver(self.chair, self.url, self.protocol, readings)
        if not self.service.threaded and self.service.unsaved_readings():
            raise RuntimeError(
                f"{self.service.unsaved_readings()} monitor readings of chair {self.chair} "
                "could not be stored yet; they are kept for a retry"
            )


# ---------------------------------------------------------------- demo monitors


class CaptureControl(Protocol):
    """What the demo monitors need of a capture service (or of the UI's adapter of one)."""

    ctx: AppContext

    def restart(self, chair: str) -> bool: ...

    def stop_all(self) -> None: ...


DEMO_PROTOCOLS: tuple[str, ...] = ("masimo-ascii", "hl7-mllp", "nonin-df8")
DEMO_DURATION_S = 8 * 3600.0


class _AckDrainingPty:
    """A PtyPort sink that also discards what the reader writes back (HL7 ACKs), so the pty
    buffer never fills during a long demo."""

    def __init__(self, pty: Any) -> None:
        self.pty = pty

    def write(self, data: bytes) -> None:
        self.pty.write(data)
        self.pty.read_available()

    def close(self) -> None:
        self.pty.close()


@dataclass
class DemoMonitor:
    """One simulated monitor feeding one chair."""

    chair: str
    protocol: str
    url: str
    sink: Any
    player: Any
    thread: threading.Thread


class DemoMonitors:
    """The running simulated monitors of `nursestation demo`; `stop()` ends them all."""

    def __init__(
        self,
        bridge: CaptureControl,
        monitors: Sequence[DemoMonitor],
        stop_event: threading.Event,
        tmp: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self.bridge = bridge
        self.monitors = list(monitors)
        self._stop = stop_event
        self._tmp = tmp

    def stop(self) -> None:
        """Stop the players and the chairs' capture, unbind the demo monitors."""
        self._stop.set()
        for m in self.monitors:
            m.thread.join(timeout=2.0)
        # Capture first, then the ports: the writer thread records link states as they come,
        # and a port closed under a running worker would be a "link lost" alarm.
        self.bridge.stop_all()
        for m in self.monitors:
            with contextlib.suppress(Exception):
                m.sink.close()
        for m in self.monitors:
            with contextlib.suppress(Exception):
                device_service.unbind_device_as_system(self.bridge.ctx, m.chair)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.monitors = []


def start_demo_monitors(
    ctx: AppContext,
    bridge: CaptureControl,
    *,
    protocols: Sequence[str] = DEMO_PROTOCOLS,
    speed: float = 1.0,
    use_tcp: bool | None = None,
) -> DemoMonitors:
    """Start a simulated monitor for every occupied chair (a pseudo-terminal per chair, or TCP on
    127.0.0.1 where there are no ptys), bind it to the chair and (re)start its capture through
    `bridge` (a CaptureService, or the UI's adapter of one)."""
    # Imported here: the simulator needs POSIX terminals (tty), the capture service does not.
    from nursestation.devices.simulator import PatientModel, PtyPort, SessionPlayer, TcpServerSink

    if use_tcp is None:
        use_tcp = not hasattr(os, "openpty") or sys.platform == "win32"
    tmp = None if use_tcp else tempfile.TemporaryDirectory(prefix=device_service.DEMO_PTY_PREFIX)
    stop = threading.Event()
    monitors: list[DemoMonitor] = []
    for i, summary in enumerate(open_sessions(ctx)):
        chair = summary.chair
        protocol = protocols[i % len(protocols)]
        sink: Any
        if use_tcp:
            sink = TcpServerSink()
            url = sink.url
        else:
            assert tmp is not None
            link = Path(tmp.name) / f"chair-{chair}"
            sink = _AckDrainingPty(PtyPort(link))
            url = str(link)
        player = SessionPlayer(
            protocol,
            duration_s=DEMO_DURATION_S,
            speed=speed,
            start=ctx.now(),
            patient=PatientModel(seed=i + 1),
            seed=i + 1,
            nibp_interval_s=120.0,
        )
        device_service.bind_device_as_system(ctx, chair, protocol, url, 9600)
        thread = threading.Thread(
            target=player.play, args=(sink, stop), name=f"demo monitor {chair}", daemon=True
        )
        monitors.append(DemoMonitor(chair, protocol, url, sink, player, thread))
    for m in monitors:
        bridge.restart(m.chair)
        m.thread.start()
    return DemoMonitors(bridge, monitors, stop, tmp)
