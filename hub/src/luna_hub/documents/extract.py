"""Text extraction: bytes of an uploaded file to plain text with its structure, as pure functions.

:func:`sniff` decides the media type from the content (the file name only breaks ties between
text formats), :func:`probe` rejects what cannot become a document quickly (encrypted, corrupt,
empty, scanned) before anything is stored, and :func:`extract` produces an :class:`Extraction`:
the document's text and its :class:`Segment` list. Segments are the units chunking respects
(a heading, a paragraph, a list item, a table row) with the page and heading path they belong
to; their offsets point into ``Extraction.text``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Final, Literal

import docx
import docx.opc.exceptions
import pypdf
import pypdf.errors
from docx.table import Table
from docx.text.paragraph import Paragraph

from luna_hub.documents.errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextError,
    UnsupportedDocumentError,
)

__all__ = [
    "CSV",
    "DOCX",
    "HTML",
    "MARKDOWN",
    "MEDIA_TYPES",
    "PDF",
    "TEXT",
    "Extraction",
    "Progress",
    "Segment",
    "extract",
    "probe",
    "sniff",
]

PDF: Final = "application/pdf"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CSV: Final = "text/csv"
MARKDOWN: Final = "text/markdown"
HTML: Final = "text/html"
TEXT: Final = "text/plain"
MEDIA_TYPES: Final = (PDF, DOCX, CSV, MARKDOWN, HTML, TEXT)

SECTION_SEPARATOR: Final = " > "
_BINARY_SUFFIXES: Final = {".pdf": PDF, ".docx": DOCX}
_TEXT_SUFFIXES: Final = {
    ".csv": CSV,
    ".tsv": CSV,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".txt": TEXT,
}
_SNIFF_BYTES: Final = 64 * 1024
_HEADING: Final = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE: Final = re.compile(r"^(```|~~~)")
_DOCX_HEADING: Final = re.compile(r"^Heading (\d)$")
_BLANK_LINES: Final = re.compile(r"\n[ \t\r\f\v]*\n")
_MIN_TITLE: Final = 4

# pypdf reports recoverable oddities of real PDFs (missing fontTools, odd xref) as log warnings;
# they are not ours to act on, and a file that really cannot be read raises instead.
logging.getLogger("pypdf").setLevel(logging.ERROR)

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


@dataclass
class _Builder:
    """Joins segment texts with blank lines and records where each one landed."""

    parts: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    length: int = 0

    def add(self, text: str, kind: SegmentKind, *, page: int | None = None, section: str | None = None) -> None:
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.parts.append(text)
        self.segments.append(Segment(self.length, self.length + len(text), kind, page, section))
        self.length += len(text)

    def build(self, *, title: str | None = None, pages: int | None = None) -> Extraction:
        if not self.segments:
            msg = "the file contains no text"
            raise EmptyDocumentError(msg)
        return Extraction("".join(self.parts), tuple(self.segments), title, pages)


class _Headings:
    """The open heading path: setting a heading of level n closes those of level n and deeper."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> str:
        self._open = [(lvl, text) for lvl, text in self._open if lvl < level]
        self._open.append((level, title))
        return self.path or title

    @property
    def path(self) -> str | None:
        return SECTION_SEPARATOR.join(text for _, text in self._open) or None


def sniff(data: bytes, filename: str) -> str:
    """Return the media type of ``data`` from its content; the name only tells text formats apart."""
    if not data.strip():
        msg = f"{filename} is empty"
        raise EmptyDocumentError(msg)
    suffix = PurePosixPath(filename).suffix.lower()
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, EOFError) as exc:
            msg = f"{filename} is a damaged ZIP archive: {exc}"
            raise CorruptDocumentError(msg) from exc
        if "word/document.xml" in names:
            return DOCX
        msg = f"{filename} is a ZIP-based format the hub does not extract (supported: PDF, DOCX, CSV, MD, HTML, TXT)"
        raise UnsupportedDocumentError(msg)
    if suffix in _BINARY_SUFFIXES:
        kind = "PDF" if suffix == ".pdf" else "DOCX (ZIP) file"
        msg = f"{filename} is named {suffix} but its content is not a {kind}"
        raise CorruptDocumentError(msg)
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        msg = f"{filename} is a binary format the hub does not extract (supported: PDF, DOCX, CSV, MD, HTML, TXT)"
        raise UnsupportedDocumentError(msg)
    _decode(data, filename)
    if suffix in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[suffix]
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return HTML
    return TEXT


def probe(data: bytes, media_type: str, filename: str) -> None:
    """Reject a file that cannot become a document, cheaply (text formats are extracted in full)."""
    if media_type == PDF:
        reader = _open_pdf(data, filename)
        for page in reader.pages:
            if _page_text(page, filename).strip():
                return
        msg = f"{filename}: none of its {len(reader.pages)} pages has a text layer (a scan?); OCR is not available"
        raise NoTextError(msg)
    if media_type == DOCX:
        _open_docx(data, filename)
        return
    extract(data, media_type, filename)


def extract(data: bytes, media_type: str, filename: str, progress: Progress | None = None) -> Extraction:
    """Extract the text and structure of ``data`` (of ``media_type``, as :func:`sniff` decided)."""
    match media_type:
        case "application/pdf":
            return _extract_pdf(data, filename, progress)
        case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
            return _extract_docx(data, filename)
        case "text/csv":
            return _extract_csv(_decode(data, filename), filename)
        case "text/markdown":
            return _extract_markdown(_decode(data, filename))
        case "text/html":
            return _extract_html(_decode(data, filename))
        case "text/plain":
            return _extract_text(_decode(data, filename))
    msg = f"{filename}: no extractor for {media_type}"
    raise UnsupportedDocumentError(msg)


def _decode(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            msg = f"{filename} is neither UTF-8 nor Windows-1252 text"
            raise UnsupportedDocumentError(msg) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- PDF ---------------------------------------------------------------------------------------


def _open_pdf(data: bytes, filename: str) -> pypdf.PdfReader:
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


def _page_text(page: pypdf.PageObject, filename: str) -> str:
    try:
        text = page.extract_text()
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError) as exc:
        msg = f"{filename}: page {page.page_number} cannot be read: {exc}"
        raise CorruptDocumentError(msg) from exc
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _extract_pdf(data: bytes, filename: str, progress: Progress | None) -> Extraction:
    reader = _open_pdf(data, filename)
    total = len(reader.pages)
    sections = _pdf_outline(reader)
    builder = _Builder()
    for number, page in enumerate(reader.pages, start=1):
        section = sections.get(number)
        for paragraph in _BLANK_LINES.split(_page_text(page, filename)):
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


# --- DOCX --------------------------------------------------------------------------------------


def _open_docx(data: bytes, filename: str) -> docx.document.Document:
    try:
        return docx.Document(io.BytesIO(data))
    except (docx.opc.exceptions.PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        msg = f"{filename} is not a readable DOCX file: {exc}"
        raise CorruptDocumentError(msg) from exc


def _extract_docx(data: bytes, filename: str) -> Extraction:
    document = _open_docx(data, filename)
    headings = _Headings()
    builder = _Builder()
    title = (document.core_properties.title or "").strip() or None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = block.style.name if block.style is not None else ""
            level = _DOCX_HEADING.match(style or "")
            if level and block.text.strip():
                section = headings.enter(int(level.group(1)), " ".join(block.text.split()))
                builder.add(block.text, "heading", section=section)
            elif style == "Title" and block.text.strip():
                title = title or block.text.strip()
                builder.add(block.text, "heading", section=headings.path)
            else:
                builder.add(block.text, "paragraph", section=headings.path)
        else:
            for row in _table_rows(block):
                builder.add(row, "row", section=headings.path)
    return builder.build(title=title)


def _table_rows(table: Table) -> Iterator[str]:
    """Each data row as ``header: value; ...`` so a row carries its column names into any chunk."""
    header: list[str] | None = None
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # noqa: SLF001 - a merged cell repeats; its element identifies it
                continue
            seen.add(id(cell._tc))  # noqa: SLF001
            cells.append(" ".join(cell.text.split()))
        if header is None:
            header = [cell.rstrip(":").strip() for cell in cells]
            yield " | ".join(cell for cell in cells if cell)
            continue
        yield _labelled(header, cells)


def _labelled(header: list[str], values: list[str]) -> str:
    pairs = []
    for index, value in enumerate(values):
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


# --- CSV ---------------------------------------------------------------------------------------


def _extract_csv(text: str, filename: str) -> Extraction:
    sample = text[:_SNIFF_BYTES]
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        has_header = csv.Sniffer().has_header(sample)
    except csv.Error:
        has_header = False
    builder = _Builder()
    header: list[str] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
            if not any(cell.strip() for cell in row):
                continue
            if has_header and not header:
                header = [" ".join(cell.split()) for cell in row]
                continue
            labelled = _labelled(header, [" ".join(cell.split()) for cell in row])
            builder.add(f"Row {number}: {labelled}", "row")
    except csv.Error as exc:
        msg = f"{filename} is not readable CSV: {exc}"
        raise CorruptDocumentError(msg) from exc
    return builder.build()


# --- Markdown ----------------------------------------------------------------------------------


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """Return the ``title`` of a YAML front matter block (if any) and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            title: list[str] = []
            for line in lines[1:end]:
                if title and line.startswith((" ", "\t")):
                    title.append(line.strip())
                elif title:
                    break
                elif line.lower().startswith("title:"):
                    title.append(line.partition(":")[2].strip().strip("\"'"))
            return (" ".join(title) or None), end + 1
    return None, 0


def _extract_markdown(text: str) -> Extraction:
    lines = text.split("\n")
    title, first = _front_matter(lines)
    body = lines[first:]
    top_level = [line for line in body if line.startswith("# ")]
    # A single level-1 heading is the document's title, not a section of it.
    title_line = top_level[0] if len(top_level) == 1 else None
    headings = _Headings()
    builder = _Builder()
    paragraph: list[str] = []
    fenced = False

    def flush() -> None:
        builder.add("\n".join(paragraph), "paragraph", section=headings.path)
        paragraph.clear()

    for line in body:
        if _FENCE.match(line):
            fenced = not fenced
            paragraph.append(line)
            continue
        heading = None if fenced else _HEADING.match(line)
        if heading:
            flush()
            name = heading.group(2).strip()
            if line == title_line:
                title = title or name
                builder.add(name, "heading")
                continue
            builder.add(name, "heading", section=headings.enter(len(heading.group(1)), name))
        elif not line.strip() and not fenced:
            flush()
        else:
            paragraph.append(line.rstrip())
    flush()
    return builder.build(title=title)


# --- HTML --------------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    _BLOCKS: Final = frozenset(
        {"p", "div", "li", "pre", "blockquote", "section", "article", "dd", "dt", "figcaption", "caption", "tr"}
    )
    _SKIP: Final = frozenset({"script", "style", "template", "noscript", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = _Builder()
        self.headings = _Headings()
        self.title: str | None = None
        self._buffer: list[str] = []
        self._cells: list[str] | None = None
        self._header: list[str] | None = None
        self._row_is_header = False
        self._skipping = 0
        self._in_title = False
        self._heading_level: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._flush()
            self._heading_level = int(tag[1])
        elif tag == "tr":
            self._flush()
            self._cells, self._row_is_header = [], False
        elif tag in {"td", "th"} and self._cells is not None:
            self._cell_done()
            self._row_is_header = self._row_is_header or tag == "th"
        elif tag == "table":
            self._flush()
            self._header = None
        elif tag == "br":
            self._buffer.append("\n")
        elif tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and self._heading_level is not None:
            name = " ".join("".join(self._buffer).split())
            self._buffer.clear()
            if name:
                self.builder.add(name, "heading", section=self.headings.enter(self._heading_level, name))
            self._heading_level = None
        elif tag == "tr":
            self._row_done()
        elif tag in {"td", "th"}:
            self._cell_done()
        elif tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._in_title:
            self.title = ((self.title or "") + data).strip() or None
            return
        self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._row_done()
        self._flush()

    def _cell_done(self) -> None:
        if self._cells is not None and self._buffer:
            self._cells.append(" ".join("".join(self._buffer).split()))
            self._buffer.clear()

    def _row_done(self) -> None:
        if self._cells is None:
            return
        self._cell_done()
        cells, self._cells = self._cells, None
        if self._row_is_header or self._header is None:
            self._header = cells
            self.builder.add(" | ".join(c for c in cells if c), "row", section=self.headings.path)
        else:
            self.builder.add(_labelled(self._header, cells), "row", section=self.headings.path)

    def _flush(self) -> None:
        if self._cells is not None:
            return  # text inside a table cell belongs to the cell
        text = "\n".join(" ".join(line.split()) for line in "".join(self._buffer).split("\n"))
        self._buffer.clear()
        self.builder.add(text, "paragraph", section=self.headings.path)


def _extract_html(text: str) -> Extraction:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.builder.build(title=parser.title)


# --- plain text --------------------------------------------------------------------------------


def _extract_text(text: str) -> Extraction:
    builder = _Builder()
    for paragraph in _BLANK_LINES.split(text):
        builder.add("\n".join(line.rstrip() for line in paragraph.split("\n")), "paragraph")
    return builder.build()
