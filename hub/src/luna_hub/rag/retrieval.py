"""Hybrid retrieval: dense (Qdrant) and sparse (PostgreSQL full text), fused by reciprocal rank fusion.

RRF (Cormack et al., 2009) scores a chunk ``sum(1 / (k + rank))`` over the lists it appears in,
so neither list's raw scores (cosine vs. full-text rank) need calibrating against the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import asyncpg
import msgspec

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded
from luna_hub.rag.repository import sparse_search
from luna_hub.rag.synonyms import synonyms_for
from luna_hub.rag.terms import expand_query
from luna_hub.rag.vectors import QdrantChunkIndex
from luna_shared.logs import get_logger

__all__ = ["Hit", "Method", "Retriever", "rrf"]

Method = Literal["dense", "sparse", "hybrid"]
_log = get_logger(__name__)


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """A retrieved chunk with its fused score and its place in each list (1-based; None when absent)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    sparse_rank: int | None = None
    sparse_score: float | None = None


def rrf(rankings: Sequence[Sequence[str]], *, k: int) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(id) = sum(1 / (k + rank))``, best first (ties by first appearance)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


class Retriever:
    """Finds chunks for a question by meaning, by words, or both."""

    def __init__(  # noqa: PLR0913 - the retrieval settings, each named
        self,
        pool: asyncpg.Pool,
        index: QdrantChunkIndex,
        *,
        text_search_config: str,
        candidates: int,
        rrf_k: int,
        stop_words: Sequence[str] = (),
        expand: bool = False,
    ) -> None:
        self._pool = pool
        self._index = index
        self._config = text_search_config
        self._stop_words = tuple(stop_words)
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._expand = expand

    @property
    def index(self) -> QdrantChunkIndex:
        """The vector index dense retrieval searches."""
        return self._index

    async def retrieve(  # noqa: PLR0913 - the question and its filters, each named
        self,
        question: str,
        query_vector: Embedded | None,
        *,
        top_k: int,
        method: Method = "hybrid",
        document_ids: Sequence[str] | None = None,
        exclude_document_ids: Sequence[str] = (),
    ) -> list[Hit]:
        """Return the ``top_k`` best chunks, none of ``exclude_document_ids``; dense and hybrid need a query vector."""
        dense: list[tuple[Chunk, float]] = []
        sparse: list[tuple[str, float]] = []
        limit = max(self._candidates, top_k)
        if method != "sparse" and query_vector is not None:
            found = await self._index.search(
                query_vector.vectors[0].tolist(),
                limit=limit,
                document_ids=document_ids,
                exclude_document_ids=exclude_document_ids,
            )
            dense = [(hit.chunk, hit.score) for hit in found]
        if method != "dense":
            async with self._pool.acquire() as connection:
                sparse = await sparse_search(
                    connection,
                    expand_query(question, synonyms_for(question)) if self._expand else question,
                    config=self._config,
                    limit=limit,
                    stop_words=self._stop_words,
                    document_ids=document_ids,
                    exclude_document_ids=exclude_document_ids,
                )
        chunks = {chunk.chunk_id: chunk for chunk, _ in dense}
        missing = [chunk_id for chunk_id, _ in sparse if chunk_id not in chunks]
        chunks.update(await self._index.chunks(missing))
        if len(chunks) < len({*chunks, *missing}):
            _log.debug("full-text hits without vectors skipped", count=len(set(missing) - chunks.keys()))
        sparse = [(chunk_id, score) for chunk_id, score in sparse if chunk_id in chunks]
        dense_at = {chunk.chunk_id: (rank, score) for rank, (chunk, score) in enumerate(dense, start=1)}
        sparse_at = {chunk_id: (rank, score) for rank, (chunk_id, score) in enumerate(sparse, start=1)}
        fused = rrf([[chunk.chunk_id for chunk, _ in dense], [chunk_id for chunk_id, _ in sparse]], k=self._rrf_k)
        hits = []
        for chunk_id, score in fused[:top_k]:
            d_rank, d_score = dense_at.get(chunk_id, (None, None))
            s_rank, s_score = sparse_at.get(chunk_id, (None, None))
            hits.append(
                Hit(
                    chunk=chunks[chunk_id],
                    score=score,
                    dense_rank=d_rank,
                    dense_score=d_score,
                    sparse_rank=s_rank,
                    sparse_score=s_score,
                )
            )
        return hits
