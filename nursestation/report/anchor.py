"""The audit chain's head carried inside a signed note (see app/trail.py): written into the PDF's
document information (/Keywords) when the note is rendered, so the nurse's signature covers it."""

from __future__ import annotations

from io import BytesIO

AUDIT_HEAD_KEYWORD = "nursestation-audit-head:"


def audit_head_of(pdf: bytes) -> str | None:
    """The "<row id>:<hash>" a note was rendered with, or None (a note from before anchoring,
    or a PDF that cannot be read)."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        trailer = reader.trailer_view
        if "/Info" not in trailer:
            return None
        value = trailer["/Info"].get("/Keywords")
    except (PdfError, ValueError, KeyError):
        return None
    if value is None:
        return None
    text = str(value)
    if not text.startswith(AUDIT_HEAD_KEYWORD):
        return None
    return text[len(AUDIT_HEAD_KEYWORD) :].strip()
