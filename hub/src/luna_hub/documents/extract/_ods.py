"""ODS: ``content.xml`` of the OpenDocument ZIP read directly; formulas as the values stored with them.

The archive's sizes were checked before (``check_archive``), and ``zipfile`` never inflates a member
beyond its declared size, so the XML parsed here is no bigger than the limits allow.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from typing import Final

from luna_hub.documents.errors import CorruptDocumentError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._sheets import Cell, Sheet, add_sheet
from luna_hub.documents.extract._types import Extraction

_OFFICE: Final = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TABLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_STYLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_TEXT: Final = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_VALUE_ATTRIBUTES: Final = {
    "float": "value",
    "percentage": "value",
    "currency": "value",
    "date": "date-value",
    "time": "time-value",
    "boolean": "boolean-value",
}
_MAX_REPEAT: Final = 1024  # a non-empty row or cell repeated more often is written out this often
ODS_MIMETYPE: Final = b"application/vnd.oasis.opendocument.spreadsheet"


def open_ods(data: bytes, filename: str) -> ET.Element:
    """Return the root of ``content.xml``; :class:`CorruptDocumentError` if there is none or it is not XML."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = archive.read("content.xml")
        return ET.fromstring(content)  # noqa: S314 - see the import
    except (KeyError, zipfile.BadZipFile, ET.ParseError) as exc:
        msg = f"{filename} is not a readable ODS file: {exc}"
        raise CorruptDocumentError(msg) from exc


def extract_ods(data: bytes, filename: str) -> Extraction:
    root = open_ods(data, filename)
    hidden_styles = {
        style.get(f"{_STYLE}name")
        for style in root.iter(f"{_STYLE}style")
        if style.get(f"{_STYLE}family") == "table"
        and any(p.get(f"{_TABLE}display") == "false" for p in style.iter(f"{_STYLE}table-properties"))
    }
    builder = Builder()
    for table in root.iter(f"{_TABLE}table"):
        name = table.get(f"{_TABLE}name") or "Sheet"
        if table.get(f"{_TABLE}style-name") in hidden_styles:
            builder.notes.append(f"sheet {name!r} is hidden and was skipped")
            continue
        add_sheet(builder, _sheet(name, table))
    return builder.build()


def _sheet(name: str, table: ET.Element) -> Sheet:
    sheet = Sheet(name)
    number = 1
    for row in table.iter(f"{_TABLE}table-row"):
        repeat = int(row.get(f"{_TABLE}number-rows-repeated", "1"))
        cells = _row(row, number, sheet)
        for offset in range(min(repeat, _MAX_REPEAT) if cells else 0):
            for column, cell in cells.items():
                sheet.put(number + offset, column, cell)
        number += repeat
    return sheet


def _row(row: ET.Element, number: int, sheet: Sheet) -> dict[int, Cell]:
    """Return the row's cells by column; merged ranges starting in it go to ``sheet.merges``."""
    cells: dict[int, Cell] = {}
    column = 0
    for element in row:
        if element.tag not in {f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"}:
            continue
        repeat = int(element.get(f"{_TABLE}number-columns-repeated", "1"))
        cell = _cell(element) if element.tag == f"{_TABLE}table-cell" else None
        if cell is not None:
            for offset in range(min(repeat, _MAX_REPEAT)):
                cells[column + offset] = cell
            rows = int(element.get(f"{_TABLE}number-rows-spanned", "1"))
            columns = int(element.get(f"{_TABLE}number-columns-spanned", "1"))
            if rows > 1 or columns > 1:
                sheet.merges.append((number, column + 1, number + rows - 1, column + columns))
        column += repeat
    return cells


def _cell(element: ET.Element) -> Cell | None:
    shown = "\n".join("".join(paragraph.itertext()) for paragraph in element.iter(f"{_TEXT}p"))
    kind = element.get(f"{_OFFICE}value-type")
    if kind in _VALUE_ATTRIBUTES:
        value = element.get(f"{_OFFICE}{_VALUE_ATTRIBUTES[kind]}")
        return Cell(shown or value or "", number=True) if (shown or value) else None
    return Cell(shown) if shown.strip() else None
