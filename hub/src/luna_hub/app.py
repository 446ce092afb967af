"""The hub's Litestar application, assembled in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from luna_hub import __version__
from luna_hub.audit.controllers import AuditController
from luna_hub.database import close_pool, create_pool, describe_dsn
from luna_hub.database.migrate import apply_migrations
from luna_hub.documents.schemas import Chunk
from luna_hub.errors import UnavailableError
from luna_hub.health import health
from luna_hub.ingest.controllers import IngestController
from luna_hub.problems import exception_handlers
from luna_hub.rag.controllers import RagController
from luna_hub.rag.embedders import Embedded, create_embedder
from luna_hub.rag.generation import OllamaChat
from luna_hub.rag.retrieval import Retriever
from luna_hub.rag.services import RagService
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant
from luna_hub.settings import HubSettings
from luna_hub.timeseries.controllers import TimeseriesController
from luna_hub.timeseries.repository import refresh_dirty
from luna_shared.asgi import request_id_middleware
from luna_shared.logs import get_logger

__all__ = ["create_app"]

_log = get_logger(__name__)


def create_app(settings: HubSettings) -> Litestar:
    """Build the application for ``settings``; ``settings.database_url`` must be set by now."""
    dsn = settings.database_url
    if dsn is None:
        msg = "no database URL: the CLI starts the embedded database before building the app"
        raise UnavailableError(msg)

    @asynccontextmanager
    async def database_pool(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(
            dsn,
            max_size=settings.database_pool_size,
            statement_cache_size=settings.database_statement_cache_size,
            search_path=settings.database_search_path,
        )
        app.state.db_pool = pool
        _log.info("database pool ready", database=describe_dsn(dsn))
        app.state.migrated = await _migrate_now(pool, settings)
        upkeep = asyncio.create_task(_upkeep(app.state, pool, settings), name="luna-hub upkeep")
        try:
            yield
        finally:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
            await close_pool(pool)

    return Litestar(
        route_handlers=[health, IngestController, TimeseriesController, RagController, AuditController],
        lifespan=[database_pool, partial(rag_clients, settings=settings)],
        dependencies={"db_pool": Provide(_db_pool, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        openapi_config=OpenAPIConfig(title="Luna-iEMS hub", version=__version__, path="/schema"),
        state=State({"settings": settings}),
        logging_config=None,
        middleware=[request_id_middleware],
    )


async def _migrate_now(pool: asyncpg.Pool, settings: HubSettings) -> bool:
    """Migrate before serving when the database answers at once, so "ready" means /health is 200."""
    try:
        async with pool.acquire(timeout=5) as connection:
            await apply_migrations(connection, timezone=settings.rollup_timezone)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _log.warning("database not ready at start; migrating when it answers", error=str(exc))
        return False
    return True


async def _upkeep(state: State, pool: asyncpg.Pool, settings: HubSettings) -> None:
    """Migrate once the database answers (unless done at start), then keep rollups current."""
    migrated = bool(state.migrated)
    while True:
        try:
            async with pool.acquire(timeout=10) as connection:
                if not migrated:
                    await apply_migrations(connection, timezone=settings.rollup_timezone)
                    migrated = state.migrated = True
                await refresh_dirty(connection)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("database upkeep failed; retrying", error=str(exc), migrated=migrated)
        await asyncio.sleep(settings.rollup_refresh_seconds if migrated else 1.0)


@asynccontextmanager
async def rag_clients(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Create the embedder, the Qdrant chunk index, the chat model and the RAG service; close them at the end."""
    embedder = create_embedder(settings.rag)
    client, local = open_qdrant(settings.rag.qdrant_url, settings.data_dir)
    chat = OllamaChat(settings.rag.ollama) if settings.rag.answerer == "ollama" else None
    service: RagService | None = None

    async def audit_index_embedding(chunks: Sequence[Chunk], embedded: Embedded) -> None:
        if service is not None:
            await service.record_index_embedding(chunks, embedded)

    index = QdrantChunkIndex(client, embedder, local=local, on_embed=audit_index_embedding)
    retriever = Retriever(
        app.state.db_pool,
        index,
        text_search_config=settings.rag.text_search_config,
        candidates=settings.rag.candidates,
        rrf_k=settings.rag.rrf_k,
    )
    service = RagService(
        app.state.db_pool, embedder, retriever, settings.rag, chat=chat, timezone=settings.rollup_timezone
    )
    app.state.chunk_index = index
    app.state.rag = service
    _log.info("rag ready", embedder=embedder.name, collection=index.collection, answerer=settings.rag.answerer)
    try:
        yield
    finally:
        await client.close()
        await embedder.close()
        if chat is not None:
            await chat.close()


def _db_pool(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.db_pool
    return pool
