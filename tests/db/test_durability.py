"""Killing the process with SIGKILL while it writes loses nothing committed and corrupts nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pg_support import station_config
from sqlalchemy import func, select

from nursestation.db.audit import verify_chain
from nursestation.db.engine import make_engine, make_session_factory
from nursestation.db.models import AuditEvent, Patient

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, date, datetime
    from nursestation.db.audit import append_audit
    from nursestation.db.engine import make_engine, make_session_factory
    from nursestation.db.migrate import upgrade_to_head
    from nursestation.db.models import Patient

    eng = make_engine(sys.argv[1])
    upgrade_to_head(eng)
    factory = make_session_factory(eng)
    i = 0
    while True:
        i += 1
        now = datetime.now(UTC)
        with factory.begin() as s:
            s.add(Patient(mrn=f"M{i}", name="Doe, J", dob=date(1980, 1, 1), weight_kg=70,
                          weight_date=date(2026, 1, 1), allergies=[], created_at=now))
            append_audit(s, at=now, station="t", action="patient.create", entity_id=i)
        print(i, flush=True)  # reported only after the commit returned
    """
)


def test_sigkill_mid_write_keeps_every_committed_row(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    url = station_config(tmp_path / "k").db_url  # SQLite in it, or a PostgreSQL database
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = 0
    deadline = time.monotonic() + 60
    while last < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        last = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last >= 150, "writer did not get going"

    eng = make_engine(url)
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    with make_session_factory(eng)() as s:
        patients = s.execute(select(func.count(Patient.id))).scalar_one()
        audits = s.execute(select(func.count(AuditEvent.id))).scalar_one()
        assert patients >= last  # every commit the writer saw return is there
        assert audits == patients  # and no transaction is half applied
        assert verify_chain(s).ok
    eng.dispose()
