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

Timed, alternately in `--rounds` rounds: `export_notes` for the whole month (reads, checks each
note's stored hash and every signature against the clinic CA with pyHanko, writes PDFs, CSV, one
FHIR Bundle per session, a manifest with the SHA-256 of every file, renames into place, audits;
a progress callback like the export dialog's), and the fair baseline: the same PDF byte strings
(already in memory), each validated with pyHanko against the same CA (report.verify.verify_pdf:
parse + every signature) and written to a file in a fresh folder; no database, CSV, FHIR or
manifest. A plain copy is printed too, as the floor. The ratio is of the medians of process CPU
time (the machine is shared: wall time includes waiting for a CPU); wall ratios are printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
from nursestation.app.demo import BENCH_CA_PASSPHRASE  # noqa: E402
from nursestation.app.export import ExportFilter, export_notes, parse_formats  # noqa: E402
from nursestation.app.notes import _ca_pem  # noqa: E402
from nursestation.app.users import authenticate  # noqa: E402
from nursestation.config import resolve_config  # noqa: E402
from nursestation.db.models import NoteDocument  # noqa: E402


def build(data_dir: Path, sessions: int) -> tuple[float, float]:
    """The signed-note scenario, then sessions-1 clones; returns (scenario s, clone s)."""
    t0 = time.perf_counter()
    signed_station(data_dir)
    t1 = time.perf_counter()
    ctx = AppContext.open(resolve_config(str(data_dir), None), ca_passphrase=BENCH_CA_PASSPHRASE)
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


def copy_only(pdfs: list[bytes], out: Path) -> tuple[float, float]:
    """Write the same PDF byte strings to files: the floor for any export."""
    out.mkdir()
    t, c = time.perf_counter(), time.process_time()
    for i, data in enumerate(pdfs):
        (out / f"note_{i:05d}.pdf").write_bytes(data)
    return time.perf_counter() - t, time.process_time() - c


def fair_baseline(pdfs: list[bytes], ca: bytes, out: Path) -> tuple[float, float]:
    """Validate every signature of each PDF against the CA with pyHanko, then write it: what
    any export that checks what it hands out must do at least."""
    from nursestation.report.verify import verify_pdf

    out.mkdir()
    t, c = time.perf_counter(), time.process_time()
    for i, data in enumerate(pdfs):
        if not verify_pdf(data, ca).ok:
            raise SystemExit(f"baseline: PDF {i} does not verify")
        (out / f"note_{i:05d}.pdf").write_bytes(data)
    return time.perf_counter() - t, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000, help="signed sessions to export")
    ap.add_argument("--formats", default="pdf,csv,fhir")
    ap.add_argument("--rounds", type=int, default=2, help="alternating export/baseline rounds")
    args = ap.parse_args()
    formats = parse_formats(args.formats)
    with tempfile.TemporaryDirectory(prefix="nursestation-bench-export-") as tmp:
        root = Path(tmp)
        data = root / "data"
        t_scn, t_clone = build(data, args.sessions)
        print(f"setup: scenario {t_scn:.1f} s, {args.sessions - 1} clones {t_clone:.1f} s")
        ctx = AppContext.open(resolve_config(str(data), None), ca_passphrase=BENCH_CA_PASSPHRASE)
        ticks: list[int] = []

        def progress(done: int, total: int) -> bool:
            ticks.append(done)
            return True

        exports: list[tuple[float, float]] = []
        fairs: list[tuple[float, float]] = []
        try:
            admin = authenticate(ctx, ADMIN, ADMIN_PW)
            ca = _ca_pem(ctx)
            flt = ExportFilter.from_strings("2026-03-01", "2026-03-31")
            pdfs: list[bytes] = []
            for r in range(args.rounds):
                ticks.clear()
                t, c = time.perf_counter(), time.process_time()
                result = export_notes(ctx, admin, flt, root / f"export{r}", formats,
                                      progress=progress)  # fmt: skip
                exports.append((time.perf_counter() - t, time.process_time() - c))
                assert result.ok and result.sessions == args.sessions, result.summary()
                assert ticks == list(range(result.sessions + 1)), "progress not reported"
                if not pdfs:
                    ids = [n.document_id for n in result.exported]
                    with ctx.tx() as s:
                        by_id = dict(s.execute(
                            select(NoteDocument.id, NoteDocument.pdf).where(NoteDocument.id.in_(ids))
                        ).all())  # fmt: skip
                    pdfs = [bytes(by_id[i]) for i in ids]
                fairs.append(fair_baseline(pdfs, ca, root / f"fair{r}"))
        finally:
            ctx.close()
        t_copy, c_copy = copy_only(pdfs, root / "copy")
        size = sum(len(p) for p in pdfs)
        n = len(result.exported)
        assert n == len(pdfs)
        export_bytes = sum(p.stat().st_size for p in (root / "export0").rglob("*") if p.is_file())
        print(result.summary())
        print(f"sessions {result.sessions}, note versions {n}, PDF bytes {size / 1e6:.1f} MB, "
              f"export on disk {export_bytes / 1e6:.1f} MB, formats {','.join(formats)}")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for label, runs in (("export (verify + all formats)", exports),
                            ("fair baseline (pyHanko + copy)", fairs)):  # fmt: skip
            for i, (w, c) in enumerate(runs):
                print(f"{label:31s} round {i}: wall {w:7.2f} s {1000 * w / n:6.1f} ms/note   "
                      f"cpu {c:7.2f} s {1000 * c / n:6.1f} ms/note")  # fmt: skip
        print(f"{'plain copy (the floor)':31s}        : wall {t_copy:7.2f} s   cpu {c_copy:7.2f} s")
        ew, ec = (statistics.median(x) for x in zip(*exports, strict=True))
        fw, fc = (statistics.median(x) for x in zip(*fairs, strict=True))
        print(f"export: {n} note versions of {result.sessions} sessions, median cpu {ec:.2f} s "
              f"vs fair baseline {fc:.2f} s (wall {ew:.2f} vs {fw:.2f} s, ratio {ew / fw:.2f}), "
              f"ratio {ec / fc:.2f} (goal 1.3)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
