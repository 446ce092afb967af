"""Where documents hand their chunks to retrieval: the protocol the rag domain implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from luna_hub.documents.schemas import Chunk

__all__ = ["ChunkIndex"]


class ChunkIndex(Protocol):
    """Where chunks become searchable (implemented by the rag domain)."""

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        """Make ``chunks`` the searchable content of ``document_id`` (replacing older versions)."""

    async def remove(self, document_id: str) -> None:
        """Remove every chunk of ``document_id``."""

    async def remove_version(self, document_id: str, version: int) -> None:
        """Remove the chunks of one version (what a job that died left half-written)."""
