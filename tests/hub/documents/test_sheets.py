"""Spreadsheets: the real Fronius GEN24 register map (XLSX), and small workbooks made here for what it lacks.

The real file has ten visible sheets, header rows repeated above each SunSpec model block on
"Complete Map", cells with line breaks, but no merged cells, formulas or hidden sheets; those come
from workbooks written in the tests (openpyxl for XLSX, ``content.xml`` by hand for ODS).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.errors import CorruptDocumentError, DocumentTooLargeError, EmptyDocumentError
from luna_hub.documents.extract import ODS, XLSX, Extraction, check_archive, extract, probe, sniff
from luna_hub.documents.schemas import Chunk

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FRONIUS = FIXTURES / "fronius_gen24_register_map_float_storage.xlsx"


def chunks_of(data: bytes, name: str, max_chars: int = 1200) -> tuple[Extraction, list[Chunk]]:
    media_type = sniff(data, name)
    probe(data, media_type, name)
    extraction = extract(data, media_type, name)
    chunks = make_chunks(
        extraction, document_id="doc", version=1, title=name, media_type=media_type, max_chars=max_chars, overlap=200
    )
    return extraction, chunks


def row_text(extraction: Extraction, sheet: str, row: int) -> str:
    [segment] = [s for s in extraction.segments if s.section == sheet and s.row == row]
    return extraction.text[segment.start : segment.end]


def test_the_real_register_map_is_one_section_a_sheet_with_labelled_rows() -> None:
    data = FRONIUS.read_bytes()
    assert sniff(data, "map.bin") == XLSX  # by content, not by name
    extraction, chunks = chunks_of(data, FRONIUS.name)
    assert {s.section for s in extraction.segments} == {
        "Complete Map",
        "common (1)",
        "inverter (11x)",
        "nameplate (120)",
        "settings (121)",
        "status (122)",
        "controls (123)",
        "mppt (160)",
        "storage (124)",
        "End Block",
    }
    assert extraction.notes == ()  # nothing hidden
    # The AC power register (qa_dev d42): its header is the one repeated above its block, its row number its own.
    ac_power = row_text(extraction, "Complete Map", 29)
    assert ac_power.startswith("Row 29: Start: 40092; End: 40093; Size: 2; R/W: R; Function codes: 0x03; Name: W;")
    assert "Description: AC Power; Type: float32; Units: W" in ac_power
    # Header rows repeated above each model block are not data rows; the title row is kept as text.
    assert not any(s.row in {3, 6, 16} for s in extraction.segments if s.section == "Complete Map")
    assert row_text(extraction, "Complete Map", 1).startswith("Row 1: Fronius Gen24 Primo/Symo Inverter Register Map")
    # A cell with line breaks stays one value (whitespace collapsed), under its own column.
    assert "Range of values: Bit 0: Connected Bit 1: Available Bit 2: Operating" in row_text(
        extraction, "status (122)", 4
    )
    timestamp = containing(chunks, "Name: Tms; Description: Seconds since 01-01-2000 00:00 UTC")  # qa_dev d43
    assert {c.section for c in timestamp} == {"status (122)", "Complete Map"}
    for chunk in chunks:
        assert chunk.row_start is not None
        assert chunk.row_end is not None
        rows = [int(n) for n in re.findall(r"^Row (\d+):", chunk.text, re.MULTILINE)]
        assert rows
        assert (chunk.row_start, chunk.row_end) == (min(rows), max(rows))
        assert chunk.page is None
        assert chunk.ocr_confidence is None
        assert extraction.text[chunk.char_start : chunk.char_end] == chunk.text


def containing(chunks: list[Chunk], needle: str) -> list[Chunk]:
    found = [chunk for chunk in chunks if needle in chunk.text]
    assert found, f"no chunk contains {needle!r}"
    return found


def tariff_workbook() -> bytes:
    """A tariff sheet with a two-row header (a merged "Price" over net and gross), a formula, and a hidden sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Tariffs 2025"
    sheet.append(["Stadtwerke Musterstadt, Arbeitspreise"])
    sheet.append([])
    sheet.append(["Tariff", "Price ct/kWh", None, "Valid from"])
    sheet.merge_cells("B3:C3")
    sheet.append([None, "net", "gross"])
    sheet.append(["Heat pump HT", 24.5, "=B5*1.19", "2025-01-01"])
    sheet.append(["Heat pump NT", 19.25, "=B6*1.19", "2025-01-01"])
    sheet.append(["Region", "Nord"])
    sheet.merge_cells("B7:B8")  # a value merged down over the next row: each row gets it
    sheet.append(["Zone", None])
    secret = workbook.create_sheet("Internal margins")
    secret.append(["Tariff", "Margin"])
    secret.append(["Heat pump HT", 3.1])
    secret.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    # openpyxl writes formulas without results; give them the cached values a spreadsheet program stores
    return _rewrite(
        buffer.getvalue(),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("<f>B5*1.19</f><v></v>", "<f>B5*1.19</f><v>29.155</v>").replace(
            "<f>B6*1.19</f><v></v>", "<f>B6*1.19</f><v>22.9075</v>"
        ),
    )


def _rewrite(data: bytes, member: str, change: object) -> bytes:
    assert callable(change)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == member:
                changed = change(content.decode())
                assert changed != content.decode(), "the rewrite found nothing to change"
                content = changed.encode()
            target.writestr(info.filename, content)
    return out.getvalue()


def test_xlsx_merged_headers_formulas_and_hidden_sheets() -> None:
    extraction, chunks = chunks_of(tariff_workbook(), "tarife.xlsx")
    assert extraction.notes == ("sheet 'Internal margins' is hidden and was skipped",)
    assert "Margin" not in extraction.text
    assert row_text(extraction, "Tariffs 2025", 1) == "Row 1: Stadtwerke Musterstadt, Arbeitspreise"
    assert row_text(extraction, "Tariffs 2025", 5) == (
        "Row 5: Tariff: Heat pump HT; Price ct/kWh net: 24.5; Price ct/kWh gross: 29.155; Valid from: 2025-01-01"
    )
    assert "Price ct/kWh gross: 22.9075" in row_text(extraction, "Tariffs 2025", 6)
    assert row_text(extraction, "Tariffs 2025", 7) == "Row 7: Tariff: Region; Price ct/kWh net: Nord"
    assert row_text(extraction, "Tariffs 2025", 8) == "Row 8: Tariff: Zone; Price ct/kWh net: Nord"
    assert not any(s.row in {3, 4} for s in extraction.segments)  # the header rows are no data
    [chunk] = chunks
    assert (chunk.section, chunk.row_start, chunk.row_end) == ("Tariffs 2025", 1, 8)


def ods(tables: str, styles: str = "") -> bytes:
    """An OpenDocument spreadsheet: ``mimetype`` first and stored, as the format requires, and ``content.xml``."""
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
  xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
  xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.3">
<office:automatic-styles>{styles}</office:automatic-styles>
<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>
</office:document-content>"""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def cell(text: str, value: str | None = None, extra: str = "") -> str:
    kind = f' office:value-type="float" office:value="{value}"' if value is not None else ' office:value-type="string"'
    return f"<table:table-cell{kind}{extra}><text:p>{text}</text:p></table:table-cell>"


SPAN_TWO = ' table:number-columns-spanned="2"'
FORMULA = ' table:formula="of:=[.B4]+1"'
METERS_ODS = ods(
    styles='<style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/>'
    "</style:style>",
    tables='<table:table table:name="Meters" table:style-name="ta1"><table:table-row>'
    + cell("Meter")
    + cell("Readings", extra=SPAN_TWO)
    + "<table:covered-table-cell/></table:table-row>"
    + "<table:table-row><table:table-cell/>"
    + cell("kWh")
    + cell("date")
    + "</table:table-row><table:table-row>"
    + cell("Heat pump")
    + cell("1.234,5", "1234.5", FORMULA)
    + cell("31.12.2024")
    + "</table:table-row>"
    + '<table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-repeated="3"/>'
    + "</table:table-row><table:table-row>"
    + cell("Wallbox")
    + cell("880", "880")
    + cell("31.12.2024")
    + "</table:table-row>"
    + '<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/>'
    + "</table:table-row></table:table>"
    + '<table:table table:name="Old" table:style-name="ta2"><table:table-row>'
    + cell("Meter")
    + cell("Serial")
    + "</table:table-row><table:table-row>"
    + cell("Boiler")
    + cell("X-1")
    + "</table:table-row></table:table>",
)


def test_ods_sheets_rows_merges_formulas_and_hidden_tables() -> None:
    assert sniff(METERS_ODS, "zaehler.ods") == ODS
    extraction, chunks = chunks_of(METERS_ODS, "zaehler.ods")
    assert extraction.notes == ("sheet 'Old' is hidden and was skipped",)
    assert (
        row_text(extraction, "Meters", 3) == "Row 3: Meter: Heat pump; Readings kWh: 1.234,5; Readings date: 31.12.2024"
    )
    # the header stays in force after the empty (repeated) rows; the row number counts them
    assert row_text(extraction, "Meters", 6) == "Row 6: Meter: Wallbox; Readings kWh: 880; Readings date: 31.12.2024"
    assert "Boiler" not in extraction.text
    [chunk] = chunks
    assert (chunk.section, chunk.row_start, chunk.row_end) == ("Meters", 3, 6)


def test_a_spreadsheet_that_unpacks_too_far_is_refused_before_parsing() -> None:
    empty_rows = "<table:table-row><table:table-cell/></table:table-row>" * 400_000
    bomb = ods(f'<table:table table:name="Big">{empty_rows}</table:table>')
    with pytest.raises(DocumentTooLargeError, match="max_unpack_ratio"):
        check_archive(bomb, "big.ods", max_unpacked_bytes=200 * 1024 * 1024, max_ratio=100)


def test_broken_spreadsheets_are_corrupt() -> None:
    unclosed = ods("<table:table table:name='x'><table:table-row>")  # content.xml is not well-formed
    with pytest.raises(CorruptDocumentError, match=r"broken\.ods"):
        probe(unclosed, sniff(unclosed, "broken.ods"), "broken.ods")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook>cut off")
    assert sniff(out.getvalue(), "broken.xlsx") == XLSX
    with pytest.raises(CorruptDocumentError, match=r"broken\.xlsx"):
        probe(out.getvalue(), XLSX, "broken.xlsx")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(-(10**6), 10**6), st.text("abcxyz äöü-/", max_size=12)), max_size=5),
        min_size=1,
        max_size=12,
    )
)
def test_every_row_but_a_header_is_a_row_with_all_its_cells(rows: list[list[object]]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    if all(not str(value).strip() for row in rows for value in row if value is not None):
        with pytest.raises(EmptyDocumentError):
            extract(buffer.getvalue(), XLSX, "any.xlsx")
        return
    extraction = extract(buffer.getvalue(), XLSX, "any.xlsx")
    kept = {segment.row for segment in extraction.segments}
    for number, row in enumerate(rows, start=1):
        shown = [" ".join(str(value).split()) for value in row if value is not None]
        shown = [text for text in shown if text]
        if shown and number not in kept:  # only a header row is no row of its own: text only, two cells or more
            assert len(shown) >= 2
            assert all(isinstance(value, str) for value in row if value is not None and str(value).strip())
            continue
        for text in shown:
            assert text in row_text(extraction, "Sheet", number)
