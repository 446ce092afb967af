"""Rerank fused passages by a logistic model over a few features, and say how likely any of them answers.

Features of a passage for a question (:func:`features`): its place in the dense and the sparse list
(``1 / rank``), its best cosine similarity, the share of the question's terms it holds (stems,
compound parts and synonyms, :mod:`luna_hub.rag.terms`), weighted by their rarity among the
candidates, the share of the question's numbers it holds, the share of terms in its title and
section, whether it holds a number when the question asks for one, and the share its best quote
holds. :data:`WEIGHTS` were fitted by ``python -m bench.rag_fit`` on the development set
(``qa_dev.json``) only, with five-fold cross-validation over questions (the CV numbers are in
BENCHMARKS.md and docs/rag.md); the held-out set never saw them.

The model's probability for the best passage is the answer's confidence: below ``rag.min_confidence``
(fitted the same way) the answer says the sources do not hold it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import msgspec

from luna_hub.rag.passages import Passage, build_passages
from luna_hub.rag.quoting import quote_span
from luna_hub.rag.retrieval import Hit
from luna_hub.rag.terms import QuestionTerms, matches, tokens

__all__ = ["FEATURES", "WEIGHTS", "Ranked", "features", "rerank", "rerank_hits"]

FEATURES: Final = (
    "bias",
    "dense_reciprocal_rank",
    "sparse_reciprocal_rank",
    "dense_score",
    "term_share",
    "weighted_term_share",
    "number_share",
    "heading_share",
    "number_wanted_and_held",
    "quote_share",
)
WEIGHTS: Final = (-4.114, 1.447, 1.109, 0.509, 0.252, 0.609, 0.567, 2.019, -0.015, 0.580)
"""Coefficients of :data:`FEATURES`, fitted by ``python -m bench.rag_fit`` (development set, see the docstring)."""


class Ranked(msgspec.Struct, frozen=True, kw_only=True):
    """A passage with the model's probability that it holds the answer."""

    passage: Passage
    probability: float


def _share(held: int, whole: int) -> float:
    return held / whole if whole else 0.0


def features(terms: QuestionTerms, passages: Sequence[Passage], hits: Sequence[Hit]) -> list[list[float]]:
    """Return one feature row (in :data:`FEATURES` order) per passage."""
    by_chunk = {hit.chunk.chunk_id: hit for hit in hits}
    vocabularies = [set(tokens(p.text)) for p in passages]
    held = [{t for t in terms.words if any(matches(t, w) for w in words)} for words in vocabularies]
    rarity = {t: math.log(1 + len(passages) / (1 + sum(t in h for h in held))) for t in terms.words}
    total_rarity = sum(rarity.values())
    rows = []
    for passage, words, holds in zip(passages, vocabularies, held, strict=True):
        parts = [by_chunk[c.chunk_id] for c in passage.chunks if c.chunk_id in by_chunk]
        dense_ranks = [h.dense_rank for h in parts if h.dense_rank is not None]
        sparse_ranks = [h.sparse_rank for h in parts if h.sparse_rank is not None]
        heading = set(tokens(f"{passage.title} {passage.section or ''}"))
        in_heading = sum(any(matches(t, w) for w in heading) for t in terms.words)
        numbers = sum(n in words for n in terms.numbers)
        has_number = any(w[0].isdigit() for w in words)
        rows.append(
            [
                1.0,
                1 / min(dense_ranks) if dense_ranks else 0.0,
                1 / min(sparse_ranks) if sparse_ranks else 0.0,
                passage.dense_score or 0.0,
                _share(len(holds), len(terms.words)),
                sum(rarity[t] for t in holds) / total_rarity if total_rarity else 0.0,
                _share(numbers, len(terms.numbers)),
                _share(in_heading, len(terms.words)),
                1.0 if (terms.asks_number or terms.numbers) and has_number else 0.0,
                quote_span(terms, passage.text).coverage,
            ]
        )
    return rows


def _probability(row: Sequence[float], weights: Sequence[float]) -> float:
    z = sum(x * w for x, w in zip(row, weights, strict=True))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def rerank(
    terms: QuestionTerms, passages: Sequence[Passage], hits: Sequence[Hit], weights: Sequence[float] = WEIGHTS
) -> list[Ranked]:
    """Return ``passages`` best first by the model's probability (ties keep the fused order)."""
    rows = features(terms, passages, hits)
    ranked = [Ranked(passage=p, probability=_probability(row, weights)) for p, row in zip(passages, rows, strict=True)]
    order = sorted(range(len(ranked)), key=lambda i: (-ranked[i].probability, i))
    return [ranked[i] for i in order]


def rerank_hits(
    terms: QuestionTerms, hits: Sequence[Hit], weights: Sequence[float] = WEIGHTS
) -> tuple[list[Hit], float]:
    """Return ``hits`` best first by the model (each scored by its probability), and the best probability.

    Each hit is scored as a passage of its own chunk, so passages built from the first hits keep the
    size they have without reranking.
    """
    if not hits:
        return [], 0.0
    alone = [build_passages([hit], {})[0] for hit in hits]
    rows = features(terms, alone, hits)
    scored = [(_probability(row, weights), n) for n, row in enumerate(rows)]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [msgspec.structs.replace(hits[n], score=p) for p, n in scored], scored[0][0]
