"""One contract for both cache backends: in-process memory and the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from luna_hub.cache.backends import CacheBackend, MemoryCache, RedisCache

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[CacheBackend]:
    if request.param == "memory":
        yield MemoryCache(1 << 20)
        return
    prefix = f"luna-test-{uuid.uuid4().hex}:"
    cache = RedisCache(REDIS_URL, prefix)
    try:
        yield cache
    finally:
        await cache.close()
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_value_comes_back_and_an_absent_key_is_a_miss(backend: CacheBackend) -> None:
    await backend.set("a", b"\x00value", 60)
    assert await backend.get("a") == b"\x00value"
    assert await backend.get("b") is None


async def test_a_value_is_replaced(backend: CacheBackend) -> None:
    await backend.set("a", b"one", 60)
    await backend.set("a", b"two", 60)
    assert await backend.get("a") == b"two"


async def test_an_entry_expires(backend: CacheBackend) -> None:
    await backend.set("short", b"x", 0.05)
    await backend.set("long", b"y", 60)
    await asyncio.sleep(0.2)
    assert await backend.get("short") is None
    assert await backend.get("long") == b"y"


async def test_memory_keeps_the_most_recently_used_within_its_bytes() -> None:
    cache = MemoryCache(max_bytes=10)
    await cache.set("a", b"aaaa", 60)
    await cache.set("b", b"bbbb", 60)
    assert await cache.get("a") == b"aaaa"  # a is now the most recently used
    await cache.set("c", b"cccc", 60)  # 12 bytes: b goes
    assert await cache.get("b") is None
    assert await cache.get("a") == b"aaaa"
    assert await cache.get("c") == b"cccc"
    assert cache.size_bytes == 8
    await cache.set("huge", b"x" * 11, 60)  # larger than the whole cache: not kept, nothing evicted
    assert await cache.get("huge") is None
    assert cache.size_bytes == 8


async def test_an_unreachable_redis_is_a_miss_never_an_error() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", "luna-test:")  # nothing listens on port 1
    try:
        await cache.set("a", b"x", 60)
        assert await cache.get("a") is None
    finally:
        await cache.close()
