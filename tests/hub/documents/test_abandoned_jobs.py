"""Jobs a stopped hub left running (issues 16, 20): queued again and run by a replica, or failed after N attempts.

The stopped hub is played by rows written here as it writes them (a version, its stored file, its
job running), with the job's heartbeat as old as a killed hub leaves it, and with a vector the dead
attempt wrote; the hub under test is the replica that finds them. A real ``kill -9`` of
``luna-hub serve`` is in ``tests/system/test_shutdown.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from luna_hub.documents import repository
from luna_hub.documents.storage import FilesystemStore
from luna_hub.settings import DocumentSettings
from support.documents import RecordingIndex, docs_hub_client, empty_tables
from support.hub import migrated_pool


async def left_running(
    dsn: str, store_dir: Path, document_id: str, *, heartbeat_age_s: float, attempts: int = 1
) -> str:
    """Upload ``document_id`` as a hub does up to its job, the job running, last touched ``heartbeat_age_s`` ago.

    Return the key of its stored file.
    """
    data = f"# Tarif {document_id}\n\n32 Cent je Kilowattstunde.".encode()
    store = FilesystemStore(store_dir)
    try:
        stored = await store.put(document_id, data, content_type="text/markdown")
    finally:
        store.close()
    async with migrated_pool(dsn) as pool, pool.acquire() as db, db.transaction():
        _, job = await repository.insert_version(
            db,
            document_id=document_id,
            filename=f"{document_id}.md",
            media_type="text/markdown",
            title=document_id,
            content_hash=stored.content_hash,
            size_bytes=len(data),
            object_key=stored.key,
            object_version=stored.version_id,
            uploaded_by="test",
        )
        await db.execute(
            "UPDATE document_jobs SET state = 'running', stage = 'extracting', started_at = now() - interval '1 hour',"
            " heartbeat_at = now() - make_interval(secs => $2), attempts = $3, claimed_by = 'dead-hub'"
            " WHERE job_id = $1",
            job.job_id,
            heartbeat_age_s,
            attempts,
        )
    return stored.key


async def test_a_job_no_hub_touched_for_four_heartbeats_is_queued_again_and_done_once(
    docs_dsn: str, tmp_path: Path
) -> None:
    abandoned, alive = f"abandoned-{uuid.uuid4().hex[:8]}", f"alive-{uuid.uuid4().hex[:8]}"
    store_dir = tmp_path / "documents"
    try:
        await left_running(docs_dsn, store_dir, abandoned, heartbeat_age_s=61)  # 4 x 15 s missed
        await left_running(docs_dsn, store_dir, alive, heartbeat_age_s=5)  # another replica, still at it
        index = RecordingIndex(content={abandoned: (1, ["a vector the dead attempt wrote"])})
        async with docs_hub_client(docs_dsn, tmp_path, DocumentSettings(job_heartbeat_s=15), index=index) as hub:
            done = await hub.wait_for_job(abandoned)  # the duty runs as the hub starts; its worker takes it
            assert done["job"]["state"] == "done", done
            assert done["job"]["attempts"] == 2, done  # the dead attempt counts
            assert done["current_version"] == 1
            assert (abandoned, 1) in hub.index.removed_versions  # the dead attempt's vectors went first
            version, hashes = hub.index.content[abandoned]
            assert version == 1
            assert "a vector the dead attempt wrote" not in hashes
            assert len(hashes) == done["job"]["chunks"]
            kept = await hub.client.get(f"/documents/{alive}", params={"text": "false", "chunks": "false"})
            assert kept.status_code == 200
            assert (kept.json()["job"]["state"], kept.json()["job"]["stage"]) == ("running", "extracting")
            snapshot = await hub.snapshot()
            assert [row[0] for row in snapshot["tables"]["documents"]] == sorted([abandoned, alive])
            chunk_rows = [row for row in snapshot["tables"]["chunks"] if row[1] == abandoned]
            assert len(chunk_rows) == done["job"]["chunks"]  # indexed once, not once per attempt
    finally:
        await empty_tables(docs_dsn)


async def test_a_job_abandoned_as_often_as_job_attempts_allows_is_failed_and_undone(
    docs_dsn: str, tmp_path: Path
) -> None:
    abandoned = f"abandoned-{uuid.uuid4().hex[:8]}"
    store_dir = tmp_path / "documents"
    try:
        await left_running(docs_dsn, store_dir, abandoned, heartbeat_age_s=61, attempts=2)
        settings = DocumentSettings(job_heartbeat_s=15, job_attempts=2)
        index = RecordingIndex(content={abandoned: (1, ["a vector the dead attempt wrote"])})
        async with docs_hub_client(docs_dsn, tmp_path, settings, index=index) as hub:
            gone = await hub.wait_for_job(abandoned)
            assert "its upload failed: abandoned: the hub running it stopped (no heartbeat for 60 s)" in gone["detail"]
            assert "2 times; documents.job_attempts is 2" in gone["detail"]
            snapshot = await hub.snapshot()
            assert snapshot["tables"]["documents"] == []
            assert snapshot["files"] == []  # its stored file is gone too
            assert abandoned not in hub.index.content  # whatever a half-done index held of it is gone
    finally:
        await empty_tables(docs_dsn)
