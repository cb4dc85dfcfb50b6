"""Benchmark: export 1,000 signed notes (PDF + CSV + FHIR + manifest, every note verified) against
a plain file-copy baseline of the same PDF bytes, in the same run.

Run: .venv/bin/python bench/export.py [--sessions 1000] [--formats pdf,csv,fhir]

How the 1,000 notes are made (setup, not timed): examples/scenarios/signed_note.json runs once
through the scenario runner into a fresh data directory (session 1: note v1 signed by the nurse
and countersigned at discharge approval, v2 a signed addendum), and an administrator is added.
tests/export_support.Cloner then copies that session's stored rows into the same SQLite
database, in one transaction, for N-1 new patients (MRN K-B0001…, chairs 1-6, check-in shifted
by whole days over the month): the session, its pump events, vitals, PRN doses, discharge
approval, note rows, note_documents with the signed PDF bytes and SHA-256 unchanged, and the
signature rows. Every fourth copy keeps only v1 as signed (no approval, no addendum), so the
export holds a mix of 1- and 2-version sessions. `--sessions` counts note versions' sessions;
the total of note versions exported is printed.

Timed: `export_notes` for the whole month (reads, verifies each note's hash and every signature
against the clinic CA with pyHanko, writes PDFs, CSV, one validated FHIR Bundle per session,
manifest with SHA-256 of every file, renames into place, audits). Baseline: the same PDF byte
strings (already in memory) written to files in a fresh folder, no database, no verification.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from export_support import (  # noqa: E402 - tests/ on the path first
    ADMIN,
    ADMIN_PW,
    Cloner,
    Copy,
    signed_station,
)
from sqlalchemy import select  # noqa: E402

from nursestation.app.context import AppContext  # noqa: E402
from nursestation.app.export import ExportFilter, export_notes, parse_formats  # noqa: E402
from nursestation.app.users import authenticate  # noqa: E402
from nursestation.config import resolve_config  # noqa: E402
from nursestation.db.models import NoteDocument  # noqa: E402


def build(data_dir: Path, sessions: int) -> tuple[float, float]:
    """The signed-note scenario, then sessions-1 clones; returns (scenario s, clone s)."""
    t0 = time.perf_counter()
    signed_station(data_dir)
    t1 = time.perf_counter()
    ctx = AppContext.open(resolve_config(str(data_dir), None))
    try:
        copies = [
            Copy(
                mrn=f"K-B{i:04d}",
                name=f"Bench, Patient {i}",
                chair=str(i % 6 + 1),
                days=i % 27 - 1,  # 2026-03-01 .. 2026-03-27
                signed_only=i % 4 == 0,
            )
            for i in range(1, sessions)
        ]
        Cloner(ctx.engine).clone(copies)
    finally:
        ctx.close()
    return t1 - t0, time.perf_counter() - t1


def baseline(pdfs: list[bytes], out: Path) -> tuple[float, float]:
    """Write the same PDF byte strings to files: the floor for any export."""
    out.mkdir()
    t, c = time.perf_counter(), time.process_time()
    for i, data in enumerate(pdfs):
        (out / f"note_{i:05d}.pdf").write_bytes(data)
    return time.perf_counter() - t, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000, help="signed sessions to export")
    ap.add_argument("--formats", default="pdf,csv,fhir")
    args = ap.parse_args()
    formats = parse_formats(args.formats)
    with tempfile.TemporaryDirectory(prefix="nursestation-bench-export-") as tmp:
        root = Path(tmp)
        data = root / "data"
        t_scn, t_clone = build(data, args.sessions)
        print(f"setup: scenario {t_scn:.1f} s, {args.sessions - 1} clones {t_clone:.1f} s")
        ctx = AppContext.open(resolve_config(str(data), None))
        try:
            admin = authenticate(ctx, ADMIN, ADMIN_PW)
            flt = ExportFilter.from_strings("2026-03-01", "2026-03-31")
            t, c = time.perf_counter(), time.process_time()
            result = export_notes(ctx, admin, flt, root / "export", formats)
            t_export, c_export = time.perf_counter() - t, time.process_time() - c
            ids = [n.document_id for n in result.exported]
            with ctx.tx() as s:
                pdfs = [
                    bytes(p)
                    for p in s.execute(select(NoteDocument.pdf).where(NoteDocument.id.in_(ids)))
                    .scalars()
                ]  # fmt: skip
        finally:
            ctx.close()
        t_copy, c_copy = baseline(pdfs, root / "baseline")
        size = sum(len(p) for p in pdfs)
        n = len(result.exported)
        assert result.ok and result.sessions == args.sessions, result.summary()
        assert n == len(pdfs)
        export_bytes = sum(p.stat().st_size for p in (root / "export").rglob("*") if p.is_file())
        print(result.summary())
        print(f"sessions {result.sessions}, note versions {n}, PDF bytes {size / 1e6:.1f} MB, "
              f"export on disk {export_bytes / 1e6:.1f} MB, formats {','.join(formats)}")  # fmt: skip
        # Wall and CPU time: on a shared machine the wall clock includes waiting for a CPU.
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"export (verify + write all formats): wall {t_export:8.2f} s "
              f"{1000 * t_export / n:7.1f} ms/note   cpu {c_export:8.2f} s "
              f"{1000 * c_export / n:7.1f} ms/note")  # fmt: skip
        print(f"baseline (copy the same PDF bytes):  wall {t_copy:8.2f} s "
              f"{1000 * t_copy / n:7.2f} ms/note   cpu {c_copy:8.2f} s "
              f"{1000 * c_copy / n:7.2f} ms/note")  # fmt: skip
        print(
            f"ratio export / baseline: wall {t_export / t_copy:.0f}x, "
            f"cpu {c_export / max(c_copy, 1e-9):.0f}x"
        )
        shutil.rmtree(root / "export", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
