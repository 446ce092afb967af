"""The chunk: what the documents domain hands to retrieval, and the index it hands it to.

This is the seam between ``documents`` (storage, extraction, chunking) and ``rag`` (embeddings,
vector and full-text search, answers): documents produce :class:`Chunk` values and call a
:class:`ChunkIndex`; rag implements it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

__all__ = ["Chunk", "ChunkIndex"]


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    """One retrievable passage of one version of a document, with where it came from."""

    chunk_id: str
    """Stable id: ``<document_id>:<version>:<ordinal>``."""
    document_id: str
    version: int
    ordinal: int
    """Position of the chunk in the document version, from 0."""
    text: str
    content_hash: str
    """``sha256:<hex>`` of ``text``; unchanged chunks of a new version keep their embedding."""
    title: str
    """The document's title (file name when it has none)."""
    media_type: str
    page: int | None = None
    """1-based page where the chunk starts (PDF), else None."""
    page_end: int | None = None
    section: str | None = None
    """Heading path of the section the chunk belongs to, e.g. ``§ 3 > Abs. 2``."""
    char_start: int = 0
    """Offsets into the document version's extracted text."""
    char_end: int = 0


class ChunkIndex(Protocol):
    """Where chunks become searchable (implemented by the rag domain)."""

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        """Make ``chunks`` the searchable content of ``document_id`` (replacing older versions)."""

    async def remove(self, document_id: str) -> None:
        """Remove every chunk of ``document_id``."""
