"""``GET /health/ready``: check each component the hub depends on, concurrently, with its latency.

Required: the database (reachable, schema migrated), the object store (a probe object written,
read back and deleted), the vector store (Qdrant answers a count) and the embedder (its model is
there: weights hashed in process, or listed by Ollama). The LLM (Ollama's chat model, when
``rag.answerer = "ollama"``) is reported but not required: without it the hub still stores and
serves data and answers extractively, so it must not be taken out of a load balancer for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg
import ollama

from luna_hub.documents.storage import ObjectStore
from luna_hub.health import Connect, check_database
from luna_hub.observability.schemas import ComponentStatus, Readiness
from luna_hub.rag.embedders import Embedder, OllamaEmbedder, model_digest
from luna_hub.rag.vectors import QdrantChunkIndex
from luna_hub.settings import HubSettings

__all__ = ["ReadinessProbe", "check_readiness"]

_TIMEOUT_S: Final = 5.0
_PROBE_KEY: Final = "luna-readiness-probe"
Component = Literal["database", "object_store", "vector_store", "embedder", "llm"]


@dataclass(frozen=True, kw_only=True)
class ReadinessProbe:
    """The app's parts a readiness check looks at (set by the lifespans of their domains; None until then)."""

    settings: HubSettings
    db_pool: asyncpg.Pool
    connect: Connect | None
    schema_ready: asyncio.Event
    store: ObjectStore | None
    index: QdrantChunkIndex | None


async def check_readiness(probe: ReadinessProbe) -> Readiness:
    """Check every component at once; ``not_ready`` when a required one failed."""
    checks: list[tuple[Component, bool, Callable[[], Awaitable[str]]]] = [
        ("database", True, lambda: _database(probe)),
        ("object_store", True, lambda: _object_store(probe.store)),
        ("vector_store", True, lambda: _vector_store(probe.index)),
        ("embedder", True, lambda: _embedder(probe.index.embedder if probe.index else None, probe.settings)),
    ]
    if probe.settings.rag.answerer == "ollama":
        checks.append(("llm", False, lambda: _ollama_model(probe.settings, probe.settings.rag.ollama.chat_model)))
    components = list(await asyncio.gather(*(_timed(name, required, check) for name, required, check in checks)))
    failed = any(c.required and c.status == "failed" for c in components)
    return Readiness(status="not_ready" if failed else "ready", components=components)


async def _timed(name: Component, required: bool, check: Callable[[], Awaitable[str]]) -> ComponentStatus:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), _TIMEOUT_S)
        status: Literal["ok", "failed"] = "ok"
    except TimeoutError:
        detail, status = f"no answer within {_TIMEOUT_S:g} s", "failed"
    except Exception as exc:  # noqa: BLE001 - whatever breaks a component, readiness reports it, never a 500
        detail, status = f"{type(exc).__name__}: {exc}", "failed"
    latency = round((time.perf_counter() - started) * 1000, 3)
    return ComponentStatus(name=name, status=status, required=required, latency_ms=latency, detail=detail)


async def _database(probe: ReadinessProbe) -> str:
    health = await check_database(probe.db_pool, probe.connect, migrating=not probe.schema_ready.is_set())
    return health.database


async def _object_store(store: ObjectStore | None) -> str:
    if store is None:
        msg = "the object store is not open"
        raise RuntimeError(msg)
    stored = await store.put(_PROBE_KEY, b"ready", content_type="text/plain")
    try:
        if await store.get(_PROBE_KEY, stored.version_id) != b"ready":
            msg = "the probe object read back differs from what was written"
            raise RuntimeError(msg)
    finally:
        await store.delete(_PROBE_KEY)
    return store.description


async def _vector_store(index: QdrantChunkIndex | None) -> str:
    if index is None:
        msg = "the vector store is not open"
        raise RuntimeError(msg)
    chunks = await index.count()
    return f"Qdrant collection {index.collection}: {chunks} chunks"


async def _embedder(embedder: Embedder | None, settings: HubSettings) -> str:
    if embedder is None:
        msg = "the embedder is not open"
        raise RuntimeError(msg)
    if isinstance(embedder, OllamaEmbedder):  # its describe() is cached: ask the server each time
        return await _ollama_model(settings, embedder.name)
    info = await embedder.describe()
    return f"{info.name} ({info.dims} dims, in process)"


async def _ollama_model(settings: HubSettings, model: str) -> str:
    client = ollama.AsyncClient(host=settings.rag.ollama.url, timeout=_TIMEOUT_S)
    try:
        digest = await model_digest(client, model)
    finally:
        await client.close()  # type: ignore[no-untyped-call]
    return f"Ollama {settings.rag.ollama.url}: {model} {digest[:19]}"
