"""A trail that cannot be quietly rewritten (issue 15): anchors in signed notes, signed
checkpoints, the station's witness and backups; triggers noticed and restored; sealed facts; and
the tamper drills, each caught by `nursestation check`."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from example_runs import EXAMPLE_NAMES
from sqlalchemy import select
from support import PASSWORD
from trail_support import Raw

from nursestation.app import access, notes, patients, sessions, trail
from nursestation.app.checks import run_checks
from nursestation.app.context import AppContext
from nursestation.db.audit import ChainHead, audit_fields, row_hash
from nursestation.db.migrate import HEAD_REVISION
from nursestation.db.models import AuditCheckpoint, AuditEvent, NoteDocument
from nursestation.db.witness import WITNESS_FILE
from nursestation.report.anchor import audit_head_of


def _check(ctx: AppContext) -> tuple[int, list[str]]:
    out = io.StringIO()
    rc = run_checks(ctx.config, out, headless=True)
    return rc, out.getvalue().splitlines()


def _failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def _signed(ctx: AppContext, people: dict[str, Any], infusing: int, clock: Any) -> int:
    clock.advance(minutes=40)
    sessions.stop_infusion(ctx, people["nurse"], infusing, "completed")
    return notes.sign_note(ctx, people["nurse"], infusing, PASSWORD).note_id


def _recompute_chain(ctx: AppContext, raw: Raw) -> None:
    """What an attacker with the file does after editing rows: every hash recomputed in order."""
    with ctx.read_tx() as s:
        rows = list(s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        prev, fixed = "0" * 64, []
        for ev in rows:
            h = row_hash(prev, audit_fields(ev))
            fixed.append((prev, h, ev.id))
            prev = h
    raw.unprotect("audit_events")
    raw.run(*(f"UPDATE audit_events SET prev_hash = '{p}', hash = '{h}' WHERE id = {i}"
              for p, h, i in fixed))  # fmt: skip
    raw.protect("audit_events")


# ---------------------------------------------------------------- healthy


def test_a_healthy_station_with_a_signed_note_passes(ctx, people, infusing, clock) -> None:
    note_id = _signed(ctx, people, infusing, clock)
    with ctx.read_tx() as s:
        doc = s.execute(select(NoteDocument).where(NoteDocument.note_id == note_id)).scalar_one()
        head = ChainHead.parse(audit_head_of(bytes(doc.pdf)))
        stored = s.execute(select(AuditEvent.hash).where(AuditEvent.id == head.id)).scalar_one()
    # The head inside the signed bytes is a real row of the chain, before the note.sign row.
    assert head is not None and stored == head.hash
    rc, lines = _check(ctx)
    assert rc == 0, _failures(lines)
    assert any(x.startswith("PASS trail anchors") and "1 signed notes" in x for x in lines)
    assert any(x.startswith("PASS sealed facts") for x in lines)


def test_changes_through_the_app_keep_the_seals(ctx, people, checked_in) -> None:
    patients.update_weight(ctx, people["nurse"], "K-1001", 71.5)
    from nursestation.app import users

    users.set_roles(ctx, people["admin"], "rn.ana", {"nurse", "charge_nurse"})
    rc, lines = _check(ctx)
    assert rc == 0, _failures(lines)


# ---------------------------------------------------------------- the tamper drills


def test_drill_rewrite_and_recompute_the_chain_is_caught_by_the_note_anchor(
    ctx, people, infusing, clock
) -> None:
    _signed(ctx, people, infusing, clock)
    raw = Raw(ctx)
    # Rewrite who recorded an early row, then recompute every hash so the chain itself is whole.
    raw.unprotect("audit_events")
    raw.run("UPDATE audit_events SET username = 'someone.else' WHERE id = 3")
    raw.protect("audit_events")
    _recompute_chain(ctx, raw)
    rc, lines = _check(ctx)
    assert rc == 1
    assert any(x.startswith("PASS audit trail: hash chain intact") for x in lines)  # recomputed
    bad = _failures(lines)
    assert any(
        "FAIL trail anchors: note" in x and "different hash" in x and "rewritten" in x for x in bad
    ), bad


def test_drill_truncating_the_newest_rows_is_caught_by_the_witness(ctx, people, checked_in) -> None:
    patients.update_weight(ctx, people["nurse"], "K-1001", 72)
    trail.update_witness(ctx.config, ctx.engine)
    raw = Raw(ctx)
    newest = raw.one("SELECT max(id) FROM audit_events")
    raw.unprotect("audit_events")
    raw.run(f"DELETE FROM audit_events WHERE id > {newest - 2}")
    raw.protect("audit_events")
    rc, lines = _check(ctx)
    assert rc == 1
    assert any(x.startswith("PASS audit trail: hash chain intact") for x in lines)
    assert any(
        "this station's witness records row" in x and "newest rows were removed" in x
        for x in _failures(lines)
    ), lines
    # The witness never moves back to the shorter chain (the evidence stays).
    assert trail.update_witness(ctx.config, ctx.engine).id == newest


def test_drill_truncation_with_the_witness_deleted_is_caught_by_a_backup(
    ctx, people, checked_in
) -> None:
    from nursestation.app.backup import make_backup

    patients.update_weight(ctx, people["nurse"], "K-1001", 72)
    make_backup(ctx.config, keep=3)
    (ctx.config.data_dir / WITNESS_FILE).unlink()
    raw = Raw(ctx)
    raw.unprotect("audit_events")
    raw.run("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)")
    rc, lines = _check(ctx)
    assert rc == 1
    bad = _failures(lines)
    assert any("FAIL trail anchors: backup nursestation-" in x and "removed" in x for x in bad)
    # Left switched off: noticed too.
    assert any(x.startswith("FAIL protective triggers: trg_audit_events_") for x in bad)


def test_drill_dropped_trigger_is_noticed_and_restored_at_start_up(ctx, people, station) -> None:
    raw = Raw(ctx)
    name = "trg_vital_readings_append_only" if raw.pg else "trg_vital_readings_no_update"
    state = "disabled" if raw.pg else "missing"
    if raw.pg:
        raw.run(f"ALTER TABLE vital_readings DISABLE TRIGGER {name}")
    else:
        raw.run(f"DROP TRIGGER {name}")
    rc, lines = _check(ctx)
    assert rc == 1
    assert f"FAIL protective triggers: {name} {state}" in "\n".join(lines)
    again = AppContext.open(station)  # a start-up
    try:
        rc, lines = _check(again)
        with again.read_tx() as s:
            restored = s.execute(
                select(AuditEvent.after).where(AuditEvent.action == "trail.triggers_restored")
            ).scalar_one()
    finally:
        again.close()
    assert rc == 0, _failures(lines)
    assert restored == {"triggers": {name: state}}
    assert any("PASS protective triggers" in x and "last restored at start-up" in x for x in lines)


def test_drill_edited_allergy_is_caught_by_its_seal(ctx, people) -> None:
    from datetime import date

    patients.register_patient(
        ctx, people["nurse"], mrn="K-2002", name="Roe, Rita", dob=date(1979, 1, 9),
        weight_kg=64, sex="female", reproductive_potential=False, allergies=["penicillin"],
    )  # fmt: skip
    assert _check(ctx)[0] == 0
    Raw(ctx).run("UPDATE patients SET allergies = '[]' WHERE mrn = 'K-2002'")
    rc, lines = _check(ctx)
    assert rc == 1
    assert any(
        x.startswith("FAIL sealed facts: patients row") and "changed outside the app" in x
        for x in lines
    ), lines


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE infusion_sessions SET total_mg = 70 WHERE id = 1",  # a dose doubled
        "INSERT INTO user_roles (user_id, role) VALUES (1, 'administrator')",  # a role granted
        "UPDATE users SET password_hash = 'x' WHERE username = 'rn.ana'",
    ],
)
def test_drill_dose_and_roles_are_sealed_too(ctx, people, checked_in, sql: str) -> None:
    Raw(ctx).run(sql)
    rc, lines = _check(ctx)
    assert rc == 1 and any(x.startswith("FAIL sealed facts") for x in lines), lines


# ---------------------------------------------------------------- signed checkpoints


def test_sign_in_signs_a_checkpoint_once_per_interval(ctx, people, clock) -> None:
    def count() -> int:
        with ctx.read_tx() as s:
            return len(list(s.execute(select(AuditCheckpoint.id)).scalars()))

    interval = float(ctx.settings.get(trail.INTERVAL_KEY))
    before = count()
    access.sign_in(ctx, "rn.ana", PASSWORD)
    assert count() == before + 1
    clock.advance(minutes=interval - 1)  # just inside the interval: none
    access.sign_in(ctx, "rn.ana", PASSWORD)
    assert count() == before + 1
    clock.advance(minutes=1)  # the interval has passed: one more
    access.sign_in(ctx, "cn.ben", PASSWORD)
    assert count() == before + 2
    access.sign_in(ctx, "ad.dana", PASSWORD)  # no signing key: none, and no error
    rc, lines = _check(ctx)
    assert rc == 0, _failures(lines)
    assert any("2 signed checkpoints" in x for x in lines)


def test_a_forged_checkpoint_is_caught(ctx, people) -> None:
    trail.sign_checkpoint(ctx, people["nurse"], PASSWORD, force=True)
    raw = Raw(ctx)
    raw.unprotect("audit_checkpoints")
    raw.run("UPDATE audit_checkpoints SET audit_id = audit_id - 1")
    raw.protect("audit_checkpoints")
    rc, lines = _check(ctx)
    assert rc == 1
    assert any("signature does not verify against the clinic CA" in x for x in lines), lines


def test_a_checkpoint_is_not_signed_over_a_broken_chain(ctx, people) -> None:
    raw = Raw(ctx)
    raw.unprotect("audit_events")
    raw.run("UPDATE audit_events SET station = 'elsewhere' WHERE id = 2")
    assert trail.sign_checkpoint(ctx, people["nurse"], PASSWORD, force=True) is False
    with ctx.read_tx() as s:
        refused = s.execute(
            select(AuditEvent.after).where(AuditEvent.action == "trail.checkpoint_refused")
        ).scalar_one()
    assert "audit row 2 was altered" in refused["problem"]


def test_truncation_back_past_a_checkpoint_is_caught(ctx, people, checked_in) -> None:
    trail.sign_checkpoint(ctx, people["nurse"], PASSWORD, force=True)
    (ctx.config.data_dir / WITNESS_FILE).unlink()
    raw = Raw(ctx)
    raw.unprotect("audit_events")
    raw.unprotect("audit_checkpoints")
    cp = raw.one("SELECT audit_id FROM audit_checkpoints")
    raw.run(f"DELETE FROM audit_events WHERE id >= {cp}")
    raw.protect("audit_events")
    raw.protect("audit_checkpoints")
    rc, lines = _check(ctx)
    assert rc == 1
    assert any("FAIL trail anchors: checkpoint" in x and "removed" in x for x in lines), lines


def test_witness_file_is_private(ctx, people) -> None:
    import os
    import stat

    trail.update_witness(ctx.config, ctx.engine)
    path = ctx.config.data_dir / WITNESS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    key = ctx.engine.url.render_as_string(hide_password=True)
    with ctx.read_tx() as s:
        newest = s.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc())).first()[0]
    assert ChainHead.parse(data["databases"][key]["head"]).id == newest
    assert trail.read_witness(ctx.config, ctx.engine) == ChainHead.parse(
        data["databases"][key]["head"]
    )


def test_check_reports_open_file_modes(ctx, people) -> None:
    import os

    db = ctx.config.sqlite_path
    if db is None:  # the PostgreSQL server keeps its own files; ran in the SQLite pass
        pytest.skip("about the SQLite file's mode")
    os.chmod(db, 0o644)
    rc, lines = _check(ctx)
    assert rc == 1
    assert any(x.startswith("FAIL file modes") and f"{db} 0644" in x for x in lines), lines
    os.chmod(db, 0o600)
    assert any(x.startswith("PASS file modes") for x in _check(ctx)[1])


def test_check_says_what_it_sees_of_encryption_at_rest(ctx) -> None:
    _rc, lines = _check(ctx)
    line = next(x for x in lines if " encryption at rest: " in x)
    # This machine has no dm-crypt: a warning that names what it looked at, not a failure.
    assert line.startswith(("WARN", "PASS"))
    assert "dm-crypt" in line or "cannot tell" in line


def test_a_new_schema_revision_reseals_once_and_says_how_many(ctx, people, station) -> None:
    """A migration may fill or move sealed columns: the next start reseals what changed (once,
    counted in the trail); an edit between two starts of the same revision stays a failure."""
    # What a migration might do to a sealed column, at an unchanged revision first.
    Raw(ctx).run("UPDATE users SET credentials = 'RN, BSN' WHERE username = 'rn.ana'")
    AppContext.open(station).close()
    assert _check(ctx)[0] == 1  # same revision: not resealed
    with ctx.tx() as s:  # the baseline of another revision, as an older station would have left
        from nursestation.db.audit import append_audit

        append_audit(s, at=ctx.now(), station="old", action="fact.baseline",
                     after={"rows_sealed": 0, "revision": "0002_perf_data"})  # fmt: skip
    AppContext.open(station).close()
    rc, lines = _check(ctx)
    assert rc == 0, _failures(lines)
    with ctx.read_tx() as s:
        last = s.execute(
            select(AuditEvent.after)
            .where(AuditEvent.action == "fact.baseline")
            .order_by(AuditEvent.id.desc())
        ).first()[0]
    assert last == {"rows_sealed": 1, "revision": HEAD_REVISION}  # the newest, whichever it is


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_leaves_a_trail_that_verifies(name: str, example_runs: Any, tmp_path) -> None:
    """Every use case the examples drive (IV and Spravato sessions, corrections, overrides,
    approvals, addenda...) seals what it changes: no false alarm from `check`'s trail part."""
    from pg_support import station_config

    from nursestation.db.engine import make_engine

    config = station_config(example_runs.copy_data(name, tmp_path / "data"))
    engine = make_engine(config.db_url)
    try:
        report = trail.verify_trail(config, engine)
    finally:
        engine.dispose()
    assert report.ok, [line for line in report.lines if not line[0]]
    assert any("signed notes" in detail for _ok, _name, detail in report.lines)


def test_check_that_migrates_reseals_like_a_start_up(ctx, people, station) -> None:
    """`check` on a database one revision behind migrates it; what the migration changed in
    sealed columns is sealed then, not reported as tampering."""
    from alembic import command

    from nursestation.app.pki import ca_certificate_pem
    from nursestation.db.migrate import alembic_config

    # Before the clinic CA was kept in the database (0003_identity) a station kept it in its
    # pki folder: as a station of the revision below the head would have it.
    station.pki_dir.mkdir(mode=0o700)
    (station.pki_dir / "ca.pem").write_bytes(ca_certificate_pem(ctx))
    ctx.close()
    from alembic.script import ScriptDirectory

    cfg = alembic_config(station.db_url)
    before = ScriptDirectory.from_config(cfg).get_revision(HEAD_REVISION).down_revision
    command.downgrade(cfg, str(before))  # the head revision's own downgrade
    # A station at that revision started (its baseline), then the "migration" fills a column.
    from nursestation.db.audit import append_audit
    from nursestation.db.engine import make_engine, make_session_factory

    engine = make_engine(station.db_url)
    try:
        with make_session_factory(engine).begin() as s:
            append_audit(s, at=ctx.now(), station="old", action="fact.baseline",
                         after={"rows_sealed": 0, "revision": str(before)})  # fmt: skip
    finally:
        engine.dispose()
    Raw(ctx).run("UPDATE users SET credentials = 'RN, BSN' WHERE username = 'rn.ana'")
    out = io.StringIO()
    rc = run_checks(station, out, headless=True)
    assert rc == 0, out.getvalue()
    assert f"(revision {HEAD_REVISION})" in out.getvalue()  # migrated to the newest
