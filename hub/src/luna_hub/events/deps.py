"""The events domain's long-lived parts: the item vector index (on the rag domain's Qdrant and embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.database.deps import provide_db_pool
from luna_hub.documents.index import ChunkIndex
from luna_hub.events.documents import ItemsOfDocuments
from luna_hub.events.energy import ItemsOfActions
from luna_hub.events.services import EventsService
from luna_hub.events.vectors import QdrantItemIndex
from luna_hub.rag.deps import provide_rag_parts
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = [
    "events_dependencies",
    "events_lifespan",
    "items_of_documents",
    "provide_action_items",
    "provide_events",
    "provide_item_index",
]

_log = get_logger(__name__)


@asynccontextmanager
async def events_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the item index on the rag domain's Qdrant client and embedder, and the events service."""
    parts = provide_rag_parts(app.state)
    index = QdrantItemIndex(parts.client, parts.index.embedder, local=parts.local)
    app.state.item_index = index
    app.state.events = EventsService(provide_db_pool(app.state), index, settings.recommend)
    _log.info("items ready", collection=index.collection)
    yield


def items_of_documents(chunk_index: Callable[[State], ChunkIndex]) -> Callable[[State], ChunkIndex]:
    """Wrap the documents' chunk index so indexed documents become items (:mod:`luna_hub.events.documents`)."""

    def wrapped(state: State) -> ChunkIndex:
        return ItemsOfDocuments(chunk_index(state), provide_db_pool(state), provide_item_index(state))

    return wrapped


def provide_item_index(state: State) -> QdrantItemIndex:
    """Return the app's item index (opened by :func:`events_lifespan`)."""
    index: QdrantItemIndex = state.item_index
    return index


def provide_events(state: State) -> EventsService:
    """Return the app's events service."""
    service: EventsService = state.events
    return service


def provide_action_items(state: State) -> ItemsOfActions:
    """Return the publisher that makes proposed energy actions items (the energy domain's ``ActionsPublisher``)."""
    return ItemsOfActions(provide_db_pool(state), provide_item_index(state))


def events_dependencies() -> dict[str, Provide]:
    """Return the dependencies ``events_service`` and ``energy_action_items`` for handlers."""
    return {
        "events_service": Provide(provide_events, sync_to_thread=False),  # not "events": a body field of that name
        "energy_action_items": Provide(provide_action_items, sync_to_thread=False),
    }
