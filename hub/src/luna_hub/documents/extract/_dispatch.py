"""Probe and extract a file by handing it to its format's module."""

from __future__ import annotations

from luna_hub.documents.errors import NoTextError, UnsupportedDocumentError
from luna_hub.documents.extract._csv import extract_csv
from luna_hub.documents.extract._docx import extract_docx, open_docx
from luna_hub.documents.extract._html import extract_html
from luna_hub.documents.extract._markdown import extract_markdown
from luna_hub.documents.extract._pdf import extract_pdf, open_pdf, page_text
from luna_hub.documents.extract._text import decode, extract_text
from luna_hub.documents.extract._types import DOCX, PDF, Extraction, Progress


def probe(data: bytes, media_type: str, filename: str) -> None:
    """Reject a file that cannot become a document, cheaply (text formats are extracted in full)."""
    if media_type == PDF:
        reader = open_pdf(data, filename)
        for page in reader.pages:
            if page_text(page, filename).strip():
                return
        msg = f"{filename}: none of its {len(reader.pages)} pages has a text layer (a scan?); OCR is not available"
        raise NoTextError(msg)
    if media_type == DOCX:
        open_docx(data, filename)
        return
    extract(data, media_type, filename)


def extract(data: bytes, media_type: str, filename: str, progress: Progress | None = None) -> Extraction:
    """Extract the text and structure of ``data`` (of ``media_type``, as :func:`sniff` decided)."""
    match media_type:
        case "application/pdf":
            return extract_pdf(data, filename, progress)
        case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
            return extract_docx(data, filename)
        case "text/csv":
            return extract_csv(decode(data, filename), filename)
        case "text/markdown":
            return extract_markdown(decode(data, filename))
        case "text/html":
            return extract_html(decode(data, filename))
        case "text/plain":
            return extract_text(decode(data, filename))
    msg = f"{filename}: no extractor for {media_type}"
    raise UnsupportedDocumentError(msg)
