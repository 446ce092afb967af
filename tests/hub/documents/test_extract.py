"""Extraction and chunking of the real documents in ``../shared/data/docs`` and of the broken ones there.

Facts checked are those of the corpus README (printed page labels vs PDF pages, § headings, the
CSV without header row) or visible in the files themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.errors import (
    CorruptDocumentError,
    DocumentRejectedError,
    EmptyDocumentError,
    EncryptedDocumentError,
    NoTextError,
    UnsupportedDocumentError,
)
from luna_hub.documents.extract import CSV, DOCX, HTML, MARKDOWN, PDF, TEXT, XLSX, Extraction, extract, probe, sniff
from luna_hub.documents.schemas import Chunk

DOCS = Path(__file__).resolve().parents[4] / "shared" / "data" / "docs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
real_docs = pytest.mark.skipif(not (DOCS / "laws" / "msbg.md").is_file(), reason=f"real documents not at {DOCS}")


def load(path: Path) -> tuple[str, Extraction, list[Chunk]]:
    data = path.read_bytes()
    media_type = sniff(data, path.name)
    probe(data, media_type, path.name)
    extraction = extract(data, media_type, path.name)
    chunks = make_chunks(
        extraction, document_id="doc", version=1, title=path.name, media_type=media_type, max_chars=1200, overlap=200
    )
    return media_type, extraction, chunks


def containing(chunks: list[Chunk], needle: str) -> list[Chunk]:
    found = [chunk for chunk in chunks if needle in chunk.text]
    assert found, f"no chunk contains {needle!r}"
    return found


@real_docs
def test_law_sections_are_the_heading_path_down_to_the_paragraph() -> None:
    media_type, extraction, chunks = load(DOCS / "laws" / "msbg.md")
    assert media_type == MARKDOWN
    assert extraction.title is not None
    assert extraction.title.startswith("Gesetz über den Messstellenbetrieb")  # from the YAML front matter
    [first] = containing(chunks, "Zweck dieses Gesetzes ist die beschleunigte Digitalisierung")
    assert first.section == "Teil 1 - Allgemeine Bestimmungen > § 1 Zweck und Anwendungsbereich"
    assert first.text.startswith("Teil 1 - Allgemeine Bestimmungen\n\n§ 1 Zweck")  # headings join their text
    price_caps = {chunk.section for chunk in chunks if chunk.section and "§ 30 " in chunk.section}
    assert len(price_caps) == 1
    assert all(chunk.page is None for chunk in chunks)
    assert all(extraction.text[c.char_start : c.char_end] == c.text for c in chunks)


@real_docs
def test_every_law_section_heading_becomes_a_section() -> None:
    _, _, chunks = load(DOCS / "laws" / "stromgvv.md")
    sections = {chunk.section.rsplit(" > ", 1)[-1] for chunk in chunks if chunk.section}
    paragraphs = {section.split(" ", 2)[1] for section in sections if section.startswith("§ ")}
    assert paragraphs >= {"1", "11", "19", "20"}  # README: basic supply, reading, disconnection, notice
    assert len(paragraphs) == 24  # README: 24 §


@real_docs
@pytest.mark.parametrize(
    ("name", "needle", "page"),
    [
        ("chint_dtsu666_user_manual.pdf", "Operation manual Page 10, Total 20", 11),  # printed "Page 10" on p. 11
        ("sigenergy_modbus_protocol.pdf", "\n6 / 26\n", 11),  # printed "6 / 26" on p. 11
    ],
)
def test_pdf_chunks_carry_the_physical_page(name: str, needle: str, page: int) -> None:
    media_type, _, chunks = load(DOCS / "manuals" / name)
    assert media_type == PDF
    assert {chunk.page for chunk in containing(chunks, needle)} == {page}
    assert all(chunk.page == chunk.page_end for chunk in chunks)  # a chunk never spans pages


@real_docs
def test_pdf_pages_are_counted_and_bookmarks_become_sections() -> None:
    _, extraction, chunks = load(DOCS / "manuals" / "sigenergy_modbus_protocol.pdf")
    assert extraction.pages == 31
    sections = {chunk.section for chunk in chunks if chunk.page == 11}
    assert any(section and section.startswith("5.Register Address Definition") for section in sections)


@real_docs
def test_long_pdf_reports_progress_page_by_page() -> None:
    data = (DOCS / "manuals" / "fronius_datamanager_modbus_tcp_rtu.pdf").read_bytes()
    seen: list[tuple[int, int]] = []
    extraction = extract(data, PDF, "fronius.pdf", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 100) for n in range(1, 101)]
    english = [s for s in extraction.segments if s.page is not None and s.page > 50]
    assert english  # README: German pp. 1-50, English pp. 51-100
    assert max(s.page or 0 for s in extraction.segments) == 100


@real_docs
def test_docx_headings_are_sections_and_table_rows_keep_their_header() -> None:
    media_type, extraction, chunks = load(DOCS / "office" / "bdew_codeliste_obis_kennzahlen.docx")
    assert media_type == DOCX
    assert extraction.title == "Codeliste der OBIS-Kennzahlen und Medien"
    sections = {chunk.section for chunk in chunks}
    assert "Einleitung" in sections
    assert "Systematik OBIS-Kennzahlen > Grundsätzliches zu OBIS-Kennzahlen elektrische Energie" in sections
    rows = [extraction.text[s.start : s.end] for s in extraction.segments if s.kind == "row"]
    assert any(row.startswith("Messgröße: ") and "OBIS-Kennzahl: " in row for row in rows)


@real_docs
def test_csv_without_header_numbers_rows_and_columns() -> None:
    media_type, extraction, chunks = load(DOCS / "office" / "victron_gx_modbus_tcp_attributes.csv")
    assert media_type == CSV
    assert len(extraction.segments) == 1003  # README: 1,003 lines, no header row
    first = extraction.text[extraction.segments[0].start : extraction.segments[0].end]
    assert first.startswith("Row 1: column 1: com.victronenergy.gps; column 2: /Position/Latitude")
    long_rows = [s for s in extraction.segments if s.end - s.start > 1200]  # enum lists up to 2.7k characters
    for chunk in chunks:  # a row is cut only where it alone is longer than a chunk
        inside_long_row = any(s.start < chunk.char_start < s.end for s in long_rows)
        assert chunk.text.startswith("Row ") or inside_long_row, chunk.text[:80]
    assert sum(not chunk.text.startswith("Row ") for chunk in chunks) <= 2 * len(long_rows)


def test_csv_with_header_labels_every_value() -> None:
    media_type, extraction, chunks = load(FIXTURES / "meters_with_header.csv")
    assert media_type == CSV
    rows = [extraction.text[s.start : s.end] for s in extraction.segments]
    assert rows[0] == (
        "Row 2: service: com.victronenergy.gps; path: /Position/Latitude; type: d; unit: Decimal degrees; "
        "register: 2800; modbus_type: int32; scale: 10000000; access: R"
    )
    assert len(rows) == 4
    assert len(chunks) == 1


def test_html_headings_tables_and_no_script() -> None:
    media_type, extraction, chunks = load(FIXTURES / "tariff_notice.html")
    assert media_type == HTML
    assert extraction.title == "Dynamic tariff notice"
    assert "console.log" not in extraction.text
    assert "font-family" not in extraction.text
    texts = {extraction.text[s.start : s.end]: s for s in extraction.segments}
    assert texts["Component: Grid fee; Unit: ct/kWh; Value: 8.5"].section == "Dynamic tariff notice > Prices"
    negative = next(s for t, s in texts.items() if t.startswith("Hours with negative"))
    assert negative.section == "Dynamic tariff notice > Prices > Negative prices"
    assert "fees.\nNo minimum applies." in extraction.text  # <br> is a line break
    assert texts["One month to the end of a calendar month."].section == "Dynamic tariff notice > Notice period"
    assert {chunk.section for chunk in chunks} >= {"Dynamic tariff notice > Notice period"}


def test_plain_text_and_name_without_suffix() -> None:
    data = b"First paragraph\nstill first.\n\n\nSecond paragraph.\n"
    assert sniff(data, "notes") == TEXT
    extraction = extract(data, TEXT, "notes")
    assert extraction.text == "First paragraph\nstill first.\n\nSecond paragraph."
    assert sniff(b"<!DOCTYPE html><p>x</p>", "page") == HTML


@real_docs
@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("encrypted.pdf", EncryptedDocumentError, "encrypted"),
        ("empty.pdf", EmptyDocumentError, "empty"),
        ("truncated.pdf", CorruptDocumentError, "corrupt"),
        ("scanned.pdf", NoTextError, "no_text"),
        ("not_a_docx.docx", CorruptDocumentError, "corrupt"),
    ],
)
def test_broken_files_are_rejected_with_a_typed_error(
    name: str, error: type[DocumentRejectedError], reason: str
) -> None:
    data = (DOCS / "edge_cases" / name).read_bytes()
    with pytest.raises(error, match=name.replace(".", r"\.")) as caught:
        probe(data, sniff(data, name), name)
    assert caught.value.status == 422
    assert caught.value.problem_extra() == {"reason": reason}


@real_docs
def test_the_shared_spreadsheet_is_taken_by_content() -> None:
    data = (DOCS / "office" / "fronius_gen24_register_map_float_storage.xlsx").read_bytes()
    assert sniff(data, "map.xlsx") == XLSX  # no longer 415; its extraction is tested in test_sheets.py


@pytest.mark.parametrize(
    ("data", "name", "error"),
    [
        (b"", "nothing.txt", EmptyDocumentError),
        (b" \n\t\n", "blank.md", EmptyDocumentError),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.png", CorruptDocumentError),  # a PNG cut off
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "image.gif", UnsupportedDocumentError),
        (b"PK\x03\x04 not really a zip", "broken.docx", CorruptDocumentError),
        (b"%PDF-1.7\n garbage", "garbage.pdf", CorruptDocumentError),
        (b"<html><script>only()</script></html>", "script.html", EmptyDocumentError),
    ],
)
def test_edge_cases_without_files(data: bytes, name: str, error: type[DocumentRejectedError]) -> None:
    with pytest.raises(error):
        probe(data, sniff(data, name), name)
