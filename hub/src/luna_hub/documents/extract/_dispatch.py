"""Probe and extract a file by handing it to its format's module."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from luna_hub.documents.errors import CorruptDocumentError, DocumentRejectedError, NoTextError, UnsupportedDocumentError
from luna_hub.documents.extract._csv import extract_csv
from luna_hub.documents.extract._docx import extract_docx, open_docx
from luna_hub.documents.extract._html import extract_html
from luna_hub.documents.extract._markdown import extract_markdown
from luna_hub.documents.extract._pdf import extract_pdf, open_pdf, page_text
from luna_hub.documents.extract._text import decode, extract_text
from luna_hub.documents.extract._types import DOCX, PDF, Extraction, Progress

T = TypeVar("T")


def probe(data: bytes, media_type: str, filename: str) -> None:
    """Reject a file that cannot become a document, cheaply (text formats are extracted in full).

    Raises only :class:`DocumentRejectedError`: whatever else a parser raises on a hostile file is ``corrupt``.
    """
    _as_rejection(_probe, data, media_type, filename)


def extract(data: bytes, media_type: str, filename: str, progress: Progress | None = None) -> Extraction:
    """Extract the text and structure of ``data`` (of ``media_type``, as :func:`sniff` decided).

    Raises only :class:`DocumentRejectedError`, as :func:`probe` does.
    """
    return _as_rejection(_extract, data, media_type, filename, progress)


def _as_rejection(function: Callable[..., T], data: bytes, media_type: str, filename: str, *args: object) -> T:
    """Call a parser of untrusted bytes; an error of its own (lxml, pypdf, zipfile, ...) means the file is corrupt."""
    try:
        return function(data, media_type, filename, *args)
    except (DocumentRejectedError, MemoryError):
        raise
    except Exception as exc:
        msg = f"{filename} cannot be read as {media_type}: {type(exc).__name__}: {exc}"
        raise CorruptDocumentError(msg) from exc


def _probe(data: bytes, media_type: str, filename: str) -> None:
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
    _extract(data, media_type, filename)


def _extract(data: bytes, media_type: str, filename: str, progress: Progress | None = None) -> Extraction:
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
