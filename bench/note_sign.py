"""Benchmark: build + sign + countersign the 2-hour sample note vs a bare reportlab/pyHanko baseline.

Run: .venv/bin/python bench/note_sign.py [--runs 15]

Ours: render_note_pdf + prepare_signature_fields + sign_note (nurse) + sign_note (charge nurse),
each signature unlocking its PKCS#12 credential and drawing the DejaVu stamp.
Baseline, in the same process: the same number of pages of plain paragraphs in the same embedded
font, one visible field, pyHanko's default stamp, one signature + one countersignature (same
PKCS#12 credentials). Targets: ours < 1.5x baseline and < 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pypdf import PdfReader
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

from nursestation.report import pki
from nursestation.report.note_pdf import FONT, register_fonts, render_note_pdf
from nursestation.report.sample import SAMPLE_START, sample_note_content
from nursestation.report.signing import prepare_signature_fields, sign_note

PW1, PW2 = "bench-pw-1", "bench-pw-2"


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: font parsing, imports, caches
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    register_fonts()
    with tempfile.TemporaryDirectory() as tmp:
        ca = pki.create_ca(tmp, "Bench Clinic", SAMPLE_START)
    p12_a = pki.issue_user_credential(ca, "rn.a", "Ana Ruiz, RN", "nurse", PW1, now=SAMPLE_START)
    p12_b = pki.issue_user_credential(ca, "cn.b", "Ben Ode, RN", "charge", PW2, now=SAMPLE_START)
    content = sample_note_content(hours=2)
    at1 = SAMPLE_START + timedelta(hours=2, minutes=2)
    at2 = at1 + timedelta(minutes=3)
    pages = len(PdfReader(BytesIO(render_note_pdf(content))).pages)

    def ours() -> bytes:
        pdf = prepare_signature_fields(render_note_pdf(content))
        pdf = sign_note(
            pdf, "NurseSignature", p12_a, PW1, "Ana Ruiz, RN", "Documented", at1, ca.cert
        )
        return sign_note(
            pdf, "ChargeNurseSignature", p12_b, PW2, "Ben Ode, RN", "Approved", at2, ca.cert
        )

    style = ParagraphStyle("b", fontName=FONT, fontSize=9, leading=12)
    text = " ".join(["Plain paragraph text of a clinical note, repeated to fill the page."] * 6)

    def baseline() -> bytes:
        buf = BytesIO()
        story = []
        for page in range(pages):
            story += [Paragraph(text, style) for _ in range(12)]
            if page < pages - 1:
                story.append(PageBreak())
        SimpleDocTemplate(buf, pagesize=letter, invariant=1).build(story)
        w = IncrementalPdfFileWriter(BytesIO(buf.getvalue()))
        fields.append_signature_field(
            w, fields.SigFieldSpec("Sig1", on_page=pages - 1, box=(43, 66, 296, 150))
        )
        first = BytesIO()
        signer_a = signers.SimpleSigner.load_pkcs12_data(p12_a, [], passphrase=PW1.encode())
        signers.sign_pdf(
            w,
            signers.PdfSignatureMetadata(
                field_name="Sig1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
            ),
            signer=signer_a,
            output=first,
        )
        w2 = IncrementalPdfFileWriter(BytesIO(first.getvalue()))
        second = BytesIO()
        signer_b = signers.SimpleSigner.load_pkcs12_data(p12_b, [], passphrase=PW2.encode())
        signers.sign_pdf(
            w2,
            signers.PdfSignatureMetadata(
                field_name="Sig2", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
            ),
            signer=signer_b,
            output=second,
        )
        return second.getvalue()

    base_pages = len(PdfReader(BytesIO(baseline())).pages)
    ours_ms = _median_ms(ours, args.runs)
    base_ms = _median_ms(baseline, args.runs)
    render_ms = _median_ms(lambda: render_note_pdf(content), args.runs)
    print(f"pages: note {pages}, baseline {base_pages}; runs per median: {args.runs}")
    print(f"note render only          : {render_ms:7.1f} ms")
    print(f"note render+fields+2 signs: {ours_ms:7.1f} ms  (target < 300 ms)")
    print(f"baseline reportlab+pyHanko: {base_ms:7.1f} ms")
    print(f"ratio ours/baseline       : {ours_ms / base_ms:7.2f}x (target < 1.5x)")


if __name__ == "__main__":
    main()
