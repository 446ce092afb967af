"""Chunks of real documents for the RAG tests and the retrieval bench, without the upload path.

``document_chunks`` runs the documents domain's own extraction and chunking on a file;
``store_chunk_rows`` writes what sparse retrieval reads: a ready document version and its rows in
``chunks`` (migration 0005), as the documents job would after extraction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.extract import extract, sniff
from luna_hub.documents.repository import replace_chunks
from luna_hub.documents.schemas import Chunk
from luna_hub.settings import DocumentSettings, OcrSettings

__all__ = ["document_chunks", "document_id_for", "store_chunk_rows", "text_chunk"]


def text_chunk(document_id: str, ordinal: int, text: str, *, title: str, section: str | None = None) -> Chunk:
    """A plain-text chunk of version 1 of ``document_id``, as the documents domain would make it."""
    return Chunk(
        chunk_id=f"{document_id}:1:{ordinal}",
        document_id=document_id,
        version=1,
        ordinal=ordinal,
        text=text,
        content_hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        title=title,
        media_type="text/plain",
        section=section,
        char_end=len(text),
    )


def document_id_for(relative: str) -> str:
    """Return a document id (``[A-Za-z0-9_.-]``) for a path such as ``laws/msbg.md``: ``laws-msbg.md``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", relative)


def document_chunks(path: Path, document_id: str, *, ocr: OcrSettings | None = None) -> list[Chunk]:
    """Extract and chunk ``path`` as the documents domain does with its default settings (version 1).

    Pages without a text layer are read only with ``ocr`` (the hub's jobs pass their settings).
    """
    settings = DocumentSettings()
    data = path.read_bytes()
    media_type = sniff(data, path.name)
    extraction = extract(data, media_type, path.name, None, ocr)
    return make_chunks(
        extraction,
        document_id=document_id,
        version=1,
        title=extraction.title or path.name,
        media_type=media_type,
        max_chars=settings.chunk_chars,
        overlap=settings.chunk_overlap,
    )


async def store_chunk_rows(connection: asyncpg.Connection, chunks: Sequence[Chunk]) -> None:
    """Store each document of ``chunks`` as a ready version with those chunks (replacing earlier rows)."""
    by_version: dict[tuple[str, int], list[Chunk]] = {}
    for chunk in chunks:
        by_version.setdefault((chunk.document_id, chunk.version), []).append(chunk)
    async with connection.transaction():
        for (document_id, version), rows in by_version.items():
            digest = "sha256:" + hashlib.sha256("".join(c.text for c in rows).encode()).hexdigest()
            await connection.execute(
                "INSERT INTO documents (document_id, title) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                document_id,
                rows[0].title,
            )
            await connection.execute(
                "INSERT INTO document_versions (document_id, version, filename, media_type, title, content_hash,"
                " size_bytes, object_key, object_version, ready) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'test', true)"
                " ON CONFLICT DO NOTHING",
                document_id,
                version,
                rows[0].title,
                rows[0].media_type,
                rows[0].title,
                digest,
                sum(len(c.text) for c in rows),
                f"test/{document_id}",
            )
            await connection.execute(
                "UPDATE documents SET current_version = $2 WHERE document_id = $1", document_id, version
            )
            await replace_chunks(connection, document_id, rows)
