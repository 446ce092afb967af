"""Two versions of one document uploaded at the same moment (issue 16): the newest version wins, or one gets 409.

Before, in 2 of 16 runs version 1 stayed current while version 2 was ready: the job that finished last
made its version current. The hub runs under uvicorn here, so the two uploads really are concurrent;
version 1 is often the larger file, whose job then finishes last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from luna_hub.settings import HubSettings
from support.documents import empty_tables
from support.hub import served_hub

RUNS = 12
LARGE = "# Tarif\n\n" + "\n\n".join(f"Absatz {n}: der Arbeitspreis beträgt {n} Cent je kWh." for n in range(400))


@pytest.fixture
async def hub_url(docs_dsn: str, tmp_path: Path) -> AsyncIterator[str]:
    try:
        async with served_hub(HubSettings(database_url=docs_dsn, data_dir=str(tmp_path))) as url:
            yield url
    finally:
        await empty_tables(docs_dsn)


async def jobs_finished(dsn: str, document_id: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for _ in range(1200):
            running = await connection.fetchval(
                "SELECT count(*) FROM document_jobs WHERE document_id = $1 AND finished_at IS NULL", document_id
            )
            if running == 0:
                return
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    msg = f"jobs of {document_id} did not finish in 120 s"
    raise AssertionError(msg)


async def stored_state(dsn: str, document_id: str) -> tuple[int | None, list[int], set[int]]:
    """The current version, the ready versions and the versions the searchable chunks come from."""
    connection = await asyncpg.connect(dsn)
    try:
        current = await connection.fetchval("SELECT current_version FROM documents WHERE document_id = $1", document_id)
        ready = await connection.fetch(
            "SELECT version FROM document_versions WHERE document_id = $1 AND ready ORDER BY version", document_id
        )
        chunks = await connection.fetch("SELECT DISTINCT version FROM chunks WHERE document_id = $1", document_id)
    finally:
        await connection.close()
    return current, [row["version"] for row in ready], {row["version"] for row in chunks}


async def test_concurrent_uploads_of_two_versions_leave_the_newest_current(hub_url: str, docs_dsn: str) -> None:
    async with httpx.AsyncClient(base_url=hub_url, timeout=120) as client:
        for run in range(RUNS):
            document_id = f"race-{run}"
            large = (LARGE + f"\n\nLauf {run}.").encode()
            small = f"# Tarif\n\nKurz, Lauf {run}.".encode()
            responses = await asyncio.gather(
                client.post("/documents", files={"file": ("tarif.md", large)}, data={"document_id": document_id}),
                client.post("/documents", files={"file": ("tarif.md", small)}, data={"document_id": document_id}),
            )
            statuses = sorted(response.status_code for response in responses)
            assert statuses in ([202, 202], [202, 409]), [r.text for r in responses]
            await jobs_finished(docs_dsn, document_id)
            current, ready, chunk_versions = await stored_state(docs_dsn, document_id)
            assert ready, f"run {run}: no version became ready"
            assert current == max(ready), f"run {run}: version {current} is current while {ready} are ready"
            assert chunk_versions == {current}, f"run {run}: chunks of {chunk_versions}, current {current}"
