"""A trail that cannot be quietly rewritten (issue 15).

The audit rows are hash-chained (db/audit.py), so an edit or a deleted row in the middle shows.
But anyone who can write the database file could rewrite rows *and recompute every hash*, drop
the protective triggers, or delete the newest rows. The chain is therefore anchored outside what
such a person can forge or reach:

- **signed notes**: each note carries the chain's head when it was rendered inside its signed
  bytes (report/anchor.py). Changing any row up to that head changes the head's hash; the
  nurse's signature cannot be redone without her key.
- **signed checkpoints**: at most every `general.audit_checkpoint_interval_min` minutes, when a
  clinical user signs in (their password is at hand then), the head is signed with that user's
  own signing key (certified by the clinic CA) and stored in `audit_checkpoints`.

  Why the user's key, not the clinic CA key or a station key: the CA key is passphrase-protected
  and the passphrase is never on a station; a key a station could use unattended would sit in
  its data directory, readable by exactly the person this guards against (whoever can write the
  database file as the station's OS user). A user's key is stored encrypted under their password
  and is only opened while they type it, so a checkpoint cannot be forged without a user's
  password, and any station verifies it against the clinic CA like a note signature.
- **the station's witness** (`audit-witness.json` in the data directory) and every **backup's
  manifest** remember the newest head they saw; a head that has disappeared means the newest
  rows were cut off. The witness only moves forward: it is never overwritten by a shorter chain.

`check` walks the chain, compares it with every anchor, verifies the signature of the newest
signed anchor (a valid newest anchor vouches for every row before it), notices missing or
disabled triggers (start-up restores them and audits that it did) and compares the protected
rows with their seals (db/seals.py).

What this does not stop, stated plainly: a person with write access can *append* rows that look
like the app's; what they cannot do unnoticed is change or remove what an anchor covers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nursestation.app.context import Actor, AppContext
from nursestation.clock import ensure_utc
from nursestation.config import StationConfig
from nursestation.db.append_only import missing_triggers
from nursestation.db.audit import (
    ChainHead,
    ChainWalk,
    audit_fields,
    chain_head,
    row_hash,
    walk_chain,
)
from nursestation.db.models import (
    APPEND_ONLY_TABLES,
    AuditCheckpoint,
    AuditEvent,
    Note,
    NoteDocument,
    User,
)
from nursestation.db.witness import db_key as _db_key
from nursestation.db.witness import read_witness, update_witness

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

CHECKPOINT_MAGIC = "nursestation-audit-checkpoint/1"
INTERVAL_KEY = "general.audit_checkpoint_interval_min"


# ---------------------------------------------------------------- signed checkpoints


def checkpoint_message(audit_id: int, audit_hash: str, at: datetime, station: str,
                       signer: str) -> bytes:  # fmt: skip
    """The exact bytes a checkpoint signature covers."""
    return "\n".join(
        # In UTC, as the database returns it, whatever zone the caller's datetime carried.
        (CHECKPOINT_MAGIC, str(audit_id), audit_hash, ensure_utc(at).isoformat(), station, signer)
    ).encode("utf-8")


def _verify_since(s: Session, last: AuditCheckpoint | None) -> str | None:
    """Walk the chain from the newest checkpoint (or from the start) to the head; the problem
    found, or None. A checkpoint is never signed over a chain that is already broken."""
    if last is None:
        walk = walk_chain(s)
        return None if walk.check.ok else walk.check.problem
    rows = s.execute(
        select(AuditEvent).where(AuditEvent.id >= last.audit_id).order_by(AuditEvent.id)
    ).scalars()
    prev: str | None = None
    for ev in rows:
        if prev is None:
            if ev.id != last.audit_id or ev.hash != last.audit_hash:
                return f"audit row {last.audit_id} no longer matches the checkpoint signed on it"
        else:
            if ev.prev_hash != prev or row_hash(prev, audit_fields(ev)) != ev.hash:
                return f"audit row {ev.id} was altered or does not follow the row before it"
        prev = ev.hash
    if prev is None:
        return f"audit row {last.audit_id} (a checkpoint's head) is missing"
    return None


def checkpoint_due(ctx: AppContext, s: Session) -> bool:
    """True when no checkpoint was signed within the clinic's interval."""
    interval = float(ctx.settings.get(INTERVAL_KEY))
    newest = s.execute(select(func.max(AuditCheckpoint.at))).scalar()
    return newest is None or ctx.now() - newest >= timedelta(minutes=interval)


def sign_checkpoint(ctx: AppContext, actor: Actor, password: str, *, force: bool = False) -> bool:
    """Sign the chain's head with `actor`'s signing key if a checkpoint is due (or `force`).
    Returns True when one was written. Users without a signing key (administrators) sign none;
    a broken chain is audited and not signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with ctx.read_tx() as s:
        if not force and not checkpoint_due(ctx, s):
            return False
        user = s.get(User, actor.user_id)
        p12 = bytes(user.signing_credential) if user and user.signing_credential else None
    if p12 is None:
        return False
    from nursestation.report.pki import open_credential

    cred = open_credential(p12, password)
    with ctx.tx() as s:
        last = s.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
        ).scalar_one_or_none()
        problem = _verify_since(s, last)
        if problem is not None:
            ctx.audit(s, actor, "trail.checkpoint_refused", after={"problem": problem})
            log.warning("audit checkpoint not signed: %s", problem)
            return False
        head = chain_head(s)
        if head is None:
            return False
        now = ctx.now()
        message = checkpoint_message(head.id, head.hash, now, ctx.config.station, actor.username)
        signature = cred.key.sign(message, ec.ECDSA(hashes.SHA256()))
        assert isinstance(cred.cert, x509.Certificate)
        row = AuditCheckpoint(
            at=now, station=ctx.config.station, audit_id=head.id, audit_hash=head.hash,
            user_id=actor.user_id, signer=actor.username,
            certificate_pem=cred.cert.public_bytes(serialization.Encoding.PEM).decode(),
            signature=signature,
        )  # fmt: skip
        s.add(row)
        s.flush()
        ctx.audit(
            s, actor, "trail.checkpoint", "audit_checkpoint", row.id,
            after={"head": head.text()},
        )  # fmt: skip
    update_witness(ctx.config, ctx.engine)
    return True


def checkpoint_after_sign_in(ctx: AppContext, actor: Actor, password: str) -> None:
    """Called after a successful sign-in: a due checkpoint is signed; any failure is logged and
    never stands between a nurse and the station."""
    try:
        sign_checkpoint(ctx, actor, password)
    except Exception as exc:
        log.warning("audit checkpoint after sign-in failed: %s", exc)


def checkpoint_signature_problem(row: AuditCheckpoint, ca_cert: Any) -> str | None:
    """None when `row`'s certificate was issued by the clinic CA and its signature covers its
    head; else what is wrong."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        cert = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        ca_key = ca_cert.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        assert cert.signature_hash_algorithm is not None
        ca_key.verify(
            cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
        )
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        message = checkpoint_message(row.audit_id, row.audit_hash, row.at, row.station, row.signer)
        key.verify(bytes(row.signature), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return f"checkpoint {row.id}: the signature does not verify against the clinic CA"
    except (ValueError, AssertionError) as exc:
        return f"checkpoint {row.id}: unreadable certificate or signature ({exc})"
    return None


# ---------------------------------------------------------------- verification (check)


@dataclass(frozen=True)
class Anchor:
    """One outside record of the chain's head: where it comes from, and the head."""

    source: str
    head: ChainHead
    signed: bool = False


@dataclass(frozen=True)
class TrailReport:
    """What `check` prints about the trail: one line per finding."""

    ok: bool
    # (passed, what, detail): what is "audit trail", "trail anchors", "protective triggers" or
    # "sealed facts".
    lines: tuple[tuple[bool, str, str], ...]


def note_anchors(s: Session) -> tuple[list[tuple[Anchor, NoteDocument]], list[str]]:
    """Each signed note's head (from its first, nurse-signed document), and the problems found
    reading them (a document whose bytes no longer match their stored hash)."""
    import hashlib

    from nursestation.report.anchor import audit_head_of

    out: list[tuple[Anchor, NoteDocument]] = []
    problems: list[str] = []
    docs = s.execute(
        select(NoteDocument, Note.session_id)
        .join(Note, Note.id == NoteDocument.note_id)
        .order_by(NoteDocument.id)
    ).all()
    for doc, session_id in docs:
        data = bytes(doc.pdf)
        if hashlib.sha256(data).hexdigest() != doc.sha256:
            problems.append(
                f"note document {doc.id} (session {session_id}) does not match its hash"
            )
            continue
        if doc.seq != 1:
            continue
        head = ChainHead.parse(audit_head_of(data))
        if head is not None:
            source = f"note {doc.note_id} of session {session_id}"
            out.append((Anchor(source, head, signed=True), doc))
    return out, problems


def backup_anchors(backup_dir: Path | None, engine: Engine) -> list[Anchor]:
    """The heads recorded by the backups of this database found in `backup_dir`."""
    if backup_dir is None or not backup_dir.is_dir():
        return []
    out = []
    key = _db_key(engine)
    for manifest in sorted(backup_dir.glob("*/manifest.json")):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("database") != key:
            continue
        head = ChainHead.parse(data.get("audit_head"))
        if head is not None:
            out.append(Anchor(f"backup {manifest.parent.name}", head))
    return out


def verify_trail(
    config: StationConfig, engine: Engine, *, backup_dir: Path | None = None
) -> TrailReport:
    """The whole trail against every anchor (see the module doc)."""
    from nursestation.db.engine import make_session_factory, read_only
    from nursestation.db.seals import check_seals

    lines: list[tuple[bool, str, str]] = []
    ok = True
    with make_session_factory(read_only(engine)).begin() as s:
        walk = walk_chain(s)
        if not walk.check.ok:
            ok = False
            lines.append((False, "audit trail", f"{walk.check.problem} (hash chain broken)"))
        else:
            lines.append((True, "audit trail", f"hash chain intact ({walk.check.rows} rows)"))
        notes, note_problems = note_anchors(s)
        checkpoints = list(
            s.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars()
        )
        anchors: list[Anchor] = [a for a, _ in notes]
        anchors += [
            Anchor(f"checkpoint {c.id} ({c.signer})", ChainHead(c.audit_id, c.audit_hash), True)
            for c in checkpoints
        ]
        witness = read_witness(config, engine)
        if witness is not None:
            anchors.append(Anchor("this station's witness", witness))
        anchors += backup_anchors(backup_dir, engine)
        problems = note_problems + _compare(walk, anchors)
        problems += _signatures(config, s, notes, checkpoints, walk)
        if problems:
            ok = False
            lines += [(False, "trail anchors", p) for p in problems]
        else:
            lines.append((
                True, "trail anchors",
                f"the chain matches {len(anchors)} anchors "
                f"({len(notes)} signed notes, {len(checkpoints)} signed checkpoints, "
                f"{'a' if witness else 'no'} station witness, "
                f"{len(anchors) - len(notes) - len(checkpoints) - (1 if witness else 0)} backups)",
            ))  # fmt: skip
        with engine.connect() as conn:
            wrong = missing_triggers(conn, APPEND_ONLY_TABLES)
        if wrong:
            ok = False
            text = ", ".join(f"{n} {state}" for n, state in sorted(wrong.items()))
            lines.append(
                (False, "protective triggers", f"{text} (the app restores them at start-up)")
            )
        else:
            restored = s.execute(
                select(AuditEvent.at)
                .where(AuditEvent.action == "trail.triggers_restored")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).scalar()
            note = f"; last restored at start-up {restored:%Y-%m-%d %H:%M} UTC" if restored else ""
            lines.append((
                True, "protective triggers",
                f"all {2 * len(APPEND_ONLY_TABLES)} present and enabled{note}",
            ))  # fmt: skip
        checked, seal_problems = check_seals(s)
        if seal_problems:
            ok = False
            lines += [
                (False, "sealed facts", f"{p.table} row {p.row_id} {p.problem}")
                for p in seal_problems
            ]
        else:
            lines.append((
                True, "sealed facts",
                f"{checked} patient, session and user rows match their audit seals",
            ))  # fmt: skip
    return TrailReport(ok, tuple(lines))


def _compare(walk: ChainWalk, anchors: list[Anchor]) -> list[str]:
    problems = []
    head = walk.head
    for a in anchors:
        stored = walk.hashes.get(a.head.id)
        if stored == a.head.hash:
            continue
        if not walk.check.ok and (walk.check.first_bad_id or 0) <= a.head.id:
            problems.append(f"{a.source} records row {a.head.id}, beyond the broken link")
        elif head is None or a.head.id > head.id:
            problems.append(
                f"{a.source} records row {a.head.id} but the trail ends at row "
                f"{head.id if head else 0}: the newest rows were removed"
            )
        elif stored is None:
            problems.append(f"{a.source} records row {a.head.id}, which is missing")
        else:
            problems.append(
                f"{a.source} records a different hash for row {a.head.id}: the trail before "
                "it was rewritten"
            )
    return problems


def _signatures(
    config: StationConfig,
    s: Session,
    notes: list[tuple[Anchor, NoteDocument]],
    checkpoints: list[AuditCheckpoint],
    walk: ChainWalk,
) -> list[str]:
    """Every checkpoint's signature (cheap), and the signature of the newest signed note: a valid
    newest anchor vouches for every row before it, so older notes need only match the chain."""
    if not notes and not checkpoints:
        return []
    from cryptography import x509

    from nursestation.app.context import clinic_ca_row
    from nursestation.report.pki import load_ca_cert

    try:
        # The clinic CA is in the database (app/pki.py); a data directory not yet opened by
        # this version still has it in its pki folder.
        row = clinic_ca_row(s)
        ca_cert = (
            x509.load_pem_x509_certificate(row.cert_pem.encode())
            if row is not None
            else load_ca_cert(config.pki_dir)
        )
    except Exception as exc:
        return [f"the clinic CA certificate is not readable, signatures unchecked: {exc}"]
    problems = [p for c in checkpoints if (p := checkpoint_signature_problem(c, ca_cert))]
    if notes:
        anchor, doc = max(notes, key=lambda pair: pair[0].head.id)
        from cryptography.hazmat.primitives import serialization

        from nursestation.report.worker import verify_pdf

        result = verify_pdf(bytes(doc.pdf), ca_cert.public_bytes(serialization.Encoding.PEM))
        if not result.ok:
            why = result.error or "; ".join(
                x.problem or x.field_name for x in result.signatures if not x.bottom_line
            )
            problems.append(f"{anchor.source}: its signature does not verify ({why})")
    return problems
