"""PDF: the text layer page by page, paragraphs split at blank lines, sections from the bookmarks.

A page without a text layer (a scan) is rendered with pdfium and read by OCR, when OCR is there;
otherwise it is skipped and the extraction's notes say which pages were.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Final

import pypdf
import pypdf.errors
import pypdfium2

from luna_hub.documents.errors import CorruptDocumentError, EmptyDocumentError, EncryptedDocumentError, NoTextError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._ocr import OcrParagraph, grey_image, ocr_unavailable, recognise
from luna_hub.documents.extract._text import BLANK_LINES
from luna_hub.documents.extract._types import SECTION_SEPARATOR, Extraction, Progress
from luna_hub.settings import OcrSettings

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


def extract_pdf(data: bytes, filename: str, progress: Progress | None, ocr: OcrSettings | None = None) -> Extraction:
    reader = open_pdf(data, filename)
    total = len(reader.pages)
    sections = _pdf_outline(reader)
    builder = Builder()
    unavailable = ocr_unavailable(ocr)
    scanned: list[int] = []
    with contextlib.closing(_Scans(data, filename, ocr)) as scans:
        for number, page in enumerate(reader.pages, start=1):
            section = sections.get(number)
            text = page_text(page, filename)
            if not text.strip():
                scanned.append(number)
            if text.strip() or unavailable is not None:
                for paragraph in BLANK_LINES.split(text):
                    builder.add(paragraph, "paragraph", page=number, section=section)
            else:
                for read in scans.read(number):
                    builder.add(read.text, "paragraph", page=number, section=section, confidence=read.confidence)
            if progress is not None:
                progress(number, total)
    if not builder.segments:
        reason = "OCR found no text on them" if unavailable is None else unavailable
        msg = f"{filename}: none of its {total} pages has a text layer (a scan?); {reason}"
        raise NoTextError(msg)
    if scanned:
        builder.notes.append(_scan_note(scanned, ocr, unavailable))
    title = reader.metadata.title if reader.metadata is not None else None
    return builder.build(title=_plausible_title(title), pages=total)


class _Scans:
    """Scanned pages rendered (pdfium, opened at the first one) and read by OCR."""

    def __init__(self, data: bytes, filename: str, ocr: OcrSettings | None) -> None:
        self._data = data
        self._filename = filename
        self._ocr = ocr
        self._document: pypdfium2.PdfDocument | None = None

    def read(self, number: int) -> list[OcrParagraph]:
        assert self._ocr is not None  # noqa: S101 - only called when ocr_unavailable said OCR is usable
        if self._document is None:
            self._document = pypdfium2.PdfDocument(self._data)
        image = _render(self._document, number, self._filename, self._ocr)
        return recognise(image, self._ocr, filename=self._filename, page=number)

    def close(self) -> None:
        if self._document is not None:
            self._document.close()


def _scan_note(scanned: list[int], ocr: OcrSettings | None, unavailable: str | None) -> str:
    pages = ", ".join(map(str, scanned))
    if unavailable is None and ocr is not None:
        return f"pages without a text layer read by OCR ({ocr.languages}): {pages}"
    return f"pages without a text layer skipped: {pages}; {unavailable}"


def _render(document: pypdfium2.PdfDocument, number: int, filename: str, ocr: OcrSettings) -> bytes:
    """Page ``number`` as a grey image at ``ocr.dpi``, or smaller if that would exceed ``ocr.max_pixels``."""
    page = document[number - 1]
    try:
        width, height = page.get_size()  # points, 1/72 inch
        scale = min(ocr.dpi / 72, (ocr.max_pixels / max(width * height, 1.0)) ** 0.5)
        bitmap = page.render(scale=scale, grayscale=True)
        return grey_image(bitmap.to_pil(), filename, ocr.max_pixels)
    finally:
        page.close()


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
