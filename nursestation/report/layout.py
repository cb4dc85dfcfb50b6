"""Where the signature boxes sit on the last page of a session note (shared by render and sign)."""

from __future__ import annotations

from dataclasses import dataclass

# US Letter, in PDF points (1/72 in).
PAGE_WIDTH = 612.0
PAGE_HEIGHT = 792.0
MARGIN_X = 43.0
MARGIN_TOP = 64.0
MARGIN_BOTTOM = 52.0

# The signature band is the bottom of the last page's frame; its boxes are therefore always at
# the same page coordinates, whatever the note's length.
SIGNATURE_BAND_HEIGHT = 196.0
_GAP = 20.0
_BOX_W = (PAGE_WIDTH - 2 * MARGIN_X - _GAP) / 2
_BOX_Y1 = MARGIN_BOTTOM + 14.0
_BOX_Y2 = _BOX_Y1 + 84.0


@dataclass(frozen=True)
class SignatureBox:
    """A visible signature field: its name, page (negative counts from the end) and rectangle."""

    field_name: str
    x1: float
    y1: float
    x2: float
    y2: float
    page: int = -1

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) in points."""
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


NOTE_SIGNATURE_LAYOUT: tuple[SignatureBox, ...] = (
    SignatureBox("NurseSignature", MARGIN_X, _BOX_Y1, MARGIN_X + _BOX_W, _BOX_Y2),
    SignatureBox(
        "ChargeNurseSignature",
        PAGE_WIDTH - MARGIN_X - _BOX_W,
        _BOX_Y1,
        PAGE_WIDTH - MARGIN_X,
        _BOX_Y2,
    ),
)


# The discharge approval record: a read-only text field above the signature boxes, empty until
# the charge nurse approves; then filled with who approved, when and with what meaning, in the
# same update that the countersignature covers (see report/signing.py).
APPROVAL_RECORD_FIELD = "ApprovalRecord"
APPROVAL_RECORD_BOX = SignatureBox(
    APPROVAL_RECORD_FIELD, MARGIN_X, _BOX_Y2 + 48.0, PAGE_WIDTH - MARGIN_X, _BOX_Y2 + 82.0
)
