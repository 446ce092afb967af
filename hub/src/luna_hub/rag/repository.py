"""Sparse retrieval: PostgreSQL full text over the documents domain's ``chunks`` table.

The question's lexemes (in the column's text search configuration) are matched one by one
through the GIN index on ``chunks.tsv``; a chunk scores the sum over matched lexemes of a BM25
inverse document frequency times ``ts_rank`` (term frequency, normalised by the chunk's length),
so rare words weigh more than words in every chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["SparseRow", "sparse_search"]

SparseRow = tuple[str, float]

_SQL = """
WITH terms AS (
    SELECT DISTINCT plainto_tsquery('simple', t.lexeme) AS query
    FROM unnest(to_tsvector($1::regconfig, $2)) AS t
    WHERE length(t.lexeme) > 1
),
total AS (SELECT count(*)::float8 AS n FROM chunks),
weighted AS (
    SELECT terms.query,
           ln(1 + (total.n - df.df + 0.5) / (df.df + 0.5)) AS idf
    FROM terms CROSS JOIN total
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM chunks c WHERE c.tsv @@ terms.query) AS df
    WHERE df.df > 0
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
