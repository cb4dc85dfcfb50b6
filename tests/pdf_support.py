"""Reading a note PDF as a person sees it (shared by the report and notes tests)."""

from __future__ import annotations

from io import BytesIO

from pypdf import PdfReader


def visible_text(pdf: bytes) -> str:
    """What a reader sees on the last page, extracted with pypdf: the page's own text plus the
    text of every widget appearance drawn on it (signature stamps, approval record)."""
    from pypdf import PageObject
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    reader = PdfReader(BytesIO(pdf))
    page = reader.pages[-1]
    parts = [page.extract_text()]
    for annot in page.get("/Annots") or []:
        ap = annot.get_object().get("/AP")
        if ap is None:
            continue
        # A blank page whose only content draws the appearance: pypdf follows the Do.
        holder = PageObject.create_blank_page(width=612, height=792)
        holder[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Ap"): ap.raw_get("/N")})}
        )
        content = DecodedStreamObject()
        content.set_data(b"/Ap Do")
        holder[NameObject("/Contents")] = content
        parts.append(holder.extract_text())
    return "\n".join(parts)
