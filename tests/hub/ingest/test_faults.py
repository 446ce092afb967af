"""Faults: a load killed with SIGKILL stores nothing of the file; rollups catch up on readings written elsewhere;
a file far bigger than a batch streams through bounded memory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.settings import HubSettings
from luna_hub.timeseries.writer import ReadingRow, ReadingWriter
from support.hub import migrated_pool, ready_client
from support.processes import BIN

START = datetime(2023, 1, 1, tzinfo=UTC)


def minute_file(path: Path, meter: str, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("timestamp," + meter + "\n")
        for minute in range(rows):
            handle.write(f"{(START + timedelta(minutes=minute)).isoformat()},{minute % 500}.5\n")


async def count(dsn: str, meter: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        stored: int = await connection.fetchval("SELECT count(*) FROM smart_meter_readings WHERE meter_id = $1", meter)
    finally:
        await connection.close()
    return stored


async def test_a_load_killed_midway_stores_nothing_and_a_rerun_stores_all(
    hub_dsn: str, tmp_path: Path, unique: str
) -> None:
    data = tmp_path / "big.csv"
    minute_file(data, unique, 200_000)
    async with migrated_pool(hub_dsn):
        pass
    env = {**os.environ, "LUNA_DATABASE_URL": hub_dsn, "LUNA_LOG__LEVEL": "WARNING"}
    command = [str(BIN / "luna-hub"), "load", str(data)]
    loader = await asyncio.create_subprocess_exec(*command, env=env, stdout=subprocess.DEVNULL)
    connection = await asyncpg.connect(hub_dsn)
    try:
        # Kill it once its transaction has written into its staging table (rows exist, not yet committed).
        for _ in range(600):
            staging = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid()"
                " AND query ILIKE '%stage_smart_meter%'"
            )
            if staging or loader.returncode is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    loader.kill()  # SIGKILL: no cleanup of any kind in the loader
    assert await loader.wait() == -signal.SIGKILL
    assert await count(hub_dsn, unique) == 0
    rerun = await asyncio.create_subprocess_exec(*command, env=env, stdout=subprocess.DEVNULL)
    assert await rerun.wait() == 0
    assert await count(hub_dsn, unique) == 200_000


async def test_upkeep_refreshes_rollups_of_readings_written_by_other_paths(hub_dsn: str, unique: str) -> None:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        async with connection.transaction():
            writer = ReadingWriter(connection)
            await writer.open()
            rows: list[ReadingRow] = [
                (unique, "power_w", START + timedelta(minutes=m), 1.0, "W", "good", [], None, None) for m in range(60)
            ]
            await writer.add(rows)
            assert (await writer.finish()).stored == 60
        assert await connection.fetchval("SELECT count(*) FROM rollup_1h WHERE meter_id = $1", unique) == 0
        settings = HubSettings(database_url=hub_dsn, rollup_refresh_seconds=0.1)
        async with ready_client(settings):
            for _ in range(300):
                if await connection.fetchval("SELECT count(*) FROM rollup_1h WHERE meter_id = $1", unique):
                    break
                await asyncio.sleep(0.05)
        assert await connection.fetchval("SELECT n FROM rollup_1h WHERE meter_id = $1", unique) == 60


async def test_a_big_file_streams_through_bounded_memory(hub_dsn: str, tmp_path: Path, unique: str) -> None:
    data = tmp_path / "year.csv"
    minute_file(data, unique, 200_000)
    async with migrated_pool(hub_dsn) as pool:
        tracemalloc.start()
        try:
            with data.open("rb") as binary:
                report = await load_file(pool, binary, LoadOptions(name=data.name))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.stored == 200_000
    # Holding the rows would take well over 100 MB of Python objects; batches of 10,000 take a few.
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
