"""Documents become items when they are indexed: a :class:`ChunkIndex` that passes chunks on and upserts the item.

The documents domain hands every indexed version to its chunk index; wrapped in
:class:`ItemsOfDocuments`, the same call also makes the document an item ``document:<id>`` of type
``document`` (title, the start of its text) and a removed document an inactive one. An item that
cannot be stored is logged and does not fail the document: the next indexing stores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.schemas import Chunk
from luna_hub.errors import HubError
from luna_hub.events.schemas import Item
from luna_hub.events.services import deactivate_items, upsert_items
from luna_hub.events.vectors import QdrantItemIndex
from luna_shared.logs import get_logger

__all__ = ["DOCUMENT_ITEM_PREFIX", "ItemsOfDocuments", "document_id_of", "document_item_id"]

DOCUMENT_ITEM_PREFIX: Final = "document:"
_TEXT_CHARS: Final = 4000
_log = get_logger(__name__)


def document_item_id(document_id: str) -> str:
    """Return the item id of a document."""
    return f"{DOCUMENT_ITEM_PREFIX}{document_id}"


def document_id_of(item_id: str) -> str | None:
    """Return the document an item id names, if it names one."""
    return item_id.removeprefix(DOCUMENT_ITEM_PREFIX) if item_id.startswith(DOCUMENT_ITEM_PREFIX) else None


class ItemsOfDocuments:
    """Implements :class:`ChunkIndex` by delegating to ``inner`` and keeping the documents' items in step."""

    def __init__(self, inner: ChunkIndex, pool: asyncpg.Pool, items: QdrantItemIndex) -> None:
        self._inner = inner
        self._pool = pool
        self._items = items

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        """Index the chunks, then store the document's item."""
        await self._inner.index(document_id, version, chunks)
        if not chunks:
            return
        text = ""
        for chunk in chunks:
            if len(text) >= _TEXT_CHARS:
                break
            text += chunk.text + "\n\n"
        item = Item(
            item_id=document_item_id(document_id),
            type="document",
            title=chunks[0].title[:500] or document_id,
            text=text[:_TEXT_CHARS].strip(),
        )
        try:
            await upsert_items(self._pool, self._items, [item], source="document")
        except (HubError, asyncpg.PostgresError) as exc:
            _log.error("document item not stored", document_id=document_id, error=str(exc))

    async def remove(self, document_id: str) -> None:
        """Remove the chunks; the document's item stops being recommended."""
        await self._inner.remove(document_id)
        try:
            await deactivate_items(self._pool, self._items, [document_item_id(document_id)])
        except (HubError, asyncpg.PostgresError) as exc:
            _log.error("document item not deactivated", document_id=document_id, error=str(exc))

    async def remove_version(self, document_id: str, version: int) -> None:
        """Remove one version's chunks (a dead job's partial write); the item follows the current version."""
        await self._inner.remove_version(document_id, version)
