"""Sparse retrieval: PostgreSQL full text over the documents domain's ``chunks`` table.

The question's lexemes (in the column's text search configuration) are matched one by one
through the GIN index on ``chunks.tsv``, lexemes of six or more letters also as prefixes (German
compounds and inflections: ``zahlungsverzug`` finds ``zahlungsverzuges``). A chunk scores the sum
over matched terms of a BM25 inverse document frequency times ``ts_rank`` (term frequency,
normalised by the chunk's length), so rare words weigh more than common ones; terms in more than
half of all chunks are left out as stop words, and so are the stop words of the configurations
``stop_words`` names (the corpus mixes German and English, and 'simple' knows no stop words: "what",
"which" or "the" in a question would otherwise score chunks that happen to hold them). The question
is split like the column (migration 0007: '/', '_', backslash and '|' become spaces). Each term's count and
ranking is a statement with a constant ``tsquery``, which PostgreSQL answers from the GIN index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import asyncpg

__all__ = ["SparseRow", "sparse_search"]

SparseRow = tuple[str, float]

_TERMS = r"""
SELECT DISTINCT CASE WHEN length(t.lexeme) >= 6 THEN exact::text || ':*' ELSE exact::text END AS query
FROM unnest(to_tsvector($1::regconfig, regexp_replace($2, '[/_\\|]+', ' ', 'g'))) AS t
CROSS JOIN LATERAL plainto_tsquery('simple', t.lexeme) AS exact
WHERE length(t.lexeme) > 1 AND exact::text <> ''
  AND NOT EXISTS (SELECT 1 FROM unnest($3::regconfig[]) AS c WHERE to_tsvector(c, t.lexeme) = ''::tsvector)
"""
_DF = "SELECT count(*) FROM (SELECT 1 FROM chunks WHERE tsv @@ $1::tsquery LIMIT $2) AS matching"
_STOP_SHARE = 2
"""A term in more than 1/_STOP_SHARE of all chunks is a stop word (when there are enough chunks to tell)."""
_FEW_CHUNKS = 20


async def sparse_search(  # noqa: PLR0913 - the search settings, each named
    connection: asyncpg.Connection,
    question: str,
    *,
    config: str,
    limit: int,
    stop_words: Sequence[str] = (),
    document_ids: Sequence[str] | None = None,
    exclude_document_ids: Sequence[str] = (),
) -> list[SparseRow]:
    """Return the ``limit`` best chunks for ``question`` by full text, as (chunk id, score), none of ``exclude_...``.

    Each term is its own statement (count, then rank), so PostgreSQL plans it as a GIN index scan
    on its constant ``tsquery`` rather than one join it would have to scan every chunk for.
    """
    terms = [row["query"] for row in await connection.fetch(_TERMS, config, question, list(stop_words))]
    total = int(await connection.fetchval("SELECT count(*) FROM chunks"))
    weighted: list[tuple[str, float]] = []
    cap = total // _STOP_SHARE + 1
    for term in terms:
        df = int(await connection.fetchval(_DF, term, cap))
        if df == 0 or (df >= cap and total >= _FEW_CHUNKS):
            continue
        weighted.append((term, math.log(1 + (total - df + 0.5) / (df + 0.5))))
    if not weighted:
        return []
    last = 2 * len(weighted) + 1
    within = (
        f" AND ($1::text[] IS NULL OR document_id = ANY($1::text[])) AND NOT document_id = ANY(${last + 2}::text[])"
    )
    parts = [  # only placeholders are formatted in: the terms and weights are parameters
        f"SELECT chunk_id, ${2 * i + 3}::float8 * ts_rank(tsv, ${2 * i + 2}::tsquery, 1) AS score"  # noqa: S608
        f" FROM chunks WHERE tsv @@ ${2 * i + 2}::tsquery{within}"
        for i in range(len(weighted))
    ]
    union = " UNION ALL ".join(parts)
    sql = (
        f"SELECT chunk_id, sum(score) AS score FROM ({union}) AS matched"  # noqa: S608 - placeholders only
        f" GROUP BY chunk_id ORDER BY score DESC, chunk_id LIMIT ${last + 1}"
    )
    arguments: list[object] = [list(document_ids) if document_ids else None]
    for term, idf in weighted:
        arguments += [term, idf]
    rows = await connection.fetch(sql, *arguments, limit, list(exclude_document_ids))
    return [(row["chunk_id"], float(row["score"])) for row in rows]
