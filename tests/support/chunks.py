"""Chunks for the RAG tests and the retrieval bench, until the documents domain's own are merged.

``paragraph_chunks`` is a deliberately simple chunker (Markdown headings as sections, blank-line
paragraphs, PDF pages via pypdf) and ``store_chunk_rows`` writes the rows sparse retrieval reads, into
a ``chunks`` table of the shape agreed with the documents domain (created here only when its
migration has not made it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import asyncpg
import pypdf

from luna_hub.documents.schemas import Chunk

__all__ = ["document_chunks", "ensure_chunks_table", "paragraph_chunks", "store_chunk_rows"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


async def ensure_chunks_table(connection: asyncpg.Connection) -> None:
    """Create ``chunks`` (text and a ``simple`` tsvector with a GIN index) unless it exists."""
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS chunks ("
        " chunk_id text PRIMARY KEY, document_id text NOT NULL, version integer NOT NULL, ordinal integer NOT NULL,"
        " text text NOT NULL, tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED);"
        "CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin (tsv);"
        "CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id)"
    )


async def store_chunk_rows(connection: asyncpg.Connection, chunks: Sequence[Chunk]) -> None:
    """Insert (or replace) the rows of ``chunks``."""
    await ensure_chunks_table(connection)
    await connection.executemany(
        "INSERT INTO chunks (chunk_id, document_id, version, ordinal, text) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (chunk_id) DO UPDATE SET text = EXCLUDED.text",
        [(c.chunk_id, c.document_id, c.version, c.ordinal, c.text) for c in chunks],
    )


def _chunk(document_id: str, ordinal: int, text: str, **where: object) -> Chunk:
    return Chunk(
        chunk_id=f"{document_id}:1:{ordinal}",
        document_id=document_id,
        version=1,
        ordinal=ordinal,
        text=text,
        content_hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        **where,  # type: ignore[arg-type]
    )


def _paragraphs(text: str, max_chars: int) -> list[str]:
    """Blank-line paragraphs; one longer than ``max_chars`` (a PDF page) is cut at line ends."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if len(paragraph) <= max_chars:
            out.append(paragraph)
            continue
        piece = ""
        for line in paragraph.splitlines():
            if piece and len(piece) + len(line) > max_chars:
                out.append(piece)
                piece = ""
            piece = f"{piece}\n{line}" if piece else line
        out.append(piece)
    return out


def paragraph_chunks(
    document_id: str, pieces: Iterable[tuple[int | None, str]], *, title: str, media_type: str, max_chars: int = 1200
) -> list[Chunk]:
    """Chunk (page, text) pieces: paragraphs joined up to ``max_chars``, Markdown headings as sections."""
    chunks: list[Chunk] = []
    section: list[str] = []
    buffer: list[str] = []
    offset = start = 0
    page: int | None = None

    def flush() -> None:
        nonlocal buffer
        text = "\n\n".join(buffer).strip()
        if text:
            chunks.append(
                _chunk(
                    document_id,
                    len(chunks),
                    text,
                    title=title,
                    media_type=media_type,
                    page=page,
                    page_end=page,
                    section=" > ".join(section) or None,
                    char_start=start,
                    char_end=start + len(text),
                )
            )
        buffer = []

    for piece_page, text in pieces:
        if piece_page != page:
            flush()
            page = piece_page
        for paragraph in _paragraphs(text, max_chars):
            stripped = paragraph.strip()
            heading = _HEADING.match(stripped)
            if heading:
                flush()
                level = len(heading.group(1))
                section[level - 1 :] = [heading.group(2).strip()]
                del section[level:]
            elif stripped.startswith("---") or not stripped:
                pass
            else:
                if sum(len(b) for b in buffer) + len(stripped) > max_chars:
                    flush()
                if not buffer:
                    start = offset
                buffer.append(stripped)
            offset += len(paragraph) + 2
    flush()
    return chunks


def document_chunks(path: Path, document_id: str) -> list[Chunk]:
    """Chunks of a Markdown or PDF file from ``../shared/data/docs``."""
    if path.suffix == ".pdf":
        reader = pypdf.PdfReader(path)
        pieces = [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
        return paragraph_chunks(document_id, pieces, title=path.name, media_type="application/pdf")
    text = path.read_text(encoding="utf-8")
    return paragraph_chunks(document_id, [(None, text)], title=path.name, media_type="text/markdown")
