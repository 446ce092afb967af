"""Text extraction: bytes of an uploaded file to plain text with its structure, as pure functions.

:func:`sniff` decides the media type from the content (the file name only breaks ties between
text formats), :func:`probe` rejects what cannot become a document quickly (encrypted, corrupt,
empty, scanned) before anything is stored, and :func:`extract` produces an :class:`Extraction`:
the document's text and its :class:`Segment` list. Segments are the units chunking respects
(a heading, a paragraph, a list item, a table row) with the page and heading path they belong
to; their offsets point into ``Extraction.text``.

One module a format (``_pdf``, ``_docx``, ``_xlsx``, ``_ods``, ``_csv``, ``_markdown``, ``_html``,
``_text``, ``_image``), what spreadsheets share in ``_sheets`` and OCR (Tesseract) in ``_ocr``, the
types all share in ``_types`` and ``_builder``, :func:`sniff` in ``_sniff`` and
:func:`probe` and :func:`extract`, which pick the format's module, in ``_dispatch``; :func:`check_archive`
(ZIP-based formats within unpacked size and ratio limits) in ``_archive``.
"""

from __future__ import annotations

from luna_hub.documents.extract._archive import ZIP_MAGIC, check_archive
from luna_hub.documents.extract._dispatch import extract, probe
from luna_hub.documents.extract._ocr import ocr_unavailable
from luna_hub.documents.extract._sniff import sniff
from luna_hub.documents.extract._types import (
    CSV,
    DOCX,
    HTML,
    IMAGES,
    JPEG,
    MARKDOWN,
    MEDIA_TYPES,
    ODS,
    PDF,
    PNG,
    TEXT,
    TIFF,
    XLSX,
    Extraction,
    Progress,
    Segment,
    SegmentKind,
)

__all__ = [
    "CSV",
    "DOCX",
    "HTML",
    "IMAGES",
    "JPEG",
    "MARKDOWN",
    "MEDIA_TYPES",
    "ODS",
    "PDF",
    "PNG",
    "TEXT",
    "TIFF",
    "XLSX",
    "ZIP_MAGIC",
    "Extraction",
    "Progress",
    "Segment",
    "SegmentKind",
    "check_archive",
    "extract",
    "ocr_unavailable",
    "probe",
    "sniff",
]
