"""The media types extraction knows and the types of its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

PDF: Final = "application/pdf"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CSV: Final = "text/csv"
MARKDOWN: Final = "text/markdown"
HTML: Final = "text/html"
TEXT: Final = "text/plain"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODS: Final = "application/vnd.oasis.opendocument.spreadsheet"
PNG: Final = "image/png"
JPEG: Final = "image/jpeg"
TIFF: Final = "image/tiff"
IMAGES: Final = (PNG, JPEG, TIFF)
MEDIA_TYPES: Final = (PDF, DOCX, XLSX, ODS, CSV, MARKDOWN, HTML, TEXT, PNG, JPEG, TIFF)

SECTION_SEPARATOR: Final = " > "

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a long extraction (PDF pages, OCR) runs."""

SegmentKind = Literal["heading", "paragraph", "row"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One structural unit of the text: ``text[start:end]``, its page and heading path.

    ``row`` is a spreadsheet row's own number (1-based, as the program shows it); ``confidence``
    the OCR engine's mean word confidence (0-100) where the text was read off an image.
    """

    start: int
    end: int
    kind: SegmentKind
    page: int | None = None
    section: str | None = None
    row: int | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Extraction:
    """A document's text, its segments in order, its title (if it names one) and page count.

    ``notes`` say what was left out and why (a hidden sheet, pages without text and no OCR).
    """

    text: str
    segments: tuple[Segment, ...]
    title: str | None = None
    pages: int | None = None
    notes: tuple[str, ...] = ()
