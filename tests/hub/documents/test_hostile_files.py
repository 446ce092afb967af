"""Hostile uploads (issue 16): a file no parser can read is 422 ``corrupt``, never a 500 or a failed job.

The reproductions go through the API; the class (any damage to any format) is a property test of
``sniff``/``probe``/``extract``: they raise nothing but :class:`DocumentRejectedError`.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import docx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.documents.errors import DocumentRejectedError
from luna_hub.documents.extract import extract, probe, sniff
from support.documents import DocsHub


def make_docx(paragraphs: list[str]) -> bytes:
    """A real DOCX from python-docx's template: a heading, the paragraphs and a small table."""
    document = docx.Document()
    document.add_heading("Tarif", level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Zone", "Preis"
    table.cell(1, 0).text, table.cell(1, 1).text = "HT", "0,32"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def replace_part(data: bytes, name: str, content: bytes) -> bytes:
    """The same ZIP with one member's bytes replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == name else source.read(info))
    return buffer.getvalue()


DOCX = make_docx(["Der Arbeitspreis beträgt 32 Cent je Kilowattstunde.", "Kündigung mit zwei Wochen Frist."])
DOCUMENT_XML = zipfile.ZipFile(io.BytesIO(DOCX)).read("word/document.xml")


def make_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, its cross-reference table written out."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length %d>>stream\n%s\nendstream" % (len(stream), stream),
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Root 1 0 R/Size %d>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PDF = make_pdf("Arbeitspreis 32 Cent")


def assert_rejected(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason


# --- reproductions -------------------------------------------------------------------------------


async def test_a_docx_whose_xml_is_not_well_formed_is_422_corrupt(docs_hub: DocsHub) -> None:
    broken = replace_part(DOCX, "word/document.xml", DOCUMENT_XML[: len(DOCUMENT_XML) // 2])
    response = await docs_hub.client.post("/documents", files={"file": ("tarif.docx", broken)})
    assert_rejected(response, 422, "corrupt")
    assert "XML is not well-formed" in response.json()["detail"]
    assert (await docs_hub.snapshot())["tables"]["documents"] == []


async def test_a_nul_byte_in_an_uploaded_file_name_is_dropped(docs_hub: DocsHub) -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="tar\x00if\x1b.md"\r\n'
        b"Content-Type: text/markdown\r\n\r\n# Tarif\n\nArbeitspreis 32 Cent.\r\n--B--\r\n"
    )
    response = await docs_hub.client.post(
        "/documents", content=body, headers={"content-type": "multipart/form-data; boundary=B"}
    )
    assert response.status_code == 202, response.text
    await docs_hub.wait_for_job(response.json()["document_id"])
    listed = (await docs_hub.client.get("/documents")).json()
    assert [entry["filename"] for entry in listed] == ["tarif.md"]


@pytest.mark.parametrize("query", ["offset=" + "9" * 400, "offset=9223372036854775808"])
async def test_a_huge_offset_is_a_400(docs_hub: DocsHub, query: str) -> None:
    response = await docs_hub.client.get(f"/documents?{query}")
    assert response.status_code == 400, response.text


async def test_a_huge_version_is_a_400(docs_hub: DocsHub) -> None:
    response = await docs_hub.client.get("/documents/x/file?version=9223372036854775808")
    assert response.status_code == 400, response.text


# --- the class: damaged files of every format ---------------------------------------------------


def read_all_or_reject(data: bytes, name: str) -> None:
    """Sniff, probe and extract as an upload and its job would; only a rejection may be raised."""
    try:
        media_type = sniff(data, name)
        probe(data, media_type, name)
        extract(data, media_type, name)
    except DocumentRejectedError:
        pass


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated, with a slice cut out, or with bytes overwritten or inserted."""
    at = draw(st.integers(0, len(data)))
    match draw(st.sampled_from(["truncate", "cut", "overwrite", "insert"])):
        case "truncate":
            return data[:at]
        case "cut":
            return data[:at] + data[at + draw(st.integers(1, 200)) :]
        case "overwrite":
            patch = draw(st.binary(min_size=1, max_size=16))
            return data[:at] + patch + data[at + len(patch) :]
        case _:
            return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]


@settings(max_examples=150)
@given(damaged(DOCUMENT_XML))
def test_a_docx_with_damaged_xml_is_read_or_rejected(xml: bytes) -> None:
    read_all_or_reject(replace_part(DOCX, "word/document.xml", xml), "tarif.docx")


@settings(max_examples=100)
@given(damaged(DOCX))
def test_damaged_docx_bytes_are_read_or_rejected(data: bytes) -> None:
    read_all_or_reject(data, "tarif.docx")


@settings(max_examples=150)
@given(damaged(PDF))
def test_damaged_pdf_bytes_are_read_or_rejected(data: bytes) -> None:
    read_all_or_reject(data, "tarif.pdf")


@settings(max_examples=150)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), st.sampled_from([".md", ".csv", ".html", ""]))
def test_any_text_file_is_read_or_rejected(data: bytes, suffix: str) -> None:
    read_all_or_reject(data, f"notes{suffix}")


def test_the_unharmed_files_are_read() -> None:
    assert "32 Cent" in extract(DOCX, sniff(DOCX, "tarif.docx"), "tarif.docx").text
    assert "Arbeitspreis 32 Cent" in extract(PDF, sniff(PDF, "tarif.pdf"), "tarif.pdf").text
