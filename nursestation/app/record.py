"""The one loader of a session's record (issue 14): everything stored about a session, read in
one transaction with a fixed number of statements whatever the history's length, as the plain
values of nursestation.record. The note, the CSV and the FHIR export are built from it."""

from __future__ import annotations

from datetime import date, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.app.flowsheet import stored_vitals
from nursestation.app.session_rows import course_totals
from nursestation.db.models import (
    AlarmEvent,
    Assessment,
    DischargeApproval,
    DischargeOverride,
    InfusionEvent,
    InfusionSession,
    MedicationAdministration,
    MedicationResponse,
    Note,
    NoteDocument,
    NoteSignature,
    OutcomeScore,
    Patient,
    PatientWeight,
    SafetyAssessment,
    SpravatoDevice,
    User,
)
from nursestation.errors import NOT_FOUND, DomainError
from nursestation.record import (
    AlarmEventRecord,
    ApprovalRecord,
    AssessmentRecord,
    ChecklistRecord,
    CourseTotal,
    MedicationRecord,
    MedicationResponseRecord,
    NoteVersionRecord,
    OrderRecord,
    OutcomeRecord,
    OverrideRecord,
    PatientRecord,
    PumpEvent,
    SafetyRecord,
    SessionRecord,
    SignatureRecord,
    SpravatoDeviceRecord,
    freeze,
)
from nursestation.wording import allergy_texts, display_zone


def clinic_zone(ctx: AppContext) -> tzinfo:
    """The zone every time is shown in, on screen, in messages, the note and the export: the
    clinic's display zone (general.timezone_display; "local" is the station's zone)."""
    return display_zone(display_zone_name(ctx))


def display_zone_name(ctx: AppContext) -> str | None:
    """The clinic's display zone (an IANA name), or None for the station's local zone."""
    try:
        value = ctx.settings.get("general.timezone_display")
    except KeyError:
        return None
    return None if not value or value == "local" else str(value)


def get_record(ctx: AppContext, actor: Actor, session_id: int) -> SessionRecord:
    """The session's record (read-only use case; view_session)."""
    ctx.require(actor, "view_session")
    with ctx.read_tx() as s:
        return load_record(ctx, s, session_id)


def load_record(ctx: AppContext, s: Session, session_id: int) -> SessionRecord:
    """Everything stored about the session, inside the caller's transaction (17 statements)."""
    found = s.execute(
        select(InfusionSession, Patient)
        .join(Patient, Patient.id == InfusionSession.patient_id)
        .where(InfusionSession.id == session_id)
    ).first()
    if found is None:
        raise DomainError(NOT_FOUND, f"No session {session_id}.")
    row, p = found
    patient = PatientRecord(
        id=p.id,
        mrn=p.mrn,
        name=p.name,
        dob=p.dob,
        sex=p.sex,
        weight_kg=p.weight_kg,
        # the day the weight this session's dose used was measured (issue 16: weighed at each
        # visit); sessions from before per-visit weights keep the chart's date
        weight_date=_weighed_on(s, row.id) or p.weight_date,
        # with reaction and severity where the chart records them (issue 16)
        allergies=allergy_texts(p.allergies, p.allergy_details),
    )
    order = OrderRecord(
        session_type=row.session_type,
        chair=row.chair,
        session_number=row.session_number,
        checked_in_at=row.checked_in_at,
        checked_in_by=row.checked_in_by,
        prescriber=row.prescriber,
        weight_kg_used=row.weight_kg_used,
        dose_mg_per_kg=row.dose_mg_per_kg,
        duration_min=row.duration_min,
        concentration_mg_per_ml=row.concentration_mg_per_ml,
        total_mg=row.total_mg,
        volume_ml=row.volume_ml,
        rate_mg_per_h=row.rate_mg_per_h,
        rate_ml_per_h=row.rate_ml_per_h,
        ketamine_lot=row.ketamine_lot,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        end_detail=row.end_detail,
        version=row.version,
        order_text=row.order_text,
        order_date=row.order_date,
    )
    checklist = ChecklistRecord(
        answers=freeze(dict(row.checklist or {})),
        result=freeze(dict(row.checklist_result or {})),
        override_reason=row.checklist_override_reason,
        override_by=row.checklist_override_by,
        override_at=row.checklist_override_at,
    )
    E = InfusionEvent
    events = tuple(
        PumpEvent(*r)
        for r in s.execute(
            select(E.id, E.kind, E.at, E.rate_mg_per_h, E.reason, E.user_id)
            .where(E.session_id == session_id)
            .order_by(E.at, E.id)
        )
    )
    M = MedicationAdministration
    meds = tuple(
        MedicationRecord(*tuple(r))
        for r in s.execute(
            select(M.id, M.drug, M.dose, M.unit, M.route, M.indication, M.given_at,
                   M.recorded_at, M.given_by, M.triggering_vital_id, M.soft_max_reason, M.lot,
                   M.note, M.supersedes_id, M.correction_reason, M.indication_override_reason,
                   M.indication_override_by)
            .where(M.session_id == session_id)
            .order_by(M.given_at, M.id)
        )
    )  # fmt: skip
    R = MedicationResponse
    responses = tuple(
        MedicationResponseRecord(*r)
        for r in s.execute(
            select(R.id, R.administration_id, R.at, R.measure, R.text, R.vital_id, R.by_user)
            .join(M, M.id == R.administration_id)
            .where(M.session_id == session_id)
            .order_by(R.at, R.id)
        )
    )
    A = Assessment
    assessments = tuple(
        AssessmentRecord(aid, kind, at, score, freeze(dict(items or {})), by)
        for aid, kind, at, score, items, by in s.execute(
            select(A.id, A.kind, A.at, A.score, A.items, A.by_user)
            .where(A.session_id == session_id)
            .order_by(A.at, A.id)
        )
    )
    AE = AlarmEvent
    alarms = tuple(
        AlarmEventRecord(*r)
        for r in s.execute(
            select(AE.id, AE.alarm_key, AE.priority, AE.event, AE.text, AE.user_id, AE.at)
            .where(AE.session_id == session_id)
            .order_by(AE.at, AE.id)
        )
    )
    O = DischargeOverride  # noqa: E741 - the table's initial, like the others
    overrides = tuple(
        OverrideRecord(*r)
        for r in s.execute(
            select(O.id, O.criterion, O.reason, O.by_user, O.at)
            .where(O.session_id == session_id)
            .order_by(O.at, O.id)
        )
    )
    ap = s.execute(
        select(DischargeApproval.by_user, DischargeApproval.at, DischargeApproval.meaning,
               DischargeApproval.criteria)
        .where(DischargeApproval.session_id == session_id)
    ).first()  # fmt: skip
    approval = ApprovalRecord(ap[0], ap[1], ap[2], freeze(ap[3] or {})) if ap else None
    names = {uid: name for uid, name in s.execute(select(User.id, User.full_name))}
    outcome_rows, safety, course = _outcome_rows(s, row)
    return SessionRecord(
        session_id=row.id,
        patient=patient,
        order=order,
        checklist=checklist,
        events=events,
        vitals=tuple(stored_vitals(s, session_id)),
        medications=meds,
        responses=responses,
        assessments=assessments,
        alarm_events=alarms,
        overrides=overrides,
        approval=approval,
        notes=_note_versions(s, session_id),
        names=freeze(names),
        display_zone=display_zone_name(ctx),
        spravato_devices=_spravato_devices(s, session_id) if row.session_type == "spravato" else (),
        outcomes=outcome_rows,
        safety=safety,
        course=course,
    )


def _spravato_devices(s: Session, session_id: int) -> tuple[SpravatoDeviceRecord, ...]:
    """A Spravato session's nasal devices in order (one statement, Spravato sessions only)."""
    rows = s.execute(
        select(SpravatoDevice)
        .where(SpravatoDevice.session_id == session_id)
        .order_by(SpravatoDevice.device_no)
    ).scalars()
    return tuple(SpravatoDeviceRecord(d.device_no, d.at, d.lot, d.mg, d.given_by) for d in rows)


def _weighed_on(s: Session, session_id: int) -> date | None:
    """When the weight measured at this session's check-in was taken (None: not weighed then)."""
    return s.execute(
        select(PatientWeight.measured_on)
        .where(PatientWeight.session_id == session_id)
        .order_by(PatientWeight.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _note_versions(s: Session, session_id: int) -> tuple[NoteVersionRecord, ...]:
    """Signed note versions with their latest document (3 statements; PDF bytes not read)."""
    notes = s.execute(
        select(Note.id, Note.version, Note.supersedes_id, Note.created_at)
        .where(Note.session_id == session_id)
        .order_by(Note.version)
    ).all()
    latest: dict[int, tuple[int, int, str, str, int]] = {}
    for did, nid, seq, stage, sha, size in s.execute(
        select(NoteDocument.id, NoteDocument.note_id, NoteDocument.seq, NoteDocument.stage,
               NoteDocument.sha256, func.length(NoteDocument.pdf))
        .join(Note, Note.id == NoteDocument.note_id)
        .where(Note.session_id == session_id)
    ):  # fmt: skip
        if nid not in latest or seq > latest[nid][1]:
            latest[nid] = (did, seq, stage, sha, int(size or 0))
    sigs: dict[int, list[SignatureRecord]] = {}
    for nid, signer_id, signer, meaning, field_name, signed_at in s.execute(
        select(NoteDocument.note_id, NoteSignature.signer_id, NoteSignature.signer_name,
               NoteSignature.meaning, NoteSignature.field_name, NoteSignature.signed_at)
        .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
        .join(Note, Note.id == NoteDocument.note_id)
        .where(Note.session_id == session_id)
        .order_by(NoteSignature.signed_at, NoteSignature.id)
    ):  # fmt: skip
        sigs.setdefault(nid, []).append(
            SignatureRecord(signer_id, signer, meaning, field_name, signed_at)
        )
    return tuple(
        NoteVersionRecord(nid, version, supersedes, created, latest[nid][0], latest[nid][2],
                          latest[nid][3], latest[nid][4], tuple(sigs.get(nid, ())))
        for nid, version, supersedes, created in notes
        if nid in latest
    )  # fmt: skip


# ---------------------------------------------------------------- the session record


def _outcome_rows(
    s: Session, row: InfusionSession
) -> tuple[
    tuple[OutcomeRecord, ...],
    tuple[SafetyRecord, ...],
    tuple[CourseTotal, ...],
]:
    """The session's outcome rows, safety assessments and the patient's course up to this
    session, read with the rest of the record (3 statements)."""
    S = OutcomeScore  # the table's initial, as app.record writes them
    rows = tuple(
        OutcomeRecord(
            r.id, r.scale, r.timepoint, tuple(r.answers or ()), r.total, r.band,
            r.safety_positive, r.safety_reason, r.administered, r.on_station, r.at,
            r.entered_by, r.supersedes_id, r.correction_reason,
        )
        for r in s.execute(
            select(S).where(S.session_id == row.id).order_by(S.at, S.id)
        ).scalars()
    )  # fmt: skip
    A = SafetyAssessment
    safety = tuple(
        SafetyRecord(*r)
        for r in s.execute(
            select(A.id, A.kind, A.assessment, A.plan, A.proceed, A.by_user, A.by_role, A.at)
            .where(A.session_id == row.id)
            .order_by(A.at, A.id)
        )
    )
    course = course_totals(s, row.patient_id, checked_in_until=row.checked_in_at)
    return rows, safety, course
