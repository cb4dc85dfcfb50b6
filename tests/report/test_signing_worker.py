"""The signing worker process (report/worker.py): the same PAdES signature as in-process, plain
data in and PDF bytes out, refusals with their code, and a worker that dies is replaced."""

from __future__ import annotations

import os
import signal

import pytest

from nursestation.errors import BAD_PASSWORD, NOT_PERMITTED, DomainError
from nursestation.report import worker
from nursestation.report.sample import sample_note_content
from nursestation.report.verify import verify_pdf

from .conftest import NURSE_PW, Pki

MEANING = "Performed and documented this session"


def _sign(p: Pki, password: str = NURSE_PW, p12: bytes | None = None) -> bytes:
    return worker.render_and_sign(
        sample_note_content(),
        "NurseSignature",
        p12 or p.nurse_p12,
        password,
        "Ana Ruiz, RN",
        MEANING,
        p.ca.cert_pem,
        location="Riverside, chair 1",
    )


def test_rendered_and_signed_in_another_process_verifies(clinic_pki: Pki) -> None:
    signed = _sign(clinic_pki)
    assert worker._worker._proc is not None and worker._worker._proc.pid != os.getpid()
    result = verify_pdf(signed, clinic_pki.ca.cert_pem)
    assert result.ok, result
    (sig,) = [s for s in result.signatures if s.field_name == "NurseSignature"]
    assert sig.meaning == MEANING and sig.intact and sig.trusted
    # Verification through the worker gives the same answer as in this process.
    assert worker.verify_pdf(signed, clinic_pki.ca.cert_pem).ok


def test_refusals_keep_their_code_and_message(clinic_pki: Pki) -> None:
    with pytest.raises(DomainError) as wrong:
        _sign(clinic_pki, password="not-the-password")
    assert wrong.value.code == BAD_PASSWORD
    with pytest.raises(DomainError) as foreign:
        _sign(clinic_pki, p12=clinic_pki.intruder_p12)
    assert foreign.value.code == NOT_PERMITTED
    assert "clinic's CA" in foreign.value.message
    assert verify_pdf(_sign(clinic_pki), clinic_pki.ca.cert_pem).ok  # the worker is still up


def test_a_worker_that_dies_refuses_that_call_and_is_replaced(
    clinic_pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker.warm_up().result(timeout=120)
    proc = worker._worker._proc
    assert proc is not None
    real_send = worker._send

    def kill_then_send(stream, obj):  # type: ignore[no-untyped-def]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        real_send(stream, obj)

    monkeypatch.setattr(worker, "_send", kill_then_send)
    with pytest.raises(DomainError) as died:
        _sign(clinic_pki)
    assert "nothing was signed" in died.value.message
    monkeypatch.setattr(worker, "_send", real_send)
    assert verify_pdf(_sign(clinic_pki), clinic_pki.ca.cert_pem).ok
    assert worker._worker._proc is not None and worker._worker._proc.pid != proc.pid
