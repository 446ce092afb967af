"""Turn retrieved chunks into coherent passages, and pick the sentences that answer a question.

Hits of the same document version whose ordinals are adjacent (or one apart, bridged by the chunk
between them) become one passage, its text rebuilt from the chunks' character offsets so the
overlap between neighbouring chunks appears once; pages, spreadsheet rows, OCR confidence and
chunk ids of all parts are kept, and :func:`locator` says where a passage is in words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import msgspec

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.retrieval import Hit
from luna_hub.rag.terms import CORE_STOP_WORDS

__all__ = ["Passage", "best_sentences", "bridge_ids", "build_passages", "content_words", "locator", "support"]

_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_STOP: Final = CORE_STOP_WORDS | {"per", "pro"}
_SENTENCE: Final = re.compile(r"(?<=[.!?;:])\s+(?=[A-ZÄÖÜ0-9(\"„])|\n{2,}")
_PREFIX: Final = 6


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """Consecutive chunks of one document version, merged."""

    document_id: str
    title: str
    version: int
    page: int | None
    page_end: int | None
    section: str | None
    chunks: list[Chunk]
    text: str
    score: float
    dense_score: float | None
    row_start: int | None = None
    row_end: int | None = None
    ocr_confidence: float | None = None
    """The lowest OCR confidence of its chunks read off an image (a citation looks no surer than its worst part)."""


def locator(passage: Passage) -> str:
    """Where ``passage`` is, in words: ``p. 3, OCR 91%``, ``Complete Map, rows 12-18``, ``§ 3 > Abs. 2``."""
    parts = []
    if passage.page is not None:
        last = passage.page_end if passage.page_end not in {None, passage.page} else None
        parts.append(f"p. {passage.page}" if last is None else f"pp. {passage.page}-{last}")
    if passage.section:
        parts.append(passage.section)
    if passage.row_start is not None:
        last = passage.row_end if passage.row_end not in {None, passage.row_start} else None
        parts.append(f"row {passage.row_start}" if last is None else f"rows {passage.row_start}-{last}")
    if passage.ocr_confidence is not None:
        parts.append(f"OCR {passage.ocr_confidence:.0f}%")
    return ", ".join(parts)


def bridge_ids(hits: Sequence[Hit]) -> list[str]:
    """Return ids of chunks lying between two hits one ordinal apart (fetch them to merge across)."""
    taken = {(h.chunk.document_id, h.chunk.version, h.chunk.ordinal) for h in hits}
    wanted = []
    for document_id, version, ordinal in taken:
        middle = (document_id, version, ordinal + 1)
        if middle not in taken and (document_id, version, ordinal + 2) in taken:
            wanted.append(f"{document_id}:{version}:{ordinal + 1}")
    return sorted(wanted)


def _merged_text(chunks: Sequence[Chunk]) -> str:
    text = chunks[0].text
    end = chunks[0].char_end
    for chunk in chunks[1:]:
        offsets_hold = chunk.char_end - chunk.char_start == len(chunk.text) and end > 0
        if offsets_hold and chunk.char_start < end:
            text += chunk.text[end - chunk.char_start :]
        else:
            text += "\n\n" + chunk.text
        end = chunk.char_end
    return text


def build_passages(hits: Sequence[Hit], bridges: dict[str, Chunk]) -> list[Passage]:
    """Merge runs of adjacent hits (via ``bridges``) into passages, best score first."""
    score = {h.chunk.chunk_id: h.score for h in hits}
    dense = {h.chunk.chunk_id: h.dense_score for h in hits}
    by_version: dict[tuple[str, int], dict[int, Chunk]] = {}
    for chunk in [*(h.chunk for h in hits), *bridges.values()]:
        by_version.setdefault((chunk.document_id, chunk.version), {})[chunk.ordinal] = chunk
    passages = []
    for ordinals in by_version.values():
        run: list[Chunk] = []
        for ordinal in sorted(ordinals):
            if run and ordinal != run[-1].ordinal + 1:
                passages.append(_passage(run, score, dense))
                run = []
            run.append(ordinals[ordinal])
        if run:
            passages.append(_passage(run, score, dense))
    passages.sort(key=lambda p: -p.score)
    return passages


def _passage(run: list[Chunk], score: dict[str, float], dense: dict[str, float | None]) -> Passage:
    first, last = run[0], run[-1]
    dense_scores = [d for c in run if (d := dense.get(c.chunk_id)) is not None]
    pages = [p for c in run for p in (c.page, c.page_end) if p is not None]
    rows = [r for c in run for r in (c.row_start, c.row_end) if r is not None]
    read = [c.ocr_confidence for c in run if c.ocr_confidence is not None]
    return Passage(
        document_id=first.document_id,
        title=first.title,
        version=first.version,
        page=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        section=first.section if first.section == last.section else _best(run, score).section,
        chunks=run,
        text=_merged_text(run),
        score=max(score.get(c.chunk_id, 0.0) for c in run),
        dense_score=max(dense_scores) if dense_scores else None,
        row_start=min(rows) if rows else None,
        row_end=max(rows) if rows else None,
        ocr_confidence=min(read) if read else None,
    )


def _best(run: list[Chunk], score: dict[str, float]) -> Chunk:
    """Return the run's best-scored chunk (bridges have none); a run across sections cites its section."""
    return max(run, key=lambda c: (score.get(c.chunk_id, 0.0), c.section is not None))


def content_words(text: str) -> set[str]:
    """Return the lower-cased words of ``text`` that carry meaning (no stop words, at least three letters)."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOP}  # noqa: PLR2004


def _matches(word: str, vocabulary: set[str], prefixes: set[str]) -> bool:
    return word in vocabulary or (len(word) >= _PREFIX and word[:_PREFIX] in prefixes)


def support(question_words: set[str], text: str) -> float:
    """Return the share of the question's content words found in ``text`` (long words by their first six letters)."""
    if not question_words:
        return 0.0
    vocabulary = content_words(text)
    prefixes = {w[:_PREFIX] for w in vocabulary if len(w) >= _PREFIX}
    return sum(_matches(w, vocabulary, prefixes) for w in question_words) / len(question_words)


def best_sentences(question_words: set[str], text: str, *, limit: int = 2, max_chars: int = 600) -> str:
    """Return the sentences of ``text`` sharing most words with the question, in their original order."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    if not sentences:
        return text[:max_chars]
    ranked = sorted(range(len(sentences)), key=lambda i: (-support(question_words, sentences[i]), i))
    chosen = sorted(ranked[:limit])
    quote = " ".join(re.sub(r"\s+", " ", sentences[i]) for i in chosen)
    return quote if len(quote) <= max_chars else quote[: max_chars - 1].rstrip() + "…"
