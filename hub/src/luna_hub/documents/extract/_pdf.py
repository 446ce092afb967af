"""PDF: the text layer page by page, paragraphs split at blank lines, sections from the bookmarks."""

from __future__ import annotations

import io
import logging
from typing import Final

import pypdf
import pypdf.errors

from luna_hub.documents.errors import CorruptDocumentError, EmptyDocumentError, EncryptedDocumentError, NoTextError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._text import BLANK_LINES
from luna_hub.documents.extract._types import SECTION_SEPARATOR, Extraction, Progress

_MIN_TITLE: Final = 4

# pypdf reports recoverable oddities of real PDFs (missing fontTools, odd xref) as log warnings;
# they are not ours to act on, and a file that really cannot be read raises instead.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def open_pdf(data: bytes, filename: str) -> pypdf.PdfReader:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            msg = f"{filename} is encrypted; upload it without a password"
            raise EncryptedDocumentError(msg)
        pages = len(reader.pages)
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError) as exc:
        msg = f"{filename} is not a readable PDF: {exc}"
        raise CorruptDocumentError(msg) from exc
    if pages == 0:
        msg = f"{filename} has no pages"
        raise EmptyDocumentError(msg)
    return reader


def page_text(page: pypdf.PageObject, filename: str) -> str:
    try:
        text = page.extract_text()
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError) as exc:
        msg = f"{filename}: page {page.page_number} cannot be read: {exc}"
        raise CorruptDocumentError(msg) from exc
    return "\n".join(line.rstrip() for line in text.split("\n"))


def extract_pdf(data: bytes, filename: str, progress: Progress | None) -> Extraction:
    reader = open_pdf(data, filename)
    total = len(reader.pages)
    sections = _pdf_outline(reader)
    builder = Builder()
    for number, page in enumerate(reader.pages, start=1):
        section = sections.get(number)
        for paragraph in BLANK_LINES.split(page_text(page, filename)):
            builder.add(paragraph, "paragraph", page=number, section=section)
        if progress is not None:
            progress(number, total)
    if not builder.segments:
        msg = f"{filename}: none of its {total} pages has a text layer (a scan?); OCR is not available"
        raise NoTextError(msg)
    title = reader.metadata.title if reader.metadata is not None else None
    return builder.build(title=_plausible_title(title), pages=total)


def _plausible_title(title: object) -> str | None:
    """Return a metadata title worth showing, if any: word processors leave "1" or "Microsoft Word - x.doc" there."""
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    if len(title) < _MIN_TITLE or not any(char.isalpha() for char in title) or title.startswith("Microsoft Word"):
        return None
    return title


def _pdf_outline(reader: pypdf.PdfReader) -> dict[int, str]:
    """Map each page to the bookmark path in force on it (a PDF's own headings), where it has bookmarks."""
    starts: list[tuple[int, int, str]] = []  # (page, depth, title) in document order

    def walk(items: list[object], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            elif isinstance(item, pypdf.generic.Destination) and isinstance(item.title, str):
                number = reader.get_destination_page_number(item)
                if number is not None and number >= 0 and item.title.strip():
                    starts.append((number + 1, depth, " ".join(item.title.split())))

    try:
        walk(list(reader.outline), 0)
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # a broken outline costs the section titles, not the document
    starts.sort(key=lambda start: start[0])
    by_page: dict[int, str] = {}
    path: list[tuple[int, str]] = []
    index = 0
    for number in range(1, len(reader.pages) + 1):
        while index < len(starts) and starts[index][0] <= number:
            _, depth, title = starts[index]
            path = [(d, t) for d, t in path if d < depth]
            path.append((depth, title))
            index += 1
        if path:
            by_page[number] = SECTION_SEPARATOR.join(t for _, t in path)
    return by_page
