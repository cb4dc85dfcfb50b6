"""Administrator export of signed session notes (issue 10): PDF, CSV, FHIR R4 and a manifest.

The export is written into a temporary folder beside the destination and renamed into place at
the end, in the same transaction as its audit row, so a destination folder exists exactly when
the export finished and was audited. Every note is checked (stored hash and every signature
against the clinic CA) before it is written; a session with a note that fails is left out unless
the administrator asks for it (`include_failed`), and then it is marked in the manifest.

FHIR resources are built as plain JSON dicts following the R4B models of fhir.resources (FHIR
4.3.0, wire-compatible with R4 4.0.1 for the resources used here). Validating every Bundle with the
pydantic models at export time cost more than the PDF signature checks themselves (issue 19:
1.46x the fair baseline), so the models validate every Bundle the export produces in the tests
(tests/app/test_export.py) instead of at run time; the builders below are the only producers.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation import __version__
from nursestation.app import spravato
from nursestation.app.context import Actor, AppContext
from nursestation.app.notes import _ca_pem, file_name_for
from nursestation.app.outcomes import outcome_settings
from nursestation.app.record import clinic_zone, load_record
from nursestation.db.models import (
    InfusionSession,
    Note,
    NoteDocument,
    NoteSignature,
    Patient,
    User,
)
from nursestation.errors import BAD_INPUT, DomainError
from nursestation.formulary import Formulary
from nursestation.report.session_export import (
    CSV_COLUMNS,
    ExportInputs,
    FhirIds,
    csv_cell,
    csv_row,
    session_bundle,
)
from nursestation.spravato import FORM_FIELDS
from nursestation.wording import drug_label, note_label

FORMATS: tuple[str, ...] = ("pdf", "csv", "fhir")
STATUSES: tuple[str, ...] = ("signed", "approved", "addended")
STATUS_HELP = {
    "signed": "signed by the nurse, not yet countersigned at discharge approval",
    "approved": "countersigned at discharge approval",
    "addended": "has at least one signed addendum (note version 2 or later)",
}
MANIFEST = "manifest.json"
CSV_FILE = "sessions.csv"
PDF_DIR = "pdf"
FHIR_DIR = "fhir"
CA_FILE = "ca.pem"
MANIFEST_FORMAT = "nursestation-export/1"

Progress = Callable[[int, int], bool]

_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


# ---------------------------------------------------------------- filter, formats, result


def _parse_date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise DomainError(
            BAD_INPUT, f"The {name} date '{text}' is not a date: use YYYY-MM-DD.", field=name
        ) from None


def _blank(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


@dataclass(frozen=True)
class ExportFilter:
    """Which sessions to export: session dates (clinic display zone) and optional narrowing."""

    date_from: date
    date_to: date
    mrn: str | None = None
    chair: str | None = None
    signer: str | None = None  # user name or full name of anyone who signed a version
    status: str | None = None  # one of STATUSES

    def __post_init__(self) -> None:
        if self.date_to < self.date_from:
            raise DomainError(
                BAD_INPUT,
                f"The date range is empty: 'to' ({self.date_to}) is before 'from' "
                f"({self.date_from}).",
                field="to",
            )
        if self.status is not None and self.status not in STATUSES:
            raise DomainError(
                BAD_INPUT,
                f"Unknown status '{self.status}': allowed {', '.join(STATUSES)}.",
                field="status",
            )

    @classmethod
    def from_strings(
        cls,
        date_from: str,
        date_to: str,
        *,
        mrn: str | None = None,
        chair: str | None = None,
        signer: str | None = None,
        status: str | None = None,
    ) -> ExportFilter:
        """From command-line or form text: ISO dates, blank fields mean 'any'."""
        st = _blank(status)
        return cls(
            _parse_date(date_from, "from"),
            _parse_date(date_to, "to"),
            mrn=_blank(mrn),
            chair=_blank(chair),
            signer=_blank(signer),
            status=st.lower() if st else None,
        )

    def as_json(self) -> dict[str, Any]:
        """For the manifest and the audit row."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "mrn": self.mrn,
            "chair": self.chair,
            "signer": self.signer,
            "status": self.status,
        }


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """'pdf,csv' -> ('pdf', 'csv') in canonical order; unknown or no format is bad_input."""
    items = text.split(",") if isinstance(text, str) else list(text)
    chosen = {x.strip().lower() for x in items if x and x.strip()}
    unknown = sorted(chosen - set(FORMATS))
    if unknown:
        raise DomainError(
            BAD_INPUT,
            f"Unknown export format '{unknown[0]}': allowed {', '.join(FORMATS)}.",
            field="format",
        )
    if not chosen:
        raise DomainError(
            BAD_INPUT, f"Choose at least one format: {', '.join(FORMATS)}.", field="format"
        )
    return tuple(f for f in FORMATS if f in chosen)


@dataclass(frozen=True)
class SignatureResult:
    """One embedded signature as verified."""

    field_name: str
    signer: str
    meaning: str
    signed_at: str | None
    intact: bool
    trusted: bool
    ok: bool
    problem: str


@dataclass(frozen=True)
class ExportedNote:
    """One note version considered by the export, with its verification."""

    session_id: int
    note_id: int
    version: int
    document_id: int
    stage: str
    sha256: str
    size: int
    verified: bool
    problems: tuple[str, ...]
    signatures: tuple[SignatureResult, ...]
    included: bool
    file: str | None  # path inside the export, when the PDF was written


@dataclass(frozen=True)
class ExportResult:
    """What an export did (or would have done, when cancelled)."""

    destination: Path
    formats: tuple[str, ...]
    sessions: int
    notes: tuple[ExportedNote, ...]
    files: int
    cancelled: bool = False
    manifest_sha256: str | None = None

    @property
    def failed(self) -> tuple[ExportedNote, ...]:
        """Notes that did not verify (left out, or included and marked)."""
        return tuple(n for n in self.notes if not n.verified)

    @property
    def exported(self) -> tuple[ExportedNote, ...]:
        """Notes in the export."""
        return tuple(n for n in self.notes if n.included)

    @property
    def ok(self) -> bool:
        """Finished, and every note considered verified."""
        return not self.cancelled and not self.failed

    def summary(self) -> str:
        """One or two sentences for the command line and the dialog."""
        if self.cancelled:
            return "Export cancelled: nothing was written."
        n, s = len(self.exported), self.sessions
        text = (
            f"Exported {n} note version{'s' if n != 1 else ''} of {s} session"
            f"{'s' if s != 1 else ''} to {self.destination} ({', '.join(self.formats)}; "
            f"{self.files} files listed in {MANIFEST})."
        )
        if not self.notes:
            text = f"No signed notes matched the filter: an empty export is in {self.destination}."
        failed = self.failed
        if failed:
            names = ", ".join(f"session {x.session_id} v{x.version}" for x in failed[:5])
            more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
            fate = (
                "included and marked in the manifest"
                if all(x.included for x in failed)
                else "left out with their sessions (use include failed to export them marked)"
            )
            text += f" {len(failed)} failed verification ({names}{more}): {fate}."
        return text


# ---------------------------------------------------------------- helpers


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "patient"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _check_destination(out_dir: str | os.PathLike[str]) -> Path:
    dest = Path(out_dir).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DomainError(
            BAD_INPUT,
            f"The destination {dest} already exists and is not an empty folder: choose a new one.",
            field="out",
        )
    if not dest.parent.is_dir():
        raise DomainError(
            BAD_INPUT, f"The folder {dest.parent} does not exist: create it first.", field="out"
        )
    return dest


def _move_into_place(tmp: Path, dest: Path) -> None:
    # rename() cannot replace a non-empty folder; an empty destination is removed first.
    if dest.exists():
        dest.rmdir()
    os.replace(tmp, dest)


# ---------------------------------------------------------------- selection


@dataclass
class _Doc:
    id: int
    seq: int
    stage: str
    sha256: str
    size: int


@dataclass
class _Version:
    note_id: int
    version: int
    supersedes_id: int | None
    created_at: datetime
    latest: _Doc | None = None
    signatures: list[tuple[str, str, str, datetime, int]] = field(default_factory=list)
    # (signer_name, meaning, field_name, signed_at, signer_id)


@dataclass
class _Candidate:
    session_id: int
    local_date: date
    mrn: str
    versions: list[_Version]

    @property
    def approved(self) -> bool:
        return any(v.latest is not None and v.latest.stage == "countersigned" for v in
                   self.versions)  # fmt: skip

    @property
    def addended(self) -> bool:
        return any(v.version > 1 for v in self.versions)


def _select(ctx: AppContext, s: Session, flt: ExportFilter, tz: tzinfo) -> list[_Candidate]:
    """Sessions in the range with at least one signed note, narrowed by the filter."""
    start = datetime.combine(flt.date_from, time.min, tz).astimezone(UTC)
    end = datetime.combine(flt.date_to + timedelta(days=1), time.min, tz).astimezone(UTC)
    q = (
        select(InfusionSession.id, InfusionSession.checked_in_at, Patient.mrn)
        .join(Patient, Patient.id == InfusionSession.patient_id)
        .where(
            InfusionSession.checked_in_at >= start,
            InfusionSession.checked_in_at < end,
            InfusionSession.id.in_(select(Note.session_id)),
        )
        .order_by(InfusionSession.checked_in_at, InfusionSession.id)
    )
    if flt.mrn:
        q = q.where(Patient.mrn == flt.mrn)
    if flt.chair:
        q = q.where(InfusionSession.chair == flt.chair)
    rows = s.execute(q).all()
    by_session: dict[int, _Candidate] = {
        sid: _Candidate(sid, at.astimezone(tz).date(), mrn, []) for sid, at, mrn in rows
    }
    ids = list(by_session)
    versions: dict[int, _Version] = {}
    for part in _chunks(ids):
        for n in s.execute(
            select(Note).where(Note.session_id.in_(part)).order_by(Note.session_id, Note.version)
        ).scalars():
            v = _Version(n.id, n.version, n.supersedes_id, n.created_at)
            versions[n.id] = v
            by_session[n.session_id].versions.append(v)
    note_ids = list(versions)
    for part in _chunks(note_ids):
        docs = s.execute(
            select(
                NoteDocument.id,
                NoteDocument.note_id,
                NoteDocument.seq,
                NoteDocument.stage,
                NoteDocument.sha256,
                func.length(NoteDocument.pdf),
            ).where(NoteDocument.note_id.in_(part))
        ).all()
        for did, nid, seq, stage, sha, size in docs:
            v = versions[nid]
            if v.latest is None or seq > v.latest.seq:
                v.latest = _Doc(did, seq, stage, sha, int(size or 0))
        sigs = s.execute(
            select(
                NoteDocument.note_id,
                NoteSignature.signer_name,
                NoteSignature.meaning,
                NoteSignature.field_name,
                NoteSignature.signed_at,
                NoteSignature.signer_id,
            )
            .join(NoteDocument, NoteDocument.id == NoteSignature.document_id)
            .where(NoteDocument.note_id.in_(part))
            .order_by(NoteSignature.signed_at, NoteSignature.id)
        ).all()
        for nid, name, meaning, fld, at, uid in sigs:
            versions[nid].signatures.append((name, meaning, fld, at, uid))
    out = [c for c in by_session.values() if any(v.latest for v in c.versions)]
    if flt.signer:
        wanted = flt.signer.casefold()
        users = {
            uid: (un.casefold(), full.casefold())
            for uid, un, full in s.execute(select(User.id, User.username, User.full_name))
        }
        out = [
            c for c in out
            if any(wanted in users.get(sig[4], ("", "")) or wanted == sig[0].casefold()
                   for v in c.versions for sig in v.signatures)
        ]  # fmt: skip
    if flt.status == "signed":
        out = [c for c in out if not c.approved]
    elif flt.status == "approved":
        out = [c for c in out if c.approved]
    elif flt.status == "addended":
        out = [c for c in out if c.addended]
    for c in out:
        c.versions = [v for v in c.versions if v.latest is not None]
    return out


# ---------------------------------------------------------------- verification


def _verify(pdf: bytes, stored_sha: str, ca: bytes) -> tuple[bool, tuple[str, ...], tuple[
        SignatureResult, ...]]:  # fmt: skip
    """(ok, problems, signatures): the stored hash and every signature against the clinic CA."""
    from nursestation.report.verify import verify_pdf

    problems: list[str] = []
    if hashlib.sha256(pdf).hexdigest() != stored_sha:
        problems.append("the stored SHA-256 does not match the stored bytes")
    result = verify_pdf(pdf, ca)
    if result.error:
        problems.append(result.error)
    elif not result.signatures:
        problems.append("no signatures")
    sigs = tuple(
        SignatureResult(
            # plain str/bool: pyHanko's string objects keep a reference to the whole parsed PDF
            field_name=str(c.field_name),
            signer=str(c.signer_name),
            meaning=str(c.meaning),
            signed_at=c.signing_time.isoformat() if c.signing_time else None,
            intact=bool(c.intact),
            trusted=bool(c.trusted),
            ok=bool(c.bottom_line),
            problem=str(c.problem),
        )
        for c in result.signatures
    )
    for c in sigs:
        if not c.ok:
            why = c.problem or ", ".join(
                w for w, bad in (("not intact", not c.intact), ("not trusted", not c.trusted))
                if bad
            ) or "failed"  # fmt: skip
            problems.append(f"{c.field_name} ({c.signer or 'unknown signer'}): {why}")
    return result.ok and not problems, tuple(problems), sigs


# ---------------------------------------------------------------- per-session data


def _drug_names(ctx: AppContext) -> Callable[[str], str]:
    try:
        f: Formulary | None = Formulary.from_settings(ctx.settings)
    except Exception:  # a formulary problem must not stop an export of stored records
        f = None
    return lambda key: drug_label(f, key)


def fhir_file_name(session_date: date, mrn: str, session_id: int) -> str:
    """date_MRN_sessionN.json, like the PDF names."""
    return f"{session_date.isoformat()}_{_safe(mrn)}_session{session_id}.json"


# ---------------------------------------------------------------- the export


def export_notes(
    ctx: AppContext,
    actor: Actor,
    flt: ExportFilter,
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = FORMATS,
    *,
    include_failed: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the signed notes matching `flt` into the new folder `out_dir`.

    `progress(done, total)` is called once before the first session and after each one; when
    it returns False the export stops and nothing is left on disk. Administrators only.
    """
    ctx.require(actor, "export_notes")
    formats = parse_formats(formats)
    dest = _check_destination(out_dir)
    ca = _ca_pem(ctx)
    tz = clinic_zone(ctx)  # session dates are days in this zone
    with ctx.tx() as s:
        candidates = _select(ctx, s, flt, tz)
    total = len(candidates)
    audit_base = {
        "filter": flt.as_json(),
        "formats": list(formats),
        "include_failed": include_failed,
        "destination": str(dest),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    done = 0
    try:
        if progress is not None and not progress(0, total):
            return _cancelled(ctx, actor, tmp, dest, formats, audit_base, 0, total)
        for sub, fmt in ((PDF_DIR, "pdf"), (FHIR_DIR, "fhir")):
            if fmt in formats:
                (tmp / sub).mkdir()
        (tmp / CA_FILE).write_bytes(ca)
        ids, drug = FhirIds(ca), _drug_names(ctx)
        scales = outcome_settings(ctx)
        noted: list[ExportedNote] = []
        csv_rows: list[list[str]] = []
        rems_rows: list[list[str]] = []  # Spravato sessions' REMS forms (issue 17)
        sessions = 0
        for c in candidates:
            with ctx.tx() as s:
                rec = load_record(ctx, s, c.session_id)
                rems = spravato.view_in(ctx, s, c.session_id)
                pdfs: dict[int, bytes] = {}
                for v in c.versions:
                    assert v.latest is not None
                    pdfs[v.note_id] = _pdf_bytes(s, v.latest.id)
            checks: dict[int, ExportedNote] = {}
            for v in c.versions:
                assert v.latest is not None
                pdf = pdfs[v.note_id]
                ok, problems, sigs = _verify(pdf, v.latest.sha256, ca)
                checks[v.note_id] = ExportedNote(
                    session_id=c.session_id, note_id=v.note_id, version=v.version,
                    document_id=v.latest.id, stage=v.latest.stage, sha256=v.latest.sha256,
                    size=len(pdf), verified=ok, problems=problems, signatures=sigs,
                    included=False, file=None,
                )  # fmt: skip
            include = include_failed or all(x.verified for x in checks.values())
            if include:
                sessions += 1
                for v in c.versions:
                    name = file_name_for(c.local_date, c.mrn, c.session_id, v.version)
                    rel = f"{PDF_DIR}/{name}" if "pdf" in formats else None
                    if rel:
                        (tmp / rel).write_bytes(pdfs[v.note_id])
                    checks[v.note_id] = _replace(checks[v.note_id], included=True, file=rel)
                inputs = ExportInputs(tz, c.local_date, drug, ctx.now(), checks, scales)
                if "csv" in formats:
                    csv_rows.append(csv_row(rec, inputs))
                    if rems is not None:
                        rems_rows.append(rems_form_row(rems))
                if "fhir" in formats:
                    sha1 = {
                        k: base64.b64encode(hashlib.sha1(p).digest()).decode(
                            "ascii"
                        )  # FHIR Attachment.hash is SHA-1
                        for k, p in pdfs.items()
                    }
                    bundle = session_bundle(rec, inputs, ids, with_pdf="pdf" in formats,
                                            pdf_sha1=sha1, timestamp=ctx.now())  # fmt: skip
                    path = tmp / FHIR_DIR / fhir_file_name(c.local_date, c.mrn, c.session_id)
                    path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False),
                                    encoding="utf-8")  # fmt: skip
            noted.extend(checks[v.note_id] for v in c.versions)
            done += 1
            if progress is not None and not progress(done, total):
                return _cancelled(ctx, actor, tmp, dest, formats, audit_base, done, total)
        if "csv" in formats:
            with (tmp / CSV_FILE).open("w", encoding="utf-8-sig", newline="") as f:
                w = csv.writer(f, dialect="excel")
                w.writerow(CSV_COLUMNS)
                w.writerows(csv_rows)
            if rems_rows:  # only when Spravato sessions are exported: IV exports unchanged
                with (tmp / REMS_CSV_FILE).open("w", encoding="utf-8-sig", newline="") as f:
                    w = csv.writer(f, dialect="excel")
                    w.writerow(REMS_CSV_COLUMNS)
                    w.writerows(rems_rows)
        manifest_sha, files = _write_manifest(ctx, actor, tmp, flt, formats, include_failed,
                                              noted, sessions)  # fmt: skip
        result = ExportResult(dest, formats, sessions, tuple(noted), files,
                              manifest_sha256=manifest_sha)  # fmt: skip
        _finish(ctx, actor, tmp, dest, audit_base, result)
        return result
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, DomainError | KeyboardInterrupt):
            _audit_quietly(ctx, actor, "notes.export_failed",
                           {**audit_base, "done": done, "total": total,
                            "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        raise


REMS_CSV_FILE = "rems_forms.csv"
REMS_CSV_COLUMNS: tuple[str, ...] = (
    "session_id",
    "note_id",
    *(key for key, _who in FORM_FIELDS),
    "form_complete",
    "due_date",
    "submitted_on",
    "submission_method",
    "confirmation",
)


def rems_form_row(v: spravato.SpravatoView) -> list[str]:
    """A Spravato session's REMS Patient Monitoring Form as one row of rems_forms.csv: every
    field as printed, then the 7-day tracker's due date and the submission (formula-safe)."""
    sub = v.submission
    values: list[Any] = [
        v.session_id,
        note_label(v.session_id),
        *(f.value for f in v.form.fields),
        "yes" if v.form.complete else "no",
        v.due_date.isoformat(),
        sub.submitted_on.isoformat() if sub else "",
        sub.method if sub else "",
        sub.confirmation if sub else "",
    ]
    return [csv_cell(x) for x in values]


def _pdf_bytes(s: Session, document_id: int) -> bytes:
    doc = s.get(NoteDocument, document_id)
    assert doc is not None
    return bytes(doc.pdf)


def _replace(n: ExportedNote, **changes: Any) -> ExportedNote:
    from dataclasses import replace

    return replace(n, **changes)


def _write_manifest(
    ctx: AppContext,
    actor: Actor,
    tmp: Path,
    flt: ExportFilter,
    formats: tuple[str, ...],
    include_failed: bool,
    noted: list[ExportedNote],
    sessions: int,
) -> tuple[str, int]:
    """manifest.json: every file with its SHA-256 and size, and every note's verification."""
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": _utc(ctx.now()),
        "created_by": {"username": actor.username, "full_name": actor.full_name},
        "station": ctx.config.station,
        "app_version": __version__,
        "fhir_version": "4.3.0 (R4B models; R4-compatible resources)" if "fhir" in formats
        else None,
        "filter": flt.as_json(),
        "formats": list(formats),
        "include_failed": include_failed,
        "sessions": sessions,
        "notes": [
            {"session_id": n.session_id, "note_id": n.note_id, "version": n.version,
             "document_id": n.document_id, "stage": n.stage, "sha256": n.sha256,
             "size": n.size, "included": n.included, "file": n.file,
             "verification": "verified" if n.verified else "FAILED",
             "problems": list(n.problems),
             "signatures": [asdict(x) for x in n.signatures]}
            for n in noted
        ],
        "files": [
            {"path": p.relative_to(tmp).as_posix(), "sha256": _sha256_file(p),
             "size": p.stat().st_size}
            for p in files
        ],
    }  # fmt: skip
    data = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
    (tmp / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(files)


def _finish(
    ctx: AppContext, actor: Actor, tmp: Path, dest: Path, base: dict[str, Any], r: ExportResult
) -> None:
    """Audit and move into place together: the folder exists only if the audit row does."""
    moved = False
    try:
        with ctx.tx() as s:
            ctx.audit(
                s, actor, "notes.export", "export", dest.name,
                after={**base, "sessions": r.sessions, "notes": len(r.exported),
                       "failed_verification": len(r.failed), "files": r.files,
                       "manifest_sha256": r.manifest_sha256},
            )  # fmt: skip
            s.flush()
            _move_into_place(tmp, dest)
            moved = True
    except BaseException:
        if moved:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _cancelled(
    ctx: AppContext,
    actor: Actor,
    tmp: Path,
    dest: Path,
    formats: tuple[str, ...],
    base: dict[str, Any],
    done: int,
    total: int,
) -> ExportResult:
    shutil.rmtree(tmp, ignore_errors=True)
    _audit_quietly(ctx, actor, "notes.export_cancelled", {**base, "done": done, "total": total})
    return ExportResult(dest, formats, 0, (), 0, cancelled=True)


def _audit_quietly(ctx: AppContext, actor: Actor, action: str, after: dict[str, Any]) -> None:
    try:
        with ctx.tx() as s:
            ctx.audit(s, actor, action, "export", None, after=after)
    except Exception:  # the export's own outcome (cancel, first error) is what the caller needs
        pass
