"""A document job's ``finished_at`` is when it finished (issue 23), not when its final transaction began.

The hub marks a job done inside the transaction that makes the version current and indexes its
chunks, which may run for minutes while the heartbeat keeps touching the job from other connections;
PostgreSQL's ``now()`` would date the finish back to that transaction's start, before the heartbeats.
"""

from __future__ import annotations

import hashlib
import uuid

from luna_hub.documents import repository
from support.hub import migrated_pool


async def test_finished_at_follows_the_start_and_every_heartbeat_of_a_job_finished_in_a_long_transaction(
    docs_dsn: str,
) -> None:
    document_id = f"times-{uuid.uuid4().hex[:8]}"
    async with migrated_pool(docs_dsn, max_size=3) as pool:
        try:
            async with pool.acquire() as db, db.transaction():
                _, job = await repository.insert_version(
                    db,
                    document_id=document_id,
                    filename=f"{document_id}.md",
                    media_type="text/markdown",
                    title=document_id,
                    content_hash=f"sha256:{hashlib.sha256(document_id.encode()).hexdigest()}",
                    size_bytes=1,
                    object_key=f"{document_id}/1",
                    object_version="v1",
                    uploaded_by="test",
                )
            async with pool.acquire() as final, final.transaction():
                await final.execute("SELECT 1")  # the transaction (and its now()) begins here
                claimed = await repository.claim_job(pool, "test")  # a worker takes it, on another connection
                assert claimed is not None
                assert claimed.job_id == job.job_id
                await repository.touch_jobs(pool, {job.job_id: claimed.attempts})  # the heartbeat
                assert await repository.finish_job(final, job.job_id, claimed.attempts, state="done", progress=1.0)
            row = await pool.fetchrow(
                "SELECT created_at, started_at, heartbeat_at, finished_at FROM document_jobs WHERE job_id = $1",
                job.job_id,
            )
            async with pool.acquire() as db:
                view = await repository.latest_job(db, document_id)
        finally:
            await pool.execute("DELETE FROM document_jobs WHERE document_id = $1", document_id)
            await pool.execute("DELETE FROM document_versions WHERE document_id = $1", document_id)
            await pool.execute("DELETE FROM documents WHERE document_id = $1", document_id)
    assert row["created_at"] <= row["started_at"] <= row["heartbeat_at"] <= row["finished_at"]
    assert view is not None
    assert view.finished_at == row["finished_at"]
