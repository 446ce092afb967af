"""DOCX: paragraphs under their heading path, table rows labelled with their column names."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Final

import docx
import docx.opc.exceptions
from docx.table import Table
from docx.text.paragraph import Paragraph

from luna_hub.documents.errors import CorruptDocumentError
from luna_hub.documents.extract._builder import Builder, Headings, labelled
from luna_hub.documents.extract._types import Extraction

_DOCX_HEADING: Final = re.compile(r"^Heading (\d)$")


def open_docx(data: bytes, filename: str) -> docx.document.Document:
    try:
        return docx.Document(io.BytesIO(data))
    except (docx.opc.exceptions.PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        msg = f"{filename} is not a readable DOCX file: {exc}"
        raise CorruptDocumentError(msg) from exc
    except SyntaxError as exc:  # lxml.etree.XMLSyntaxError, from the part python-docx parses
        msg = f"{filename} is not a readable DOCX file: its XML is not well-formed: {exc}"
        raise CorruptDocumentError(msg) from exc


def extract_docx(data: bytes, filename: str) -> Extraction:
    document = open_docx(data, filename)
    headings = Headings()
    builder = Builder()
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
        yield labelled(header, cells)
