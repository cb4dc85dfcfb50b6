"""Session-wide throwaway clinic PKI and a rendered sample note (EC keys make this fast)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from nursestation.report import pki
from nursestation.report.note_pdf import render_note_pdf
from nursestation.report.sample import SAMPLE_START, sample_note_content

NURSE_PW = "ana-Secret-1"
CHARGE_PW = "ben-Secret-2"


@dataclass(frozen=True)
class Pki:
    ca: pki.ClinicCA
    ca_dir: Path
    nurse_p12: bytes
    charge_p12: bytes
    other_ca: pki.ClinicCA
    intruder_p12: bytes


@pytest.fixture(scope="session")
def clinic_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = SAMPLE_START - timedelta(days=30)
    ca_dir = tmp_path_factory.mktemp("ca")
    ca = pki.create_ca(ca_dir, "Riverside Ketamine Clinic", now)
    other = pki.create_ca(tmp_path_factory.mktemp("other_ca"), "Elsewhere Clinic", now)
    return Pki(
        ca=ca,
        ca_dir=ca_dir,
        nurse_p12=pki.issue_user_credential(
            ca, "rn.ana", "Ana Ruiz, RN", "Registered nurse", NURSE_PW, now=now
        ),
        charge_p12=pki.issue_user_credential(
            ca, "cn.ben", "Ben Ode, RN", "Charge nurse", CHARGE_PW, now=now
        ),
        other_ca=other,
        intruder_p12=pki.issue_user_credential(
            other, "rn.eve", "Eve Mallory, RN", "Registered nurse", NURSE_PW, now=now
        ),
    )


@pytest.fixture(scope="session")
def note_pdf() -> bytes:
    return render_note_pdf(sample_note_content())
