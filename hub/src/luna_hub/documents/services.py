"""The documents service: upload (checked, deduplicated, stored), the job queue and its workers, reads, delete.

All or nothing: a file that fails the checks at upload stores nothing (422/415/413). An upload that
passes stores its file and a *queued* job (``document_jobs``): the queue is the database, shared by
every hub replica. Each replica runs ``documents.workers`` workers that claim the oldest queued job
with ``FOR UPDATE SKIP LOCKED`` (so exactly one replica takes it), touch it every
``documents.job_heartbeat_s`` and run it: parse (in a child process), chunk, embed, index.

A job that fails (a page that cannot be read, the index or database failing) undoes its version:
the object version, the version row (and the document, if this was its first upload) go, the chunks
and the index are left as the previous version had them; only the job row stays, saying why.

A job whose hub stops under it is not lost. Stopped cleanly (SIGTERM, Ctrl-C), the hub puts it back
in the queue itself; killed (or cut off, or powered off), its heartbeat goes stale and a duty of
whichever replica holds it (:meth:`DocumentService.requeue_abandoned_jobs`) puts it back after four
missed heartbeats. Any replica (the restarted one too) then takes it up again, first deleting what
the dead attempt wrote to the index for that version (chunk rows are written in the transaction that
ends the job, so none are left). After ``documents.job_attempts`` attempts that ended that way the job
is failed and undone. ``attempts`` fences every write that ends a job: a replica that lost its job
(cut off for longer than four heartbeats) cannot finish it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Final, NoReturn

import asyncpg

from luna_hub.agents.repository import ensure_site
from luna_hub.documents import repository
from luna_hub.documents.chunking import make_chunks
from luna_hub.documents.errors import DocumentNotFoundError, DocumentTooLargeError
from luna_hub.documents.extract import ZIP_MAGIC, Extraction, check_archive, extract, probe, sniff
from luna_hub.documents.index import ChunkIndex
from luna_hub.documents.isolation import Budget, run_isolated, warm_up
from luna_hub.documents.schemas import DocumentDetail, DocumentSummary, JobView, UploadResult
from luna_hub.documents.storage import BlockingCalls, FilesystemStore, ObjectStore, S3Store, sha256_of
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
_DATABASE_ERRORS: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_REQUEUED_ON_STOP: Final = "queued: the hub running it stopped; the next hub to look takes it up again"
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


class _LostJobError(Exception):
    """This replica's claim on a job was taken back (its heartbeat went stale); another replica runs it."""


class DocumentService:
    """Documents over one database pool, one object store and one chunk index; runs queued jobs in workers."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: ObjectStore,
        index: ChunkIndex,
        settings: DocumentSettings,
        *,
        worker_name: str | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._index = index
        self._settings = settings
        self._name = worker_name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._threads = BlockingCalls("luna-documents", workers=2)
        self._budget = Budget(
            memory_bytes=settings.extract_memory_bytes, seconds=settings.extract_timeout_s, nice=settings.extract_nice
        )
        self._workers: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._running: dict[int, int] = {}  # job id -> claim (attempt) this process runs, touched by the heartbeat
        self._submitted: set[int] = set()  # jobs of uploads through this service, unfinished (for wait_idle)
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        # One job indexes at a time. Its transaction holds a connection while the index embeds and
        # the embedding hook writes the model audit log on another; jobs queued for the (one) embedder
        # inside their own transactions would hold every connection and starve that hook for good.
        self._indexing = asyncio.Lock()

    @property
    def worker_name(self) -> str:
        """This service's name in ``document_jobs.claimed_by`` (host, process, a random tag)."""
        return self._name

    def start_workers(self, *, after: asyncio.Event | None = None, workers: int | None = None) -> None:
        """Start ``workers`` (default ``documents.workers``) queue workers and the heartbeat, once ``after`` is set."""
        count = self._settings.workers if workers is None else workers
        if self._workers or self._closed or count < 1:
            return
        warm_up()
        for number in range(count):
            self._workers.append(asyncio.create_task(self._work(after), name=f"luna-document-worker-{number}"))
        self._heartbeat = asyncio.create_task(self._beat(), name="luna-document-job-heartbeat")

    async def close(self) -> None:
        """Stop the workers (each puts its running job back in the queue), then the heartbeat and the threads."""
        self._closed = True
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._workers:  # a job claimed as its worker was cancelled (or whose release failed) is queued again
            with contextlib.suppress(*_DATABASE_ERRORS):
                if await repository.release_claims(self._pool, self._name, stage=_REQUEUED_ON_STOP):
                    _log.info("claimed document jobs put back in the queue (the hub stops)")
        self._workers.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        self._threads.close()

    async def wait_idle(self, poll_s: float = 0.1) -> None:
        """Wait until the jobs of uploads made through this service are done or failed (for tests and the CLI)."""
        while self._submitted:
            counts = await repository.job_counts(self._pool, sorted(self._submitted))
            if not counts.get("queued") and not counts.get("running"):
                self._submitted.clear()
                return
            await asyncio.sleep(poll_s)

    async def wait_for_job(self, job_id: int, poll_s: float = 0.1) -> str:
        """Wait until job ``job_id`` is done or failed (whichever replica runs it); return that state."""
        while True:
            counts = await repository.job_counts(self._pool, [job_id])
            for state in ("done", "failed"):
                if counts.get(state):
                    self._submitted.discard(job_id)
                    return state
            if not counts:
                msg = f"no document job {job_id}"
                raise DocumentNotFoundError(msg)
            await asyncio.sleep(poll_s)

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
        stored = await self._store.put(document_id, data, content_type=media_type)
        try:
            async with self._pool.acquire() as db, db.transaction():
                # Uploads of the same bytes queue here (across hub processes too); the later one finds the first.
                await db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", digest)
                # ... and uploads to one document, so two never both find it without a job
                await db.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended('luna document ' || $1, 0))", document_id
                )
                raced = await repository.find_by_hash(db, digest, requested, site)
                if raced is None:
                    await _check_no_job(db, document_id)
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
        self._submitted.add(job.job_id)
        self._wake.set()  # a worker of this hub takes it now (or any replica's at its next look)
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

    async def _work(self, after: asyncio.Event | None) -> None:
        """Take queued jobs one at a time (claimed in the database, so exactly one replica runs each) and run them."""
        if after is not None:
            await after.wait()
        while True:
            try:
                job = await self._claim()
            except _DATABASE_ERRORS as exc:
                _log.warning("document queue unreachable; retrying", error=str(exc))
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.job_poll_s)
                self._wake.clear()
                continue
            self._running[job.job_id] = job.attempts
            try:
                await self._run(job)
            finally:
                self._running.pop(job.job_id, None)

    async def _claim(self) -> repository.ClaimedJob | None:
        """Claim the next job; a hub stopping meanwhile lets the claim finish, then puts the job back."""
        claim = asyncio.ensure_future(repository.claim_job(self._pool, self._name))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                job = await claim  # the statement may have committed: never leave its job running
                if job is not None:
                    await self._release(job, restore=False)
            raise

    async def _beat(self) -> None:
        """Touch this process's running jobs every ``job_heartbeat_s``."""
        while True:
            await asyncio.sleep(self._settings.job_heartbeat_s)
            if not self._running:
                continue
            try:
                await repository.touch_jobs(self._pool, dict(self._running))
            except _DATABASE_ERRORS as exc:
                _log.warning("document job heartbeat failed; retrying", jobs=len(self._running), error=str(exc))

    async def requeue_abandoned_jobs(self, pool: asyncpg.Pool) -> None:
        """Queue again the jobs a stopped hub left running; fail those out of attempts (a duty: one replica runs it)."""
        if self._closed:
            return
        stale_s = _ABANDONED_AFTER * self._settings.job_heartbeat_s
        async with pool.acquire() as db:
            abandoned = await repository.abandoned_jobs(db, stale_s)
        for job in abandoned:
            if job.job_id in self._running:  # ours and alive (a heartbeat failed): not abandoned
                continue
            if job.attempts >= self._settings.job_attempts:
                reason = (
                    f"abandoned: the hub running it stopped (no heartbeat for {stale_s:g} s),"
                    f" {job.attempts} times; documents.job_attempts is {self._settings.job_attempts}"
                )
                stored = (job.object_key, job.object_version) if job.object_key and job.object_version else None
                await self._undo(job.job_id, job.document_id, job.version, stored, reason, attempt=job.attempts)
                continue
            stage = f"queued again: the hub running attempt {job.attempts} stopped (no heartbeat for {stale_s:g} s)"
            if await repository.requeue_job(pool, job.job_id, job.attempts, stage=stage, count=True):
                _log.warning(
                    "document job abandoned by its hub; queued again",
                    job_id=job.job_id,
                    document_id=job.document_id,
                    version=job.version,
                    attempts=job.attempts,
                )
                self._wake.set()

    async def _run(self, job: repository.ClaimedJob) -> None:
        """Run one claimed job: clean what an earlier attempt left, read the file, extract, chunk, index, commit."""
        job_id, document_id, version = job.job_id, job.document_id, job.version
        stored = (job.object_key, job.object_version) if job.object_key and job.object_version else None
        indexed = False
        try:
            if stored is None or job.filename is None or job.media_type is None:
                _version_gone(document_id, version)
            if job.attempts > 1:  # an attempt died: what it wrote to the index for this version goes first
                _log.info("document job taken up again", job_id=job_id, document_id=document_id, attempt=job.attempts)
                await self._index.remove_version(document_id, version)
            await repository.set_job(self._pool, job_id, stage="extracting")
            source = DocumentFile(await self._store.get(*stored), job.filename, job.media_type)
            extraction = await self._extract(job_id, source.data, source.media_type, source.filename)
            title = extraction.title or _default_title(source.filename)
            chunks = await self._threads.run(
                make_chunks,
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
                        job=job,
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
                finished = await repository.finish_job(
                    db,
                    job_id,
                    job.attempts,
                    state="done",
                    stage="done",
                    progress=1.0,
                    chunks=len(chunks),
                    chunks_new=fresh,
                    notes=list(extraction.notes),
                )
                _check_finished(finished=finished)
            _log.info(
                "document indexed",
                document_id=document_id,
                version=version,
                chunks=len(chunks),
                new=fresh,
                attempt=job.attempts,
                notes=list(extraction.notes),
            )
        except _LostJobError:  # rolled back: the replica that took it over writes the result once
            _log.warning("document job taken over by another hub; this result dropped", job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, with its reason
            reason = str(exc) or type(exc).__name__
            reindex = indexed or job.attempts > 1  # the index may hold part of this version
            await asyncio.shield(
                self._undo(job_id, document_id, version, stored, reason, attempt=job.attempts, reindex=reindex)
            )
        except BaseException:  # cancelled: this hub is stopping; the job goes back in the queue for the next one
            await asyncio.shield(self._release(job, restore=indexed))
            raise

    async def _release(self, job: repository.ClaimedJob, *, restore: bool) -> None:
        """Give a job this stopping hub was running back to the queue (the attempt does not count)."""
        try:
            if restore:
                async with self._pool.acquire() as db:
                    await self._restore_index(db, job.document_id)
            await self._index.remove_version(job.document_id, job.version)
            requeued = await repository.requeue_job(
                self._pool, job.job_id, job.attempts, stage=_REQUEUED_ON_STOP, count=False
            )
        except Exception:  # noqa: BLE001 - the hub is stopping: the heartbeat's absence requeues it later
            _log.exception("document job not put back in the queue", job_id=job.job_id)
            return
        if requeued:
            _log.info(
                "document job put back in the queue (the hub stops)", job_id=job.job_id, document_id=job.document_id
            )

    async def _restore_index(self, db: asyncpg.Connection, document_id: str) -> None:
        """Give the index the current version's chunks again (a half-done write may have replaced them)."""
        current = await repository.current_chunks(db, document_id)
        if current:
            await self._index.index(document_id, current[0].version, current)
        else:
            await self._index.remove(document_id)

    async def _supersede(  # noqa: PLR0913 - the job and what it found
        self,
        db: asyncpg.Connection,
        *,
        job: repository.ClaimedJob,
        current: int,
        extraction: Extraction,
        title: str,
        chunks: int,
    ) -> None:
        """Keep a version that finished after a newer one: stored and ready, not current, not indexed."""
        document_id, version = job.document_id, job.version
        await repository.store_version_text(
            db, document_id=document_id, version=version, title=title, text=extraction.text, pages=extraction.pages
        )
        stage = f"done; version {current} is newer and stays current"
        finished = await repository.finish_job(
            db,
            job.job_id,
            job.attempts,
            state="done",
            stage=stage,
            progress=1.0,
            chunks=chunks,
            chunks_new=0,
            notes=list(extraction.notes),
        )
        _check_finished(finished=finished)
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
        attempt: int,
        reindex: bool = True,
    ) -> None:
        """Put everything back as it was before this version (``stored``: its object's key and version id).

        Only while claim ``attempt`` still holds the job (its row is locked meanwhile); the job row keeps the reason.
        """
        try:
            async with self._pool.acquire() as db, db.transaction():
                if not await repository.lock_job(db, job_id, attempt):
                    _log.warning("document job taken over by another hub; not undone here", job_id=job_id)
                    return
                _log.warning(
                    "document job failed; undoing its version", document_id=document_id, version=version, error=reason
                )
                if reindex:  # the index may hold part of the new version: give it the current chunks again
                    await self._restore_index(db, document_id)
                await self._index.remove_version(document_id, version)
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
        # one snapshot: a job that ends meanwhile is seen with its result, never "done" beside the old version
        async with self._pool.acquire() as db, db.transaction(isolation="repeatable_read", readonly=True):
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
        async with self._pool.acquire() as db, db.transaction():
            if await repository.lock_current_version(db, document_id) is None and (
                await repository.document_row(db, document_id) is None
            ):
                raise _not_found(document_id, None)
            if await repository.has_unfinished_job(db, document_id):
                msg = f"document {document_id} is being processed; delete it when its job is done"
                raise ConflictError(msg)
            keys = await repository.delete_document(db, document_id)
            await self._index.remove(document_id)
        for key in keys:
            await self._store.delete(key)
        _log.info("document deleted", document_id=document_id)


async def _check_no_job(db: asyncpg.Connection, document_id: str) -> None:
    """409 while a job of ``document_id`` is queued or running (on any replica)."""
    if await repository.has_unfinished_job(db, document_id):
        msg = f"document {document_id} is still being processed; upload its next version when its job is done"
        raise ConflictError(msg)


def _version_gone(document_id: str, version: int) -> NoReturn:
    msg = f"version {version} of {document_id} is gone (deleted while its job waited)"
    raise DocumentNotFoundError(msg)


def _check_finished(*, finished: bool) -> None:
    """Raise :class:`_LostJobError` when a fenced write that ends a job found it no longer this replica's."""
    if not finished:
        raise _LostJobError


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
