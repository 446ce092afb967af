"""Resource limits of uploads (issue 16): ZIP bombs, parsing under a memory and time budget, cancellable parsing.

The bomb is built here: a real DOCX whose ``word/document.xml`` is 419 MB of XML packed into well under 1 MB,
as the one that took the hub past 2 GB and through SIGTERM for minutes.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docx
import pytest

from luna_hub.documents.errors import DocumentTooLargeError
from luna_hub.documents.isolation import Budget, run_isolated
from luna_hub.settings import DocumentSettings
from support.documents import DocsHub, docs_hub_client, empty_tables

BOMB_UNPACKED = 419 * 1000 * 1000


def docx_with_document_xml(size: int) -> bytes:
    """python-docx's template with ``word/document.xml`` grown to about ``size`` bytes of paragraphs, streamed in."""
    template = io.BytesIO()
    docx.Document().save(template)
    source = zipfile.ZipFile(template)
    head = b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    paragraph = b"<w:p><w:r><w:t>Der Arbeitspreis betr\xc3\xa4gt 32 Cent je Kilowattstunde.</w:t></w:r></w:p>"
    block = paragraph * ((1 << 20) // len(paragraph))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                target.writestr(info.filename, source.read(info))
        with target.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head + b"<w:body>")
            for _ in range(size // len(block)):
                member.write(block)
            member.write(b"</w:body></w:document>")
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return docx_with_document_xml(BOMB_UNPACKED)


@pytest.fixture
async def limited_hub(docs_dsn: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[DocsHub]:
    """The documents hub with uploads up to 10 MB and the ``DocumentSettings`` fields the test parametrizes."""
    settings = DocumentSettings(max_upload_bytes=10_000_000, **getattr(request, "param", {}))
    try:
        async with docs_hub_client(docs_dsn, tmp_path, settings) as hub:
            yield hub
    finally:
        await empty_tables(docs_dsn)


def assert_too_large(response: Any, naming: str) -> None:
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["reason"] == "too_large"
    assert naming in problem["detail"]


async def test_a_docx_unpacking_to_419_mb_is_refused_before_parsing(limited_hub: DocsHub, bomb: bytes) -> None:
    assert len(bomb) < 2_000_000
    assert sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(bomb)).infolist()) > 418_000_000
    response = await limited_hub.client.post("/documents", files={"file": ("bomb.docx", bomb)})
    assert_too_large(response, "documents.max_unpacked_bytes is 209715200")
    assert "bomb.docx unpacks to 41" in response.json()["detail"]
    assert (await limited_hub.snapshot())["tables"]["documents"] == []


@pytest.mark.parametrize("limited_hub", [{"max_unpacked_bytes": 100_000_000}], indirect=True)
async def test_a_member_packed_beyond_the_ratio_is_refused(limited_hub: DocsHub) -> None:
    dense = docx_with_document_xml(20_000_000)  # within the size limit, but packed several hundred to one
    response = await limited_hub.client.post("/documents", files={"file": ("dense.docx", dense)})
    assert_too_large(response, "documents.max_unpack_ratio is 100")


@pytest.mark.parametrize(
    "limited_hub",
    [{"max_unpacked_bytes": 1 << 30, "max_unpack_ratio": 1e6, "extract_memory_bytes": 512 * 1024 * 1024}],
    indirect=True,
)
async def test_parsing_beyond_its_memory_budget_is_refused(limited_hub: DocsHub, bomb: bytes) -> None:
    response = await limited_hub.client.post("/documents", files={"file": ("bomb.docx", bomb)})
    assert_too_large(response, "documents.extract_memory_bytes (536870912 bytes)")
    assert (await limited_hub.snapshot())["tables"]["documents"] == []
    health = await limited_hub.client.get("/health")  # the hub itself never held the unpacked bytes
    assert health.status_code == 200


@pytest.mark.parametrize("limited_hub", [{"extract_timeout_s": 0.001}], indirect=True)
async def test_parsing_beyond_its_time_budget_is_refused(limited_hub: DocsHub) -> None:
    response = await limited_hub.client.post("/documents", files={"file": ("tarif.md", b"# Tarif\n\n32 Cent.")})
    assert_too_large(response, "documents.extract_timeout_s (0.001 s)")


def parsing_children() -> list[multiprocessing.process.BaseProcess]:
    return [child for child in multiprocessing.active_children() if child.name == "luna-extract"]


async def test_cancelling_a_parse_kills_its_process() -> None:
    parse = asyncio.create_task(run_isolated(time.sleep, 600, budget=Budget(memory_bytes=1 << 30, seconds=900)))
    for _ in range(3000):  # until the child runs (started by the task), at most 30 s
        if parsing_children():
            break
        await asyncio.sleep(0.01)
    assert parsing_children()
    parse.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parse
    assert parsing_children() == []


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for a reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_a_program_the_parsing_process_runs_dies_with_it(tmp_path: Path) -> None:
    """OCR runs Tesseract as a child of the parsing process: cancelling the parse must not leave it running."""
    pid_file = tmp_path / "program.pid"
    program = ["sh", "-c", f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 600"]
    parse = asyncio.create_task(
        run_isolated(subprocess.call, program, budget=Budget(memory_bytes=1 << 30, seconds=900))
    )
    for _ in range(3000):  # until the program runs, at most 30 s
        if pid_file.exists():
            break
        await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())
    assert running(pid)
    parse.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parse
    for _ in range(1000):  # SIGKILL is delivered at once; its reaping may take a moment
        if not running(pid):
            break
        await asyncio.sleep(0.01)
    assert not running(pid)


async def test_a_parse_answers_from_its_process() -> None:
    assert await run_isolated(sum, [1, 2, 3], budget=Budget(memory_bytes=1 << 30, seconds=60)) == 6
    with pytest.raises(DocumentTooLargeError, match="extract_memory_bytes"):
        await run_isolated(bytearray, 1 << 30, budget=Budget(memory_bytes=256 * 1024 * 1024, seconds=60))
