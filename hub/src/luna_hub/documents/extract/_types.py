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
MEDIA_TYPES: Final = (PDF, DOCX, CSV, MARKDOWN, HTML, TEXT)

SECTION_SEPARATOR: Final = " > "

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a long extraction (PDF pages) runs."""

SegmentKind = Literal["heading", "paragraph", "row"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One structural unit of the text: ``text[start:end]``, its page and heading path."""

    start: int
    end: int
    kind: SegmentKind
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True)
class Extraction:
    """A document's text, its segments in order, its title (if it names one) and page count."""

    text: str
    segments: tuple[Segment, ...]
    title: str | None = None
    pages: int | None = None
