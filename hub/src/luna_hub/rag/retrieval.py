"""Hybrid retrieval: dense (Qdrant) and sparse (PostgreSQL full text), fused by reciprocal rank fusion.

RRF (Cormack et al., 2009) scores a chunk ``sum(1 / (k + rank))`` over the lists it appears in,
so neither list's raw scores (cosine vs. full-text rank) need calibrating against the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Literal

import asyncpg
import msgspec

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded
from luna_hub.rag.naming import named_documents
from luna_hub.rag.repository import sparse_search
from luna_hub.rag.synonyms import synonyms_for
from luna_hub.rag.terms import expand_query
from luna_hub.rag.vectors import QdrantChunkIndex
from luna_shared.logs import get_logger

__all__ = ["Hit", "Method", "Retriever", "rrf"]

Method = Literal["dense", "sparse", "hybrid"]
_NAMED_WIDENING = 4
"""With naming on, dense search takes this many times the candidates; the named documents' dense list is
drawn from them (their best chunks are rarely further down than that)."""
_log = get_logger(__name__)


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """A retrieved chunk with its fused score and its place in each list (1-based; None when absent)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    sparse_rank: int | None = None
    sparse_score: float | None = None


def rrf(
    rankings: Sequence[Sequence[str]], *, k: int, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(id) = sum(weight / (k + rank))``, best first (ties by first appearance)."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def _places(ranked: Iterable[tuple[str, float]]) -> dict[str, tuple[int, float]]:
    """Each id's 1-based place and score in a ranked list."""
    return {key: (rank, score) for rank, (key, score) in enumerate(ranked, start=1)}


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
        route_named: bool = False,
        named_weight: float = 1.0,
    ) -> None:
        self._pool = pool
        self._index = index
        self._config = text_search_config
        self._stop_words = tuple(stop_words)
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._expand = expand
        self._route_named = route_named
        self._named_weight = named_weight

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
        limit = max(self._candidates, top_k)
        # the searches run side by side: the vector store in its thread (or server), full text on the database
        wide = limit * _NAMED_WIDENING if self._route_named else limit
        nearest, sparse, named = await asyncio.gather(
            self._dense(query_vector if method != "sparse" else None, wide, document_ids, exclude_document_ids),
            self._sparse(question if method != "dense" else "", limit, document_ids, exclude_document_ids),
            self._named(question, document_ids, exclude_document_ids),
        )
        dense = nearest[:limit]
        lists = [(dense, sparse)]
        if named:  # the same searches again within the documents the question names, fused with the rest
            # the dense one from the wider unfiltered search: a filtered one costs local Qdrant a scan of every payload
            dense_in = [(chunk, score) for chunk, score in nearest if chunk.document_id in named][:limit]
            sparse_in = await self._sparse(question if method != "dense" else "", limit, named, ())
            lists.append((dense_in, sparse_in))
        chunks = {chunk.chunk_id: chunk for found, _ in lists for chunk, _ in found}
        missing = [chunk_id for _, found in lists for chunk_id, _ in found if chunk_id not in chunks]
        chunks.update(await self._index.chunks(missing))
        if len(chunks) < len({*chunks, *missing}):
            _log.debug("full-text hits without vectors skipped", count=len(set(missing) - chunks.keys()))
        rankings: list[list[str]] = []
        for found_dense, found_sparse in lists:
            rankings += [[c.chunk_id for c, _ in found_dense], [i for i, _ in found_sparse if i in chunks]]
        dense_at = _places((chunk.chunk_id, score) for chunk, score in dense)
        sparse_at = _places((chunk_id, score) for chunk_id, score in sparse if chunk_id in chunks)
        weights = [1.0, 1.0] + [self._named_weight] * (len(rankings) - 2)
        fused = rrf(rankings, k=self._rrf_k, weights=weights)
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

    async def _dense(
        self,
        query_vector: Embedded | None,
        limit: int,
        document_ids: Sequence[str] | None,
        exclude_document_ids: Sequence[str],
    ) -> list[tuple[Chunk, float]]:
        if query_vector is None:
            return []
        found = await self._index.search(
            query_vector.vectors[0].tolist(),
            limit=limit,
            document_ids=document_ids,
            exclude_document_ids=exclude_document_ids,
        )
        return [(hit.chunk, hit.score) for hit in found]

    async def _sparse(
        self, question: str, limit: int, document_ids: Sequence[str] | None, exclude_document_ids: Sequence[str]
    ) -> list[tuple[str, float]]:
        if not question:
            return []
        async with self._pool.acquire() as connection:
            return await sparse_search(
                connection,
                expand_query(question, synonyms_for(question)) if self._expand else question,
                config=self._config,
                limit=limit,
                stop_words=self._stop_words,
                document_ids=document_ids,
                exclude_document_ids=exclude_document_ids,
            )

    async def _named(
        self, question: str, document_ids: Sequence[str] | None, exclude_document_ids: Sequence[str]
    ) -> list[str]:
        """Return the documents the question names (within ``document_ids`` when given); none when routing is off."""
        if not self._route_named:
            return []
        async with self._pool.acquire() as connection:
            named = await named_documents(connection, question, exclude_document_ids=exclude_document_ids)
        return [d for d in named if document_ids is None or d in document_ids]
