"""Helpers of the documents tests: a recording ChunkIndex, the hub under test and what it stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.documents.schemas import Chunk
from luna_hub.settings import DocumentSettings, HubSettings
from support.hub import ready_client

__all__ = ["DOCS", "DocsHub", "RecordingIndex", "docs_hub_client", "empty_tables"]

DOCS = Path(__file__).resolve().parents[3] / "shared" / "data" / "docs"


@dataclass
class RecordingIndex:
    """A ChunkIndex double at the documents/rag seam: records what is searchable, fails once on demand.

    A failing ``index`` call first takes the new chunks in (a half-done write), then raises.
    """

    content: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    removed_versions: list[tuple[str, int]] = field(default_factory=list)
    calls: list[tuple[str, int]] = field(default_factory=list)
    """Every ``index`` call: (document, version)."""
    fail_next: bool = False

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        self.calls.append((document_id, version))
        self.content[document_id] = (version, [chunk.content_hash for chunk in chunks])
        if self.fail_next:
            self.fail_next = False
            msg = "vector store down (injected)"
            raise RuntimeError(msg)

    async def remove(self, document_id: str) -> None:
        self.removed.append(document_id)
        self.content.pop(document_id, None)

    async def remove_version(self, document_id: str, version: int) -> None:
        self.removed_versions.append((document_id, version))
        if self.content.get(document_id, (None, []))[0] == version:
            del self.content[document_id]


@dataclass
class DocsHub:
    """The hub app in process, its recording index, its database and its object store folder."""

    client: AsyncTestClient[Litestar]
    index: RecordingIndex
    dsn: str
    store_dir: Path

    async def wait_for_job(self, document_id: str) -> dict[str, Any]:
        """Poll GET /documents/{id} until its latest job is done or failed; return the last body (or problem)."""
        for _ in range(1200):
            response = await self.client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})
            body: dict[str, Any] = response.json()
            if response.status_code == 404 or body["job"]["state"] in {"done", "failed"}:
                return body
            await asyncio.sleep(0.1)
        msg = f"job of {document_id} did not finish in 120 s"
        raise AssertionError(msg)

    async def snapshot(self) -> dict[str, Any]:
        """Everything an upload could leave behind: rows (jobs apart), and the files in the object store."""
        connection = await asyncpg.connect(self.dsn)
        try:
            tables = {
                table: [tuple(row) for row in await connection.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")]  # noqa: S608
                for table in ("documents", "document_versions", "chunks")
            }
        finally:
            await connection.close()
        files = sorted(str(p.relative_to(self.store_dir)) for p in self.store_dir.rglob("*") if p.is_file())
        return {"tables": tables, "files": files, "index": dict(self.index.content)}


@asynccontextmanager
async def docs_hub_client(
    dsn: str,
    data_dir: Path,
    documents: DocumentSettings | None = None,
    demo_data: str | None = None,
    index: RecordingIndex | None = None,
) -> AsyncIterator[DocsHub]:
    """The hub app in process on ``dsn``, its files under ``data_dir``, with a recording chunk index; ready."""
    index = index or RecordingIndex()
    settings = HubSettings(
        database_url=dsn, data_dir=str(data_dir), documents=documents or DocumentSettings(), demo_data=demo_data
    )
    async with ready_client(settings, chunk_index=index) as client:
        yield DocsHub(client, index, dsn, data_dir / "documents")


async def empty_tables(dsn: str) -> None:
    """Remove every document row (the documents tests' database is theirs alone)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("TRUNCATE documents, document_versions, chunks, document_jobs")
    finally:
        await connection.close()
