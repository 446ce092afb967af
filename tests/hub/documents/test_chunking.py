"""Property tests of chunking: offsets point at the text, full coverage, bounded overlap, structure kept."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.documents.chunking import ChunkSpan, chunk_spans, content_hash, make_chunks
from luna_hub.documents.extract import MARKDOWN, Extraction, Segment, SegmentKind, extract

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß§0123456789.,;", min_size=1, max_size=40)
_gaps = st.sampled_from([" ", " ", " ", "\n", "  ", ". ", "\t"])


@st.composite
def segment_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_words, min_size=1, max_size=60))
    text = words[0]
    for word in words[1:]:
        text += draw(_gaps) + word
    return text.strip() or "x"


@dataclass(frozen=True)
class Case:
    extraction: Extraction
    max_chars: int
    overlap: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Segments as the extractors make them: joined by blank lines, in page order, sections changing."""
    count = draw(st.integers(1, 25))
    parts: list[str] = []
    segments: list[Segment] = []
    position = 0
    page: int | None = draw(st.sampled_from([None, 1]))
    section: str | None = None
    for _ in range(count):
        kind: SegmentKind = draw(st.sampled_from(["heading", "paragraph", "paragraph", "row"]))
        if kind == "heading":
            section = draw(st.sampled_from(["A", "A > B", "A > C", "D"]))
        if page is not None and draw(st.booleans()):
            page += draw(st.integers(0, 2))
        body = draw(segment_texts())
        if parts:
            parts.append("\n\n")
            position += 2
        parts.append(body)
        segments.append(Segment(position, position + len(body), kind, page, section))
        position += len(body)
    max_chars = draw(st.integers(20, 400))
    overlap = draw(st.integers(0, max_chars // 2))
    return Case(Extraction("".join(parts), tuple(segments)), max_chars, overlap)


def spans_of(case: Case) -> list[ChunkSpan]:
    extraction = case.extraction
    return chunk_spans(extraction.text, extraction.segments, max_chars=case.max_chars, overlap=case.overlap)


@settings(max_examples=150)
@given(cases())
def test_chunk_offsets_point_at_the_chunk_text(case: Case) -> None:
    chunks = make_chunks(
        case.extraction,
        document_id="d",
        version=3,
        title="T",
        media_type="text/plain",
        max_chars=case.max_chars,
        overlap=case.overlap,
    )
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text == case.extraction.text[chunk.char_start : chunk.char_end]
        assert chunk.text == chunk.text.strip()
        assert chunk.text
        assert chunk.content_hash == content_hash(chunk.text)
        assert chunk.chunk_id == f"d:3:{chunk.ordinal}"


@settings(max_examples=150)
@given(cases())
def test_every_visible_character_is_in_a_chunk(case: Case) -> None:
    covered = bytearray(len(case.extraction.text))
    for span in spans_of(case):
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
    for segment in case.extraction.segments:
        for position in range(segment.start, segment.end):
            assert covered[position] or case.extraction.text[position].isspace(), position


@settings(max_examples=150)
@given(cases())
def test_overlap_is_bounded_and_new_text_fits_the_budget(case: Case) -> None:
    spans = spans_of(case)
    starts = [span.start for span in spans]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    text = case.extraction.text
    for previous, current in itertools.pairwise(spans):
        shared = max(0, previous.end - current.start)
        assert shared <= case.overlap
        if shared:
            assert (previous.page, previous.section) == (current.page, current.section)
        fresh = text[max(previous.end, current.start) : current.end].lstrip()
        assert len(fresh) <= case.max_chars


@settings(max_examples=150)
@given(cases())
def test_chunks_stay_inside_one_page_and_section(case: Case) -> None:
    segments = case.extraction.segments
    for span in spans_of(case):
        inside = [s for s in segments if s.start < span.end and span.start < s.end]
        text_segments = [s for s in inside if s.kind != "heading"]
        keys = {(s.page, s.section) for s in text_segments}
        assert len(keys) <= 1
        if text_segments:
            assert keys == {(span.page, span.section)}
        for segment in inside:
            # only a segment longer than the budget may be cut; rows are never entered by an overlap
            cut = span.start > segment.start or span.end < segment.end
            if cut:
                assert segment.end - segment.start > case.max_chars or (
                    segment.kind != "row" and span.start > segment.start and span.end >= segment.end
                )


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_spans("x", [Segment(0, 1, "paragraph")], max_chars=10, overlap=10)


_line_words = st.text(alphabet="abcdefgh §0123456789.,", min_size=1, max_size=30).map(str.strip).filter(bool)


@st.composite
def markdown_documents(draw: st.DrawFn) -> tuple[str, list[tuple[int, str]], list[str]]:
    """Markdown with headings of random levels and paragraphs; returns text, headings, paragraph lines."""
    lines: list[str] = []
    headings: list[tuple[int, str]] = []
    body: list[str] = []
    for _ in range(draw(st.integers(1, 20))):
        if draw(st.booleans()):
            level = draw(st.integers(2, 4))
            title = draw(_line_words)
            headings.append((level, title))
            lines += [f"{'#' * level} {title}", ""]
        else:
            paragraph = draw(st.lists(_line_words, min_size=1, max_size=4))
            body += paragraph
            lines += [*paragraph, ""]
    return "\n".join(lines), headings, body


@settings(max_examples=100)
@given(markdown_documents())
def test_markdown_extraction_keeps_every_line_and_the_heading_path(
    document: tuple[str, list[tuple[int, str]], list[str]],
) -> None:
    text, headings, body = document
    extraction = extract(text.encode(), MARKDOWN, "doc.md")
    segment_texts = [extraction.text[s.start : s.end] for s in extraction.segments]
    assert [t for t, s in zip(segment_texts, extraction.segments, strict=True) if s.kind == "heading"] == [
        title for _, title in headings
    ]
    assert "\n".join(t for t, s in zip(segment_texts, extraction.segments, strict=True) if s.kind != "heading") == (
        "\n".join(body)
    )
    # the path of each heading: the last open heading of every lower level, then itself
    open_path: list[tuple[int, str]] = []
    heading_segments = [s for s in extraction.segments if s.kind == "heading"]
    for (level, title), segment in zip(headings, heading_segments, strict=True):
        open_path = [(lvl, t) for lvl, t in open_path if lvl < level] + [(level, title)]
        assert segment.section == " > ".join(t for _, t in open_path)
