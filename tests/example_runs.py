"""Each example scenario run once per test session, and its golden outputs.

`ExampleRuns` (the session-scoped fixture `example_runs` in tests/conftest.py) runs
examples/scenarios/<name>.json the first time a test asks for it and keeps the result: exit code,
the JSON lines, the data directory and the --out folder. Tests must treat that data directory as
read-only; `copy_data(name, dst)` gives a private copy to write into.

`golden_outputs(run, workdir)` renders what tests/golden/<name>/ holds, through the real use
cases on a copy of the scenario's data directory, at the scenario's last step time:

- note.txt — for each session (by id): the text (pypdf) of every signed note version's latest
  document; a session without a signed note gets the note as it would be signed now
  (`notes.preview_text`).
- export.csv — the administrator export's sessions.csv over all dates (`export.export_notes`).
- export.fhir.json — that export's FHIR Bundles, one JSON array in file-name order.

What differs between two runs of the same scenario is masked, and only that: a fresh clinic CA
and fresh signing keys per run change every signed PDF's bytes (its SHA-256, SHA-1 and size) and
the UUIDv5 namespace of the FHIR ids (derived from the CA), and the Bundle's `timestamp` is the
wall clock. UUIDs become `uuid-1`, `uuid-2`… in order of first appearance, so references still
show which resource they point at.

Regenerate after an intended change: `UPDATE_GOLDEN=1 pytest tests/test_golden.py`, then read
the diff (`git diff tests/golden`) before committing it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples" / "scenarios"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
EXAMPLE_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")))
GOLDEN_FILES: tuple[str, ...] = ("note.txt", "export.csv", "export.fhir.json")

_ADMIN = ("golden.admin", "Golden Admin", "Golden-admin-pass-2026")
_VIEWER = ("golden.viewer", "Golden Viewer, RN", "Golden-viewer-pass-2026")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class ExampleRun:
    """One example scenario as run once: treat `data_dir` and `out_dir` as read-only."""

    name: str
    spec: dict[str, Any]
    rc: int
    lines: tuple[dict[str, Any], ...]
    data_dir: Path
    out_dir: Path

    @property
    def end(self) -> datetime:
        """The simulated time of the scenario's last timed step (the runner's clock at the end)."""
        from nursestation.scenario.runner import parse_offset

        start = parse_offset(self.spec["start"], datetime.now().astimezone())
        when = start
        for st in self.spec["steps"]:
            if "t" in st:
                when = max(when, parse_offset(st["t"], start))
        return when


class ExampleRuns:
    """Lazy cache: each example scenario runs at most once per test session."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._runs: dict[str, ExampleRun] = {}
        self._golden: dict[str, dict[str, str]] = {}

    def __call__(self, name: str) -> ExampleRun:
        """The run of examples/scenarios/<name>.json (run now if not yet)."""
        if name not in self._runs:
            self._runs[name] = _run(name, self._base / name)
        return self._runs[name]

    def copy_data(self, name: str, dst: Path) -> Path:
        """A private copy of the scenario's data directory, free to change (with the engine
        switch on, with a copy of its PostgreSQL database: open it with
        `pg_support.station_config(dst)`)."""
        _copy_dir(self(name).data_dir, dst)
        return dst

    def golden(self, name: str) -> dict[str, str]:
        """The golden outputs of the scenario (computed once, on a copy of its data)."""
        if name not in self._golden:
            work = self._base / f"{name}-golden"
            self._golden[name] = golden_outputs(self(name), work)
        return self._golden[name]


def _copy_dir(src: Path, dst: Path) -> None:
    """Copy a data directory, and on PostgreSQL its database (tests/pg_support.py)."""
    import pg_support

    if pg_support.on_postgresql():
        pg_support.databases().copy_dir(src, dst)
    else:
        shutil.copytree(src, dst)


def _run(name: str, where: Path) -> ExampleRun:
    from pg_support import station_config

    from nursestation.scenario import run_scenario

    spec = json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    out = io.StringIO()
    data_dir, out_dir = where / "data", where / "notes"
    data_dir.mkdir(parents=True)
    db_url = station_config(data_dir).db_url
    rc = run_scenario(spec, out=out, out_dir=out_dir, data_dir=str(data_dir), db_url=db_url)
    lines = tuple(json.loads(line) for line in out.getvalue().splitlines())
    return ExampleRun(name, spec, rc, lines, data_dir, out_dir)


# ---------------------------------------------------------------- golden outputs


def golden_outputs(run: ExampleRun, workdir: Path) -> dict[str, str]:
    """note.txt, export.csv and export.fhir.json of one scenario run (see the module doc)."""
    from io import BytesIO

    from pg_support import station_config
    from pypdf import PdfReader
    from sqlalchemy import select

    from nursestation.app import export, notes, users
    from nursestation.app.context import AppContext
    from nursestation.clinic import load_clinic_settings
    from nursestation.clock import FakeClock
    from nursestation.db.models import InfusionSession, User

    data = workdir / "data"
    _copy_dir(run.data_dir, data)
    config = station_config(data)
    settings = load_clinic_settings(config.clinic_file)
    if run.spec.get("clinic"):
        settings = settings.with_overrides(run.spec["clinic"], "scenario 'clinic'")
    ctx = AppContext.open(config, clock=FakeClock(run.end), settings=settings)
    try:
        actors = {}
        for (username, full, password), role in ((_ADMIN, "administrator"),
                                                  (_VIEWER, "charge_nurse")):  # fmt: skip
            users.provision_user(
                ctx, username=username, full_name=full, roles={role}, password=password
            )
            actors[role] = users.authenticate(ctx, username, password)
        viewer, admin = actors["charge_nurse"], actors["administrator"]
        with ctx.tx() as s:
            sessions = s.execute(
                select(InfusionSession.id, User.username)
                .join(User, User.id == InfusionSession.checked_in_by)
                .order_by(InfusionSession.id)
            ).all()
        passwords = {u["username"]: u["password"] for u in run.spec.get("users", [])}
        parts: list[str] = []
        for sid, nurse in sessions:
            versions = notes.list_notes(ctx, viewer, sid)
            if not versions:
                # previewed by the nurse who checked the patient in: the note names them
                actor = users.authenticate(ctx, nurse, passwords[nurse])
                parts.append(f"=== session {sid}: unsigned, as it would be signed now ===\n"
                             + notes.preview_text(ctx, actor, sid))  # fmt: skip
            for info in versions:
                pdf = notes.note_pdf(ctx, viewer, info.note_id)
                pages = PdfReader(BytesIO(pdf)).pages
                text = "\n\n".join(f"— page {i} of {len(pages)} —\n{p.extract_text()}"
                                   for i, p in enumerate(pages, start=1))  # fmt: skip
                parts.append(f"=== session {sid}: note {info.label} v{info.version} "
                             f"({info.stage}) ===\n{text}")  # fmt: skip
        note_txt = _text("\n\n".join(parts))
        dest = workdir / "export"
        flt = export.ExportFilter(date(2000, 1, 1), date(2099, 12, 31))
        export.export_notes(ctx, admin, flt, dest, ("csv", "fhir"))
    finally:
        ctx.close()
    csv_text = (dest / export.CSV_FILE).read_text(encoding="utf-8-sig")
    bundles = [json.loads(p.read_text(encoding="utf-8"))
               for p in sorted((dest / export.FHIR_DIR).glob("*.json"))]  # fmt: skip
    return {
        "note.txt": note_txt,
        "export.csv": _mask_csv(csv_text),
        "export.fhir.json": _mask_fhir(bundles),
    }


def _text(text: str) -> str:
    """One trailing newline, no trailing blanks: stable files that diff well."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _mask_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if rows:
        col = rows[0].index("note_sha256")
        for r in rows[1:]:
            r[col] = "<sha256 of the signed PDF>"
    out = io.StringIO()
    csv.writer(out, dialect="excel", lineterminator="\n").writerows(rows)
    return out.getvalue()


def _mask_fhir(bundles: list[Any]) -> str:
    for b in bundles:
        b["timestamp"] = "<export time>"
        for e in b.get("entry", []):
            r = e["resource"]
            if r.get("resourceType") != "DocumentReference":
                continue
            for ident in r.get("identifier", []):
                if ident.get("system", "").endswith(":note-sha256"):
                    ident["value"] = "<sha256 of the signed PDF>"
            for c in r.get("content", []):
                c["attachment"]["hash"] = "<sha1 of the signed PDF>"
                c["attachment"]["size"] = "<size of the signed PDF>"
    text = json.dumps(bundles, indent=2, ensure_ascii=False)
    seen: dict[str, str] = {}

    def stable(m: re.Match[str]) -> str:
        return seen.setdefault(m[0], f"uuid-{len(seen) + 1}")

    return _UUID.sub(stable, text) + "\n"
