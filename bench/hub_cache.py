"""The hub's read cache: ``/data/query`` over a closed range served from the cache against computing it.

Data (generated, reproducible): one year of 15-minute power readings for each of 26 meters, written
through the bulk writer with rollups. Every case asks the API (HTTP in process, JSON) for a year of
daily and of hourly averages of one meter.

- hit: the same question again; its answer is in the cache (in this process, or in the real Redis
  on 127.0.0.1:6379 under a unique prefix that is deleted afterwards).
- miss: a question not asked before (round ``i`` asks for meter ``i``): computed, then stored.
- baseline, in the same run: the same questions to a hub with the cache switched off.

The three hubs run side by side on one database and take turns question by question (after a
first pass over every meter, so that every case reads warm database pages); medians of 25 rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from bench.databases import migrated_database
from bench.hub_timeseries import write_quarter_hour_year
from bench.report import Result
from luna_hub.app import create_app
from luna_hub.settings import AuthSettings, CacheSettings, HubSettings

REDIS_URL = os.environ.get("LUNA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
QUARTERS = 35_040
ROUNDS = 25
BUCKETS = {"1d": "daily", "1h": "hourly"}
METERS = ROUNDS + 1  # meter 0 for hits, one fresh meter per round of misses
TZ = "Europe/Berlin"
NOTE_MISS = "a question not asked before: computed, then stored; vs the same with the cache off"
NOTE = "API (HTTP in process, JSON) vs the same API with the cache off; time, lower is better"


def _meter(number: int) -> str:
    return f"bench-cache-{number:02d}"


async def _write_meters(pool: asyncpg.Pool) -> None:
    await write_quarter_hour_year(pool, [_meter(meter) for meter in range(METERS)])
    await pool.execute("ANALYZE")


def _params(meter: int, bucket: str) -> dict[str, Any]:
    return {
        "meter": _meter(meter),
        "metric": "power_w",
        "start": "2024-01-01",
        "end": "2025-01-01",
        "bucket": bucket,
        "aggregate": "avg",
    }


async def _ask(client: AsyncTestClient[Any], meter: int, bucket: str) -> None:
    response = await client.get("/data/query", params=_params(meter, bucket))
    assert response.status_code == 200, response.text


async def _us(client: AsyncTestClient[Any], meter: int, bucket: str) -> float:
    started = time.perf_counter()
    await _ask(client, meter, bucket)
    return (time.perf_counter() - started) * 1_000_000


async def _ready(client: AsyncTestClient[Any]) -> None:
    for _ in range(600):  # the app migrates in the background; /health says when it is done
        if (await client.get("/health")).status_code == 200:
            return
        await asyncio.sleep(0.1)


@asynccontextmanager
async def _hubs(dsn: str, prefix: str) -> AsyncIterator[dict[str, AsyncTestClient[Any]]]:
    """Three hubs on the same database: the cache off (the baseline), in process, and in Redis."""
    caches = {
        "off": CacheSettings(enabled=False),
        "in-process": CacheSettings(),
        "Redis": CacheSettings(url=REDIS_URL, prefix=prefix),
    }
    async with AsyncExitStack() as stack:
        clients: dict[str, AsyncTestClient[Any]] = {}
        for name, cache in caches.items():
            data_dir = stack.enter_context(tempfile.TemporaryDirectory())  # each its own embedded Qdrant
            settings = HubSettings(database_url=dsn, data_dir=data_dir, auth=AuthSettings(required=False), cache=cache)
            clients[name] = await stack.enter_async_context(AsyncTestClient(create_app(settings)))
            await _ready(clients[name])
        yield clients


async def _drop_keys(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _cases(dsn: str) -> list[Result]:
    """Interleaved rounds (the order of the hubs rotating), so that load from elsewhere hits every case alike."""
    prefix = f"luna-bench-{uuid.uuid4().hex}:"
    samples: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    try:
        async with _hubs(dsn, prefix) as hubs:
            for bucket in BUCKETS:
                for meter in range(METERS):  # warm: every meter's pages in PostgreSQL's cache
                    await _ask(hubs["off"], meter, bucket)
                for client in hubs.values():  # prepared statements, and the entry the hits read
                    await _ask(client, 0, bucket)
                for number in range(ROUNDS):
                    names = list(hubs)
                    for name in names[number % 3 :] + names[: number % 3]:
                        samples[bucket, name, "hit"].append(await _us(hubs[name], 0, bucket))
                        samples[bucket, name, "miss"].append(await _us(hubs[name], number + 1, bucket))
    finally:
        await _drop_keys(prefix)
    results = []
    for bucket, label in BUCKETS.items():
        what = f"{label} avg over a year, 1 of {METERS} meters"
        median = {key: statistics.median(values) for key, values in samples.items() if key[0] == bucket}
        for backend in ("in-process", "Redis"):
            results += [
                Result("hub cache", f"{backend} hit, {what}", median[bucket, backend, "hit"], "µs",
                       median[bucket, "off", "hit"], NOTE),
                Result("hub cache", f"{backend} miss (new key), {what}", median[bucket, backend, "miss"], "µs",
                       median[bucket, "off", "miss"], NOTE_MISS),
            ]  # fmt: skip
    return results


async def _run() -> list[Result]:
    async with migrated_database(TZ) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=4)
        try:
            await _write_meters(pool)
        finally:
            await pool.close()
        return await _cases(dsn)


def run() -> list[Result]:
    """Run the suite (about two minutes on two cores)."""
    return asyncio.run(_run())
