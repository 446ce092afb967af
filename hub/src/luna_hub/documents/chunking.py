"""Structure-aware chunking with overlap, as pure functions over an :class:`Extraction`.

Rules, each checked by property tests:

- a chunk is one contiguous span of the extracted text: ``text[char_start:char_end]`` *is* the chunk;
- a chunk never crosses a section (heading path) or page boundary; a heading with no text of its
  own before the next heading joins the section that follows it;
- inside a section, whole segments (paragraphs, list items, table rows) are packed up to
  ``max_chars``; only a segment longer than that is split (at a line, sentence or word break);
- the next chunk of the same section starts up to ``overlap`` characters before the previous one
  ended (at a word start), so a sentence cut at a border is whole in one of them;
- every non-blank character of every segment lies in some chunk;
- a chunk of spreadsheet rows names the first and last row it holds, a chunk of OCR text the mean
  confidence of its paragraphs (weighted by their length).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from luna_hub.documents.extract import Extraction, Segment
from luna_hub.documents.schemas import Chunk

__all__ = ["ChunkSpan", "chunk_spans", "content_hash", "make_chunks", "split_text"]

_BREAKS: Final = ("\n", ". ", "; ", ", ", " ")


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """Where a chunk lies in the text, the page and section it belongs to, its rows and OCR confidence."""

    start: int
    end: int
    page: int | None
    section: str | None
    row_start: int | None = None
    row_end: int | None = None
    ocr_confidence: float | None = None


def content_hash(text: str) -> str:
    """``sha256:<hex>`` of ``text`` as UTF-8 (chunks and files are compared by it)."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_spans(text: str, segments: Sequence[Segment], *, max_chars: int, overlap: int) -> list[ChunkSpan]:
    """Cut ``text`` into chunk spans that respect ``segments`` (see the module docstring)."""
    if max_chars < 1 or not 0 <= overlap < max_chars:
        msg = f"need max_chars >= 1 and 0 <= overlap < max_chars, got {max_chars=} {overlap=}"
        raise ValueError(msg)
    spans: list[ChunkSpan] = []
    for key, units in _groups(text, segments, max_chars):
        spans.extend(_pack(text, units, key, max_chars=max_chars, overlap=overlap))
    return spans


def make_chunks(  # noqa: PLR0913 - the chunk's provenance, each named
    extraction: Extraction,
    *,
    document_id: str,
    version: int,
    title: str,
    media_type: str,
    max_chars: int,
    overlap: int,
) -> list[Chunk]:
    """Return the :class:`Chunk` values of one document version, numbered from 0."""
    chunks = []
    spans = chunk_spans(extraction.text, extraction.segments, max_chars=max_chars, overlap=overlap)
    for ordinal, span in enumerate(spans):
        body = extraction.text[span.start : span.end]
        chunks.append(
            Chunk(
                chunk_id=f"{document_id}:{version}:{ordinal}",
                document_id=document_id,
                version=version,
                ordinal=ordinal,
                text=body,
                content_hash=content_hash(body),
                title=title,
                media_type=media_type,
                page=span.page,
                page_end=span.page,
                section=span.section,
                char_start=span.start,
                char_end=span.end,
                row_start=span.row_start,
                row_end=span.row_end,
                ocr_confidence=span.ocr_confidence,
            )
        )
    return chunks


_Key = tuple[int | None, str | None]


@dataclass(frozen=True, slots=True)
class _Unit:
    """A segment, or a piece of one longer than ``max_chars``; ``whole`` ones are never cut by overlap."""

    start: int
    end: int
    whole: bool
    row: int | None = None
    confidence: float | None = None


def _groups(text: str, segments: Sequence[Segment], max_chars: int) -> list[tuple[_Key, list[_Unit]]]:
    """Consecutive segments of one (page, section), as units no longer than ``max_chars``."""
    groups: list[tuple[_Key, list[_Unit]]] = []
    waiting: list[_Unit] = []  # headings with no text of their own yet
    for segment in segments:
        key = (segment.page, segment.section)
        whole = segment.kind == "row"
        units = [
            _Unit(start, end, whole, segment.row, segment.confidence)
            for start, end in _split(text, segment.start, segment.end, max_chars)
        ]
        if segment.kind == "heading":
            if groups and groups[-1][0] == key and not waiting:
                groups[-1][1].extend(units)  # e.g. a heading repeated inside its own section
            else:
                waiting.extend(units)
            continue
        if groups and groups[-1][0] == key and not waiting:
            groups[-1][1].extend(units)
        else:
            groups.append((key, [*waiting, *units]))
            waiting = []
    if waiting:  # headings at the very end: a group of their own
        last = segments[-1]
        groups.append(((last.page, last.section), waiting))
    return groups


def split_text(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text`` into (start, end) pieces of at most ``max_chars``, at line, sentence or word breaks."""
    return _split(text, 0, len(text), max_chars)


def _split(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into pieces of at most ``max_chars``, preferring line, sentence, word breaks."""
    pieces = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cut = 0
        for mark in _BREAKS:
            found = window.rfind(mark, max_chars // 2)
            if found > 0:
                cut = found + len(mark)
                break
        cut = cut or max_chars
        piece_end = start + cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append((start, piece_end if piece_end > start else start + cut))
        start += cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def _pack(text: str, units: list[_Unit], key: _Key, *, max_chars: int, overlap: int) -> list[ChunkSpan]:
    spans = []
    index = 0
    chunk_start = units[0].start
    while index < len(units):
        first = index
        end = units[index].end
        index += 1
        while index < len(units) and units[index].end - chunk_start <= max_chars:
            end = units[index].end
            index += 1
        spans.append(_span(chunk_start, end, key, [u for u in units if u.end > chunk_start and u.start < end]))
        if index < len(units):
            chunk_start = _overlap_start(text, units[first:index], chunk_start, overlap) or units[index].start
    return spans


def _span(start: int, end: int, key: _Key, units: list[_Unit]) -> ChunkSpan:
    rows = [unit.row for unit in units if unit.row is not None]
    read = [(unit.confidence, unit.end - unit.start) for unit in units if unit.confidence is not None]
    confidence = sum(c * n for c, n in read) / max(sum(n for _, n in read), 1) if read else None
    return ChunkSpan(
        start,
        end,
        key[0],
        key[1],
        row_start=min(rows) if rows else None,
        row_end=max(rows) if rows else None,
        ocr_confidence=None if confidence is None else round(confidence, 1),
    )


def _overlap_start(text: str, previous: list[_Unit], previous_start: int, overlap: int) -> int | None:
    """Where the next chunk starts inside the previous one (``previous`` are its units), if anywhere.

    Whole trailing units that fit in ``overlap`` come first; else the first word start within the
    last ``overlap`` characters, unless the last unit is a table row (half a row means nothing).
    """
    end = previous[-1].end
    whole = [unit.start for unit in previous if unit.start > previous_start and end - unit.start <= overlap]
    if whole:
        return whole[0]
    if previous[-1].whole:
        return None
    position = max(end - overlap, previous_start + 1)
    while position < end:
        if text[position - 1].isspace() and not text[position].isspace():
            return position
        position += 1
    return None
