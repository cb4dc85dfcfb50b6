"""The results of verifying a signed note: plain values, importable without pyHanko (the GUI
process receives them from the signing process and must not pay pyHanko's import to read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SignatureCheck:
    """The verification result of one embedded signature."""

    field_name: str
    signer_name: str
    signing_time: datetime | None
    intact: bool
    valid: bool
    trusted: bool
    bottom_line: bool
    coverage: str
    modification_level: str
    docmdp_ok: bool
    meaning: str
    problem: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """All signatures of one PDF, in signing order; `error` is set if the PDF cannot be read."""

    signatures: tuple[SignatureCheck, ...]
    error: str = ""

    @property
    def ok(self) -> bool:
        """True only with at least one signature and every bottom line holding."""
        return (
            not self.error and bool(self.signatures) and all(s.bottom_line for s in self.signatures)
        )
