"""The read cache's long-lived parts: its backend for the app's lifetime and the compaction duty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.cache.backends import CacheBackend, MemoryCache, RedisCache
from luna_hub.cache.services import ReadCache
from luna_hub.cache.versions import compact
from luna_hub.database.deps import provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.settings import CacheSettings, HubSettings
from luna_shared.logs import get_logger

__all__ = ["cache_dependencies", "cache_lifespan", "open_backend", "provide_read_cache"]

_log = get_logger(__name__)
_COMPACT_EVERY_S = 300.0


def open_backend(settings: CacheSettings) -> CacheBackend:
    """Return the backend ``settings`` name: Redis at ``url``, else memory in this process."""
    if settings.url:
        return RedisCache(settings.url, settings.prefix)
    return MemoryCache(settings.max_bytes)


@asynccontextmanager
async def cache_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the cache backend (``app.state.read_cache``) and compact series versions now and then (one replica)."""
    backend = open_backend(settings.cache)
    app.state.read_cache = ReadCache(backend, settings.cache)
    provide_duties(app.state).start(
        Duty("series change compaction", _COMPACT_EVERY_S, _compact), after=provide_schema_ready(app.state)
    )
    _log.info("read cache ready", backend=backend.name, enabled=settings.cache.enabled)
    try:
        yield
    finally:
        await backend.close()


async def _compact(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=10) as connection:
        removed = await compact(connection)
    if removed:
        _log.debug("series changes compacted", rows_removed=removed)


def provide_read_cache(state: State) -> ReadCache:
    """Return the app's read cache (opened by :func:`cache_lifespan`)."""
    cache: ReadCache = state.read_cache
    return cache


def cache_dependencies() -> dict[str, Any]:
    """Return the cache's injectable parts."""
    return {"read_cache": Provide(provide_read_cache, sync_to_thread=False)}
