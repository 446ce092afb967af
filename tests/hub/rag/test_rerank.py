"""Reranking: one feature row per candidate, probabilities in (0, 1), the best-featured hit first, no hit lost."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.passages import build_passages
from luna_hub.rag.rerank import FEATURES, WEIGHTS, features, rerank_hits
from luna_hub.rag.retrieval import Hit
from luna_hub.rag.terms import question_terms

TEXTS = [
    "Der Grundversorger darf die Versorgung unterbrechen.",
    "Die Kündigungsfrist beträgt zwei Wochen nach § 20.",
    "The default password is 0000 and times out after one minute.",
    "Register 30071 holds the frequency in Hz.",
]


def hit(ordinal: int, text: str, *, dense_rank: int | None, sparse_rank: int | None) -> Hit:
    chunk = Chunk(
        chunk_id=f"doc:1:{ordinal}",
        document_id="doc",
        version=1,
        ordinal=ordinal * 3,  # never adjacent: each hit is a passage of its own
        text=text,
        content_hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        title="Manual",
        media_type="text/markdown",
        section=None,
    )
    return Hit(chunk=chunk, score=0.01, dense_rank=dense_rank, dense_score=0.3, sparse_rank=sparse_rank)


def test_a_hit_holding_the_question_words_and_number_comes_first() -> None:
    hits = [hit(n, text, dense_rank=None, sparse_rank=None) for n, text in enumerate(TEXTS)]  # content alone decides
    terms = question_terms("Which register holds the frequency?")
    ranked, confidence = rerank_hits(terms, hits)
    assert ranked[0].chunk.text == TEXTS[3]
    assert 0.0 < confidence < 1.0
    assert confidence == ranked[0].score
    rows = features(terms, [build_passages([h], {})[0] for h in hits], hits)
    assert all(len(row) == len(FEATURES) == len(WEIGHTS) for row in rows)


def test_no_hits_no_confidence() -> None:
    assert rerank_hits(question_terms("anything"), []) == ([], 0.0)


@given(st.permutations(range(len(TEXTS))), st.sampled_from(["Kündigungsfrist?", "password 0000", "frequency Hz"]))
def test_reranking_keeps_every_hit_once_whatever_the_fused_order(order: list[int], question: str) -> None:
    hits = [hit(n, TEXTS[n], dense_rank=rank + 1, sparse_rank=rank + 1) for rank, n in enumerate(order)]
    ranked, _ = rerank_hits(question_terms(question), hits)
    assert sorted(h.chunk.chunk_id for h in ranked) == sorted(h.chunk.chunk_id for h in hits)
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert all(0.0 < h.score < 1.0 for h in ranked)
