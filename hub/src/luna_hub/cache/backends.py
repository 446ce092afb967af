"""Where cached answers are kept: :class:`MemoryCache` (one process) or :class:`RedisCache` (shared by replicas).

Both hold opaque bytes under string keys with a time to live. A backend that fails (Redis down)
answers a miss and drops the write: the cache may only ever make a read faster, never fail it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from luna_shared.logs import get_logger

__all__ = ["CacheBackend", "MemoryCache", "RedisCache"]

_log = get_logger(__name__)


class CacheBackend(Protocol):
    """Bytes by key, each with a time to live."""

    name: str

    async def get(self, key: str) -> bytes | None:
        """Return the value of ``key``, or None when absent, expired or unreachable."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds (best effort)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCache:
    """A least-recently-used cache in this process, bounded by the bytes of its values."""

    name = "memory"

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    @property
    def size_bytes(self) -> int:
        """Bytes of values held now."""
        return self._bytes

    async def get(self, key: str) -> bytes | None:  # noqa: D102 - see CacheBackend
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:  # noqa: D102
        if len(value) > self._max_bytes:
            return
        self._drop(key)
        self._entries[key] = (value, time.monotonic() + ttl_s)
        self._bytes += len(value)
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def close(self) -> None:  # noqa: D102
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0])


class RedisCache:
    """Values in Redis under ``prefix``; every replica of the hub sees the same entries."""

    name = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._failing = False

    async def get(self, key: str) -> bytes | None:  # noqa: D102 - see CacheBackend
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._recovered()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:  # noqa: D102
        try:
            await self._client.set(self._prefix + key, value, px=max(1, round(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._recovered()

    async def close(self) -> None:  # noqa: D102
        await self._client.aclose()

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            _log.warning("cache unreachable; reads go to the database", backend="redis", error=str(exc))

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            _log.info("cache reachable again", backend="redis")
