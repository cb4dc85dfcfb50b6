"""Verify every signature of a session note against the clinic CA (pyHanko).

A note is `ok` only if it has at least one signature and each one's `bottom_line` holds
(intact hash, valid CMS signature, chain to the clinic CA, acceptable later modifications).
`valid` alone is not enough: after tampering it can stay True while `intact` turns False.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from nursestation.report.signing import CertLike, as_x509

# The results live in a module without pyHanko: a process that only receives them (the GUI, from
# the signing process) does not import pyHanko to unpickle them.
from nursestation.report.verify_result import SignatureCheck, VerifyResult


class _QuietTrustErrors(logging.Filter):
    """pyHanko logs an untrusted chain as a WARNING with a full traceback; the result already
    says so, so keep the record for debug logs but drop its traceback and demote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_QUIET = _QuietTrustErrors()


def quiet_pyhanko_logging() -> None:
    """Install the filter on pyHanko's validation loggers (idempotent)."""
    for name in (
        "pyhanko.sign.validation.generic_cms",
        "pyhanko.sign.validation.pdf_embedded",
        "pyhanko.sign.validation.status",
        "pyhanko.sign.diff_analysis.policies",  # a forbidden later change: the result says so
    ):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)


def _enum_name(value: Any) -> str:
    return getattr(value, "name", "") or ("" if value is None else str(value))


def _signer_name(cert: Any) -> str:
    try:
        return str(cert.subject.native.get("common_name", "")) or cert.subject.human_friendly
    except Exception:  # a malformed certificate must not stop verification of the others
        return ""


def verify_pdf(pdf: bytes, ca_cert: CertLike) -> VerifyResult:
    """Check every signature in `pdf` against the clinic CA `ca_cert` (no network, no OS trust)."""
    quiet_pyhanko_logging()
    root = translate_pyca_cryptography_cert_to_asn1(as_x509(ca_cert))
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        return VerifyResult((), error=f"The file is not a readable PDF: {exc}")
    checks: list[SignatureCheck] = []
    for sig in embedded:
        sig_dict = sig.sig_object
        meaning = str(sig_dict.get("/Reason", "")) if sig_dict is not None else ""
        # A fresh context per signature: revocation/path caches must not leak between them.
        context = ValidationContext(trust_roots=[root], allow_fetching=False)
        try:
            status = validate_pdf_signature(sig, context)
        except Exception as exc:  # corrupt signature container: report it, keep checking others
            checks.append(
                SignatureCheck(
                    field_name=sig.field_name,
                    signer_name="",
                    signing_time=None,
                    intact=False,
                    valid=False,
                    trusted=False,
                    bottom_line=False,
                    coverage="",
                    modification_level="",
                    docmdp_ok=False,
                    meaning=meaning,
                    problem=f"cannot validate: {exc}",
                )
            )
            continue
        problem = ""
        if status.trust_problem_indic is not None:
            problem = f"untrusted: {_enum_name(status.trust_problem_indic)}"
        elif not status.intact:
            problem = "document changed after signing"
        checks.append(
            SignatureCheck(
                field_name=sig.field_name,
                signer_name=_signer_name(status.signing_cert),
                signing_time=status.signer_reported_dt,
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted),
                bottom_line=bool(status.bottom_line),
                coverage=_enum_name(status.coverage),
                modification_level=_enum_name(status.modification_level),
                docmdp_ok=bool(status.docmdp_ok),
                meaning=meaning,
                problem=problem,
            )
        )
    return VerifyResult(tuple(checks))
