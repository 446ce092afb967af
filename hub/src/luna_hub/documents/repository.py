"""SQL of the documents domain (tables of migration 0005, chunk rows and OCR confidence and job notes of 0600)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from luna_hub.documents.schemas import Chunk, DocumentSummary, JobView, VersionView

__all__ = [
    "AbandonedJob",
    "ClaimedJob",
    "VersionRow",
    "abandoned_jobs",
    "chunk_hashes",
    "claim_job",
    "current_chunks",
    "delete_document",
    "delete_version",
    "document_row",
    "find_by_hash",
    "finish_job",
    "has_unfinished_job",
    "hidden_documents",
    "insert_version",
    "job_counts",
    "latest_job",
    "list_documents",
    "lock_current_version",
    "lock_job",
    "make_current",
    "release_claims",
    "replace_chunks",
    "requeue_job",
    "set_job",
    "store_version_text",
    "touch_jobs",
    "version_row",
    "versions",
]

_JOB_COLUMNS: Final = (
    "job_id, version, state, stage, progress::float8 AS progress, chunks, chunks_new, error, created_at, finished_at,"
    " notes, attempts"
)
_CHUNK_COLUMNS: Final = (
    "chunk_id, document_id, version, ordinal, text, content_hash, title, media_type, page, page_end, section,"
    " char_start, char_end, row_start, row_end, ocr_confidence"
)


class VersionRow(msgspec.Struct, frozen=True, kw_only=True):
    """What a job needs to know about the version it works on."""

    document_id: str
    version: int
    filename: str
    media_type: str
    title: str
    content_hash: str
    object_key: str
    object_version: str
    ready: bool


def _job(row: asyncpg.Record | None) -> JobView | None:
    return None if row is None else JobView(**dict(row))


async def find_by_hash(
    db: asyncpg.Connection, content_hash: str, document_id: str | None, site: str | None = None
) -> tuple[str, int] | None:
    """Return the (document, version) already holding these bytes: within ``document_id`` if given, else at ``site``."""
    row = await db.fetchrow(
        "SELECT v.document_id, v.version FROM document_versions v JOIN documents d USING (document_id)"
        " WHERE v.content_hash = $1 AND (document_id = $2 OR ($2::text IS NULL AND d.site_id IS NOT DISTINCT FROM $3))"
        " ORDER BY v.created_at DESC LIMIT 1",
        content_hash,
        document_id,
        site,
    )
    return None if row is None else (row["document_id"], row["version"])


async def insert_version(  # noqa: PLR0913 - one column each
    db: asyncpg.Connection,
    *,
    document_id: str,
    filename: str,
    media_type: str,
    title: str,
    content_hash: str,
    size_bytes: int,
    object_key: str,
    object_version: str,
    uploaded_by: str,
    site: str | None = None,
) -> tuple[int, JobView]:
    """Add the next version of ``document_id`` (creating the document, at ``site``) and its queued job.

    Call in a transaction; an existing document keeps its site.
    """
    await db.execute(
        "INSERT INTO documents (document_id, title, site_id) VALUES ($1, $2, $3) ON CONFLICT (document_id) DO NOTHING",
        document_id,
        title,
        site,
    )
    await db.execute("SELECT 1 FROM documents WHERE document_id = $1 FOR UPDATE", document_id)
    version: int = await db.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM document_versions WHERE document_id = $1", document_id
    )
    await db.execute(
        "INSERT INTO document_versions (document_id, version, filename, media_type, title, content_hash, size_bytes,"
        " object_key, object_version, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        document_id,
        version,
        filename,
        media_type,
        title,
        content_hash,
        size_bytes,
        object_key,
        object_version,
        uploaded_by,
    )
    job = await db.fetchrow(
        f"INSERT INTO document_jobs (document_id, version) VALUES ($1, $2) RETURNING {_JOB_COLUMNS}",  # noqa: S608
        document_id,
        version,
    )
    view = _job(job)
    assert view is not None  # noqa: S101 - INSERT ... RETURNING returns the row
    return version, view


async def set_job(db: asyncpg.Connection | asyncpg.Pool, job_id: int, **columns: object) -> None:
    """Update a job's state, stage, progress, counts or error (``finished`` sets finished_at)."""
    finished = columns.pop("finished", False)
    started = columns.pop("started", False)
    names = list(columns)
    assignments = [f"{name} = ${index}" for index, name in enumerate(names, start=2)]
    if finished:
        assignments.append("finished_at = clock_timestamp()")  # now() is when the transaction began
    if started:
        assignments.append("started_at = clock_timestamp(), heartbeat_at = clock_timestamp()")
    await db.execute(
        f"UPDATE document_jobs SET {', '.join(assignments)} WHERE job_id = $1",  # noqa: S608 - names are ours
        job_id,
        *(columns[name] for name in names),
    )


async def touch_jobs(db: asyncpg.Connection | asyncpg.Pool, claims: dict[int, int]) -> None:
    """Note that the jobs of ``claims`` (job id -> attempt) are alive: their hub runs them.

    A claim that was taken back (queued again, taken by another replica) is not touched.
    """
    await db.execute(
        "UPDATE document_jobs j SET heartbeat_at = now()"
        " FROM unnest($1::bigint[], $2::integer[]) AS c(job_id, attempts)"
        " WHERE j.job_id = c.job_id AND j.attempts = c.attempts AND j.state = 'running'",
        list(claims),
        list(claims.values()),
    )


class ClaimedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job one worker took from the queue, with what it needs of its version (None: the version is gone)."""

    job_id: int
    document_id: str
    version: int
    attempts: int
    """This claim's number (1 for the first); it fences every later write of the job."""
    filename: str | None
    media_type: str | None
    object_key: str | None
    object_version: str | None


async def claim_job(db: asyncpg.Pool | asyncpg.Connection, worker: str) -> ClaimedJob | None:
    """Take the oldest queued job no other replica is taking (``FOR UPDATE SKIP LOCKED``); mark it running.

    A job of a document that has a running job waits (its document row is locked too, so two replicas
    never take two versions of one document at once).
    """
    row = await db.fetchrow(
        """
        WITH next AS (
            SELECT j.job_id FROM document_jobs j JOIN documents d USING (document_id)
            WHERE j.state = 'queued'
              AND NOT EXISTS (SELECT 1 FROM document_jobs r WHERE r.document_id = j.document_id AND r.state = 'running')
            ORDER BY j.job_id LIMIT 1
            FOR UPDATE OF j, d SKIP LOCKED
        ), claimed AS (
            UPDATE document_jobs j SET state = 'running', stage = 'starting', attempts = j.attempts + 1,
                   claimed_by = $1, started_at = coalesce(j.started_at, clock_timestamp()),
                   heartbeat_at = clock_timestamp()
            FROM next WHERE j.job_id = next.job_id
            RETURNING j.job_id, j.document_id, j.version, j.attempts
        )
        SELECT c.job_id, c.document_id, c.version, c.attempts,
               v.filename, v.media_type, v.object_key, v.object_version
        FROM claimed c LEFT JOIN document_versions v USING (document_id, version)
        """,
        worker,
    )
    return None if row is None else ClaimedJob(**dict(row))


async def release_claims(db: asyncpg.Connection | asyncpg.Pool, worker: str, *, stage: str) -> int:
    """Queue again the running jobs ``worker`` claimed (a stopping hub's leftovers); the attempts count."""
    status: str = await db.execute(
        "UPDATE document_jobs SET state = 'queued', stage = $2, progress = 0, claimed_by = NULL, heartbeat_at = NULL"
        " WHERE claimed_by = $1 AND state = 'running'",
        worker,
        stage,
    )
    return int(status.rsplit(" ", 1)[1])


async def finish_job(db: asyncpg.Connection | asyncpg.Pool, job_id: int, attempt: int, **columns: object) -> bool:
    """Like :func:`set_job` (with ``finished``), but only while claim ``attempt`` still holds the job; say whether."""
    names = list(columns)
    assignments = [f"{name} = ${index}" for index, name in enumerate(names, start=3)]
    assignments.append("finished_at = clock_timestamp()")
    status: str = await db.execute(
        f"UPDATE document_jobs SET {', '.join(assignments)}"  # noqa: S608 - names are ours
        " WHERE job_id = $1 AND attempts = $2 AND state = 'running'",
        job_id,
        attempt,
        *(columns[name] for name in names),
    )
    return status == "UPDATE 1"


async def requeue_job(
    db: asyncpg.Connection | asyncpg.Pool, job_id: int, attempt: int, *, stage: str, count: bool
) -> bool:
    """Put claim ``attempt`` of a running job back in the queue (``count``: the attempt counts); say whether."""
    status: str = await db.execute(
        "UPDATE document_jobs SET state = 'queued', stage = $3, progress = 0, claimed_by = NULL, heartbeat_at = NULL,"
        " attempts = attempts - CASE WHEN $4 THEN 0 ELSE 1 END"
        " WHERE job_id = $1 AND attempts = $2 AND state = 'running'",
        job_id,
        attempt,
        stage,
        count,
    )
    return status == "UPDATE 1"


async def lock_job(db: asyncpg.Connection, job_id: int, attempt: int) -> bool:
    """Lock a running job's row till the transaction ends if claim ``attempt`` still holds it; say whether."""
    found = await db.fetchval(
        "SELECT 1 FROM document_jobs WHERE job_id = $1 AND attempts = $2 AND state = 'running' FOR UPDATE",
        job_id,
        attempt,
    )
    return found is not None


async def has_unfinished_job(db: asyncpg.Connection, document_id: str) -> bool:
    """Whether a job of ``document_id`` is queued or running (anywhere)."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM document_jobs WHERE document_id = $1 AND state IN ('queued', 'running'))",
        document_id,
    )
    return found


async def job_counts(db: asyncpg.Connection | asyncpg.Pool, job_ids: Sequence[int]) -> dict[str, int]:
    """How many of ``job_ids`` are in each state."""
    rows = await db.fetch(
        "SELECT state, count(*) AS n FROM document_jobs WHERE job_id = ANY($1::bigint[]) GROUP BY state", list(job_ids)
    )
    return {row["state"]: row["n"] for row in rows}


class AbandonedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A running job no hub has touched for too long, with its version's stored object (when the version is there)."""

    job_id: int
    document_id: str
    version: int
    attempts: int
    object_key: str | None
    object_version: str | None


async def abandoned_jobs(db: asyncpg.Connection, stale_s: float) -> list[AbandonedJob]:
    """Return the running jobs whose heartbeat (or creation, before their first) is older than ``stale_s``."""
    rows = await db.fetch(
        "SELECT j.job_id, j.document_id, j.version, j.attempts, v.object_key, v.object_version FROM document_jobs j"
        " LEFT JOIN document_versions v USING (document_id, version)"
        " WHERE j.state = 'running'"
        " AND coalesce(j.heartbeat_at, j.created_at) < now() - make_interval(secs => $1) ORDER BY j.job_id",
        stale_s,
    )
    return [AbandonedJob(**dict(row)) for row in rows]


async def latest_job(db: asyncpg.Connection, document_id: str) -> JobView | None:
    """Return the newest job of ``document_id`` (kept after the document, if it failed its first upload)."""
    return _job(
        await db.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM document_jobs WHERE document_id = $1 ORDER BY job_id DESC LIMIT 1",  # noqa: S608
            document_id,
        )
    )


async def version_row(db: asyncpg.Connection, document_id: str, version: int) -> VersionRow | None:
    """One version, as a job or a download needs it."""
    row = await db.fetchrow(
        "SELECT document_id, version, filename, media_type, title, content_hash, object_key, object_version, ready"
        " FROM document_versions WHERE document_id = $1 AND version = $2",
        document_id,
        version,
    )
    return None if row is None else VersionRow(**dict(row))


async def document_row(db: asyncpg.Connection, document_id: str) -> asyncpg.Record | None:
    """Return the document's own row (title, current version, times)."""
    return await db.fetchrow(
        "SELECT document_id, title, current_version, site_id, created_at, updated_at FROM documents"
        " WHERE document_id = $1",
        document_id,
    )


async def hidden_documents(db: asyncpg.Connection, sites: Sequence[str]) -> list[str]:
    """Return the documents of sites other than ``sites`` (those a caller limited to ``sites`` may not read)."""
    rows = await db.fetch(
        "SELECT document_id FROM documents WHERE site_id IS NOT NULL AND NOT site_id = ANY($1::text[])", list(sites)
    )
    return [row["document_id"] for row in rows]


async def versions(db: asyncpg.Connection, document_id: str) -> list[VersionView]:
    """Every version of ``document_id``, oldest first."""
    rows = await db.fetch(
        "SELECT version, filename, media_type, title, content_hash, size_bytes, pages, ready, uploaded_by, created_at"
        " FROM document_versions WHERE document_id = $1 ORDER BY version",
        document_id,
    )
    return [VersionView(**dict(row)) for row in rows]


async def extracted_text(db: asyncpg.Connection, document_id: str, version: int) -> str | None:
    """Return the extracted text of one version."""
    text: str | None = await db.fetchval(
        "SELECT extracted_text FROM document_versions WHERE document_id = $1 AND version = $2", document_id, version
    )
    return text


async def current_chunks(db: asyncpg.Connection, document_id: str) -> list[Chunk]:
    """Return the chunks of the document's current version, in order."""
    rows = await db.fetch(
        f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE document_id = $1 ORDER BY ordinal",  # noqa: S608
        document_id,
    )
    return [Chunk(**dict(row)) for row in rows]


async def chunk_hashes(db: asyncpg.Connection, document_id: str) -> set[str]:
    """Content hashes of the current chunks (what a new version can reuse)."""
    rows = await db.fetch("SELECT content_hash FROM chunks WHERE document_id = $1", document_id)
    return {row["content_hash"] for row in rows}


async def lock_current_version(db: asyncpg.Connection, document_id: str) -> int | None:
    """Lock the document's row till the transaction ends (its versions' jobs queue here); return its current version."""
    current: int | None = await db.fetchval(
        "SELECT current_version FROM documents WHERE document_id = $1 FOR UPDATE", document_id
    )
    return current


async def store_version_text(  # noqa: PLR0913 - the extraction's results, each named
    db: asyncpg.Connection, *, document_id: str, version: int, title: str, text: str, pages: int | None
) -> None:
    """Store a version's extracted text and mark it ready (it becomes current only through :func:`make_current`)."""
    await db.execute(
        "UPDATE document_versions SET extracted_text = $3, pages = $4, title = $5, ready = true"
        " WHERE document_id = $1 AND version = $2",
        document_id,
        version,
        text,
        pages,
        title,
    )


async def make_current(  # noqa: PLR0913 - the extraction's results, each named
    db: asyncpg.Connection,
    *,
    document_id: str,
    version: int,
    title: str,
    text: str,
    pages: int | None,
    chunks: Sequence[Chunk],
) -> None:
    """Store the version's text, replace the document's chunks and make it current; call in a transaction."""
    await store_version_text(db, document_id=document_id, version=version, title=title, text=text, pages=pages)
    await replace_chunks(db, document_id, chunks)
    await db.execute(
        "UPDATE documents SET current_version = $2, title = $3, updated_at = now() WHERE document_id = $1",
        document_id,
        version,
        title,
    )


async def replace_chunks(db: asyncpg.Connection, document_id: str, chunks: Sequence[Chunk]) -> None:
    """Make ``chunks`` the document's chunks (the searchable rows of its current version)."""
    await db.execute("DELETE FROM chunks WHERE document_id = $1", document_id)
    await db.copy_records_to_table(
        "chunks",
        columns=[name.strip() for name in _CHUNK_COLUMNS.split(",")],
        records=[
            (
                c.chunk_id,
                c.document_id,
                c.version,
                c.ordinal,
                c.text,
                c.content_hash,
                c.title,
                c.media_type,
                c.page,
                c.page_end,
                c.section,
                c.char_start,
                c.char_end,
                c.row_start,
                c.row_end,
                c.ocr_confidence,
            )
            for c in chunks
        ],
    )


async def delete_version(db: asyncpg.Connection, document_id: str, version: int) -> None:
    """Remove a version that never became current, and its document if nothing else is left of it."""
    await db.execute(
        "DELETE FROM document_versions WHERE document_id = $1 AND version = $2 AND NOT ready", document_id, version
    )
    await db.execute(
        "DELETE FROM documents d WHERE document_id = $1 AND current_version IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = d.document_id)",
        document_id,
    )


async def delete_document(db: asyncpg.Connection, document_id: str) -> list[str]:
    """Remove the document with its versions and chunks; return its object keys."""
    keys = await db.fetch("SELECT DISTINCT object_key FROM document_versions WHERE document_id = $1", document_id)
    await db.execute("DELETE FROM documents WHERE document_id = $1", document_id)
    return [row["object_key"] for row in keys]


async def list_documents(
    db: asyncpg.Connection, *, limit: int, offset: int, sites: Sequence[str] | None = None
) -> list[DocumentSummary]:
    """Documents (without site or at ``sites``; all when None), most recently changed first, with file and job."""
    rows = await db.fetch(
        f"""
        SELECT d.document_id, d.title, d.current_version, d.site_id AS site, d.created_at, d.updated_at,
               v.filename, v.media_type, v.size_bytes, v.pages,
               (SELECT row_to_json(j) FROM (SELECT {_JOB_COLUMNS} FROM document_jobs
                 WHERE document_id = d.document_id ORDER BY job_id DESC LIMIT 1) j) AS job
        FROM documents d
        JOIN LATERAL (SELECT * FROM document_versions WHERE document_id = d.document_id
                      ORDER BY (version = d.current_version) DESC, version DESC LIMIT 1) v ON true
        WHERE $3::text[] IS NULL OR d.site_id IS NULL OR d.site_id = ANY($3::text[])
        ORDER BY d.updated_at DESC, d.document_id
        LIMIT $1 OFFSET $2
        """,  # noqa: S608 - column list is ours
        limit,
        offset,
        None if sites is None else list(sites),
    )
    summaries = []
    for row in rows:
        fields = dict(row)
        job = fields.pop("job")
        summaries.append(DocumentSummary(**fields, job=None if job is None else msgspec.json.decode(job, type=JobView)))
    return summaries
