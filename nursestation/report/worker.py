"""Rendering and PAdES signing of notes in a separate process (issue 19).

Rendering a note (reportlab) and signing it (pyHanko, hashing and CMS) are seconds of pure-Python
and C work that hold the interpreter lock: run on a thread of the GUI process they stalled the
event loop for seconds. Here they run in one long-lived worker process started with `spawn`
(never `fork`: the GUI process has Qt and database threads), fed plain data (the NoteContent
dataclasses, the PKCS#12 bytes, the password over the pipe, never on a command line) and
answering with the PDF bytes. Reading the database and storing the signed document stay in the
app, in its own transactions.

The process is started on first use (or ahead of time by `warm_up()`) and reused; a worker that
dies is replaced at the next call, and the call that saw it die is refused with a clear message
(nothing is stored: the caller's write happens only with the returned bytes).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nursestation.errors import INVALID_STATE, DomainError

if TYPE_CHECKING:
    from nursestation.note_content import NoteContent

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None

_Outcome = tuple[str, Any]


def _prepare_process() -> None:
    """In the worker: import reportlab and pyHanko and register the fonts once, up front."""
    from nursestation.report.note_pdf import register_fonts
    from nursestation.report.signing import sign_note  # noqa: F401 - the import is the point

    register_fonts()


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_prepare_process,
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def warm_up() -> Future[None]:
    """Start the worker process now (imports and fonts), so the first signature is not slowed
    by them. Returns at once."""
    return _executor().submit(_nothing)


def shutdown() -> None:
    """Stop the worker process (the next call starts a new one)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _nothing() -> None:
    return None


def _call(job: Callable[..., _Outcome], *args: Any) -> Any:
    """Run `job(*args)` in the worker and wait (the waiting thread holds no interpreter lock)."""
    pool = _executor()
    try:
        kind, value = pool.submit(job, *args).result()
    except BrokenProcessPool as exc:
        _discard(pool)
        raise DomainError(
            INVALID_STATE,
            "The signing process stopped unexpectedly; nothing was signed: try again.",
        ) from exc
    if kind == "refused":
        code, message, field = value
        raise DomainError(code, message, field=field)
    return value


def _refusal(exc: DomainError) -> _Outcome:
    # DomainError's constructor takes keyword fields, which pickling would not restore.
    return "refused", (exc.code, exc.message, exc.field)


# ---------------------------------------------------------------- jobs (run in the worker)


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


# ---------------------------------------------------------------- the app's entry points


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
