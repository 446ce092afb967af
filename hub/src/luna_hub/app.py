"""The hub's Litestar application, assembled in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from luna_hub import __version__
from luna_hub.agents.controllers import AgentsController
from luna_hub.audit.controllers import AuditController
from luna_hub.database import close_pool, create_pool, describe_dsn
from luna_hub.database.migrate import apply_migrations
from luna_hub.documents.controllers import DocumentsController
from luna_hub.documents.demo import load_demo_documents
from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.services import DocumentService, open_object_store
from luna_hub.errors import UnavailableError
from luna_hub.health import health
from luna_hub.ingest.controllers import IngestController
from luna_hub.problems import exception_handlers
from luna_hub.rag.controllers import RagController
from luna_hub.rag.deps import open_rag
from luna_hub.settings import HubSettings
from luna_hub.sync.controllers import AgentIngestController
from luna_hub.timeseries.controllers import TimeseriesController
from luna_hub.timeseries.repository import refresh_dirty
from luna_shared.asgi import request_id_middleware
from luna_shared.logs import get_logger

__all__ = ["create_app"]

_log = get_logger(__name__)


def create_app(settings: HubSettings, *, chunk_index: ChunkIndex | None = None) -> Litestar:
    """Build the application for ``settings``; ``settings.database_url`` must be set by now.

    ``chunk_index`` is where document chunks become searchable (default: the rag domain's Qdrant index,
    created in the lifespan with the embedder of ``settings.rag``).
    """
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
        schema_ready = app.state.schema_ready = asyncio.Event()
        if await _migrate_now(pool, settings):
            schema_ready.set()
        upkeep = asyncio.create_task(_upkeep(schema_ready, pool, settings), name="luna-hub upkeep")
        try:
            yield
        finally:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
            await close_pool(pool)

    @asynccontextmanager
    async def document_service(app: Litestar) -> AsyncIterator[None]:
        store = await open_object_store(settings)
        index: ChunkIndex = chunk_index or app.state.chunk_index
        service = DocumentService(app.state.db_pool, store, index, settings.documents)
        app.state.documents = service
        _log.info("document store ready", store=store.description)
        demo = None
        if settings.demo_data:
            folder = Path(settings.demo_data) / "docs"
            loading = load_demo_documents(service, folder, app.state.schema_ready)
            demo = asyncio.create_task(loading, name="luna-hub demo documents")
        try:
            yield
        finally:
            if demo is not None:
                demo.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await demo
            await service.close()
            store.close()

    return Litestar(
        route_handlers=[
            health,
            IngestController,
            AgentIngestController,
            AgentsController,
            TimeseriesController,
            DocumentsController,
            RagController,
            AuditController,
        ],
        lifespan=[database_pool, partial(rag_clients, settings=settings), document_service],
        dependencies={
            "db_pool": Provide(_db_pool, sync_to_thread=False),
            "documents": Provide(_documents, sync_to_thread=False),
        },
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


async def _upkeep(schema_ready: asyncio.Event, pool: asyncpg.Pool, settings: HubSettings) -> None:
    """Migrate once the database answers (unless done at start) and set ``schema_ready``; keep rollups current."""
    while True:
        try:
            async with pool.acquire(timeout=10) as connection:
                if not schema_ready.is_set():
                    await apply_migrations(connection, timezone=settings.rollup_timezone)
                    schema_ready.set()
                await refresh_dirty(connection)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("database upkeep failed; retrying", error=str(exc), migrated=schema_ready.is_set())
        await asyncio.sleep(settings.rollup_refresh_seconds if schema_ready.is_set() else 1.0)


def _documents(state: State) -> DocumentService:
    service: DocumentService = state.documents
    return service


@asynccontextmanager
async def rag_clients(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the rag domain's parts on the app's pool (see :func:`luna_hub.rag.deps.open_rag`)."""
    async with open_rag(app.state.db_pool, settings) as parts:
        app.state.chunk_index = parts.index
        app.state.rag = parts.service
        _log.info("rag ready", collection=parts.index.collection, answerer=settings.rag.answerer)
        yield


def _db_pool(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.db_pool
    return pool
