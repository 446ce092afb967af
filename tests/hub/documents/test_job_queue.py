"""The document job queue (issue 20): hub replicas on one database take each queued job exactly once.

Replicas are played by :class:`DocumentService` objects, each on a pool of its own (as separate hub
processes have), sharing the database and the object store folder (as replicas share S3). A real
``luna-hub serve`` killed mid-job is in ``tests/system/test_shutdown.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from luna_hub.documents import repository
from luna_hub.documents.schemas import Chunk
from luna_hub.documents.services import DocumentService
from luna_hub.documents.storage import FilesystemStore
from luna_hub.errors import ConflictError
from luna_hub.settings import DocumentSettings
from support.documents import RecordingIndex, empty_tables
from support.hub import migrated_pool


def markdown(label: str, paragraphs: int = 3) -> bytes:
    body = "\n\n".join(f"Absatz {n}: der Arbeitspreis für {label} beträgt {n} Cent je kWh." for n in range(paragraphs))
    return f"# Tarif {label}\n\n{body}\n".encode()


@asynccontextmanager
async def replica(
    dsn: str, store_dir: Path, index: RecordingIndex, settings: DocumentSettings, name: str
) -> AsyncIterator[DocumentService]:
    """One replica's document service on a pool of its own, its workers started."""
    async with migrated_pool(dsn, max_size=4) as pool:
        store = FilesystemStore(store_dir)
        service = DocumentService(pool, store, index, settings, worker_name=name)
        service.start_workers()
        try:
            yield service
        finally:
            await service.close()
            store.close()


async def job_rows(dsn: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            "SELECT job_id, document_id, state, attempts, claimed_by FROM document_jobs"
        )
        return rows
    finally:
        await connection.close()


async def test_concurrent_claims_from_two_replicas_never_take_a_job_twice(docs_dsn: str) -> None:
    jobs = 40
    try:
        async with migrated_pool(docs_dsn, max_size=8) as first, migrated_pool(docs_dsn, max_size=8) as second:
            async with first.acquire() as db, db.transaction():
                for number in range(jobs):
                    await repository.insert_version(
                        db,
                        document_id=f"claim-{number}",
                        filename="tarif.md",
                        media_type="text/markdown",
                        title="tarif",
                        content_hash=f"sha256:{number:064x}",
                        size_bytes=1,
                        object_key=f"claim-{number}",
                        object_version="1",
                        uploaded_by="test",
                    )

            async def claimer(pool: asyncpg.Pool, name: str) -> list[int]:
                taken = []
                while (job := await repository.claim_job(pool, name)) is not None:
                    taken.append(job.job_id)
                return taken

            claims = await asyncio.gather(
                *(claimer(pool, f"{label}-{n}") for pool, label in ((first, "a"), (second, "b")) for n in range(6))
            )
        counted = Counter(job_id for taken in claims for job_id in taken)
        assert len(counted) == jobs
        assert set(counted.values()) == {1}, [job for job, times in counted.items() if times > 1]
        rows = await job_rows(docs_dsn)
        assert {(row["state"], row["attempts"]) for row in rows} == {("running", 1)}
        assert {row["claimed_by"][0] for row in rows} == {"a", "b"}  # both replicas took some
    finally:
        await empty_tables(docs_dsn)


async def test_jobs_uploaded_to_two_replicas_are_each_run_once(docs_dsn: str, tmp_path: Path) -> None:
    store_dir = tmp_path / "documents"
    indexes = {"a": RecordingIndex(), "b": RecordingIndex()}
    settings = DocumentSettings(workers=2, job_poll_s=0.2)
    documents = [f"twice-{n}-{uuid.uuid4().hex[:6]}" for n in range(8)]
    try:
        async with AsyncExitStack() as stack:
            services = {
                name: await stack.enter_async_context(replica(docs_dsn, store_dir, index, settings, name))
                for name, index in indexes.items()
            }
            for number, document_id in enumerate(documents):
                uploader = services["ab"[number % 2]]
                await uploader.upload(markdown(document_id), "tarif.md", document_id=document_id)
            for service in services.values():
                await service.wait_idle()
        rows = await job_rows(docs_dsn)
        assert sorted(row["document_id"] for row in rows) == sorted(documents)
        assert {(row["state"], row["attempts"]) for row in rows} == {("done", 1)}
        calls = indexes["a"].calls + indexes["b"].calls
        assert sorted(calls) == sorted((document_id, 1) for document_id in documents)  # each indexed once, by one
        for row in rows:
            assert row["document_id"] in indexes[row["claimed_by"]].content
    finally:
        await empty_tables(docs_dsn)


class BlockingIndex(RecordingIndex):
    """Holds ``index`` until released: a job caught mid-indexing when its hub stops."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def index(self, document_id: str, version: int, chunks: Sequence[Chunk]) -> None:
        await super().index(document_id, version, chunks)  # a half-done write, then the hub stops
        self.entered.set()
        await asyncio.Event().wait()


async def test_a_stopping_replica_puts_its_job_back_and_another_runs_it_once(docs_dsn: str, tmp_path: Path) -> None:
    store_dir = tmp_path / "documents"
    settings = DocumentSettings(job_poll_s=0.2)
    document_id = f"handover-{uuid.uuid4().hex[:6]}"
    stopping, survivor = BlockingIndex(), RecordingIndex()
    try:
        async with replica(docs_dsn, store_dir, stopping, settings, "stopping") as first:
            await first.upload(markdown(document_id, 12), "tarif.md", document_id=document_id)
            await asyncio.wait_for(stopping.entered.wait(), 60)
            with_job = await first.detail(document_id, text=False, chunks=False)
            assert with_job.job is not None
            assert (with_job.job.state, with_job.job.attempts) == ("running", 1)
        # stopped (as on SIGTERM or Ctrl-C): its half-done write is gone and the job is queued again
        assert stopping.removed_versions == [(document_id, 1)]
        assert document_id not in stopping.content
        (row,) = await job_rows(docs_dsn)
        assert (row["state"], row["attempts"], row["claimed_by"]) == ("queued", 0, None)
        async with replica(docs_dsn, store_dir, survivor, settings, "survivor") as second:
            await asyncio.wait_for(second.wait_for_job(row["job_id"]), 60)
            detail = await second.detail(document_id, text=False)
        assert detail.job is not None
        assert (detail.job.state, detail.job.attempts) == ("done", 1)
        assert survivor.calls == [(document_id, 1)]
        assert len(survivor.content[document_id][1]) == len(detail.chunks) == detail.job.chunks
    finally:
        await empty_tables(docs_dsn)


async def test_a_new_version_waits_for_the_unfinished_job_of_its_document_on_any_replica(
    docs_dsn: str, tmp_path: Path
) -> None:
    store_dir = tmp_path / "documents"
    settings = DocumentSettings(workers=0)  # nobody runs the queue: the first job stays queued
    document_id = f"busy-{uuid.uuid4().hex[:6]}"
    try:
        async with (
            replica(docs_dsn, store_dir, RecordingIndex(), settings, "a") as first,
            replica(docs_dsn, store_dir, RecordingIndex(), settings, "b") as second,
        ):
            result = await first.upload(markdown(document_id), "tarif.md", document_id=document_id)
            assert result.job is not None
            assert result.job.state == "queued"
            again = await second.upload(markdown(document_id), "tarif.md", document_id=document_id)
            assert again.deduplicated  # the same bytes: the queued job is the one to watch
            assert again.job == result.job
            with pytest.raises(ConflictError, match="still being processed"):
                await second.upload(markdown(document_id + " v2"), "tarif.md", document_id=document_id)
            with pytest.raises(ConflictError, match="being processed"):
                await second.delete(document_id)
    finally:
        await empty_tables(docs_dsn)
