"""PAdES B-B signing of session notes with pyHanko: the nurse signs, the charge nurse countersigns.

Both visible signature fields are created in one incremental update before the first signature
(`prepare_signature_fields`), so the countersignature only fills an existing field and the
first signature stays valid (coverage ENTIRE_REVISION, modification level FORM_FILLING).

The visible stamp is drawn with reportlab in DejaVu Sans (printed name, date and time with zone,
meaning: 21 CFR 11.50) and placed in the field as a static appearance. That avoids the
`pyhanko[opentype]` extra (fonttools + uharfbuzz), which is not installed; pyHanko's built-in
stamp font is Courier with WinAnsi encoding and would garble names outside Latin-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils import layout as ph_layout
from pyhanko.pdf_utils.content import PdfContent
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from nursestation.errors import BAD_INPUT, INVALID_STATE, NOT_PERMITTED, DomainError
from nursestation.report.layout import (
    APPROVAL_RECORD_BOX,
    APPROVAL_RECORD_FIELD,
    NOTE_SIGNATURE_LAYOUT,
    SignatureBox,
)
from nursestation.report.pki import open_credential

CertLike = x509.Certificate | bytes
SIGNATURE_BYTES_RESERVED = 4096
CHARGE_FIELD = "ChargeNurseSignature"
# /Info entry naming the state of the stored record the note was rendered from (set before the
# nurse signs, so the nurse's signature covers it): approval compares it with the record now.
RECORD_STATE_KEY = "/NurseStationRecordState"
PENDING_APPROVAL_TEXT = "Not approved: filled in when a charge nurse approves the discharge."
# Text field flags (PDF 32000-1 §12.7.3.1, §12.7.4.3): read-only, multi-line, no spell check.
_FF_READ_ONLY, _FF_MULTILINE, _FF_DO_NOT_SPELL_CHECK = 1, 1 << 12, 1 << 22


def as_x509(cert: CertLike) -> x509.Certificate:
    """A cryptography certificate from a certificate object or PEM/DER bytes."""
    if isinstance(cert, x509.Certificate):
        return cert
    if cert.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(cert)
    return x509.load_der_x509_certificate(cert)


def _page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def prepare_signature_fields(
    pdf: bytes,
    layout: Sequence[SignatureBox] = NOTE_SIGNATURE_LAYOUT,
    *,
    approval_box: SignatureBox | None = APPROVAL_RECORD_BOX,
    record_state: str | None = None,
) -> bytes:
    """Add every (empty, visible) signature field of `layout` in one incremental update, the
    read-only approval record text field (locked by the charge nurse's signature once that is
    applied) and, when given, the record state the note was rendered from (/Info)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    existing = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    pages = _page_count(writer.prev)
    for box in layout:
        if box.field_name in existing:
            raise DomainError(INVALID_STATE, f"The note already has a field {box.field_name}.")
        page = box.page if box.page >= 0 else pages + box.page
        if not 0 <= page < pages:
            raise DomainError(BAD_INPUT, f"Signature page {box.page} is outside 1–{pages}.")
        lock = None
        if approval_box is not None and box.field_name == CHARGE_FIELD:
            # The countersignature locks the approval text it certifies: a later change to it
            # makes the charge nurse's signature fail verification.
            lock = fields.FieldMDPSpec(
                fields.FieldMDPAction.INCLUDE, fields=[approval_box.field_name]
            )
        fields.append_signature_field(
            writer,
            fields.SigFieldSpec(
                sig_field_name=box.field_name,
                on_page=page,
                box=_whole_points(box),
                field_mdp_spec=lock,
            ),
        )
    if approval_box is not None:
        page = approval_box.page if approval_box.page >= 0 else pages + approval_box.page
        _add_approval_field(writer, page, approval_box)
    if record_state is not None:
        info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
        if info_ref is None:
            info_ref = writer.set_info(generic.DictionaryObject())
        info_ref.get_object()[generic.NameObject(RECORD_STATE_KEY)] = generic.TextStringObject(
            record_state
        )
        writer.mark_update(info_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _approval_appearance(
    writer: IncrementalPdfFileWriter, box: SignatureBox, text: str, pending: bool
) -> generic.IndirectObject:
    """A form XObject the size of `box` showing `text` (DejaVu, so any name prints)."""
    data = render_approval_pdf(box.width, box.height, text, pending=pending)
    return writer.import_page_as_xobject(PdfFileReader(BytesIO(data)), page_ix=0)


def _whole_points(box: SignatureBox) -> tuple[int, int, int, int]:
    """The field rectangle as pyHanko's SigFieldSpec takes it (whole points). The layout puts
    every box on whole points; anything else is refused rather than moved."""
    if any(v != int(v) for v in box.box):
        raise ValueError(f"signature box {box.field_name} is not on whole points: {box.box}")
    x1, y1, x2, y2 = box.box
    return int(x1), int(y1), int(x2), int(y2)


def _add_approval_field(writer: IncrementalPdfFileWriter, page: int, box: SignatureBox) -> None:
    page_ref = writer.find_page_for_modification(page)[0]
    page_obj = page_ref.get_object()
    field = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/FT"): generic.NameObject("/Tx"),
            generic.NameObject("/T"): generic.TextStringObject(box.field_name),
            generic.NameObject("/TU"): generic.TextStringObject(
                "Discharge approval record (filled in at approval, covered by the "
                "charge nurse's signature)"
            ),
            generic.NameObject("/Ff"): generic.NumberObject(
                _FF_READ_ONLY | _FF_MULTILINE | _FF_DO_NOT_SPELL_CHECK
            ),
            generic.NameObject("/F"): generic.NumberObject(4),  # print
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in box.box]
            ),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/DA"): generic.TextStringObject("/Helv 8 Tf 0 g"),
            generic.NameObject("/AP"): generic.DictionaryObject(
                {
                    generic.NameObject("/N"): _approval_appearance(
                        writer, box, PENDING_APPROVAL_TEXT, pending=True
                    )
                }
            ),
        }
    )
    field_ref = writer.add_object(field)
    annots = page_obj.get("/Annots")
    if annots is None:
        page_obj[generic.NameObject("/Annots")] = generic.ArrayObject([field_ref])
        writer.update_container(page_obj)
    else:
        annots = annots.get_object()
        annots.append(field_ref)
        writer.update_container(annots)
    form = writer.root["/AcroForm"]
    form_fields = form["/Fields"]
    form_fields.append(field_ref)
    writer.update_container(form_fields)


def render_approval_pdf(width: float, height: float, text: str, *, pending: bool) -> bytes:
    """A one-page PDF the size of the approval record box: `text`, wrapped, shrunk to fit."""
    from reportlab.lib import colors
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen.canvas import Canvas

    from nursestation.report.note_pdf import FONT, FONT_BOLD, register_fonts

    register_fonts()
    buf = BytesIO()
    c = Canvas(buf, pagesize=(width, height), invariant=1, pageCompression=1, initialFontName=FONT)
    pad = 5.0
    if not pending:
        c.setFillColor(colors.HexColor("#eef6ee"))
        c.setStrokeColor(colors.HexColor("#2e7d32"))
        c.setLineWidth(1.2)
        c.rect(0.6, 0.6, width - 1.2, height - 1.2, stroke=1, fill=1)
    font = FONT if pending else FONT_BOLD
    size = 8.0
    lines = simpleSplit(text, font, size, width - 2 * pad)
    while size > 5 and len(lines) * size * 1.2 > height - 2 * pad:
        size -= 0.25
        lines = simpleSplit(text, font, size, width - 2 * pad)
    c.setFont(font, size)
    c.setFillColor(colors.HexColor("#666666" if pending else "#000000"))
    y = height - pad - size
    for line in lines:
        c.drawString(pad, y, line)
        y -= size * 1.2
    c.showPage()
    c.save()
    return buf.getvalue()


def fill_approval_record(pdf: bytes, text: str) -> bytes:
    """Write the approval `text` into the (empty) approval record field as an incremental update
    (form filling, which the nurse's signature allows); the countersignature applied next
    covers it. Raises invalid_state when the note has no such field or it is already filled."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    target = _approval_field_ref(writer.root)
    if target is None:
        raise DomainError(INVALID_STATE, f"The note has no field {APPROVAL_RECORD_FIELD}.")
    field = target.get_object()
    if field.get("/V"):
        raise DomainError(INVALID_STATE, "The discharge approval record is already filled in.")
    x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
    box = SignatureBox(APPROVAL_RECORD_FIELD, x1, y1, x2, y2)
    field[generic.NameObject("/V")] = generic.TextStringObject(text)
    field[generic.NameObject("/AP")] = generic.DictionaryObject(
        {generic.NameObject("/N"): _approval_appearance(writer, box, text, pending=False)}
    )
    writer.update_container(field)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def has_approval_field(pdf: bytes) -> bool:
    """True when the note was prepared with an approval record field."""
    return _approval_field_ref(PdfFileReader(BytesIO(pdf), strict=False).root) is not None


def approval_record(pdf: bytes) -> str | None:
    """The filled-in approval record text of a note, or None while it is empty."""
    ref = _approval_field_ref(PdfFileReader(BytesIO(pdf), strict=False).root)
    value = ref.get_object().get("/V") if ref is not None else None
    return str(value) if value else None


def _approval_field_ref(root: Any) -> Any:
    """The approval record field's indirect reference in the document catalog `root`, or None."""
    if "/AcroForm" not in root or "/Fields" not in root["/AcroForm"]:
        return None
    for ref in root["/AcroForm"]["/Fields"]:
        if ref.get_object().get("/T") == APPROVAL_RECORD_FIELD:
            return ref
    return None


def record_state(pdf: bytes) -> str | None:
    """The record state a note was rendered from (see prepare_signature_fields), if stored."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    trailer = reader.trailer_view
    if "/Info" not in trailer:
        return None
    value = trailer["/Info"].get(RECORD_STATE_KEY)
    return str(value) if value is not None else None


def format_signing_time(when: datetime, display_tz: str | None = None) -> str:
    """E.g. "2026-03-02 11:02 EST (UTC−05:00)": local date and time with its zone."""
    from nursestation.report.note_pdf import display_zone

    local = when.astimezone(display_zone(display_tz))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def render_stamp_pdf(
    width: float,
    height: float,
    signer_name: str,
    credentials: str,
    when_text: str,
    meaning: str,
    issuer: str,
) -> bytes:
    """A one-page PDF the size of the signature box: the human-readable signature manifestation."""
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    from nursestation.report.note_pdf import FONT, FONT_BOLD, register_fonts

    register_fonts()
    buf = BytesIO()
    c = Canvas(buf, pagesize=(width, height), invariant=1, pageCompression=1, initialFontName=FONT)
    c.setFillColor(colors.HexColor("#eef6ee"))
    c.setStrokeColor(colors.HexColor("#2e7d32"))
    c.setLineWidth(1.2)
    c.rect(0.6, 0.6, width - 1.2, height - 1.2, stroke=1, fill=1)
    pad = 6.0

    def line(text: str, y: float, font: str, size: float, color: str = "#000000") -> None:
        # Shrink to fit rather than run past the box edge.
        while size > 5 and stringWidth(text, font, size) > width - 2 * pad:
            size -= 0.25
        c.setFont(font, size)
        c.setFillColor(colors.HexColor(color))
        c.drawString(pad, y, text)

    top = height - pad
    line("Digitally signed (PAdES) by", top - 7, FONT, 6.5, "#2e7d32")
    line(signer_name, top - 20, FONT_BOLD, 11)
    line(credentials, top - 30, FONT, 7, "#444444")
    line(f"Date and time: {when_text}", top - 42, FONT, 7.5)
    line(f"Meaning: {meaning}", top - 53, FONT_BOLD, 7.5)
    line(f"Certificate issued by {issuer}", top - 64, FONT, 6, "#666666")
    c.showPage()
    c.save()
    return buf.getvalue()


class _PdfBytesPage(PdfContent):
    """Like pyHanko's ImportedPdfPage, but from bytes in memory instead of a file name."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def render(self) -> bytes:
        writer = self._ensure_writer
        xobj = writer.import_page_as_xobject(PdfFileReader(BytesIO(self.data)), page_ix=0)
        self.resources.xobject["/StampBackground"] = xobj
        x1, y1, x2, y2 = xobj.get_object()["/BBox"]
        self.box = ph_layout.BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
        return b"/StampBackground Do"


class _TimedPdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time is the caller's `when`, not the wall clock, so the stamp, the
    /M entry and the simulated clock of a scenario all agree."""

    def __init__(self, *args: Any, system_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._system_time = system_time

    def init_signing_session(
        self, pdf_out: Any, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._system_time
        return session


def sign_note(
    pdf: bytes,
    field_name: str,
    p12: bytes,
    password: str,
    signer_name: str,
    meaning: str,
    when: datetime,
    ca_cert: CertLike,
    *,
    display_tz: str | None = None,
    location: str | None = None,
) -> bytes:
    """Sign the empty field `field_name` (PAdES B-B, SHA-256) as an incremental update.

    Raises DomainError: bad_password (wrong password), not_permitted (certificate not from the
    clinic CA or not valid at `when`), invalid_state (no such field, or it is already signed).
    """
    if when.tzinfo is None:
        raise ValueError("sign_note needs an aware datetime")
    cred = open_credential(p12, password)
    ca = as_x509(ca_cert)
    try:
        cred.cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise DomainError(
            NOT_PERMITTED, "This signing certificate was not issued by the clinic's CA."
        ) from exc
    when_utc = when.astimezone(UTC)
    if not cred.cert.not_valid_before_utc <= when_utc <= cred.cert.not_valid_after_utc:
        raise DomainError(
            NOT_PERMITTED,
            f"The signing certificate of {cred.full_name} is not valid on {when_utc:%Y-%m-%d}.",
        )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    found = list(fields.enumerate_sig_fields(writer.prev, with_name=field_name))
    if not found:
        raise DomainError(INVALID_STATE, f"The note has no signature field {field_name}.")
    if found[0][1] is not None:
        raise DomainError(INVALID_STATE, f"The signature field {field_name} is already signed.")
    box = _field_size(found[0][2])

    credentials = " · ".join(p for p in (cred.role, f"user {cred.username}") if p)
    stamp_pdf = render_stamp_pdf(
        box[0],
        box[1],
        signer_name,
        credentials,
        format_signing_time(when, display_tz),
        meaning,
        _common_name(ca),
    )
    style = StaticStampStyle(
        background=_PdfBytesPage(stamp_pdf),
        border_width=0,
        background_opacity=1.0,
        background_layout=ph_layout.SimpleBoxLayoutRule(
            x_align=ph_layout.AxisAlignment.ALIGN_MID,
            y_align=ph_layout.AxisAlignment.ALIGN_MID,
            margins=ph_layout.Margins.uniform(0),
        ),
    )
    asn1_ca = translate_pyca_cryptography_cert_to_asn1(ca)
    signer = signers.SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(cred.cert),
        signing_key=translate_pyca_cryptography_key_to_asn1(cred.key),
        cert_registry=SimpleCertificateStore.from_certs([asn1_ca]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=meaning,
        name=signer_name,
        location=location,
    )
    pdf_signer = _TimedPdfSigner(meta, signer=signer, stamp_style=style, system_time=when)
    out = BytesIO()
    # A fixed reservation skips pyHanko's size-estimating dummy signature (half the CMS work).
    # An EC P-256 CMS with signer + CA certificates is about 1.3 kB; no timestamps or CRLs.
    pdf_signer.sign_pdf(
        writer, existing_fields_only=True, bytes_reserved=SIGNATURE_BYTES_RESERVED, output=out
    )
    return out.getvalue()


def _field_size(field_ref: Any) -> tuple[float, float]:
    """Width and height of a (merged field/widget) signature field's /Rect."""
    field = field_ref.get_object()
    rect = field.get("/Rect")
    if rect is None and "/Kids" in field:
        rect = field["/Kids"][0].get_object()["/Rect"]
    x1, y1, x2, y2 = (float(v) for v in rect)
    return abs(x2 - x1), abs(y2 - y1)


def _common_name(cert: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID

    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()
