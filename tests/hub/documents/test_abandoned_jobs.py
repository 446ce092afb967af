"""Jobs a stopped hub left running (issue 16): failed and undone by a replica, not "running" for ever.

The stopped hub is played by rows written here as it writes them (a version, its stored file, its
job running), with the job's heartbeat as old as a killed hub leaves it; the hub under test is the
replica that finds them. A real ``kill -9`` of ``luna-hub serve`` is in ``tests/system/test_shutdown.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from luna_hub.documents import repository
from luna_hub.documents.storage import FilesystemStore
from luna_hub.settings import DocumentSettings
from support.documents import docs_hub_client, empty_tables
from support.hub import migrated_pool


async def left_running(dsn: str, store_dir: Path, document_id: str, *, heartbeat_age_s: float) -> str:
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
            " heartbeat_at = now() - make_interval(secs => $2) WHERE job_id = $1",
            job.job_id,
            heartbeat_age_s,
        )
    return stored.key


async def test_a_job_no_hub_touched_for_four_heartbeats_is_failed_and_undone(docs_dsn: str, tmp_path: Path) -> None:
    abandoned, alive = f"abandoned-{uuid.uuid4().hex[:8]}", f"alive-{uuid.uuid4().hex[:8]}"
    store_dir = tmp_path / "documents"
    try:
        await left_running(docs_dsn, store_dir, abandoned, heartbeat_age_s=61)  # 4 x 15 s missed
        await left_running(docs_dsn, store_dir, alive, heartbeat_age_s=5)  # another replica, still at it
        async with docs_hub_client(docs_dsn, tmp_path, DocumentSettings(job_heartbeat_s=15)) as hub:
            gone = await hub.wait_for_job(abandoned)  # the duty runs as the hub starts
            assert "its upload failed: abandoned: the hub running it stopped (no heartbeat for 60 s)" in gone["detail"]
            kept = await hub.client.get(f"/documents/{alive}", params={"text": "false", "chunks": "false"})
            assert kept.status_code == 200
            assert (kept.json()["job"]["state"], kept.json()["job"]["stage"]) == ("running", "extracting")
            snapshot = await hub.snapshot()
            assert [row[0] for row in snapshot["tables"]["documents"]] == [alive]
            assert {name.split("/")[0] for name in snapshot["files"]} == {alive}  # its stored file kept, the other gone
            assert abandoned in hub.index.removed  # whatever a half-done index held of it is gone
    finally:
        await empty_tables(docs_dsn)
