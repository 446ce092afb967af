"""The read cache in the hub: closed ranges answered from it, and never a stale answer after late data.

Runs the app in process on the real PostgreSQL, once with the in-process cache and once with the
real Redis; a second app on the same database and Redis stands for a second replica.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.cache.deps import provide_read_cache
from luna_hub.cache.services import ReadCache
from luna_hub.cache.versions import compact, series_version
from luna_hub.settings import CacheSettings, HubSettings, load
from luna_hub.timeseries.writer import ReadingRow, write_readings
from support.hub import migrated_pool, ready_client

Client = AsyncTestClient[Litestar]
REDIS_URL = "redis://127.0.0.1:6379/0"
DAY = datetime(2024, 3, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
async def cache_settings(request: pytest.FixtureRequest) -> AsyncIterator[CacheSettings]:
    if request.param == "memory":
        yield CacheSettings()
        return
    prefix = f"luna-test-{uuid.uuid4().hex}:"
    yield CacheSettings(url=REDIS_URL, prefix=prefix)
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _load(client: Client, meter: str, rows: list[tuple[datetime, float]]) -> None:
    body = "meter_id,metric,ts,value,unit\n" + "".join(
        f"{meter},energy_kwh,{ts.isoformat()},{value},kWh\n" for ts, value in rows
    )
    answer = await client.post("/data/load", content=body.encode())
    assert answer.status_code == 200, answer.text


async def _daily_sum(client: Client, meter: str) -> float:
    answer = await client.get(
        "/data/query",
        params={
            "meter": meter,
            "metric": "energy_kwh",
            "start": DAY.isoformat(),
            "end": (DAY + timedelta(days=1)).isoformat(),
            "bucket": "1d",
            "aggregate": "sum",
            "tz": "UTC",
        },
    )
    assert answer.status_code == 200, answer.text
    points = answer.json()["series"][0]["points"]
    return float(sum(point["value"] for point in points))


def _cache(client: Client) -> ReadCache:
    return provide_read_cache(client.app.state)


async def test_a_closed_range_is_served_from_the_cache_until_late_data_arrives(
    hub_dsn: str, cache_settings: CacheSettings
) -> None:
    meter = f"cache-{uuid.uuid4().hex[:8]}"
    async with ready_client(HubSettings(database_url=hub_dsn, cache=cache_settings)) as client:
        await _load(client, meter, [(DAY + timedelta(hours=h), 1.0) for h in range(4)])
        assert await _daily_sum(client, meter) == 4.0
        stats = _cache(client).stats
        misses = stats.misses
        assert await _daily_sum(client, meter) == 4.0
        assert stats.hits == 1
        assert stats.misses == misses

        await _load(client, meter, [(DAY + timedelta(hours=10), 5.0)])  # late data into the cached day
        assert await _daily_sum(client, meter) == 9.0
        assert stats.misses == misses + 1


async def test_a_second_replica_sharing_redis_never_serves_what_the_first_made_stale(hub_dsn: str) -> None:
    prefix = f"luna-test-{uuid.uuid4().hex}:"
    shared = HubSettings(database_url=hub_dsn, cache=CacheSettings(url=REDIS_URL, prefix=prefix))
    meter = f"cache-{uuid.uuid4().hex[:8]}"
    try:
        async with ready_client(shared) as first, ready_client(shared) as second:
            await _load(first, meter, [(DAY, 2.0)])
            assert await _daily_sum(first, meter) == 2.0
            assert await _daily_sum(second, meter) == 2.0
            assert _cache(second).stats.hits == 1  # the first replica's answer, through Redis
            await _load(second, meter, [(DAY + timedelta(hours=1), 3.0)])
            assert await _daily_sum(first, meter) == 5.0
    finally:
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_cached_answer_is_byte_for_byte_the_fresh_one(hub_dsn: str) -> None:
    meter = f"cache-{uuid.uuid4().hex[:8]}"
    params = {
        "meter": meter,
        "metric": "energy_kwh",
        "start": "2024-03-05",
        "end": "2024-03-06",
        "tz": "Europe/Berlin",  # local offsets in the answer must survive the cache
    }
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        await _load(client, meter, [(DAY + timedelta(hours=h), float(h)) for h in range(6)])
        for extra in ({"bucket": "1h"}, {"bucket": "raw"}, {"bucket": "1h", "format": "csv"}):
            fresh = await client.get("/data/query", params={**params, **extra})
            cached = await client.get("/data/query", params={**params, **extra})
            assert fresh.status_code == cached.status_code == 200
            assert cached.content == fresh.content
        assert _cache(client).stats.hits == 4  # the CSV asks what the first 1h query asked: a hit at once


async def test_open_ranges_are_not_cached(hub_dsn: str) -> None:
    meter = f"cache-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(microsecond=0)
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        await _load(client, meter, [(now - timedelta(minutes=30), 1.0)])
        params = {"meter": meter, "metric": "energy_kwh", "start": (now - timedelta(hours=1)).isoformat()}
        for _ in range(2):
            answer = await client.get("/data/query", params={**params, "end": (now + timedelta(hours=1)).isoformat()})
            assert answer.status_code == 200
        stats = _cache(client).stats
        assert (stats.hits, stats.misses, stats.skipped) == (0, 0, 2)


async def test_market_prices_are_versioned_too(hub_dsn: str) -> None:
    market = f"T{uuid.uuid4().hex[:6].upper()}"
    start = datetime(2024, 1, 10, tzinfo=UTC)

    async def load(hour: int, price: float) -> None:
        body = f'{{"market": "{market}", "ts": "{(start + timedelta(hours=hour)).isoformat()}", "price": {price}}}\n'
        answer = await client.post("/data/load", content=body.encode())
        assert answer.status_code == 200, answer.text

    async def mean() -> float:
        answer = await client.get(
            "/data/query",
            params={
                "market": market,
                "start": start.isoformat(),
                "end": (start + timedelta(days=1)).isoformat(),
                "bucket": "1d",
                "tz": "UTC",
            },
        )
        assert answer.status_code == 200, answer.text
        return float(answer.json()["series"][0]["points"][0]["value"])

    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        await load(0, 10.0)
        assert await mean() == 10.0
        assert await mean() == 10.0
        await load(1, 30.0)
        assert await mean() == 20.0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 47)), min_size=1, max_size=12))
async def test_compaction_never_changes_a_version_and_every_new_row_raises_it(
    hub_dsn: str, writes: list[tuple[int, int]]
) -> None:
    meters = [f"v-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        seen = await series_version(connection, "meter", meters, "energy_kwh")
        for meter, half_hour in writes:
            row: ReadingRow = (
                meters[meter],
                "energy_kwh",
                DAY + timedelta(minutes=30 * half_hour),
                1.0,
                "kWh",
                "good",
                [],
                None,
                None,
            )
            stored = (await write_readings(connection, [row])).stored
            version = await series_version(connection, "meter", meters, "energy_kwh")
            assert (version > seen) == bool(stored)  # a duplicate changes nothing, a new reading always something
            seen = version
            versions = [await series_version(connection, "meter", [m], "energy_kwh") for m in meters]
            await compact(connection)
            assert await series_version(connection, "meter", meters, "energy_kwh") == seen
            assert [await series_version(connection, "meter", [m], "energy_kwh") for m in meters] == versions


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUNA_CACHE__URL", REDIS_URL)
    monkeypatch.setenv("LUNA_CACHE__TTL_S", "5")
    cache = load(None).settings.cache
    assert (cache.url, cache.ttl_s) == (REDIS_URL, 5.0)
