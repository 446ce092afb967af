"""The read cache: answers of closed ranges, keyed by what was asked and the version of the series read."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import msgspec

from luna_hub import __version__
from luna_hub.cache.backends import CacheBackend
from luna_hub.cache.versions import Source, series_version
from luna_hub.settings import CacheSettings

__all__ = ["CacheStats", "ReadCache"]

T = TypeVar("T")


class CacheStats(msgspec.Struct, kw_only=True):
    """Counts since start (exported as metrics)."""

    hits: int = 0
    misses: int = 0
    skipped: int = 0
    """Reads not cached: open ranges, or the cache switched off."""


class ReadCache:
    """``get_or_compute`` serves a closed range's answer from the backend while its series are unchanged."""

    def __init__(self, backend: CacheBackend, settings: CacheSettings) -> None:
        self.backend = backend
        self.stats = CacheStats()
        self._settings = settings

    def cacheable(self, end: datetime, *, now: datetime | None = None) -> bool:
        """Whether a range ending at ``end`` is closed: ended ``settle_s`` ago or earlier."""
        moment = now or datetime.now(UTC)
        return self._settings.enabled and end <= moment - timedelta(seconds=self._settings.settle_s)

    async def get_or_compute(  # noqa: PLR0913 - what is asked, what it reads, how to make and decode it
        self,
        pool: asyncpg.Pool,
        *,
        kind: str,
        request: object,
        series: tuple[Source, Sequence[str], str],
        end: datetime,
        compute: Callable[[], Awaitable[T]],
        type_: type[T],
    ) -> T:
        """Return the cached answer to ``request`` or compute, keep and return it.

        ``series`` is (source, names, metric) of everything the answer reads; ``end`` the end of its range.
        """
        if not self.cacheable(end):
            self.stats.skipped += 1
            return await compute()
        async with pool.acquire() as connection:
            version = await series_version(connection, *series)
        key = _key(kind, request, version)
        cached = await self.backend.get(key)
        if cached is not None:
            try:
                answer = msgspec.json.decode(cached, type=type_)
            except msgspec.DecodeError:
                pass  # an entry of an older hub version: recompute and replace it
            else:
                self.stats.hits += 1
                return answer
        self.stats.misses += 1
        answer = await compute()
        encoded = msgspec.json.encode(answer)  # JSON keeps local offsets; msgpack would make them UTC
        if len(encoded) <= self._settings.max_entry_bytes:
            await self.backend.set(key, encoded, self._settings.ttl_s)
        return answer


def _key(kind: str, request: object, version: int) -> str:
    digest = hashlib.blake2b(msgspec.json.encode(request), digest_size=20).hexdigest()
    return f"{__version__}:{kind}:v{version}:{digest}"  # a new hub release never reads an old answer shape
