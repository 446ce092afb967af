"""The documents service: upload (checked, deduplicated, stored), the background extraction job, reads, delete.

All or nothing: a file that fails the checks at upload stores nothing (422/415/413). A job that
fails later (a page that cannot be read, the index or database failing, the hub stopping) undoes
its version: the object version, the version row (and the document, if this was its first upload)
go, the chunks and the index are left as the previous version had them; only the job row stays,
saying why. A hub that stops without ending its jobs (killed, power lost) cannot undo them: each
running job's row is touched every ``documents.job_heartbeat_s``, and a duty of whichever replica
holds it (:meth:`DocumentService.fail_abandoned_jobs`) undoes the jobs untouched for four times as long.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Final

import asyncpg

from luna_hub.agents.repository import ensure_site
from luna_hub.documents import repository
from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.errors import DocumentNotFoundError, DocumentTooLargeError
from luna_hub.documents.extract import ZIP_MAGIC, Extraction, check_archive, extract, probe, sniff
from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.isolation import Budget, run_isolated
from luna_hub.documents.schemas import DocumentDetail, DocumentSummary, JobView, UploadResult
from luna_hub.documents.storage import BlockingCalls, FilesystemStore, ObjectStore, S3Store, StoredObject, sha256_of
from luna_hub.errors import BadRequestError, ConflictError, ForbiddenError
from luna_hub.settings import DocumentSettings, HubSettings
from luna_shared import rules
from luna_shared.logs import get_logger

__all__ = ["DocumentFile", "DocumentService", "open_object_store"]

_DOCUMENT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")  # no NUL (PostgreSQL text cannot hold it), no line breaks
_MAX_FILENAME: Final = 255
_PROGRESS_EVERY: Final = 0.5  # seconds between progress writes while extracting
_EXTRACTED: Final = 0.8  # share of the progress bar that extraction fills
_ABANDONED_AFTER: Final = 4  # heartbeats a job may miss before it counts as left by a stopped hub
_log = get_logger(__name__)


class DocumentFile:
    """The bytes of one stored version, with its name and type: for download, and for its job."""

    def __init__(self, data: bytes, filename: str, media_type: str) -> None:
        self.data = data
        self.filename = filename
        self.media_type = media_type


async def open_object_store(settings: HubSettings) -> ObjectStore:
    """Open the object store ``[documents]`` names, ready to use (S3: bucket made, versioning on)."""
    documents = settings.documents
    if documents.store == "s3" and documents.s3 is not None:
        s3 = documents.s3
        store = S3Store(
            endpoint=s3.endpoint,
            bucket=s3.bucket,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            secure=s3.secure,
            region=s3.region,
        )
        try:
            await store.ensure_bucket()
        except BaseException:
            store.close()
            raise
        return store
    return FilesystemStore(Path(documents.store_dir or Path(settings.data_dir) / "documents"))


class DocumentService:
    """Documents over one database pool, one object store and one chunk index; owns its extraction jobs."""

    def __init__(self, pool: asyncpg.Pool, store: ObjectStore, index: ChunkIndex, settings: DocumentSettings) -> None:
        self._pool = pool
        self._store = store
        self._index = index
        self._settings = settings
        self._threads = BlockingCalls("luna-documents", workers=2)
        self._budget = Budget(memory_bytes=settings.extract_memory_bytes, seconds=settings.extract_timeout_s)
        self._jobs: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # documents with a job running in this process
        self._running: set[int] = set()  # their job ids, touched by the heartbeat
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        # One job indexes at a time. Its transaction holds a connection while the index embeds and
        # the embedding hook writes the model audit log on another; jobs queued for the (one) embedder
        # inside their own transactions would hold every connection and starve that hook for good.
        self._indexing = asyncio.Lock()

    async def close(self) -> None:
        """Cancel running jobs (each undoes its version), then end the heartbeat and the worker threads."""
        self._closed = True
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        self._threads.close()

    async def wait_idle(self) -> None:
        """Wait until no job runs (for tests and the CLI)."""
        while self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # --- upload ----------------------------------------------------------------------------

    async def upload(  # noqa: PLR0913 - the file and who uploads it for whom
        self,
        data: bytes,
        filename: str,
        *,
        document_id: str | None = None,
        actor: str = "anonymous",
        site: str | None = None,
        sites: Sequence[str] | None = None,
    ) -> UploadResult:
        """Check ``data``, store it as a new version (or find the same bytes) and start its job.

        ``site``: only that site's users (and analysts, admins) will see the document; ``sites``:
        the sites the uploader may read (None: every site). A new version keeps the document's site.
        """
        filename = _clean_filename(filename)
        self.check_size(filename, len(data))
        if document_id is not None and not _DOCUMENT_ID.fullmatch(document_id):
            msg = f"document_id {document_id!r}: 1-64 letters, digits, '.', '_', '-'; starting with a letter or digit"
            raise BadRequestError(msg)
        await self._check_site(document_id, site, sites)
        if data.startswith(ZIP_MAGIC):
            limits = self._settings
            check_archive(
                data, filename, max_unpacked_bytes=limits.max_unpacked_bytes, max_ratio=limits.max_unpack_ratio
            )
        media_type = sniff(data, filename)
        digest = sha256_of(data)
        existing = await self._find(digest, document_id, site)
        if existing is not None:
            return existing
        await run_isolated(
            functools.partial(probe, ocr=self._settings.ocr), data, media_type, filename, budget=self._budget
        )
        requested = document_id
        document_id = document_id or f"doc-{uuid.uuid4().hex[:12]}"
        if document_id in self._busy:
            msg = f"document {document_id} is still being processed; upload its next version when its job is done"
            raise ConflictError(msg)
        stored = await self._store.put(document_id, data, content_type=media_type)
        try:
            async with self._pool.acquire() as db, db.transaction():
                # Uploads of the same bytes queue here (across hub processes too); the later one finds the first.
                await db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", digest)
                raced = await repository.find_by_hash(db, digest, requested, site)
                if raced is None:
                    if site is not None:
                        await ensure_site(db, site)
                    version, job = await repository.insert_version(
                        db,
                        document_id=document_id,
                        filename=filename,
                        media_type=media_type,
                        title=_default_title(filename),
                        content_hash=digest,
                        size_bytes=len(data),
                        object_key=stored.key,
                        object_version=stored.version_id,
                        uploaded_by=actor,
                        site=site,
                    )
        except BaseException:
            await asyncio.shield(self._store.delete_version(stored.key, stored.version_id))
            raise
        if raced is not None:
            await self._store.delete_version(stored.key, stored.version_id)
            again = await self._find(digest, requested, site)
            if again is not None:
                return again
            msg = f"{filename}: the same bytes were being uploaded at the same time and vanished; try again"
            raise ConflictError(msg)
        _log.info("document uploaded", document_id=document_id, version=version, job_id=job.job_id, bytes=len(data))
        self._start(job.job_id, document_id, version, stored, DocumentFile(data, filename, media_type))
        return UploadResult(document_id=document_id, version=version, deduplicated=False, job=job)

    def check_size(self, filename: str, size: int) -> None:
        """Raise :class:`DocumentTooLargeError` (413) if ``size`` bytes exceed ``max_upload_bytes``."""
        if size > self._settings.max_upload_bytes:
            msg = f"{filename} has {size} bytes; the limit is {self._settings.max_upload_bytes}"
            raise DocumentTooLargeError(msg)

    async def upload_path(
        self, path: Path, *, document_id: str | None = None, actor: str = "anonymous", site: str | None = None
    ) -> UploadResult:
        """Upload the file at ``path`` (read in a worker thread); OSError if it cannot be read."""
        data = await self._threads.run(path.read_bytes)
        return await self.upload(data, path.name, document_id=document_id, actor=actor, site=site)

    async def _check_site(self, document_id: str | None, site: str | None, sites: Sequence[str] | None) -> None:
        """400 for a malformed site, 403 for a site the uploader may not read, 404/409 for a document of another."""
        if site is not None:
            problem = rules.site_id_problem(site)
            if problem is not None:
                raise BadRequestError(problem)
            if sites is not None and site not in sites:
                msg = f"site {site!r} is not one of yours"
                raise ForbiddenError(msg)
        if document_id is None:
            return
        async with self._pool.acquire() as db:
            row = await repository.document_row(db, document_id)
        if row is None:
            return
        if not _visible(row["site_id"], sites):
            raise _not_found(document_id, None)
        if site is not None and row["site_id"] != site:
            owner = "has no site" if row["site_id"] is None else f"belongs to site {row['site_id']!r}"
            msg = f"document {document_id} {owner}: its versions keep it; upload without site (or delete it first)"
            raise ConflictError(msg)

    async def _find(self, digest: str, document_id: str | None, site: str | None) -> UploadResult | None:
        async with self._pool.acquire() as db:
            found = await repository.find_by_hash(db, digest, document_id, site)
            if found is None:
                return None
            job = await repository.latest_job(db, found[0])
        return UploadResult(document_id=found[0], version=found[1], deduplicated=True, job=job)

    # --- the job -----------------------------------------------------------------------------

    def _start(self, job_id: int, document_id: str, version: int, stored: StoredObject, source: DocumentFile) -> None:
        self._busy.add(document_id)
        self._running.add(job_id)
        task = asyncio.create_task(
            self._run(job_id, document_id, version, stored, source), name=f"luna-document-job-{job_id}"
        )
        self._jobs.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._jobs.discard(finished)
            self._busy.discard(document_id)
            self._running.discard(job_id)

        task.add_done_callback(done)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="luna-document-job-heartbeat")

    async def _beat(self) -> None:
        """Touch this process's running jobs every ``job_heartbeat_s`` while there are any."""
        while self._running:
            await asyncio.sleep(self._settings.job_heartbeat_s)
            if not self._running:
                return
            try:
                await repository.touch_jobs(self._pool, sorted(self._running))
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _log.warning("document job heartbeat failed; retrying", jobs=len(self._running), error=str(exc))

    async def fail_abandoned_jobs(self, pool: asyncpg.Pool) -> None:
        """Fail and undo the jobs a stopped hub left queued or running (a duty: one replica runs it)."""
        if self._closed:
            return
        stale_s = _ABANDONED_AFTER * self._settings.job_heartbeat_s
        async with pool.acquire() as db:
            abandoned = await repository.abandoned_jobs(db, stale_s)
        for job in abandoned:
            if job.job_id in self._running:  # ours and alive (a heartbeat failed): not abandoned
                continue
            reason = f"abandoned: the hub running it stopped (no heartbeat for {stale_s:g} s)"
            stored = (job.object_key, job.object_version) if job.object_key and job.object_version else None
            await self._undo(job.job_id, job.document_id, job.version, stored, reason, reindex=True)

    async def _run(
        self, job_id: int, document_id: str, version: int, stored: StoredObject, source: DocumentFile
    ) -> None:
        """Extract, chunk and index the uploaded bytes (in hand: not read back from the store)."""
        indexed = False
        try:
            await repository.set_job(self._pool, job_id, state="running", stage="extracting", started=True)
            extraction = await self._extract(job_id, source.data, source.media_type, source.filename)
            title = extraction.title or _default_title(source.filename)
            chunks = make_chunks(
                extraction,
                document_id=document_id,
                version=version,
                title=title,
                media_type=source.media_type,
                max_chars=self._settings.chunk_chars,
                overlap=self._settings.chunk_overlap,
            )
            await repository.set_job(self._pool, job_id, stage="indexing", progress=_EXTRACTED + 0.05)
            async with self._indexing, self._pool.acquire() as db, db.transaction():
                current = await repository.lock_current_version(db, document_id)
                if current is not None and current > version:  # a newer version finished first: it stays current
                    await self._supersede(
                        db,
                        job_id=job_id,
                        document_id=document_id,
                        version=version,
                        current=current,
                        extraction=extraction,
                        title=title,
                        chunks=len(chunks),
                    )
                    return
                before = await repository.chunk_hashes(db, document_id)
                fresh = sum(1 for chunk in chunks if chunk.content_hash not in before)
                await repository.make_current(
                    db,
                    document_id=document_id,
                    version=version,
                    title=title,
                    text=extraction.text,
                    pages=extraction.pages,
                    chunks=chunks,
                )
                indexed = True
                await self._index.index(document_id, version, chunks)
                await repository.set_job(
                    db,
                    job_id,
                    state="done",
                    stage="done",
                    progress=1.0,
                    chunks=len(chunks),
                    chunks_new=fresh,
                    notes=list(extraction.notes),
                    finished=True,
                )
            _log.info(
                "document indexed",
                document_id=document_id,
                version=version,
                chunks=len(chunks),
                new=fresh,
                notes=list(extraction.notes),
            )
        except BaseException as exc:
            reason = (str(exc) or type(exc).__name__) if isinstance(exc, Exception) else "cancelled (the hub stopped)"
            where = (stored.key, stored.version_id)
            await asyncio.shield(self._undo(job_id, document_id, version, where, reason, reindex=indexed))
            if not isinstance(exc, Exception):
                raise

    async def _supersede(  # noqa: PLR0913 - the job and what it found
        self,
        db: asyncpg.Connection,
        *,
        job_id: int,
        document_id: str,
        version: int,
        current: int,
        extraction: Extraction,
        title: str,
        chunks: int,
    ) -> None:
        """Keep a version that finished after a newer one: stored and ready, not current, not indexed."""
        await repository.store_version_text(
            db, document_id=document_id, version=version, title=title, text=extraction.text, pages=extraction.pages
        )
        stage = f"done; version {current} is newer and stays current"
        await repository.set_job(
            db,
            job_id,
            state="done",
            stage=stage,
            progress=1.0,
            chunks=chunks,
            chunks_new=0,
            notes=list(extraction.notes),
            finished=True,
        )
        _log.info("document version superseded", document_id=document_id, version=version, current=current)

    async def _extract(self, job_id: int, data: bytes, media_type: str, filename: str) -> Extraction:
        seen = [0, 0]

        def progress(done: int, total: int) -> None:  # relayed from the parsing process
            seen[0], seen[1] = done, total

        running = asyncio.ensure_future(
            run_isolated(
                functools.partial(extract, ocr=self._settings.ocr),
                data,
                media_type,
                filename,
                budget=self._budget,
                progress=progress,
            )
        )
        written = -1
        try:
            while not running.done():
                await asyncio.wait({running}, timeout=_PROGRESS_EVERY)
                if seen[1] and seen[0] != written:
                    written = seen[0]
                    share = _EXTRACTED * written / seen[1]
                    await repository.set_job(
                        self._pool, job_id, progress=share, stage=f"extracting page {written}/{seen[1]}"
                    )
        finally:  # a cancelled job (the hub stopping) kills its parsing process now, not at its time limit
            if not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        return running.result()

    async def _undo(  # noqa: PLR0913 - what to undo, and why
        self,
        job_id: int,
        document_id: str,
        version: int,
        stored: tuple[str, str] | None,
        reason: str,
        *,
        reindex: bool,
    ) -> None:
        """Put everything back as it was before this version (``stored``: its object's key and version id).

        The job row keeps the reason.
        """
        _log.warning("document job failed; undoing its version", document_id=document_id, version=version, error=reason)
        try:
            async with self._pool.acquire() as db:
                if reindex:  # the index may hold part of the new version: give it the current chunks again
                    current = await repository.current_chunks(db, document_id)
                    if current:
                        await self._index.index(document_id, current[0].version, current)
                    else:
                        await self._index.remove(document_id)
                async with db.transaction():
                    await repository.delete_version(db, document_id, version)
                    await repository.set_job(db, job_id, state="failed", stage="failed", error=reason, finished=True)
            if stored is not None:
                await self._store.delete_version(*stored)
        except Exception:  # noqa: BLE001 - whatever failed, the job's own failure must still be logged
            _log.exception("undoing a failed document job failed", document_id=document_id, version=version)

    # --- reads and delete ------------------------------------------------------------------------

    async def summaries(
        self, *, limit: int = 100, offset: int = 0, sites: Sequence[str] | None = None
    ) -> list[DocumentSummary]:
        """Documents a reader of ``sites`` may see (None: all), most recently changed first."""
        async with self._pool.acquire() as db:
            return await repository.list_documents(db, limit=limit, offset=offset, sites=sites)

    async def _readable_row(
        self, db: asyncpg.Connection, document_id: str, sites: Sequence[str] | None
    ) -> asyncpg.Record:
        """Return the document's row; 404 when missing or of a site not in ``sites`` (existence does not leak)."""
        row = await repository.document_row(db, document_id)
        if row is not None and _visible(row["site_id"], sites):
            return row
        # a failed first upload leaves a job saying why; only callers reading every site learn it
        raise _not_found(document_id, await repository.latest_job(db, document_id) if sites is None else None)

    async def detail(
        self, document_id: str, *, text: bool = True, chunks: bool = True, sites: Sequence[str] | None = None
    ) -> DocumentDetail:
        """One document with its versions, current text and chunks, and latest job (404 beyond ``sites``)."""
        async with self._pool.acquire() as db:
            row = await self._readable_row(db, document_id, sites)
            current = row["current_version"]
            return DocumentDetail(
                document_id=document_id,
                title=row["title"],
                current_version=current,
                versions=await repository.versions(db, document_id),
                text=await repository.extracted_text(db, document_id, current) if text and current else None,
                chunks=await repository.current_chunks(db, document_id) if chunks else [],
                job=await repository.latest_job(db, document_id),
                site=row["site_id"],
            )

    async def file(
        self, document_id: str, version: int | None = None, *, sites: Sequence[str] | None = None
    ) -> DocumentFile:
        """Return the bytes of a version (default: the current one, else the newest); 404 beyond ``sites``."""
        async with self._pool.acquire() as db:
            row = await self._readable_row(db, document_id, sites)
            known = await repository.versions(db, document_id)
            wanted = version or row["current_version"] or max(v.version for v in known)
            found = await repository.version_row(db, document_id, wanted)
        if found is None:
            msg = f"document {document_id} has no version {wanted}"
            raise DocumentNotFoundError(msg)
        data = await self._store.get(found.object_key, found.object_version)
        return DocumentFile(data, found.filename, found.media_type)

    async def delete(self, document_id: str, *, sites: Sequence[str] | None = None) -> None:
        """Remove the document, its chunks, its vectors (``ChunkIndex.remove``) and every stored version."""
        async with self._pool.acquire() as db:
            await self._readable_row(db, document_id, sites)
        if document_id in self._busy:
            msg = f"document {document_id} is being processed; delete it when its job is done"
            raise ConflictError(msg)
        async with self._pool.acquire() as db, db.transaction():
            if await repository.document_row(db, document_id) is None:
                raise _not_found(document_id, None)
            keys = await repository.delete_document(db, document_id)
            await self._index.remove(document_id)
        for key in keys:
            await self._store.delete(key)
        _log.info("document deleted", document_id=document_id)


def _visible(site: str | None, sites: Sequence[str] | None) -> bool:
    """Whether a document of ``site`` (None: no site) is for a reader of ``sites`` (None: every site)."""
    return sites is None or site is None or site in sites


def _not_found(document_id: str, job: JobView | None) -> DocumentNotFoundError:
    if job is not None and job.state == "failed":
        return DocumentNotFoundError(f"no document {document_id}: its upload failed: {job.error}")
    return DocumentNotFoundError(f"no document {document_id}")


def _clean_filename(filename: str) -> str:
    """Return the file name without folders and control characters, at most 255 characters (its suffix kept)."""
    name = PurePosixPath(_CONTROL.sub("", filename).replace("\\", "/")).name or "upload"
    if len(name) > _MAX_FILENAME:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: _MAX_FILENAME - len(suffix)] + suffix
    return name


def _default_title(filename: str) -> str:
    """Return a version's title until extraction finds one: the file name without its suffix."""
    return PurePosixPath(filename).stem or filename
