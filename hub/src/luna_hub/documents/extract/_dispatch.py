"""Probe and extract a file by handing it to its format's module."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from luna_hub.documents.errors import CorruptDocumentError, DocumentRejectedError, NoTextError, UnsupportedDocumentError
from luna_hub.documents.extract._csv import extract_csv
from luna_hub.documents.extract._docx import extract_docx, open_docx
from luna_hub.documents.extract._html import extract_html
from luna_hub.documents.extract._image import extract_image, open_image
from luna_hub.documents.extract._markdown import extract_markdown
from luna_hub.documents.extract._ocr import ocr_unavailable
from luna_hub.documents.extract._ods import extract_ods, open_ods
from luna_hub.documents.extract._pdf import extract_pdf, open_pdf, page_text
from luna_hub.documents.extract._text import decode, extract_text
from luna_hub.documents.extract._types import (
    CSV,
    DOCX,
    HTML,
    IMAGES,
    MARKDOWN,
    ODS,
    PDF,
    TEXT,
    XLSX,
    Extraction,
    Progress,
)
from luna_hub.documents.extract._xlsx import extract_xlsx, open_xlsx
from luna_hub.settings import OcrSettings

T = TypeVar("T")


def probe(data: bytes, media_type: str, filename: str, ocr: OcrSettings | None = None) -> None:
    """Reject a file that cannot become a document, cheaply (text formats are extracted in full).

    Pages without a text layer pass when ``ocr`` can read them (the job does); no ``ocr``, no OCR.
    Raises only :class:`DocumentRejectedError`: whatever else a parser raises on a hostile file is ``corrupt``.
    """
    _as_rejection(_probe, data, media_type, filename, ocr)


def extract(
    data: bytes,
    media_type: str,
    filename: str,
    progress: Progress | None = None,
    ocr: OcrSettings | None = None,
) -> Extraction:
    """Extract the text and structure of ``data`` (of ``media_type``, as :func:`sniff` decided).

    ``ocr`` reads pages without a text layer and images; without it they are skipped (a note says so).
    Raises only :class:`DocumentRejectedError`, as :func:`probe` does.
    """
    return _as_rejection(_extract, data, media_type, filename, progress, ocr)


def _as_rejection(function: Callable[..., T], data: bytes, media_type: str, filename: str, *args: object) -> T:
    """Call a parser of untrusted bytes; an error of its own (lxml, pypdf, zipfile, ...) means the file is corrupt."""
    try:
        return function(data, media_type, filename, *args)
    except (DocumentRejectedError, MemoryError):
        raise
    except Exception as exc:
        msg = f"{filename} cannot be read as {media_type}: {type(exc).__name__}: {exc}"
        raise CorruptDocumentError(msg) from exc


def _probe(data: bytes, media_type: str, filename: str, ocr: OcrSettings | None) -> None:
    if media_type == PDF:
        reader = open_pdf(data, filename)
        for page in reader.pages:
            if page_text(page, filename).strip():
                return
        unavailable = ocr_unavailable(ocr)
        if unavailable is not None:
            msg = f"{filename}: none of its {len(reader.pages)} pages has a text layer (a scan?); {unavailable}"
            raise NoTextError(msg)
        return
    if media_type == DOCX:
        open_docx(data, filename)
        return
    if media_type == XLSX:
        open_xlsx(data, filename).close()
        return
    if media_type == ODS:
        open_ods(data, filename)
        return
    if media_type in IMAGES:
        open_image(data, filename, ocr)
        return
    _extract(data, media_type, filename, None, ocr)


def _extract(
    data: bytes, media_type: str, filename: str, progress: Progress | None = None, ocr: OcrSettings | None = None
) -> Extraction:
    if media_type == PDF:
        return extract_pdf(data, filename, progress, ocr)
    if media_type in IMAGES:
        return extract_image(data, filename, progress, ocr)
    readers: dict[str, Callable[[], Extraction]] = {
        DOCX: lambda: extract_docx(data, filename),
        XLSX: lambda: extract_xlsx(data, filename),
        ODS: lambda: extract_ods(data, filename),
        CSV: lambda: extract_csv(decode(data, filename), filename),
        MARKDOWN: lambda: extract_markdown(decode(data, filename)),
        HTML: lambda: extract_html(decode(data, filename)),
        TEXT: lambda: extract_text(decode(data, filename)),
    }
    if media_type in readers:
        return readers[media_type]()
    msg = f"{filename}: no extractor for {media_type}"
    raise UnsupportedDocumentError(msg)
