"""Item vectors in Qdrant: one point per item in ``items_<model>_<dims>``, beside the rag domain's chunks.

It uses the rag domain's embedder and Qdrant client (Qdrant's local mode allows one client per
folder). An item's point id is derived from its id; its payload names id, type and title; the
text embedded is the title, the tags and the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from luna_hub.events.schemas import Item
from luna_hub.rag.embedders import Embedder
from luna_hub.rag.vectors import collection_name, create_collection, vector_store_unavailable

__all__ = ["ItemHit", "QdrantItemIndex", "item_point_id", "item_text"]

_NAMESPACE: Final = uuid.UUID("0f5d7a52-9a43-4c8e-8e55-6c756e612d69")
_EMBED_BATCH: Final = 64
Vectors = npt.NDArray[np.float32]


def item_point_id(item_id: str) -> str:
    """Return the Qdrant point id of an item (a UUID derived from its id)."""
    return str(uuid.uuid5(_NAMESPACE, item_id))


def item_text(item: Item) -> str:
    """Return the text embedded for ``item``: title, tags, text."""
    tags = f"\n{', '.join(item.tags)}" if item.tags else ""
    return f"{item.title}{tags}\n\n{item.text}".strip()


class ItemHit:
    """An item found near a vector (cosine similarity)."""

    __slots__ = ("item_id", "score")

    def __init__(self, item_id: str, score: float) -> None:
        self.item_id = item_id
        self.score = score


class QdrantItemIndex:
    """Embeds items and finds them by vector."""

    def __init__(self, client: AsyncQdrantClient, embedder: Embedder, *, local: bool) -> None:
        self._client = client
        self._embedder = embedder
        self._local = local
        self.collection = collection_name(embedder.name, embedder.dims, "items")
        self._ready = False

    @property
    def dims(self) -> int:
        """Width of the item vectors."""
        return self._embedder.dims

    async def ensure_collection(self) -> None:
        """Create the collection (and a payload index on ``type`` on a server) unless it exists."""
        if self._ready:
            return
        await create_collection(
            self._client, self.collection, self._embedder.dims, keywords=("type",), local=self._local
        )
        self._ready = True

    async def upsert(self, items: Sequence[Item]) -> None:
        """Embed ``items`` and make them searchable (replacing their earlier vectors)."""
        await self.ensure_collection()
        for first in range(0, len(items), _EMBED_BATCH):
            batch = items[first : first + _EMBED_BATCH]
            embedded = await self._embedder.embed([item_text(item) for item in batch], purpose="passage")
            points = [
                models.PointStruct(
                    id=item_point_id(item.item_id),
                    vector=row.tolist(),
                    payload={"item_id": item.item_id, "type": item.type, "title": item.title},
                )
                for item, row in zip(batch, embedded.vectors, strict=True)
            ]
            try:
                await self._client.upsert(self.collection, points=points)
            except (ResponseHandlingException, UnexpectedResponse) as exc:
                raise vector_store_unavailable(exc) from exc

    async def remove(self, item_ids: Sequence[str]) -> None:
        """Delete the vectors of ``item_ids``."""
        await self.ensure_collection()
        try:
            await self._client.delete(
                self.collection, points_selector=models.PointIdsList(points=[item_point_id(i) for i in item_ids])
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc

    async def vectors(self, item_ids: Sequence[str]) -> dict[str, Vectors]:
        """Return the vectors of the indexed items among ``item_ids``, by id."""
        if not item_ids:
            return {}
        await self.ensure_collection()
        try:
            records = await self._client.retrieve(
                self.collection, ids=[item_point_id(i) for i in item_ids], with_payload=["item_id"], with_vectors=True
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc
        found: dict[str, Vectors] = {}
        for record in records:
            if record.payload and isinstance(record.vector, list):
                found[str(record.payload["item_id"])] = np.asarray(record.vector, dtype=np.float32)
        return found

    async def search(self, vector: Sequence[float], *, limit: int, item_type: str | None = None) -> list[ItemHit]:
        """Return up to ``limit`` items nearest to ``vector``, optionally of one type."""
        await self.ensure_collection()
        condition = (
            models.Filter(must=[models.FieldCondition(key="type", match=models.MatchValue(value=item_type))])
            if item_type
            else None
        )
        try:
            response = await self._client.query_points(
                self.collection, query=list(vector), limit=limit, query_filter=condition, with_payload=["item_id"]
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc
        return [ItemHit(str((p.payload or {}).get("item_id")), float(p.score)) for p in response.points]
