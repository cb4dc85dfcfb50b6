"""Stored session notes (issue 8): the note rows, their signed documents and signatures, the
record-state fingerprint a signed version carries, and the countersignature at discharge
approval. The discharge use case calls this module; building a note's content and signing it is
app.notes (which imports the discharge evaluation), so the app layer has no cycle.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.record import display_zone_name
from nursestation.app.session_rows import get_session_row
from nursestation.db.models import (
    AlarmEvent,
    Assessment,
    DischargeApproval,
    DischargeOverride,
    InfusionEvent,
    MedicationAdministration,
    MedicationResponse,
    Note,
    NoteDocument,
    NoteSignature,
    OutcomeScore,
    SafetyAssessment,
    User,
    VitalReading,
)
from nursestation.errors import (
    INVALID_STATE,
    NOT_PERMITTED,
    NOTE_STALE,
    SELF_APPROVAL,
    DomainError,
)
from nursestation.wording import note_label

NURSE_FIELD = "NurseSignature"


CHARGE_FIELD = "ChargeNurseSignature"


MEANING_DOCUMENTED = "Documented by"


MEANING_ADDENDUM = "Addendum documented by"


MEANING_APPROVED = "Approved for discharge"


STAGE_SIGNED = "signed"


STAGE_COUNTERSIGNED = "countersigned"


@dataclass(frozen=True)
class NoteInfo:
    """One version of a session note as stored: who signed it and its latest document."""

    note_id: int
    label: str
    session_id: int
    version: int
    stage: str
    document_id: int
    sha256: str
    signed_by: str
    signed_at: datetime
    countersigned_by: str | None
    countersigned_at: datetime | None
    supersedes_id: int | None
    addendum_reason: str | None
    addendum_text: str | None
    file_name: str


def display_tz_name(ctx: AppContext) -> str | None:
    """The clinic's display zone (an IANA name), or None for the station's local zone."""
    return display_zone_name(ctx)


def file_name_for(session_date: date, mrn: str, session_id: int, version: int) -> str:
    """date_MRN_session_vN.pdf, safe on every file system."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", mrn).strip("-") or "patient"
    return f"{session_date.isoformat()}_{safe}_session{session_id}_v{version}.pdf"


def _latest_note(s: Session, session_id: int) -> Note | None:
    return s.execute(
        select(Note).where(Note.session_id == session_id).order_by(Note.version.desc()).limit(1)
    ).scalar_one_or_none()


def _latest_document(s: Session, note_id: int) -> NoteDocument | None:
    return s.execute(
        select(NoteDocument)
        .where(NoteDocument.note_id == note_id)
        .order_by(NoteDocument.seq.desc())
        .limit(1)
    ).scalar_one_or_none()


def _store_signed_document(
    s: Session,
    note: Note,
    seq: int,
    stage: str,
    pdf: bytes,
    actor: Actor,
    meaning: str,
    field_name: str,
    when: datetime,
) -> NoteDocument:
    """Insert the signed PDF bytes with their hash and the signature that produced them."""
    doc = NoteDocument(
        note_id=note.id,
        seq=seq,
        stage=stage,
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        created_at=when,
    )
    s.add(doc)
    s.flush()
    s.add(
        NoteSignature(
            document_id=doc.id,
            signer_id=actor.user_id,
            signer_name=actor.full_name,
            meaning=meaning,
            field_name=field_name,
            signed_at=when,
        )
    )
    s.flush()
    return doc


def has_signed_note(s: Session, session_id: int) -> bool:
    """True when any version of the session's note has been signed."""
    return (
        s.execute(
            select(NoteDocument.id)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(Note.session_id == session_id)
            .limit(1)
        ).first()
        is not None
    )


def _info(s: Session, note: Note) -> NoteInfo:
    doc = _latest_document(s, note.id)
    assert doc is not None, "a note row is always written with its signed document"
    sigs = list(
        s.execute(
            select(NoteSignature)
            .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
            .where(NoteDocument.note_id == note.id)
            .order_by(NoteSignature.signed_at, NoteSignature.id)
        ).scalars()
    )
    first = next(x for x in sigs if x.field_name == NURSE_FIELD)
    counter = next((x for x in sigs if x.field_name == CHARGE_FIELD), None)
    row = get_session_row(s, note.session_id)
    return NoteInfo(
        note_id=note.id,
        label=note_label(note.session_id),
        session_id=note.session_id,
        version=note.version,
        stage=doc.stage,
        document_id=doc.id,
        sha256=doc.sha256,
        signed_by=first.signer_name,
        signed_at=first.signed_at,
        countersigned_by=counter.signer_name if counter else None,
        countersigned_at=counter.signed_at if counter else None,
        supersedes_id=note.supersedes_id,
        addendum_reason=note.addendum_reason,
        addendum_text=note.addendum_text,
        file_name=file_name_for(
            row.checked_in_at.date(), row.patient.mrn, note.session_id, note.version
        ),
    )


def _ca_pem(ctx: AppContext) -> bytes:
    """The clinic CA certificate from the database (app/pki.py): the same at every station."""
    from nursestation.app.pki import ca_certificate_pem

    return ca_certificate_pem(ctx)


def _credential(s: Session, actor: Actor) -> bytes:
    user = s.get(User, actor.user_id)
    if user is None or user.signing_credential is None:
        raise DomainError(
            NOT_PERMITTED,
            f"{actor.full_name} has no signing credential: an administrator must issue one.",
        )
    return bytes(user.signing_credential)


_RECORD_TABLES = (InfusionEvent, VitalReading, MedicationAdministration, Assessment, AlarmEvent,
                  DischargeOverride, DischargeApproval, OutcomeScore,
                  SafetyAssessment)  # fmt: skip
# Tables added after notes were first signed (issue 16): counted only when the session has rows,
# so the fingerprint of a session without any is the one a note signed before carries.
_ADDED_TABLES = (OutcomeScore, SafetyAssessment)


def _fingerprint(s: Session, session_id: int) -> dict[str, Any]:
    """Changes whenever anything the note prints is added or edited (rows are append-only, so
    count and highest id per table suffice; the session row carries a version counter)."""
    out: dict[str, Any] = {"infusion_sessions": get_session_row(s, session_id).version}
    for model in _RECORD_TABLES:
        stmt = select(func.count(model.id), func.max(model.id)).where(
            model.session_id == session_id
        )
        key = model.__tablename__
        if model is VitalReading:
            # A monitor keeps sending a reading a second until the patient leaves the chair:
            # its normal values after the note are not something the note must contain (one
            # that crosses a limit raises an alarm, and alarm rows count below). Counting them
            # made every approval of a monitored chair "stale" and signing re-render.
            stmt = stmt.where(VitalReading.source != "device")
            key = "vital_readings_entered"
        count, top = s.execute(stmt).one()
        if model in _ADDED_TABLES and count == 0:
            continue  # a note signed before these tables existed keeps its fingerprint
        out[key] = [count, top]
    count, top = s.execute(
        select(func.count(MedicationResponse.id), func.max(MedicationResponse.id))
        .join(MedicationAdministration)
        .where(MedicationAdministration.session_id == session_id)
    ).one()
    out[MedicationResponse.__tablename__] = [count, top]
    return out


def _record_state(fingerprint: dict[str, Any]) -> str:
    """The fingerprint as the text stored in the signed PDF (see report.signing.record_state)."""
    return json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))


# What a changed table means to a nurse, for the "recorded after signing" refusal.
_RECORD_WORDS = {
    "infusion_sessions": "session details (check-in, checklist or status)",
    "infusion_events": "infusion events",
    "vital_readings": "vital signs",
    "vital_readings_entered": "vital signs",
    "medication_administrations": "medications",
    "medication_responses": "medication responses",
    "assessments": "assessments",
    "alarm_events": "alarms or alarm acknowledgements",
    "discharge_overrides": "discharge overrides",
    "discharge_approvals": "discharge approval",
    "outcome_scores": "outcome measures",
    "safety_assessments": "safety assessments",
}


def _signed_by(s: Session, session_id: int, user_id: int) -> bool:
    """True when `user_id` signed any version of the session's note as its documenting nurse."""
    return (
        s.execute(
            select(NoteSignature.id)
            .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
            .join(Note, Note.id == NoteDocument.note_id)
            .where(
                Note.session_id == session_id,
                NoteSignature.field_name == NURSE_FIELD,
                NoteSignature.signer_id == user_id,
            )
            .limit(1)
        ).first()
        is not None
    )


def _refuse_self_approval(s: Session, session_id: int, actor: Actor) -> None:
    if _signed_by(s, session_id, actor.user_id):
        raise DomainError(
            SELF_APPROVAL,
            f"{actor.full_name} signed this session's note: another charge nurse must approve "
            "the discharge (nobody approves a note they signed themselves).",
        )


def require_approvable(ctx: AppContext, s: Session, session_id: int, actor: Actor) -> None:
    """Inside the approval transaction, before anything is written: the note is signed, its
    newest version is not yet countersigned, `actor` did not sign it, and nothing was recorded
    after that version was signed. Raises invalid_state, self_approval or note_stale."""
    note = _latest_note(s, session_id)
    doc = _latest_document(s, note.id) if note else None
    if note is None or doc is None:
        raise DomainError(
            INVALID_STATE, "The nurse must sign the session note before discharge approval."
        )
    if doc.stage == STAGE_COUNTERSIGNED:
        raise DomainError(INVALID_STATE, "This note version is already countersigned.")
    _refuse_self_approval(s, session_id, actor)
    from nursestation.report.signing import record_state

    stored = record_state(bytes(doc.pdf))
    now = _fingerprint(s, session_id)
    if stored == _record_state(now):
        return
    what = "; ".join(_stale_parts(stored, now)) or "the record state is unknown"
    raise DomainError(
        NOTE_STALE,
        f"Recorded after the nurse signed note version {note.version}: {what}. Approval needs "
        "a signed version that contains it: the nurse signs an addendum first.",
    )


def _stale_parts(stored: str | None, now: dict[str, Any]) -> list[str]:
    try:
        then = json.loads(stored) if stored else None
    except ValueError:
        then = None
    if not isinstance(then, dict):
        return ["the signed version predates record-state binding"]
    return [
        _RECORD_WORDS.get(key, key.replace("_", " "))
        for key, value in now.items()
        if then.get(key) != value
    ]


def approval_record_text(
    ctx: AppContext, actor: Actor, approved_at: datetime, note: Note, doc: NoteDocument
) -> str:
    """The words written into the note's approval record at approval: who, when, meaning, and
    which signed document it approves."""
    from nursestation.report.signing import format_signing_time

    roles = ", ".join(sorted(r.replace("_", " ") for r in actor.roles)) or "no role"
    return (
        f"{MEANING_APPROVED} by {actor.full_name} ({roles}; user {actor.username}) on "
        f"{format_signing_time(approved_at, display_tz_name(ctx))}. Meaning: reviewed the "
        f"session record and approved the patient for discharge. Approves note "
        f"{note_label(note.session_id)} version {note.version} as signed by the nurse "
        f"(SHA-256 {doc.sha256[:16]}…)."
    )


def countersign_for_approval(
    ctx: AppContext,
    s: Session,
    session_id: int,
    actor: Actor,
    password: str,
    approved_at: datetime,
) -> NoteInfo:
    """Inside the caller's approval transaction: the approval record (who, when, meaning) is
    written into the note's approval field, then the charge nurse's credential signs the field
    ChargeNurseSignature ("Approved for discharge") over both, as incremental updates of the
    latest signed document of the newest note version; stored as document seq n+1
    "countersigned". The caller has run `require_approvable` before writing anything."""
    ctx.require(actor, "approve_discharge")
    from nursestation.report.signing import fill_approval_record, has_approval_field
    from nursestation.report.worker import sign_pdf as pades_sign  # in the signing process

    note = _latest_note(s, session_id)
    doc = _latest_document(s, note.id) if note else None
    if note is None or doc is None:
        raise DomainError(
            INVALID_STATE,
            "The nurse has not signed the session note yet: it must be signed before approval.",
        )
    if doc.stage == STAGE_COUNTERSIGNED:
        raise DomainError(INVALID_STATE, "This note version is already countersigned.")
    _refuse_self_approval(s, session_id, actor)
    row = get_session_row(s, session_id)
    pdf = bytes(doc.pdf)
    if has_approval_field(pdf):  # notes signed before the field existed carry the stamp only
        pdf = fill_approval_record(pdf, approval_record_text(ctx, actor, approved_at, note, doc))
    countersigned = pades_sign(
        pdf,
        CHARGE_FIELD,
        _credential(s, actor),
        password,
        actor.full_name,
        MEANING_APPROVED,
        approved_at,
        _ca_pem(ctx),
        display_tz=display_tz_name(ctx),
        location=f"{ctx.settings.get('general.clinic_name')}, chair {row.chair}",
    )
    new = _store_signed_document(
        s,
        note,
        doc.seq + 1,
        STAGE_COUNTERSIGNED,
        countersigned,
        actor,
        MEANING_APPROVED,
        CHARGE_FIELD,
        approved_at,
    )
    ctx.audit(
        s,
        actor,
        "note.countersign",
        "note",
        note.id,
        after={"session_id": session_id, "version": note.version, "sha256": new.sha256},
    )
    return _info(s, note)
