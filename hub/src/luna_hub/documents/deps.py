"""The documents domain's long-lived parts: the object store and the document service (and the demo upload)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.documents.demo import load_demo_documents
from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.services import DocumentService, open_object_store
from luna_hub.duties import Duty, provide_duties
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = ["documents_dependencies", "documents_lifespan", "provide_documents"]

_log = get_logger(__name__)


@asynccontextmanager
async def documents_lifespan(
    app: Litestar, *, settings: HubSettings, chunk_index: Callable[[State], ChunkIndex]
) -> AsyncIterator[None]:
    """Open the object store and the document service, indexing into ``chunk_index(app.state)``; close at the end.

    ``documents.workers`` workers take queued jobs (of any replica's uploads); a duty queues again the
    jobs a stopped hub left running. With ``settings.demo_data``, the demo documents
    are uploaded in the background once the schema is migrated.
    """
    store = await open_object_store(settings)
    service = DocumentService(provide_db_pool(app.state), store, chunk_index(app.state), settings.documents)
    app.state.documents = service
    provide_duties(app.state).start(
        Duty("abandoned document jobs", settings.documents.job_heartbeat_s, service.requeue_abandoned_jobs),
        after=provide_schema_ready(app.state),
    )
    service.start_workers(after=provide_schema_ready(app.state))
    app.state.object_store = store  # for readiness
    _log.info("document store ready", store=store.description)
    demo = None
    if settings.demo_data:
        folder = Path(settings.demo_data) / "docs"
        loading = load_demo_documents(service, folder, provide_schema_ready(app.state))
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


def provide_documents(state: State) -> DocumentService:
    """Return the app's document service (opened by :func:`documents_lifespan`)."""
    service: DocumentService = state.documents
    return service


def documents_dependencies() -> dict[str, Provide]:
    """Return the dependency ``documents`` for handlers."""
    return {"documents": Provide(provide_documents, sync_to_thread=False)}
