"""Signed notes for the export tests and bench/export.py.

`signed_station(dir)` runs examples/scenarios/signed_note.json into a data directory (one
session: v1 signed and countersigned at approval, v2 an addendum) and provisions an
administrator. `Cloner` then copies that session's stored rows (session, pump events, vitals,
PRN doses, approval, notes, note documents with their signed PDF bytes unchanged, signatures)
under new ids for new patients, with times shifted by whole days: many signed sessions without
running the slow signing path again.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, text

from nursestation.db.models import (
    DischargeApproval,
    InfusionEvent,
    InfusionSession,
    MedicationAdministration,
    Note,
    NoteDocument,
    NoteSignature,
    Patient,
    VitalReading,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "scenarios" / "signed_note.json"
ADMIN, ADMIN_PW = "ad.dana", "Admin-pass-2026"
NURSE, NURSE_PW = "rn.ana", "Ana-pass-2026"
CHARGE, CHARGE_PW = "cn.ben", "Ben-pass-2026"
SOURCE_SESSION = 1
SOURCE_MRN = "K-1001"
SESSION_DAY = date(2026, 3, 2)  # the scenario's check-in day (09:00 -05:00)


def signed_station(data_dir: Path, ran: Path | None = None) -> Path:
    """Run the signed-note scenario into `data_dir` (or copy `ran`, the data directory of a run
    of it already made: the tests' example_runs) and add an administrator; returns it."""
    from pg_support import station_config

    from nursestation.app import users
    from nursestation.app.context import AppContext
    from nursestation.scenario.runner import run_scenario

    if ran is not None:
        copy_station(ran, data_dir)
    else:
        spec = json.loads(SCENARIO.read_text(encoding="utf-8"))
        out = io.StringIO()
        url = station_config(data_dir).db_url
        rc = run_scenario(spec, out=out, data_dir=str(data_dir), db_url=url)
        assert rc == 0, out.getvalue()
    ctx = AppContext.open(station_config(data_dir))
    try:
        users.provision_user(
            ctx, username=ADMIN, full_name="Dana Admin", roles={"administrator"}, password=ADMIN_PW
        )
    finally:
        ctx.close()
    return data_dir


_TEMPLATE: dict[str, Path] = {}


def template_dir(base: Path, ran: Path | None = None) -> Path:
    """`signed_station` made once per test process (signing is slow), under `base`."""
    if "dir" not in _TEMPLATE:
        _TEMPLATE["dir"] = signed_station(base / "data", ran)
    return _TEMPLATE["dir"]


def copy_station(src: Path, dst: Path) -> Path:
    """A private copy of a data directory (database and clinic PKI; with the engine switch on,
    its PostgreSQL database: open it with `pg_support.station_config(dst)`)."""
    import pg_support

    if pg_support.on_postgresql():
        pg_support.databases().copy_dir(src, dst)
    else:
        shutil.copytree(src, dst)
    return dst


@dataclass(frozen=True)
class Copy:
    """One cloned session: new patient, chair and day; `signed_only` keeps just v1 as signed."""

    mrn: str
    name: str
    chair: str = "2"
    days: int = 1
    signed_only: bool = False


# table -> columns holding ids of rows that are cloned too (remapped by that table's offset)
_CLONED = (
    InfusionSession,
    InfusionEvent,
    VitalReading,
    MedicationAdministration,
    DischargeApproval,
    Note,
    NoteDocument,
    NoteSignature,
)
_REFS: dict[str, dict[str, str]] = {
    "infusion_sessions": {"patient_id": "patients"},
    "infusion_events": {"session_id": "infusion_sessions"},
    "vital_readings": {"session_id": "infusion_sessions", "supersedes_id": "vital_readings"},
    "medication_administrations": {
        "session_id": "infusion_sessions",
        "triggering_vital_id": "vital_readings",
        "supersedes_id": "medication_administrations",
    },
    "discharge_approvals": {"session_id": "infusion_sessions"},
    "notes": {"session_id": "infusion_sessions", "supersedes_id": "notes"},
    "note_documents": {"note_id": "notes"},
    "note_signatures": {"document_id": "note_documents"},
}


class Cloner:
    """Copies one stored session many times with explicit ids: copy k of a row with id i gets
    i + k * span(table), so copies never collide and references map the same way."""

    def __init__(self, engine: Engine, session_id: int = SOURCE_SESSION) -> None:
        self.engine = engine
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.span: dict[str, int] = {}
        with engine.connect() as conn:
            sess = conn.execute(
                select(InfusionSession.__table__).where(InfusionSession.id == session_id)
            ).mappings().one()  # fmt: skip
            patient = conn.execute(
                select(Patient.__table__).where(Patient.id == sess["patient_id"])
            ).mappings().one()  # fmt: skip
            self.rows["patients"] = [dict(patient)]
            self.rows["infusion_sessions"] = [dict(sess)]
            for model in _CLONED[1:]:
                table: Table = model.__table__  # type: ignore[assignment]
                q = select(table)
                if "session_id" in table.c:
                    q = q.where(table.c.session_id == session_id)
                elif table.name == "note_documents":
                    q = q.where(table.c.note_id.in_(self._ids("notes")))
                elif table.name == "note_signatures":
                    q = q.where(table.c.document_id.in_(self._ids("note_documents")))
                self.rows[table.name] = [dict(r) for r in conn.execute(q).mappings()]
            for name in self.rows:
                table = Patient.__table__ if name == "patients" else _table(name)
                top = conn.execute(select(func.max(table.c.id))).scalar_one() or 0
                self.span[name] = int(top)
        self.next_k = 1

    def _ids(self, name: str) -> list[int]:
        return [r["id"] for r in self.rows[name]]

    def clone(self, copies: Sequence[Copy]) -> list[int]:
        """Insert the copies in one transaction; returns the new session ids."""
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in self.rows}
        out: list[int] = []
        for c in copies:
            k = self.next_k
            self.next_k += 1
            shift = timedelta(days=c.days)
            keep_notes = {
                r["id"] for r in self.rows["notes"] if not c.signed_only or r["version"] == 1
            }
            keep_docs = {
                r["id"] for r in self.rows["note_documents"]
                if r["note_id"] in keep_notes and (not c.signed_only or r["stage"] == "signed")
            }  # fmt: skip
            for name, rows in self.rows.items():
                if c.signed_only and name == "discharge_approvals":
                    continue
                for r in rows:
                    if name == "notes" and r["id"] not in keep_notes:
                        continue
                    if name == "note_documents" and r["id"] not in keep_docs:
                        continue
                    if name == "note_signatures" and r["document_id"] not in keep_docs:
                        continue
                    new = self._copy_row(name, r, k, shift)
                    if name == "patients":
                        new.update(mrn=c.mrn, name=c.name)
                    if name == "infusion_sessions":
                        new["chair"] = c.chair
                        if c.signed_only:
                            new.update(ended_at=None, end_reason=None)
                        out.append(new["id"])
                    batch[name].append(new)
        with self.engine.begin() as conn:
            for name in ("patients", *(m.__tablename__ for m in _CLONED)):
                if batch[name]:
                    table = Patient.__table__ if name == "patients" else _table(name)
                    conn.execute(insert(table), batch[name])
                    if conn.dialect.name == "postgresql":
                        # Explicit ids leave the id sequence behind (SQLite takes max(id) + 1):
                        # move it past them, as rows stored by the app would have.
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                f"(SELECT max(id) FROM {name}))"
                            )
                        )
        return out

    def _copy_row(self, name: str, r: dict[str, Any], k: int, shift: timedelta) -> dict[str, Any]:
        new = {key: (v + shift if isinstance(v, datetime) else v) for key, v in r.items()}
        new["id"] = r["id"] + k * self.span[name]
        for col, target in _REFS.get(name, {}).items():
            if new.get(col) is not None:
                new[col] = r[col] + k * self.span[target]
        return new


def _table(name: str) -> Table:
    for model in _CLONED:
        if model.__tablename__ == name:
            return model.__table__  # type: ignore[return-value]
    raise KeyError(name)
