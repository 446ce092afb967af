"""Sparse retrieval: PostgreSQL full text over the documents domain's ``chunks`` table.

The question's lexemes (in the column's text search configuration) are matched one by one
through the GIN index on ``chunks.tsv``, lexemes of six or more letters also as prefixes (German
compounds and inflections: ``zahlungsverzug`` finds ``zahlungsverzuges``). A chunk scores the sum
over matched terms of a BM25 inverse document frequency times ``ts_rank`` (term frequency,
normalised by the chunk's length), so rare words weigh more than common ones; terms in more than
half of all chunks are left out as stop words.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["SparseRow", "sparse_search"]

SparseRow = tuple[str, float]

_SQL = """
WITH lexemes AS (
    SELECT DISTINCT t.lexeme FROM unnest(to_tsvector($1::regconfig, $2)) AS t WHERE length(t.lexeme) > 1
),
terms AS (
    SELECT CASE WHEN length(lexeme) >= 6 THEN (exact::text || ':*')::tsquery ELSE exact END AS query
    FROM lexemes CROSS JOIN LATERAL plainto_tsquery('simple', lexemes.lexeme) AS exact
    WHERE exact::text <> ''
),
total AS (SELECT count(*)::float8 AS n FROM chunks),
weighted AS (
    SELECT terms.query, ln(1 + (total.n - df.df + 0.5) / (df.df + 0.5)) AS idf
    FROM terms CROSS JOIN total
    CROSS JOIN LATERAL (
        SELECT count(*)::float8 AS df
        FROM (SELECT 1 FROM chunks c WHERE c.tsv @@ terms.query LIMIT greatest(total.n / 2, 1)::int + 1) AS matching
    ) AS df
    WHERE df.df > 0 AND (df.df <= total.n / 2 OR total.n < 20)
)
SELECT c.chunk_id, sum(w.idf * ts_rank(c.tsv, w.query, 1)) AS score
FROM weighted w JOIN chunks c ON c.tsv @@ w.query
WHERE $4::text[] IS NULL OR c.document_id = ANY($4::text[])
GROUP BY c.chunk_id
ORDER BY score DESC, c.chunk_id
LIMIT $3
"""


async def sparse_search(
    connection: asyncpg.Connection,
    question: str,
    *,
    config: str,
    limit: int,
    document_ids: Sequence[str] | None = None,
) -> list[SparseRow]:
    """Return the ``limit`` best chunks for ``question`` by full text, as (chunk id, score)."""
    rows = await connection.fetch(_SQL, config, question, limit, list(document_ids) if document_ids else None)
    return [(row["chunk_id"], float(row["score"])) for row in rows]
