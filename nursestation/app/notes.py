"""The signed session note: content from the stored session, PAdES signing, countersigning at
discharge approval, addenda, and verification of note files (issue 8).

A note version is rendered once and then only grows by incremental signature updates; the rows
in notes / note_documents / note_signatures are append-only in the database. A correction after
signing is an addendum: a new version (n+1) that supersedes the previous one, signed again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import __version__, infusion
from nursestation.app import spravato
from nursestation.app.context import Actor, AppContext
from nursestation.app.course_plan import plan_in
from nursestation.app.discharge import discharge_for_note
from nursestation.app.note_store import (
    CHARGE_FIELD,
    MEANING_ADDENDUM,
    MEANING_APPROVED,
    MEANING_DOCUMENTED,
    NURSE_FIELD,
    STAGE_COUNTERSIGNED,
    STAGE_SIGNED,
    NoteInfo,
    _ca_pem,
    _credential,
    _fingerprint,
    _info,
    _latest_document,
    _latest_note,
    _record_state,
    _store_signed_document,
    approval_record_text,
    countersign_for_approval,
    display_tz_name,
    file_name_for,
    has_signed_note,
    require_approvable,
)
from nursestation.app.outcomes import outcome_settings
from nursestation.app.record import clinic_zone, load_record
from nursestation.app.sessions import events_of, get_session_row
from nursestation.app.users import reauthenticate
from nursestation.config import StationConfig
from nursestation.db.audit import chain_head
from nursestation.db.models import InfusionSession, Note, NoteDocument, NoteSignature, User
from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_FOUND, DomainError
from nursestation.flowsheet import FlowsheetSettings
from nursestation.formulary import Formulary
from nursestation.limits import VitalLimits
from nursestation.note_content import (
    CHARGE_SLOT,
    NURSE_SLOT,
    AddendumInfo,
    NoteContent,
    SignatureSlot,
)
from nursestation.report.note_build import NoteInputs, ScoredAssessment, note_content
from nursestation.wording import display_zone, note_label, num

# The public names: this module's use cases and types, and the stored-note helpers it
# re-exports from app.note_store for its callers (CHARGE_FIELD, NoteInfo, require_approvable…).
__all__ = [
    "CHARGE_FIELD",
    "MEANING_ADDENDUM",
    "MEANING_APPROVED",
    "MEANING_DOCUMENTED",
    "NURSE_FIELD",
    "STAGE_COUNTERSIGNED",
    "STAGE_SIGNED",
    "NoteCheck",
    "NoteInfo",
    "add_addendum",
    "approval_record_text",
    "build_note_content",
    "countersign_for_approval",
    "display_tz_name",
    "file_name_for",
    "has_signed_note",
    "latest_note",
    "list_notes",
    "note_label",
    "note_pdf",
    "preview_note",
    "preview_text",
    "require_approvable",
    "sign_note",
    "verify_files",
    "verify_note",
]


# ---------------------------------------------------------------- DTOs


@dataclass(frozen=True)
class NoteCheck:
    """Verification of a stored note document against the clinic CA."""

    note_id: int
    version: int
    ok: bool
    lines: tuple[str, ...]


# ---------------------------------------------------------------- small helpers


_LABEL_RE = re.compile(r"Session note S-(\d+) v(\d+)")


def _names(s: Session) -> dict[int, str]:
    return {uid: name for uid, name in s.execute(select(User.id, User.full_name))}


# ---------------------------------------------------------------- content


def build_note_content(
    ctx: AppContext,
    s: Session,
    session_id: int,
    generated_at: datetime,
    version: int,
    *,
    nurse: str | None = None,
    addendum: AddendumInfo | None = None,
    signature_slots: tuple[SignatureSlot, ...] = (NURSE_SLOT, CHARGE_SLOT),
) -> NoteContent:
    """Everything the note prints: the session's record (one loader) and its discharge
    evaluation read in the caller's transaction, then the pure report.note_build.

    `nurse` is the documenting nurse printed in the header (default: who checked the patient in).
    """
    rec = load_record(ctx, s, session_id)
    data = discharge_for_note(ctx, s, session_id)
    discharge = (
        data.to_note_info() if (data.assessments or data.overrides or data.approval) else None
    )
    scored = {
        v.id: ScoredAssessment(
            v.name,
            v.score,
            " — ".join(
                p for p in ("; ".join(f"{i.label} {num(i.score)}" for i in v.items), v.detail) if p
            ),
        )
        for v in data.assessments
    }
    inputs = NoteInputs(
        clinic_name=str(ctx.settings.get("general.clinic_name")),
        app_version=__version__,
        interval_s=FlowsheetSettings.from_settings(ctx.settings).interval_s,
        limits=ctx.per_settings("vital_limits", VitalLimits.from_settings),
        formulary=_formulary(ctx),
        generated_at=generated_at,
        version=version,
        nurse=nurse,
        addendum=addendum,
        signature_slots=signature_slots,
        discharge=discharge,
        scored=scored,
        course_plan=_course_plan_line(ctx, s, rec.patient.id, rec.order, generated_at),
        **_spravato_inputs(ctx, s, session_id),
        scales=outcome_settings(ctx),
    )
    # The chain's head as this transaction sees it goes inside the signed bytes (app/trail.py).
    head = chain_head(s)
    return replace(note_content(rec, inputs), audit_head=head.text() if head else None)


def _course_plan_line(
    ctx: AppContext, s: Session, patient_id: int, order: Any, generated_at: datetime
) -> str:
    """The course plan in force when the session ended (or now), counting the sessions up to
    this one: a plan set later does not rewrite an earlier session's line."""
    plan = plan_in(
        ctx,
        s,
        patient_id,
        upto=order.ended_at or generated_at,
        sessions_upto=order.checked_in_at,
    )
    return plan.line(clinic_zone(ctx)) if plan is not None else ""


def _spravato_inputs(ctx: AppContext, s: Session, session_id: int) -> dict[str, Any]:
    """A Spravato session's REMS form and pre-dose decision for the note ({} otherwise)."""
    view = spravato.view_in(ctx, s, session_id)
    if view is None:
        return {}
    d = view.decision
    decision = (
        f"BP {view.predose.text(clinic_zone(ctx)) if view.predose else ''} above the limit: "
        f"prescriber {d.prescriber} decided to {d.decision} ({d.reason})"
        if d is not None
        else ""
    )
    return {"spravato_form": view.form, "spravato_decision": decision}


def _formulary(ctx: AppContext) -> Formulary | None:
    try:
        return ctx.per_settings("formulary", Formulary.from_settings)
    except (DomainError, KeyError, ValueError):  # a note of stored records is still made
        return None


# ---------------------------------------------------------------- stored notes


def list_notes(ctx: AppContext, actor: Actor, session_id: int) -> list[NoteInfo]:
    """Every signed version of the session's note, oldest first."""
    ctx.require(actor, "view_note")
    with ctx.read_tx() as s:
        notes = s.execute(
            select(Note).where(Note.session_id == session_id).order_by(Note.version)
        ).scalars()
        return [_info(s, n) for n in notes]


def latest_note(ctx: AppContext, actor: Actor, session_id: int) -> NoteInfo | None:
    """The newest version of the session's note, or None before it is signed."""
    ctx.require(actor, "view_note")
    with ctx.read_tx() as s:
        note = _latest_note(s, session_id)
        return _info(s, note) if note else None


def note_pdf(ctx: AppContext, actor: Actor, note_id: int) -> bytes:
    """The latest signed bytes of one note version (audited: someone read a clinical record)."""
    ctx.require(actor, "view_note")
    with ctx.tx() as s:
        note = s.get(Note, note_id)
        doc = _latest_document(s, note_id) if note else None
        if doc is None:
            raise DomainError(NOT_FOUND, f"No signed note {note_id}.")
        ctx.audit(s, actor, "note.open", "note", note_id, after={"document": doc.id})
        return bytes(doc.pdf)


def preview_note(ctx: AppContext, actor: Actor, session_id: int) -> bytes:
    """The unsigned note as it would be signed now (for the preview; nothing is stored)."""
    ctx.require(actor, "view_session")
    from nursestation.report import worker

    with ctx.tx() as s:
        latest = _latest_note(s, session_id)
        content = build_note_content(
            ctx, s, session_id, ctx.now(), (latest.version + 1) if latest else 1,
            nurse=_first_signer(s, latest) if latest else actor.full_name,
        )  # fmt: skip
    return worker.render_pdf(content)  # another process: see _render_and_sign


def preview_text(ctx: AppContext, actor: Actor, session_id: int) -> str:
    """The note's text (for stations without pdftoppm): rendered, then extracted with pypdf."""
    from io import BytesIO

    from pypdf import PdfReader

    pdf = preview_note(ctx, actor, session_id)
    pages = PdfReader(BytesIO(pdf)).pages
    return "\n\n".join(f"— page {i} of {len(pages)} —\n{p.extract_text()}" for i, p in
                       enumerate(pages, start=1))  # fmt: skip


def _first_signer(s: Session, note: Note) -> str:
    """The nurse who signed version 1 (printed as the session's nurse on every version)."""
    first = note
    while first.supersedes_id is not None:
        prev = s.get(Note, first.supersedes_id)
        if prev is None:
            break
        first = prev
    name = s.execute(
        select(NoteSignature.signer_name)
        .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
        .where(NoteDocument.note_id == first.id, NoteSignature.field_name == NURSE_FIELD)
    ).scalar_one_or_none()
    return name or ""


# ---------------------------------------------------------------- signing


def _sign_check(row: InfusionSession, events: Sequence[infusion.InfusionEvent]) -> None:
    """A note documents a finished infusion (or a session that ended without one)."""
    status = infusion.infusion_status(events)
    if status in (infusion.RUNNING, infusion.PUMP_PAUSED):
        raise DomainError(
            INVALID_STATE, "The infusion is still running or paused: stop it before signing."
        )
    if status == infusion.NOT_STARTED and row.ended_at is None:
        raise DomainError(
            INVALID_STATE, "The infusion has not started: there is no session to document yet."
        )


def _store(
    ctx: AppContext,
    s: Session,
    actor: Actor,
    *,
    session_id: int,
    version: int,
    pdf: bytes,
    meaning: str,
    when: datetime,
    supersedes: Note | None = None,
    reason: str | None = None,
    text: str | None = None,
) -> Note:
    note = Note(
        session_id=session_id,
        version=version,
        supersedes_id=supersedes.id if supersedes else None,
        addendum_reason=reason,
        addendum_text=text,
        created_at=when,
        created_by=actor.user_id,
    )
    s.add(note)
    s.flush()
    doc = _store_signed_document(s, note, 1, STAGE_SIGNED, pdf, actor, meaning, NURSE_FIELD, when)
    ctx.audit(
        s,
        actor,
        "note.addendum" if supersedes else "note.sign",
        "note",
        note.id,
        after={
            "session_id": session_id,
            "version": version,
            "sha256": doc.sha256,
            "meaning": meaning,
            "supersedes_id": note.supersedes_id,
            "reason": reason,
        },
    )
    return note


def _render_and_sign(
    ctx: AppContext,
    content: NoteContent,
    p12: bytes,
    password: str,
    actor: Actor,
    meaning: str,
    record_state: str,
) -> bytes:
    # In the signing worker process: rendering and signing must not hold this process's
    # interpreter lock (the GUI's event loop) for seconds (issue 19).
    from nursestation.report import worker

    # The record state goes into the document before the nurse signs it, so approval can tell
    # whether anything was recorded after this version was signed.
    return worker.render_and_sign(
        content,
        NURSE_FIELD,
        p12,
        password,
        actor.full_name,
        meaning,
        _ca_pem(ctx),
        location=f"{content.clinic_name}, chair {content.header.chair}",
        record_state=record_state,
    )


_ATTEMPTS = 3


def sign_note(ctx: AppContext, actor: Actor, session_id: int, password: str) -> NoteInfo:
    """Sign the session note (version 1) as its documenting nurse: password re-asked, PDF
    rendered with both signature fields, NurseSignature signed "Documented by", rows stored."""
    ctx.require(actor, "sign_note")
    reauthenticate(ctx, actor, password)  # wrong password: bad_password, audited, kept
    # Rendering and signing take a few hundred ms: do them outside the write transaction, then
    # store only if the session's data did not change meanwhile (else render again).
    for _ in range(_ATTEMPTS):
        now = ctx.now()
        with ctx.tx() as s:
            row = get_session_row(s, session_id)
            _sign_check(row, events_of(s, session_id))
            if _latest_note(s, session_id) is not None:
                raise DomainError(
                    INVALID_STATE, "This note is already signed: corrections go in an addendum."
                )
            content = build_note_content(ctx, s, session_id, now, 1, nurse=actor.full_name)
            p12 = _credential(s, actor)
            seen = _fingerprint(s, session_id)
        signed = _render_and_sign(
            ctx, content, p12, password, actor, MEANING_DOCUMENTED, _record_state(seen)
        )
        with ctx.tx() as s:
            if _latest_note(s, session_id) is not None:
                raise DomainError(INVALID_STATE, "Someone signed this note a moment ago.")
            if _fingerprint(s, session_id) != seen:
                continue
            note = _store(
                ctx, s, actor, session_id=session_id, version=1, pdf=signed,
                meaning=MEANING_DOCUMENTED, when=now,
            )  # fmt: skip
            return _info(s, note)
    raise DomainError(INVALID_STATE, "The session kept changing while signing: try again.")


def _addendum_info(
    reason: str, text: str, previous: Note, actor: Actor, now: datetime, history: str
) -> AddendumInfo:
    """AddendumInfo has no field for the entry itself (yet): when it lacks one, the entry is
    printed in the banner after the reason."""
    names = {f.name for f in fields(AddendumInfo)}
    base: dict[str, Any] = {
        "supersedes_note_id": note_label(previous.session_id),
        "supersedes_version": previous.version,
        "entered_by": actor.full_name,
        "entered_at": now,
    }
    if "text" in names:
        return AddendumInfo(reason=reason, text=history + text, **base)  # type: ignore[call-arg]
    return AddendumInfo(reason=f"{reason}. Addendum: {history}{text}", **base)


def add_addendum(
    ctx: AppContext, actor: Actor, session_id: int, reason: str, text: str, password: str
) -> NoteInfo:
    """A late entry after signing: note version n+1 (superseding n), re-rendered with an addendum
    banner and the entry, signed again. Earlier versions stay as they were."""
    ctx.require(actor, "add_addendum")
    reason, text = (reason or "").strip(), (text or "").strip()
    if not reason:
        raise DomainError(BAD_INPUT, "An addendum needs a reason.", field="reason")
    if not text:
        raise DomainError(BAD_INPUT, "An addendum needs the text of the late entry.", field="text")
    reauthenticate(ctx, actor, password)
    for _ in range(_ATTEMPTS):
        now = ctx.now()
        with ctx.tx() as s:
            previous = _latest_note(s, session_id)
            if previous is None:
                raise DomainError(
                    INVALID_STATE, "The note is not signed yet: sign it instead of an addendum."
                )
            prev_id, version = previous.id, previous.version + 1
            content = _addendum_content(ctx, s, session_id, previous, actor, reason, text, now)
            p12 = _credential(s, actor)
            seen = _fingerprint(s, session_id)
        signed = _render_and_sign(
            ctx, content, p12, password, actor, MEANING_ADDENDUM, _record_state(seen)
        )
        with ctx.tx() as s:
            previous = _latest_note(s, session_id)
            assert previous is not None
            if previous.id != prev_id:
                continue
            if _fingerprint(s, session_id) != seen:
                continue
            note = _store(
                ctx, s, actor, session_id=session_id, version=version, pdf=signed,
                meaning=MEANING_ADDENDUM, when=now, supersedes=previous, reason=reason, text=text,
            )  # fmt: skip
            return _info(s, note)
    raise DomainError(INVALID_STATE, "The session kept changing while signing: try again.")


def _addendum_content(
    ctx: AppContext,
    s: Session,
    session_id: int,
    previous: Note,
    actor: Actor,
    reason: str,
    text: str,
    now: datetime,
) -> NoteContent:
    tz = display_zone(display_tz_name(ctx))
    # Earlier addenda are re-printed so the newest version carries every late entry.
    chain: list[Note] = []
    n: Note | None = previous
    while n is not None and n.addendum_text:
        chain.append(n)
        n = s.get(Note, n.supersedes_id) if n.supersedes_id else None
    names = _names(s)
    history = "".join(
        f"[v{p.version}, {p.created_at.astimezone(tz):%Y-%m-%d %H:%M}, "
        f"{names.get(p.created_by, '')}: {p.addendum_reason} — {p.addendum_text}] "
        for p in reversed(chain)
    )
    slots = (
        SignatureSlot(NURSE_FIELD, "Addendum documented by", "Late entry, entered and signed"),
        _charge_slot_for_addendum(s, previous),
    )
    return build_note_content(
        ctx, s, session_id, now, previous.version + 1,
        nurse=_first_signer(s, previous),
        addendum=_addendum_info(reason, text, previous, actor, now, history),
        signature_slots=slots,
    )  # fmt: skip


def _charge_slot_for_addendum(s: Session, previous: Note) -> SignatureSlot:
    """If an earlier version carries the approval signature, say so in the (empty) box label."""
    signed = s.execute(
        select(Note.version)
        .join(NoteDocument, NoteDocument.note_id == Note.id)
        .where(Note.session_id == previous.session_id, NoteDocument.stage == STAGE_COUNTERSIGNED)
        .order_by(Note.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if signed is None:
        return CHARGE_SLOT
    return SignatureSlot(
        CHARGE_FIELD, CHARGE_SLOT.role, f"Countersigned on version {signed} (kept unchanged)"
    )


# ---------------------------------------------------------------- verification


def verify_note(ctx: AppContext, actor: Actor, note_id: int) -> NoteCheck:
    """Check the stored latest document of a note: its hash and every signature vs the CA."""
    ctx.require(actor, "verify_note")
    from nursestation.report.worker import verify_pdf  # in the signing process (pyHanko)

    with ctx.tx() as s:
        note = s.get(Note, note_id)
        doc = _latest_document(s, note_id) if note else None
        if note is None or doc is None:
            raise DomainError(NOT_FOUND, f"No signed note {note_id}.")
        pdf, sha, version = bytes(doc.pdf), doc.sha256, note.version
    result = verify_pdf(pdf, _ca_pem(ctx))
    lines = [_signature_line(c) for c in result.signatures]
    hash_ok = hashlib.sha256(pdf).hexdigest() == sha
    if not hash_ok:
        lines.append("stored SHA-256 does not match the stored bytes")
    if result.error:
        lines.append(result.error)
    return NoteCheck(note_id, version, result.ok and hash_ok, tuple(lines))


def _signature_line(c: Any) -> str:
    when = c.signing_time.isoformat(timespec="seconds") if c.signing_time else "time unknown"
    verdict = "OK" if c.bottom_line else "FAILED"
    state = "intact" if c.intact else "NOT intact"
    trust = "trusted" if c.trusted else "NOT trusted"
    extra = f" — {c.problem}" if c.problem else ""
    return (
        f"{verdict} {c.field_name}: {c.signer_name or 'unknown signer'}, "
        f"\u201c{c.meaning}\u201d, {when}; {state}, {trust}{extra}"
    )


def _stored_lookup(config: StationConfig) -> tuple[Any, str]:
    """An engine on the station database for hash look-ups, without creating or migrating it."""
    from sqlalchemy.exc import SQLAlchemyError

    from nursestation.config import DatabaseUnavailable
    from nursestation.db.engine import make_engine

    path = config.sqlite_path
    if path is not None and not path.exists():
        return None, f"no database at {path}: stored-note comparison skipped"
    try:
        engine = make_engine(config.db_url)
        with engine.connect() as conn:
            conn.execute(select(func.count(NoteDocument.id))).scalar_one()
        return engine, ""
    except SQLAlchemyError as exc:
        return None, f"database not readable ({type(exc).__name__}): stored-note comparison skipped"
    except DatabaseUnavailable as exc:  # a server that is not there, or a wrong URL
        return None, f"{str(exc).rstrip('.')}: stored-note comparison skipped"


def _stored_ca(engine: Any) -> bytes | None:
    """The clinic CA certificate in the database `engine` reaches (None when unreadable)."""
    from sqlalchemy.exc import SQLAlchemyError

    from nursestation.app.context import clinic_ca_row

    if engine is None:
        return None
    try:
        with Session(engine) as s:
            row = clinic_ca_row(s)
    except SQLAlchemyError:
        return None
    return row.cert_pem.encode() if row is not None else None


def _compare_stored(engine: Any, data: bytes, sha: str) -> tuple[bool, str]:
    """(ok, text) comparing a file with the stored note documents."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    with Session(engine) as s:
        hit = s.execute(
            select(NoteDocument, Note)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(NoteDocument.sha256 == sha)
        ).first()
        if hit is not None:
            doc, note = hit
            latest = _latest_document(s, note.id)
            later = (
                ""
                if latest is None or latest.id == doc.id
                else f"; a later {latest.stage} document exists"
            )
            return True, (
                f"matches stored note {note_label(note.session_id)} version {note.version} "
                f"({doc.stage}){later}"
            )
        title = ""
        try:
            from io import BytesIO

            info = PdfFileReader(BytesIO(data), strict=False).trailer_view.get("/Info")
            title = str(info.get_object().get("/Title", "")) if info is not None else ""
        except Exception:  # an unreadable /Info only means we cannot name the note
            title = ""
        m = _LABEL_RE.search(title)
        if m:
            named = s.execute(
                select(Note).where(Note.session_id == int(m[1]), Note.version == int(m[2]))
            ).scalar_one_or_none()
            if named is not None:
                return False, (
                    f"DIFFERS from stored note {note_label(named.session_id)} version "
                    f"{named.version}: the file is not the signed document the station keeps"
                )
    return True, "no stored note with this SHA-256 in this station's database"


def verify_files(
    config: StationConfig, files: Iterable[str], ca_path: str | None, out: TextIO
) -> int:
    """`nursestation verify`: one line per signature; 0 only if every signature is intact and
    trusted by the clinic CA (and no file differs from the note stored for it); 2 if a file or
    the CA cannot be read."""
    import sys

    from nursestation.report.pki import CA_CERT_FILE
    from nursestation.report.verify import verify_pdf

    engine, db_note = _stored_lookup(config)
    if ca_path:
        try:
            ca = Path(ca_path).read_bytes()
        except OSError as exc:
            print(
                f"nursestation: cannot read the clinic CA {ca_path}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
    else:
        # The clinic CA is in the database (app/pki.py); a data directory of the single-station
        # era not yet opened by the app still has it in its pki folder.
        anchor = _stored_ca(engine)
        if anchor is None:
            legacy = config.pki_dir / CA_CERT_FILE
            if not legacy.exists():
                print(
                    "nursestation: the clinic CA is not in the database "
                    f"({config.db_url.split('@')[-1]}): pass --ca FILE",
                    file=sys.stderr,
                )
                if engine is not None:
                    engine.dispose()
                return 2
            anchor = legacy.read_bytes()
        ca = anchor
    worst = 0
    try:
        for name in files:
            try:
                data = Path(name).read_bytes()
            except OSError as exc:
                print(f"{name}: cannot read: {exc.strerror}", file=out)
                worst = 2
                continue
            result = verify_pdf(data, ca)
            if result.error:
                print(f"{name}: UNREADABLE: {result.error}", file=out)
                worst = 2
                continue
            if not result.signatures:
                print(f"{name}: FAILED: no signatures", file=out)
                worst = max(worst, 1)
                continue
            sha = hashlib.sha256(data).hexdigest()
            for c in result.signatures:
                print(f"{name}: {_signature_line(c)}", file=out)
            stored_ok, stored = (
                (True, db_note) if engine is None else _compare_stored(engine, data, sha)
            )
            print(f"{name}: sha256 {sha[:16]}… {stored}", file=out)
            ok = result.ok and stored_ok
            print(f"{name}: {'VERIFIED' if ok else 'FAILED'}", file=out)
            if not ok:
                worst = max(worst, 1)
    finally:
        if engine is not None:
            engine.dispose()
    return worst
