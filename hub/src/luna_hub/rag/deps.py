"""The rag domain's parts built from settings, in one place: for the app's lifespan and for the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import msgspec
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from qdrant_client import AsyncQdrantClient

from luna_hub.database.deps import provide_db_pool
from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded, create_embedder
from luna_hub.rag.generation import OllamaChat
from luna_hub.rag.retrieval import Retriever
from luna_hub.rag.services import RagService
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = [
    "RagParts",
    "open_rag",
    "provide_chunk_index",
    "provide_rag",
    "provide_rag_parts",
    "rag_dependencies",
    "rag_lifespan",
]

_log = get_logger(__name__)


class RagParts(msgspec.Struct, frozen=True, kw_only=True):
    """The chunk index (where documents become searchable) and the service answering questions."""

    index: QdrantChunkIndex
    service: RagService
    client: AsyncQdrantClient
    """The Qdrant client (local mode allows one per folder: other domains' collections share it)."""
    local: bool


@asynccontextmanager
async def open_rag(pool: asyncpg.Pool, settings: HubSettings) -> AsyncIterator[RagParts]:
    """Create the embedder, the Qdrant chunk index, the chat model and the RAG service; close them at the end.

    Embedding calls made while indexing are written to the model audit log like every other model call.
    """
    embedder = create_embedder(settings.rag)
    client, local = open_qdrant(settings.rag.qdrant_url, settings.data_dir, api_key=settings.rag.qdrant_api_key)
    chat = OllamaChat(settings.rag.ollama) if settings.rag.answerer == "ollama" else None
    service: RagService | None = None

    async def audit_index_embedding(chunks: Sequence[Chunk], texts: Sequence[str], embedded: Embedded) -> None:
        if service is not None:
            await service.record_index_embedding(chunks, texts, embedded)

    try:
        index = QdrantChunkIndex(client, embedder, local=local, on_embed=audit_index_embedding)
        retriever = Retriever(
            pool,
            index,
            text_search_config=settings.rag.text_search_config,
            candidates=settings.rag.candidates,
            rrf_k=settings.rag.rrf_k,
            stop_words=settings.rag.stop_words,
            expand=settings.rag.expand_query,
            route_named=settings.rag.route_named,
            named_weight=settings.rag.named_weight,
        )
        service = RagService(pool, embedder, retriever, settings.rag, chat=chat, timezone=settings.rollup_timezone)
        yield RagParts(index=index, service=service, client=client, local=local)
    finally:
        await client.close()
        await embedder.close()
        if chat is not None:
            await chat.close()


@asynccontextmanager
async def rag_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the rag domain's parts (:func:`open_rag`) on the app's pool for as long as the app runs."""
    async with open_rag(provide_db_pool(app.state), settings) as parts:
        app.state.chunk_index = parts.index
        app.state.rag = parts.service
        app.state.rag_parts = parts
        _log.info("rag ready", collection=parts.index.collection, answerer=settings.rag.answerer)
        yield


def provide_rag(state: State) -> RagService:
    """Return the app's RAG service (opened by :func:`rag_lifespan`)."""
    service: RagService = state.rag
    return service


def provide_rag_parts(state: State) -> RagParts:
    """Return the rag domain's parts (opened by :func:`rag_lifespan`), for domains sharing its embedder and Qdrant."""
    parts: RagParts = state.rag_parts
    return parts


def provide_chunk_index(state: State) -> QdrantChunkIndex:
    """Return the app's chunk index (opened by :func:`rag_lifespan`)."""
    index: QdrantChunkIndex = state.chunk_index
    return index


def rag_dependencies() -> dict[str, Provide]:
    """Return the dependency ``rag`` for handlers."""
    return {"rag": Provide(provide_rag, sync_to_thread=False)}
