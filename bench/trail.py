"""How long `check`'s trail verification and a verified backup take on a large station.

A 12-chair station with HOURS of 1 Hz monitor history (bench/history_data.py), plus AUDIT rows of
audit trail appended directly with correct chain hashes (a busy clinic writes roughly 1,000 audit
rows a day), and a few sealed rows changed through the app. Prints the database size, the time of
verify_trail (chain walk, anchors, triggers, seals), of `make_backup` (copy + verification), and
of one patient change with and without its seal (the per-commit cost of sealing).

    PYTHONPATH=. .venv/bin/python bench/trail.py --hours 8 --audit 300000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from history_data import build
from sqlalchemy import insert, select

from nursestation.app import patients, trail
from nursestation.app.backup import make_backup
from nursestation.db.audit import GENESIS, row_hash
from nursestation.db.models import AuditEvent


def add_audit_rows(ctx, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` rows of plausible audit history, chained after the current head."""
    with ctx.tx() as s:
        last = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        prev, at = last.hash or GENESIS, last.at
    batch = []
    for i in range(count):
        at = at + timedelta(seconds=30)
        fields = {
            "at": at.isoformat(), "user_id": 1, "username": "rn", "station": "bench",
            "action": "vitals.record", "entity_type": "vital", "entity_id": str(i),
            "before": None, "after": {"sbp": 120 + i % 30, "hr": 70},
        }  # fmt: skip
        h = row_hash(prev, fields)
        batch.append({**fields, "at": at, "prev_hash": prev, "hash": h})
        prev = h
        if len(batch) == 5000 or i == count - 1:
            with ctx.tx() as s:
                s.execute(insert(AuditEvent), batch)
            batch = []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8)
    ap.add_argument("--audit", type=int, default=300_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clinic = build(str(Path(tmp) / "data"), args.hours)
        ctx = clinic.ctx
        add_audit_rows(ctx, args.audit)
        db = ctx.config.sqlite_path
        assert db is not None
        print(f"database {os.path.getsize(db) / 1e6:.0f} MB, audit rows ~{args.audit}")
        t = time.perf_counter()
        report = trail.verify_trail(ctx.config, ctx.engine)
        print(f"verify_trail {time.perf_counter() - t:.2f} s ok={report.ok}")
        for _passed, name, detail in report.lines:
            print(f"  {name}: {detail}")
        result = make_backup(ctx.config, keep=2)
        print(f"make_backup {result.seconds:.2f} s (copy + integrity + chain + notes)")
        n = 50
        t = time.perf_counter()
        for i in range(n):
            patients.update_weight(ctx, clinic.nurse, "K-1", 70 + (i % 5) / 10)
        sealed = (time.perf_counter() - t) / n
        from nursestation.db import seals

        # The same change with the seal hook's work skipped (what it adds per commit).
        real = seals.seal_touched
        seals.seal_touched = lambda *a, **k: 0  # type: ignore[assignment]
        t = time.perf_counter()
        for i in range(n):
            patients.update_weight(ctx, clinic.nurse, "K-1", 71 + (i % 5) / 10)
        unsealed = (time.perf_counter() - t) / n
        seals.seal_touched = real
        print(f"patient weight change: {sealed * 1000:.1f} ms sealed, {unsealed * 1000:.1f} ms "
              "without the seal")  # fmt: skip
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
