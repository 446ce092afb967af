"""The chunk: what the documents domain hands to retrieval (through :class:`~luna_hub.documents.index.ChunkIndex`).

This is the seam between ``documents`` (storage, extraction, chunking) and ``rag`` (embeddings,
vector and full-text search, answers): documents produce :class:`Chunk` values and call a
``ChunkIndex``; rag implements it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["Chunk", "DocumentDetail", "DocumentSummary", "JobView", "UploadResult", "VersionView"]


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
    row_start: int | None = None
    """First and last spreadsheet row (1-based, as the program numbers them) the chunk holds; None elsewhere."""
    row_end: int | None = None
    ocr_confidence: float | None = None
    """Tesseract's mean word confidence (0-100) when the chunk's text was read off an image; None otherwise."""


# --- the HTTP API's bodies -------------------------------------------------------------------


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """An extraction job: queued, running (with progress 0..1), done or failed (with the reason)."""

    job_id: int
    version: int
    state: str
    stage: str
    progress: float
    chunks: int | None = None
    """Chunks of the new version."""
    chunks_new: int | None = None
    """Of those, chunks whose text the previous version did not have (only these need new embeddings)."""
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    """What extraction left out or did specially: hidden sheets skipped, pages read by OCR or skipped without it."""
    attempts: int = 0
    """How many times a hub replica took the job up (more than 1: a replica running it stopped, another took over)."""


class VersionView(msgspec.Struct, frozen=True, kw_only=True):
    """One uploaded version of a document."""

    version: int
    filename: str
    media_type: str
    title: str
    content_hash: str
    size_bytes: int
    pages: int | None
    ready: bool
    """Extracted and indexed; only ready versions become current."""
    uploaded_by: str
    created_at: datetime


class DocumentSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A document in the list."""

    document_id: str
    title: str
    current_version: int | None
    """None until the first upload's job is done."""
    filename: str
    media_type: str
    size_bytes: int
    pages: int | None
    created_at: datetime
    updated_at: datetime
    job: JobView | None = None
    """The latest job, e.g. a new version still being extracted."""
    site: str | None = None
    """The site it was uploaded for (only that site's users see it, and analysts and admins); None: everyone."""


class DocumentDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A document with its versions, the current version's text and chunks, and its latest job."""

    document_id: str
    title: str
    current_version: int | None
    versions: list[VersionView]
    text: str | None
    chunks: list[Chunk]
    job: JobView | None = None
    site: str | None = None
    """The site it was uploaded for; None: every signed-in caller reads it."""


class UploadResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``POST /documents`` did: a new version with its job, or the existing version with the same bytes."""

    document_id: str
    version: int
    deduplicated: bool
    """The same bytes were uploaded before: nothing new was stored or indexed."""
    job: JobView | None
