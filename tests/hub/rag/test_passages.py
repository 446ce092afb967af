"""Passages: adjacent hits merge, and a passage across two sections cites the section of its best hit."""

from __future__ import annotations

import hashlib

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.passages import bridge_ids, build_passages
from luna_hub.rag.retrieval import Hit


def chunk(ordinal: int, section: str, text: str) -> Chunk:
    return Chunk(
        chunk_id=f"law:1:{ordinal}",
        document_id="law",
        version=1,
        ordinal=ordinal,
        text=text,
        content_hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        title="Law",
        media_type="text/markdown",
        section=section,
    )


def test_a_run_across_sections_cites_the_section_of_its_best_hit() -> None:
    before = chunk(4, "§ 19 Unterbrechung", "Der Grundversorger darf die Versorgung unterbrechen.")
    bridge = chunk(5, "§ 19 Unterbrechung", "Die Kosten trägt der Kunde.")
    answer = chunk(6, "§ 20 Kündigung", "Der Vertrag kann mit einer Frist von zwei Wochen gekündigt werden.")
    hits = [Hit(chunk=answer, score=0.03), Hit(chunk=before, score=0.01)]
    assert bridge_ids(hits) == [bridge.chunk_id]
    [passage] = build_passages(hits, {bridge.chunk_id: bridge})
    assert [c.ordinal for c in passage.chunks] == [4, 5, 6]
    assert passage.section == "§ 20 Kündigung"
    assert passage.score == 0.03
