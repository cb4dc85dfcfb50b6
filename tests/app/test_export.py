"""Administrator export: byte-identical verified PDFs, a spreadsheet-safe CSV, FHIR bundles that
validate, a manifest with every file's hash, refusal of unverified notes, filters, cancel and
failure leave nothing, audit, permissions, and the `nursestation export` command."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from export_support import (
    ADMIN,
    ADMIN_PW,
    CHARGE,
    NURSE,
    NURSE_PW,
    SOURCE_MRN,
    Cloner,
    Copy,
    copy_station,
    template_dir,
)
from pg_support import cli_db_args, station_config
from sqlalchemy import select, text

from nursestation.app import export as ex
from nursestation.app.context import Actor, AppContext
from nursestation.app.pki import ca_certificate_pem
from nursestation.app.users import authenticate
from nursestation.db.models import AuditEvent, NoteDocument
from nursestation.errors import DomainError
from nursestation.report.verify import verify_pdf

ROOT = Path(__file__).resolve().parents[2]
RANGE = ("2026-03-01", "2026-03-31")


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory: pytest.TempPathFactory, example_runs: Any) -> Path:
    """The signed-note scenario run once per test session (signing is slow)."""
    return template_dir(tmp_path_factory.mktemp("signed"), example_runs("signed_note").data_dir)


@pytest.fixture
def data_dir(signed_template: Path, tmp_path: Path) -> Path:
    return copy_station(signed_template, tmp_path / "data")


@pytest.fixture
def ctx(data_dir: Path) -> Iterator[AppContext]:
    c = AppContext.open(station_config(data_dir))
    yield c
    c.close()


@pytest.fixture
def admin(ctx: AppContext) -> Actor:
    return authenticate(ctx, ADMIN, ADMIN_PW)


def flt(**kw: str) -> ex.ExportFilter:
    return ex.ExportFilter.from_strings(*RANGE, **kw)


def stored_docs(ctx: AppContext) -> dict[str, bytes]:
    """sha256 -> bytes of every note version's latest document."""
    with ctx.tx() as s:
        docs = list(s.execute(select(NoteDocument).order_by(NoteDocument.id)).scalars())
        latest: dict[int, NoteDocument] = {}
        for d in docs:
            if d.note_id not in latest or d.seq > latest[d.note_id].seq:
                latest[d.note_id] = d
        return {d.sha256: bytes(d.pdf) for d in latest.values()}


def manifest(dest: Path) -> dict:
    return json.loads((dest / ex.MANIFEST).read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM so spreadsheets pick the encoding"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


# ---------------------------------------------------------------- PDF and manifest


def test_pdfs_are_the_stored_signed_bytes_and_verify(
    ctx: AppContext, admin: Actor, tmp_path: Path
) -> None:
    dest = tmp_path / "export"
    result = ex.export_notes(ctx, admin, flt(), dest, ("pdf",))
    assert result.ok and result.sessions == 1 and len(result.exported) == 2
    pdfs = sorted((dest / "pdf").iterdir())
    assert [p.name for p in pdfs] == [
        f"2026-03-02_{SOURCE_MRN}_session1_v1.pdf",
        f"2026-03-02_{SOURCE_MRN}_session1_v2.pdf",
    ]
    stored = stored_docs(ctx)
    ca = (dest / "ca.pem").read_bytes()
    assert ca == ca_certificate_pem(ctx)  # the clinic CA from the database
    for p in pdfs:
        data = p.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        assert stored[sha] == data  # byte-identical to the stored signed document
        assert verify_pdf(data, ca).ok
    m = manifest(dest)
    listed = {f["path"]: f for f in m["files"]}
    assert set(listed) == {"ca.pem", *(f"pdf/{p.name}" for p in pdfs)}
    for path, f in listed.items():
        assert f["sha256"] == hashlib.sha256((dest / path).read_bytes()).hexdigest()
        assert f["size"] == (dest / path).stat().st_size
    notes = {n["version"]: n for n in m["notes"]}
    assert notes[1]["stage"] == "countersigned" and notes[2]["stage"] == "signed"
    assert all(n["verification"] == "verified" and n["included"] for n in notes.values())
    assert [s["meaning"] for s in notes[1]["signatures"]] == [
        "Documented by",
        "Approved for discharge",
    ]
    assert notes[1]["sha256"] == hashlib.sha256((dest / notes[1]["file"]).read_bytes()).hexdigest()
    assert m["created_by"]["username"] == ADMIN and m["filter"]["from"] == RANGE[0]


def test_every_export_is_audited(ctx: AppContext, admin: Actor, tmp_path: Path) -> None:
    dest = tmp_path / "export"
    result = ex.export_notes(ctx, admin, flt(chair="1"), dest, ("csv", "pdf"))
    with ctx.tx() as s:
        row = s.execute(select(AuditEvent).where(AuditEvent.action == "notes.export")).scalar_one()
        assert row.username == ADMIN
        after = dict(row.after or {})
    assert after["filter"]["chair"] == "1" and after["formats"] == ["pdf", "csv"]
    assert (after["sessions"], after["notes"]) == (1, 2)
    assert after["manifest_sha256"] == result.manifest_sha256
    assert result.manifest_sha256 == hashlib.sha256((dest / ex.MANIFEST).read_bytes()).hexdigest()


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://evil.invalid","Open")', "+1 Doe", "-2+3, Jane", "@SUM(A1:A9)", "\tDoe"],
)
def test_csv_round_trips_and_escapes_formula_cells(
    ctx: AppContext, admin: Actor, tmp_path: Path, name: str
) -> None:
    with ctx.tx() as s:
        s.execute(
            text("UPDATE patients SET name = :n WHERE mrn = :m"), {"n": name, "m": SOURCE_MRN}
        )
    dest = tmp_path / "export"
    ex.export_notes(ctx, admin, flt(), dest, ("csv",))
    rows = read_csv(dest / ex.CSV_FILE)
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == list(ex.CSV_COLUMNS)
    assert row["patient_name"] == "'" + name  # shown as text, never evaluated
    assert row["mrn"] == SOURCE_MRN and row["chair"] == "1"
    assert row["session_date"] == "2026-03-02" and row["date_of_birth"] == "1985-04-02"
    assert row["minutes_infused"] == "40" and row["mg_delivered"] == "35"
    assert "Ondansetron 4 mg IV" in row["medications_given"]
    assert "Labetalol 30 mg IV" in row["medications_given"]
    assert "Ben Ode, RN: Approved for discharge (v1" in row["signers"]
    assert "Ana Ruiz, RN: Addendum documented by (v2" in row["signers"]
    assert row["status"] == "approved, addended" and row["verification"] == "verified"
    assert row["approved_by"] == "Ben Ode, RN" and row["discharge_time"].startswith("2026-03-02T")
    assert row["note_sha256"] in stored_docs(ctx)
    from datetime import datetime

    for col in ("checked_in_at", "infusion_started_at", "infusion_stopped_at", "discharge_time"):
        assert datetime.fromisoformat(row[col]).tzinfo is not None  # ISO 8601 with offset
    # No cell of the file can start a formula.
    for r in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())


def test_csv_cell_escaping_rules() -> None:
    from nursestation.report.session_export import csv_cell

    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("\r=1") == "'\r=1"
    assert csv_cell("Doe, Jane") == "Doe, Jane"
    assert csv_cell(None) == "" and csv_cell(40) == "40"


# ---------------------------------------------------------------- FHIR


def _loinc(res: dict) -> set[str]:
    return {c["code"] for c in res["code"].get("coding", [])}


def test_every_fhir_bundle_validates_with_the_r4_models(
    ctx: AppContext, admin: Actor, tmp_path: Path
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    Cloner(ctx.engine).clone([Copy("K-2002", "Roe, Richard", chair="4", days=3)])
    dest = tmp_path / "export"
    ex.export_notes(ctx, admin, flt(), dest, ("pdf", "fhir"))
    files = sorted((dest / "fhir").glob("*.json"))
    assert len(files) == 2
    for f in files:
        bundle = Bundle.model_validate_json(f.read_text(encoding="utf-8"))  # raises if invalid
        assert bundle.type == "collection"
    data = json.loads(files[0].read_text(encoding="utf-8"))
    res = [e["resource"] for e in data["entry"]]
    kinds = [r["resourceType"] for r in res]
    for kind in ("Patient", "Encounter", "Observation", "MedicationAdministration", "Procedure",
                 "DocumentReference"):  # fmt: skip
        assert kind in kinds
    obs = [r for r in res if r["resourceType"] == "Observation"]
    codes = set().union(*(_loinc(o) for o in obs))
    assert {"85354-9", "8867-4", "59408-5", "9279-1"} <= codes
    bp = next(o for o in obs if "85354-9" in _loinc(o))
    assert {c["code"]["coding"][0]["code"] for c in bp["component"]} >= {"8480-6", "8462-4"}
    assert bp["component"][0]["valueQuantity"]["code"] == "mm[Hg]"
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in obs)
    # Every reference resolves inside the bundle.
    full = {e["fullUrl"] for e in data["entry"]}
    refs = [v["reference"] for r in res for v in _walk(r) if "reference" in v]
    assert refs and set(refs) <= full
    # DocumentReference: the signed PDF's size and hash (SHA-1 as FHIR defines it) and SHA-256.
    docs = [r for r in res if r["resourceType"] == "DocumentReference"]
    assert sorted(d["status"] for d in docs) == ["current", "superseded"]
    for d in docs:
        att = d["content"][0]["attachment"]
        pdf = (dest / "fhir" / att["url"]).resolve().read_bytes()
        assert att["size"] == len(pdf)
        assert att["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
        assert d["identifier"][0]["value"] == hashlib.sha256(pdf).hexdigest()
    meds = [r for r in res if r["resourceType"] == "MedicationAdministration"]
    assert {m["medicationCodeableConcept"]["text"] for m in meds} >= {"Ondansetron", "Labetalol"}


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


# ---------------------------------------------------------------- verification failures


def _tamper(ctx: AppContext) -> None:
    """A later document of v2 whose bytes were edited after signing (hash stored to match)."""
    with ctx.tx() as s:
        doc = s.execute(
            select(NoteDocument).where(NoteDocument.note_id == 2).order_by(NoteDocument.seq)
        ).scalars().all()[-1]  # fmt: skip
        pdf = bytearray(doc.pdf)
        at = pdf.index(b"/Title")
        pdf[at + 8] ^= 0x01  # inside the signed byte range
        bad = bytes(pdf)
        s.add(NoteDocument(note_id=2, seq=doc.seq + 1, stage="signed", pdf=bad,
                           sha256=hashlib.sha256(bad).hexdigest(), created_at=doc.created_at))  # fmt: skip


def test_a_note_failing_verification_is_left_out_unless_asked(
    ctx: AppContext, admin: Actor, tmp_path: Path
) -> None:
    Cloner(ctx.engine).clone([Copy("K-2002", "Roe, Richard", chair="4", days=3)])
    _tamper(ctx)
    dest = tmp_path / "refused"
    result = ex.export_notes(ctx, admin, flt(), dest, ("pdf", "csv", "fhir"))
    assert not result.ok and result.sessions == 1
    assert [(n.session_id, n.version) for n in result.failed] == [(1, 2)]
    assert "failed verification" in result.summary()
    names = [p.name for p in (dest / "pdf").iterdir()]
    assert names and all("session1_" not in n for n in names)  # the whole session left out
    assert [r["mrn"] for r in read_csv(dest / ex.CSV_FILE)] == ["K-2002"]
    m = manifest(dest)
    bad = next(n for n in m["notes"] if n["session_id"] == 1 and n["version"] == 2)
    assert bad["verification"] == "FAILED" and not bad["included"] and bad["file"] is None
    assert bad["problems"]

    dest2 = tmp_path / "included"
    result2 = ex.export_notes(ctx, admin, flt(), dest2, ("pdf", "csv"), include_failed=True)
    assert result2.sessions == 2 and not result2.ok
    m2 = manifest(dest2)
    bad2 = next(n for n in m2["notes"] if n["session_id"] == 1 and n["version"] == 2)
    assert bad2["verification"] == "FAILED" and bad2["included"] and m2["include_failed"]
    assert not verify_pdf((dest2 / bad2["file"]).read_bytes(), ca_certificate_pem(ctx)).ok
    flagged = {r["mrn"]: r["verification"] for r in read_csv(dest2 / ex.CSV_FILE)}
    assert flagged == {SOURCE_MRN: "FAILED: v2", "K-2002": "verified"}


# ---------------------------------------------------------------- filters


def test_filters_by_date_patient_chair_signer_and_status(
    ctx: AppContext, admin: Actor, tmp_path: Path
) -> None:
    sids = Cloner(ctx.engine).clone([
        Copy("K-2002", "Roe, Richard", chair="4", days=3),
        Copy("K-3003", "Poe, Edgar", chair="5", days=40, signed_only=True),
        Copy("K-4004", "Loe, Lara", chair="5", days=5, signed_only=True),
    ])  # fmt: skip

    def sessions(f: ex.ExportFilter, name: str) -> list[int]:
        r = ex.export_notes(ctx, admin, f, tmp_path / name, ("csv",))
        return sorted({n.session_id for n in r.exported})

    assert sessions(flt(), "all") == [1, sids[0], sids[2]]  # K-3003 is in April
    assert sessions(ex.ExportFilter.from_strings("2026-04-01", "2026-04-30"), "april") == [sids[1]]
    assert sessions(flt(mrn="K-2002"), "mrn") == [sids[0]]
    assert sessions(flt(chair="5"), "chair") == [sids[2]]
    assert sessions(flt(status="signed"), "signed") == [sids[2]]
    assert sessions(flt(status="approved"), "approved") == [1, sids[0]]
    assert sessions(flt(status="addended"), "addended") == [1, sids[0]]
    assert sessions(flt(signer=CHARGE), "charge") == [1, sids[0]]  # countersigner, by user name
    assert sessions(flt(signer="ana ruiz, rn"), "nurse") == [1, sids[0], sids[2]]
    assert sessions(flt(signer="nobody"), "none") == []
    signed_only = ex.export_notes(ctx, admin, flt(mrn="K-4004"), tmp_path / "one", ("pdf",))
    assert [(n.version, n.stage) for n in signed_only.exported] == [(1, "signed")]


def test_bad_filter_and_format_input_is_refused_with_the_field() -> None:
    with pytest.raises(DomainError) as e:
        ex.ExportFilter.from_strings("2026-03-32", "2026-04-01")
    assert (e.value.code, e.value.field) == ("bad_input", "from")
    with pytest.raises(DomainError) as e:
        ex.ExportFilter.from_strings("2026-03-05", "2026-03-01")
    assert e.value.field == "to"
    with pytest.raises(DomainError) as e:
        ex.ExportFilter.from_strings(*RANGE, status="pending")
    assert e.value.field == "status" and "signed, approved, addended" in e.value.message
    assert ex.parse_formats("fhir, PDF") == ("pdf", "fhir")
    for bad in ("docx", " , "):
        with pytest.raises(DomainError) as e:
            ex.parse_formats(bad)
        assert e.value.field == "format"


def test_existing_destination_is_refused(ctx: AppContext, admin: Actor, tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(DomainError) as e:
        ex.export_notes(ctx, admin, flt(), dest, ("csv",))
    assert e.value.field == "out"
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ex.export_notes(ctx, admin, flt(), empty, ("csv",)).ok  # an empty folder is fine
    assert (empty / ex.CSV_FILE).exists()


# ---------------------------------------------------------------- cancel, failure, permission


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_cancelled_export_leaves_no_files(ctx: AppContext, admin: Actor, tmp_path: Path) -> None:
    Cloner(ctx.engine).clone([Copy(f"K-9{i}", "Roe, Richard", days=i) for i in range(1, 4)])
    parent = tmp_path / "exports"
    parent.mkdir()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        seen.append((done, total))
        return done < 2  # cancel after two sessions were written to the temporary folder

    result = ex.export_notes(ctx, admin, flt(), parent / "x", ex.FORMATS, progress=progress)
    assert result.cancelled and not result.ok and "cancelled" in result.summary()
    assert seen == [(0, 4), (1, 4), (2, 4)]
    assert _leftovers(parent) == []  # no destination, no temporary folder
    with ctx.tx() as s:
        actions = list(s.execute(select(AuditEvent.action).where(
            AuditEvent.action.like("notes.export%"))).scalars())  # fmt: skip
    assert actions == ["notes.export_cancelled"]


def test_failed_export_leaves_no_files(
    ctx: AppContext, admin: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Cloner(ctx.engine).clone([Copy("K-2002", "Roe, Richard", days=2)])
    calls: list[int] = []
    real = ex.session_bundle

    def breaks_second(*args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ex, "session_bundle", breaks_second)
    parent = tmp_path / "exports"
    parent.mkdir()
    with pytest.raises(OSError):
        ex.export_notes(ctx, admin, flt(), parent / "x", ex.FORMATS)
    assert _leftovers(parent) == []
    with ctx.tx() as s:
        row = s.execute(select(AuditEvent).where(AuditEvent.action == "notes.export_failed")
                        ).scalar_one()  # fmt: skip
        assert "disk full" in row.after["error"]


def test_a_nurse_cannot_export(ctx: AppContext, tmp_path: Path) -> None:
    nurse = authenticate(ctx, NURSE, NURSE_PW)
    with pytest.raises(DomainError) as e:
        ex.export_notes(ctx, nurse, flt(), tmp_path / "x", ex.FORMATS)
    assert e.value.code == "not_permitted"
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- command line


def _cli(data_dir: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NURSESTATION_DEBUG": ""}
    db = cli_db_args(station_config(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "nursestation", "--data-dir", str(data_dir), *db, "export", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip


def test_cli_export_with_the_password_on_stdin(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-export"
    p = _cli(data_dir, "--from", RANGE[0], "--to", RANGE[1], "--out", str(out), "--user", ADMIN,
             stdin=ADMIN_PW + "\n")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Exported 2 note versions of 1 session" in p.stdout
    assert {f["path"] for f in manifest(out)["files"]} >= {ex.CSV_FILE, "ca.pem"}
    assert len(list((out / "pdf").iterdir())) == 2 and len(list((out / "fhir").iterdir())) == 1

    p = _cli(data_dir, "--from", RANGE[0], "--to", RANGE[1], "--out", str(tmp_path / "n"),
             "--user", NURSE, "--format", "csv", stdin=NURSE_PW + "\n")  # fmt: skip
    assert p.returncode == 1 and "may not export notes" in p.stderr
    assert not (tmp_path / "n").exists()

    p = _cli(data_dir, "--from", "March", "--to", RANGE[1], "--out", str(tmp_path / "b"),
             "--user", ADMIN, "--format", "csv", stdin=ADMIN_PW + "\n")  # fmt: skip
    assert p.returncode == 2 and "YYYY-MM-DD" in p.stderr

    p = _cli(data_dir, "--from", RANGE[0], "--to", RANGE[1], "--out", str(tmp_path / "w"),
             "--user", ADMIN, stdin="wrong\n")  # fmt: skip
    assert p.returncode == 1 and "not correct" in p.stderr
