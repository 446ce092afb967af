"""Log files: JSON lines with request and agent ids, rotation by size and age, a restart losing no line,
archiving to the (real, filesystem) object store with retention, recorded in PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from moto.server import ThreadedMotoServer

from luna_hub.database import close_pool, create_pool
from luna_hub.documents.storage import BlockingCalls
from luna_hub.observability.logfiles import (
    LogFileHandler,
    archive_rotated,
    attach_log_files,
    detach_log_files,
    log_archiver,
    open_archive_store,
    prune_archives,
)
from luna_hub.settings import DocumentSettings, HubSettings, LogFileSettings, S3Settings
from luna_shared.logs import correlation
from support.processes import free_port
from support.sync import fetch


def _number(line: dict[str, object]) -> int | None:
    event = str(line["event"])
    return int(event.rsplit(" ", 1)[1]) if event.startswith("background line ") else None


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A stdlib logger of its own, kept out of the root logger's handlers."""
    named = logging.getLogger(f"luna-test-{id(object())}")
    named.propagate = False
    named.setLevel(logging.INFO)
    yield named
    for handler in named.handlers[:]:
        named.removeHandler(handler)
        handler.close()


def lines_in(folder: Path) -> list[dict[str, object]]:
    """Every line of every file under ``folder`` (current and rotated), in file order."""
    found = []
    for path in sorted(folder.rglob("*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


def test_every_line_has_the_request_and_agent_fields(tmp_path: Path, logger: logging.Logger) -> None:
    handler = LogFileHandler(tmp_path, max_bytes=1 << 20, rotate_every_s=3600)
    logger.addHandler(handler)
    logger.info("outside any request")
    with correlation("request_id", "req-1"), correlation("agent_id", "agent-7"):
        logger.warning("inside an agent's request")
    handler.close()
    outside, inside = lines_in(tmp_path)
    assert outside["request_id"] is None
    assert outside["agent_id"] is None
    assert (inside["request_id"], inside["agent_id"], inside["level"]) == ("req-1", "agent-7", "warning")
    assert inside["event"] == "inside an agent's request"
    assert "timestamp" in inside


def test_rotation_by_size_and_a_restart_lose_no_line(tmp_path: Path, logger: logging.Logger) -> None:
    handler = LogFileHandler(tmp_path, max_bytes=2048, rotate_every_s=3600)
    logger.addHandler(handler)
    for number in range(100):
        logger.info("line %d", number)
    logger.removeHandler(handler)
    handler.close()  # a restart: the next process finds the last file still "current"
    again = LogFileHandler(tmp_path, max_bytes=2048, rotate_every_s=3600)
    logger.addHandler(again)
    for number in range(100, 150):
        logger.info("line %d", number)
    rotated = sorted((tmp_path / "rotated").glob("*.jsonl"))
    assert len(rotated) >= 5
    assert all(path.stat().st_size <= 2048 for path in rotated)
    assert sorted(int(str(line["event"]).split()[1]) for line in lines_in(tmp_path)) == list(range(150))
    assert again.path.name.startswith("current-")


def test_rotation_by_age(tmp_path: Path, logger: logging.Logger) -> None:
    handler = LogFileHandler(tmp_path, max_bytes=1 << 20, rotate_every_s=1e-9)
    logger.addHandler(handler)
    assert not handler.rotate_if_due()  # an empty file is never rotated
    logger.info("one")
    assert handler.rotate_if_due()
    assert [line["event"] for line in lines_in(tmp_path / "rotated")] == ["one"]


def test_a_killed_process_leaves_every_line_in_its_file(tmp_path: Path, logger: logging.Logger) -> None:
    handler = LogFileHandler(tmp_path, max_bytes=1 << 20, rotate_every_s=3600)
    logger.addHandler(handler)
    logger.info("written before the kill")
    # no close(): what another process reads now is what survives a kill -9
    assert json.loads(handler.path.read_text())["event"] == "written before the kill"


async def test_rotated_files_are_archived_then_pruned(hub_dsn: str, tmp_path: Path) -> None:
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path))
    folder = tmp_path / "logs"
    handler = LogFileHandler(folder, max_bytes=1024, rotate_every_s=3600)
    for number in range(40):
        handler.handle(logging.makeLogRecord({"msg": f"archived line {number}", "levelno": 20, "levelname": "INFO"}))
    handler.close()
    LogFileHandler(folder, max_bytes=1024, rotate_every_s=3600).close()  # a restart rotates the last one too
    written = lines_in(folder)
    store = await open_archive_store(settings)
    pool = await create_pool(hub_dsn, max_size=2)
    threads = BlockingCalls("test-archive", workers=1)
    try:
        count = await archive_rotated(folder, store, pool, threads)
        assert count == len(list((tmp_path / "log-archive").iterdir()))
        assert not list((folder / "rotated").glob("*.jsonl"))  # archived: gone locally
        rows = await fetch(hub_dsn, "SELECT * FROM log_archives WHERE object_key LIKE $1", "%")
        mine = [row for row in rows if (tmp_path / "log-archive" / row["object_key"]).exists()]
        assert len(mine) == count
        archived = []
        for row in sorted(mine, key=lambda r: r["object_key"]):
            data = gzip.decompress(await store.get(row["object_key"], row["version_id"]))
            assert row["lines"] == data.count(b"\n")
            archived += [json.loads(line) for line in data.splitlines()]
        assert [line["event"] for line in archived] == [line["event"] for line in written]
        keys = [row["object_key"] for row in mine]
        await fetch(
            hub_dsn, "UPDATE log_archives SET archived_at = now() - interval '31 days' WHERE object_key = $1", keys[0]
        )
        assert await prune_archives(store, pool, timedelta(days=30)) == 1
        assert await store.versions(keys[0]) == []
        assert len(await store.versions(keys[1])) == 1
        left = await fetch(hub_dsn, "SELECT object_key FROM log_archives WHERE object_key = ANY($1::text[])", keys)
        assert sorted(row["object_key"] for row in left) == sorted(keys[1:])
    finally:
        await close_pool(pool)
        threads.close()
        store.close()


async def test_the_app_archives_in_the_background(hub_dsn: str, tmp_path: Path) -> None:
    files = LogFileSettings(max_bytes=1024, rotate_every_s=3600, archive_every_s=0.05)
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path), log_files=files)
    handler = attach_log_files(settings)
    assert handler is not None
    pool = await create_pool(hub_dsn, max_size=2)
    ready = asyncio.Event()
    ready.set()
    try:
        for number in range(30):
            logging.getLogger("luna.test").warning("background line %d", number)  # through the root logger
        async with log_archiver(settings, pool, ready):
            for _ in range(200):
                if not list((tmp_path / "logs" / "rotated").glob("*.jsonl")):
                    break
                await asyncio.sleep(0.05)
        archive = list((tmp_path / "log-archive").iterdir())
        assert archive
        numbers = []
        for folder in archive:
            for described in folder.glob("*.json"):
                stored = msgspec.json.decode(described.read_bytes())
                data = gzip.decompress((folder / f"{stored['version_id']}.bin").read_bytes())
                numbers += [_number(json.loads(line)) for line in data.splitlines()]
        numbers += [_number(line) for line in lines_in(tmp_path / "logs")]
        assert sorted(n for n in numbers if n is not None) == list(range(30))
    finally:
        detach_log_files(handler)
        await close_pool(pool)


async def test_with_the_s3_store_archives_go_to_their_own_bucket(hub_dsn: str, tmp_path: Path) -> None:
    """moto's S3 server on loopback stands in for MinIO (as in the documents' storage tests)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=(port := free_port()), verbose=False)
    server.start()
    s3 = S3Settings(
        endpoint=f"127.0.0.1:{port}",
        access_key="test",
        secret_key="test",  # noqa: S106 - moto accepts any key
        secure=False,
        region="us-east-1",
    )
    settings = HubSettings(
        database_url=hub_dsn,
        data_dir=str(tmp_path),
        documents=DocumentSettings(store="s3", s3=s3),
        log_files=LogFileSettings(archive_bucket=f"logs-{port}"),
    )
    handler = LogFileHandler(tmp_path / "logs", max_bytes=1 << 20, rotate_every_s=3600)
    handler.handle(logging.makeLogRecord({"msg": "to s3", "levelno": 20, "levelname": "INFO"}))
    handler.close()
    LogFileHandler(tmp_path / "logs", max_bytes=1 << 20, rotate_every_s=3600).close()  # a restart rotates it
    (rotated,) = (tmp_path / "logs" / "rotated").glob("*.jsonl")
    key = rotated.name + ".gz"
    store = await open_archive_store(settings)
    pool = await create_pool(hub_dsn, max_size=2)
    threads = BlockingCalls("test-archive", workers=1)
    try:
        assert store.description == f"s3 127.0.0.1:{port}/logs-{port}"
        assert await archive_rotated(tmp_path / "logs", store, pool, threads) == 1
        (row,) = await fetch(hub_dsn, "SELECT * FROM log_archives WHERE object_key = $1", key)
        data = gzip.decompress(await store.get(key, row["version_id"]))
        assert json.loads(data)["event"] == "to s3"
        assert not rotated.exists()
    finally:
        await close_pool(pool)
        threads.close()
        store.close()
        server.stop()
