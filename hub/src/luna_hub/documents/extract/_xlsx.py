"""XLSX: openpyxl in read-only mode, formulas as the values the program that saved the file computed."""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
from typing import Final

import openpyxl
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from luna_hub.documents.errors import CorruptDocumentError
from luna_hub.documents.extract._builder import Builder
from luna_hub.documents.extract._sheets import Cell, Sheet, add_sheet
from luna_hub.documents.extract._types import Extraction

_MERGE_CELL: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}mergeCell"


def open_xlsx(data: bytes, filename: str) -> openpyxl.Workbook:
    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except (KeyError, ValueError, OSError, TypeError) as exc:  # a part missing, a broken part, not a ZIP
        msg = f"{filename} is not a readable XLSX file: {exc}"
        raise CorruptDocumentError(msg) from exc


def extract_xlsx(data: bytes, filename: str) -> Extraction:
    workbook = open_xlsx(data, filename)
    try:
        builder = Builder()
        for worksheet in workbook.worksheets:
            if worksheet.sheet_state != "visible":
                builder.notes.append(f"sheet {worksheet.title!r} is hidden and was skipped")
                continue
            assert isinstance(worksheet, ReadOnlyWorksheet)  # noqa: S101 - read_only=True makes only these
            add_sheet(builder, _sheet(worksheet))
        title = (workbook.properties.title or "").strip() or None
    finally:
        workbook.close()
    return builder.build(title=title)


def _sheet(worksheet: ReadOnlyWorksheet) -> Sheet:
    sheet = Sheet(worksheet.title)
    for number, row in enumerate(worksheet.iter_rows(values_only=True), start=1):  # type: ignore[misc]  # stubs: Worksheet only
        for column, value in enumerate(row):
            if value is not None:
                sheet.put(number, column, _cell(value))
    sheet.merges = _merges(worksheet)
    return sheet


def _cell(value: object) -> Cell:
    if isinstance(value, bool):
        return Cell("TRUE" if value else "FALSE", number=True)
    if isinstance(value, float):
        return Cell(str(int(value)) if value.is_integer() else repr(value), number=True)
    if isinstance(value, int):
        return Cell(str(value), number=True)
    if isinstance(value, dt.datetime):
        shown = value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
        return Cell(shown, number=True)
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return Cell(str(value), number=True)
    return Cell(str(value))


def _merges(worksheet: ReadOnlyWorksheet) -> list[tuple[int, int, int, int]]:
    """Return the sheet's merged ranges (read-only mode streams the cells and leaves ``<mergeCells>`` unread)."""
    merges = []
    with worksheet._get_source() as source:  # type: ignore[attr-defined]  # noqa: SLF001 - the sheet part, as openpyxl opens it
        for _, element in ET.iterparse(source):  # noqa: S314 - see the import
            if element.tag == _MERGE_CELL and element.get("ref"):
                min_col, min_row, max_col, max_row = range_boundaries(element.get("ref", ""))
                if None not in (min_col, min_row, max_col, max_row):
                    merges.append((int(min_row or 0), int(min_col or 0), int(max_row or 0), int(max_col or 0)))
            element.clear()
    return merges
