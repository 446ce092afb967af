"""``/documents``: upload, list, read, download and delete documents."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter

from luna_hub.auth.guards import actor_of, api_key_guard, readable_sites
from luna_hub.documents.schemas import DocumentDetail, DocumentSummary, UploadResult
from luna_hub.documents.services import DocumentService

__all__ = ["DocumentsController", "UploadForm"]

_MAX_INT4 = 2**31 - 1  # what a PostgreSQL integer holds; a larger number would fail in the driver
_BODY_LIMIT = 1 << 30  # the service enforces [documents] max_upload_bytes with a 413 problem of its own


@dataclass
class UploadForm:
    """The multipart form of ``POST /documents``."""

    file: UploadFile
    document_id: str | None = None
    """Upload a new version of this document (created with this id if it does not exist)."""
    site: str | None = None
    """Only this site's users (and analysts, admins) see the document; unset: every signed-in caller."""


class DocumentsController(Controller):
    """Documents: PDF, DOCX, CSV, Markdown, HTML and text files, extracted and chunked for retrieval."""

    path = "/documents"
    tags = ["documents"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012
    request_max_body_size = _BODY_LIMIT

    @post("/", summary="Upload a document (or a new version of one)")
    async def upload(
        self,
        request: Request[Any, Any, Any],
        documents: NamedDependency[DocumentService],
        data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[UploadResult]:
        """Check, store and start extracting the file: 202 with the job, or 200 if the same bytes are stored already.

        Corrupt, encrypted, empty or scanned files are 422, unsupported formats 415, too large 413;
        none of them stores anything. Follow the job's progress at ``GET /documents/{id}``.
        """
        try:
            size = data.file.file.seek(0, os.SEEK_END)  # a seek, no read: cheap on the spooled file
            documents.check_size(data.file.filename, size)  # before reading a huge upload into memory
            await data.file.seek(0)
            content = await data.file.read()
        finally:
            await data.file.close()
        result = await documents.upload(
            content,
            data.file.filename,
            document_id=data.document_id or None,
            actor=actor_of(request),
            site=data.site or None,
            sites=readable_sites(request),
        )
        return Response(result, status_code=200 if result.deduplicated else 202)

    @get("/", summary="List documents")
    async def list_documents(
        self,
        request: Request[Any, Any, Any],
        documents: NamedDependency[DocumentService],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=_MAX_INT4)] = 0,
    ) -> list[DocumentSummary]:
        """Documents without site or of the caller's sites, most recently changed first, each with its latest job."""
        return await documents.summaries(limit=limit, offset=offset, sites=readable_sites(request))

    @get("/{document_id:str}", summary="A document: versions, extracted text, chunks, job progress")
    async def document(
        self,
        request: Request[Any, Any, Any],
        documents: NamedDependency[DocumentService],
        document_id: FromPath[str],
        text: Annotated[bool, QueryParameter(description="include the extracted text")] = True,
        chunks: Annotated[bool, QueryParameter(description="include the chunks")] = True,
    ) -> DocumentDetail:
        """Metadata, every version, the current version's text and chunks, and the latest job.

        A document of a site the caller does not read is a 404, as one that does not exist.
        """
        return await documents.detail(document_id, text=text, chunks=chunks, sites=readable_sites(request))

    @get("/{document_id:str}/file", summary="Download a document's file", media_type="application/octet-stream")
    async def file(
        self,
        request: Request[Any, Any, Any],
        documents: NamedDependency[DocumentService],
        document_id: FromPath[str],
        version: Annotated[
            int | None, QueryParameter(ge=1, le=_MAX_INT4, description="default: the current version")
        ] = None,
    ) -> Response[bytes]:
        """Send the stored bytes of a version, with its media type and file name."""
        found = await documents.file(document_id, version, sites=readable_sites(request))
        plain = found.filename.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("?", "_")
        disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(found.filename, safe='')}"
        return Response(found.data, media_type=found.media_type, headers={"Content-Disposition": disposition})

    @delete("/{document_id:str}", summary="Delete a document, its chunks, vectors and stored files")
    async def remove(
        self, request: Request[Any, Any, Any], documents: NamedDependency[DocumentService], document_id: FromPath[str]
    ) -> None:
        """Remove everything of the document (every version)."""
        await documents.delete(document_id, sites=readable_sites(request))
