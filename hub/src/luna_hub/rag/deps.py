"""The rag domain's parts built from settings, once, for the app's lifespan and for the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import msgspec

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded, create_embedder
from luna_hub.rag.generation import OllamaChat
from luna_hub.rag.retrieval import Retriever
from luna_hub.rag.services import RagService
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant
from luna_hub.settings import HubSettings

__all__ = ["RagParts", "open_rag"]


class RagParts(msgspec.Struct, frozen=True, kw_only=True):
    """The chunk index (where documents become searchable) and the service answering questions."""

    index: QdrantChunkIndex
    service: RagService


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
        )
        service = RagService(pool, embedder, retriever, settings.rag, chat=chat, timezone=settings.rollup_timezone)
        yield RagParts(index=index, service=service)
    finally:
        await client.close()
        await embedder.close()
        if chat is not None:
            await chat.close()
