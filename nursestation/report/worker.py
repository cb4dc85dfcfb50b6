"""Rendering and PAdES signing of notes in a separate process (issue 19).

Rendering a note (reportlab) and signing it (pyHanko, hashing and CMS) are seconds of pure-Python
and C work that hold the interpreter lock: run on a thread of the GUI process they stalled the
event loop for seconds. Here they run in one long-lived child process, `python -m
nursestation.report.worker` (a fresh interpreter, never a fork of a process with Qt and database
threads), fed plain data over a pipe (the NoteContent dataclasses, the PKCS#12 bytes, the
password; never on a command line) and answering with the PDF bytes. Reading the database and
storing the signed document stay in the app, in its own transactions.

The process is started on first use (or ahead of time by `warm_up()`) and reused; a worker that
dies is replaced at the next call, and the call that saw it die is refused with a clear message
(nothing is stored: the caller's write happens only with the returned bytes).
"""

from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from nursestation.errors import INVALID_STATE, DomainError

if TYPE_CHECKING:
    from nursestation.note_content import NoteContent
    from nursestation.report.verify_result import VerifyResult

_Outcome = tuple[str, Any]
_HEADER = struct.Struct("!Q")  # length of the pickled message that follows


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side closed the pipe")
    # Only ever our own parent or child process on the other end of an anonymous pipe.
    return pickle.loads(data)


class _Worker:
    """One child process `python -m nursestation.report.worker`; one job at a time. A private
    subprocess rather than multiprocessing: `spawn` would re-run the parent's main script."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nursestation.report.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self._proc

    def call(self, job: Callable[..., _Outcome], *args: Any) -> _Outcome:
        with self._lock:
            proc = self._started()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, (job.__name__, args))
                return _receive(proc.stdout)
            except (EOFError, BrokenPipeError, OSError) as exc:
                self._stop_locked()
                raise DomainError(
                    INVALID_STATE,
                    "The signing process stopped unexpectedly; nothing was signed: try again.",
                ) from exc

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()


_worker = _Worker()
atexit.register(lambda: _worker.stop())  # close its pipe and reap it; it exits on end of input


def warm_up() -> Future[None]:
    """Start the worker process now (imports and fonts) on a helper thread, so the first
    signature is not slowed by them. Returns at once; the future completes when it is ready."""
    done: Future[None] = Future()

    def start() -> None:
        try:
            _worker.call(_job_nothing)
            done.set_result(None)
        except BaseException as exc:  # reported through the future
            done.set_exception(exc)

    threading.Thread(target=start, name="nursestation-signing-warm-up", daemon=True).start()
    return done


def shutdown() -> None:
    """Stop the worker process (the next call starts a new one)."""
    _worker.stop()


def _call(job: Callable[..., _Outcome], *args: Any) -> Any:
    """Run `job(*args)` in the worker and wait (the waiting thread holds no interpreter lock)."""
    kind, value = _worker.call(job, *args)
    if kind == "refused":
        code, message, field = value
        raise DomainError(code, message, field=field)
    if kind == "error":  # an unexpected failure in the worker: its type and message
        raise RuntimeError(f"signing process: {value}")
    return value


def _refusal(exc: DomainError) -> _Outcome:
    # DomainError's constructor takes keyword fields, which pickling would not restore.
    return "refused", (exc.code, exc.message, exc.field)


# ---------------------------------------------------------------- jobs (run in the worker)


def _job_nothing() -> _Outcome:
    return "ok", None


def _job_render(content: NoteContent) -> _Outcome:
    from nursestation.report.note_pdf import render_note_pdf

    try:
        return "ok", render_note_pdf(content)
    except DomainError as exc:
        return _refusal(exc)


def _job_render_and_sign(
    content: NoteContent, field_name: str, p12: bytes, password: str, signer_name: str,
    meaning: str, ca_pem: bytes, location: str | None, record_state: str | None,
) -> _Outcome:  # fmt: skip
    from nursestation.report.note_pdf import render_note_pdf
    from nursestation.report.signing import prepare_signature_fields, sign_note

    try:
        prepared = prepare_signature_fields(render_note_pdf(content), record_state=record_state)
        signed = sign_note(
            prepared, field_name, p12, password, signer_name, meaning, content.generated_at,
            ca_pem, display_tz=content.display_tz, location=location,
        )  # fmt: skip
        return "ok", signed
    except DomainError as exc:
        return _refusal(exc)


def _job_sign(
    pdf: bytes, field_name: str, p12: bytes, password: str, signer_name: str, meaning: str,
    when: datetime, ca_pem: bytes, display_tz: str | None, location: str | None,
) -> _Outcome:  # fmt: skip
    from nursestation.report.signing import sign_note

    try:
        return "ok", sign_note(
            pdf, field_name, p12, password, signer_name, meaning, when, ca_pem,
            display_tz=display_tz, location=location,
        )  # fmt: skip
    except DomainError as exc:
        return _refusal(exc)


def _job_verify(pdf: bytes, ca_pem: bytes) -> _Outcome:
    from nursestation.report.verify import verify_pdf

    return "ok", verify_pdf(pdf, ca_pem)


# ---------------------------------------------------------------- the app's entry points


def verify_pdf(pdf: bytes, ca_pem: bytes) -> VerifyResult:
    """report.verify.verify_pdf (every signature against the clinic CA), in the worker process."""
    result: VerifyResult = _call(_job_verify, pdf, ca_pem)
    return result


def render_pdf(content: NoteContent) -> bytes:
    """The unsigned note PDF, rendered in the worker process."""
    return bytes(_call(_job_render, content))


def render_and_sign(
    content: NoteContent,
    field_name: str,
    p12: bytes,
    password: str,
    signer_name: str,
    meaning: str,
    ca_pem: bytes,
    *,
    location: str | None = None,
    record_state: str | None = None,
) -> bytes:
    """Render `content` with its empty signature fields (and `record_state`, see
    report.signing.prepare_signature_fields) and sign `field_name` at the content's
    generation time (report.signing.sign_note), in the worker process. Refusals (wrong
    password, certificate not from the clinic CA, ...) are raised here as DomainError."""
    return bytes(
        _call(
            _job_render_and_sign,
            content,
            field_name,
            p12,
            password,
            signer_name,
            meaning,
            ca_pem,
            location,
            record_state,
        )
    )


def sign_pdf(
    pdf: bytes,
    field_name: str,
    p12: bytes,
    password: str,
    signer_name: str,
    meaning: str,
    when: datetime,
    ca_pem: bytes,
    *,
    display_tz: str | None = None,
    location: str | None = None,
) -> bytes:
    """report.signing.sign_note (fill one existing field), in the worker process."""
    return bytes(
        _call(
            _job_sign,
            pdf,
            field_name,
            p12,
            password,
            signer_name,
            meaning,
            when,
            ca_pem,
            display_tz,
            location,
        )
    )


_JOBS: dict[str, Callable[..., _Outcome]] = {
    f.__name__: f for f in (_job_nothing, _job_render, _job_render_and_sign, _job_sign, _job_verify)
}


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """The worker's loop: one (job name, args) in, one (kind, value) out, until the pipe closes."""
    from nursestation.report.note_pdf import register_fonts
    from nursestation.report.signing import sign_note  # noqa: F401 - imported once, up front

    register_fonts()
    while True:
        try:
            name, args = _receive(inp)
        except EOFError:
            return
        try:
            outcome = _JOBS[name](*args)
        except Exception as exc:  # the app gets the failure, the worker stays up
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        _send(out, outcome)


if __name__ == "__main__":
    # The pipe carries pickles: keep anything else (a stray print) off stdout.
    _out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, _out)
