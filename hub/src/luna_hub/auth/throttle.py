"""Failed logins per user and per client address: after ``login_free_failures``, doubling waits.

The counts live in this process (:class:`MemoryFailures`) or, when several hub replicas share a
Redis (``cache.url``), in Redis (:class:`RedisFailures`), so an attacker cannot multiply the free
attempts by the number of replicas behind the load balancer. A success clears the user's count.
Times are wall-clock seconds, the same on every replica.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from luna_hub.auth.errors import ThrottledError
from luna_hub.settings import AuthSettings
from luna_shared.logs import get_logger

__all__ = ["FailureStore", "LoginThrottle", "MemoryFailures", "RedisFailures"]

_log = get_logger(__name__)
_MAX_KEYS: Final = 100_000


class FailureStore(Protocol):
    """Failure counts and the time of the last failure, by key."""

    async def get(self, key: str) -> tuple[int, float]:
        """Return (failures, time of the last) of ``key``; (0, 0.0) when none."""
        ...

    async def add(self, key: str, now: float, keep_s: float) -> None:
        """Count a failure of ``key`` at ``now``; forget it ``keep_s`` after."""
        ...

    async def clear(self, key: str) -> None:
        """Forget ``key``'s failures."""
        ...


class MemoryFailures:
    """Counts in this process (a restart forgets)."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    async def get(self, key: str) -> tuple[int, float]:  # noqa: D102 - see FailureStore
        return self._failures.get(key, (0, 0.0))

    async def add(self, key: str, now: float, keep_s: float) -> None:  # noqa: ARG002, D102 - bounded by size
        count, _ = self._failures.get(key, (0, 0.0))
        self._failures[key] = (count + 1, now)
        if len(self._failures) > _MAX_KEYS:  # bound the memory a scan of names can take
            self._failures.clear()

    async def clear(self, key: str) -> None:  # noqa: D102
        self._failures.pop(key, None)


class RedisFailures:
    """Counts in Redis, shared by every replica; unreachable Redis counts nothing (logins are not blocked)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix + "login-failures:"

    async def get(self, key: str) -> tuple[int, float]:  # noqa: D102 - see FailureStore
        try:
            count, last = await self._client.hmget(self._prefix + key, ["count", "last"])
        except (RedisError, OSError) as exc:
            _log.warning("login throttle unreachable", backend="redis", error=str(exc))
            return 0, 0.0
        return (int(count), float(last)) if count is not None and last is not None else (0, 0.0)

    async def add(self, key: str, now: float, keep_s: float) -> None:  # noqa: D102
        name = self._prefix + key
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hincrby(name, "count", 1)
                pipe.hset(name, "last", repr(now))
                pipe.expire(name, max(1, round(keep_s)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _log.warning("login throttle unreachable", backend="redis", error=str(exc))

    async def clear(self, key: str) -> None:  # noqa: D102
        try:
            await self._client.delete(self._prefix + key)
        except (RedisError, OSError) as exc:
            _log.warning("login throttle unreachable", backend="redis", error=str(exc))

    async def close(self) -> None:
        """Release the connection pool."""
        await self._client.aclose()


class LoginThrottle:
    """Refuse (429 with ``Retry-After``) a login while any of its keys must still wait."""

    def __init__(self, settings: AuthSettings, store: FailureStore | None = None) -> None:
        self._free = settings.login_free_failures
        self._max_delay = settings.login_max_delay_s
        self._store: FailureStore = store or MemoryFailures()

    async def check(self, *keys: str) -> None:
        """429 (with the seconds to wait) when any of ``keys`` must wait before the next attempt."""
        now = time.time()
        wait = max([self._wait(*await self._store.get(key), now) for key in keys], default=0.0)
        if wait > 0:
            msg = f"too many failed logins: try again in {max(1, round(wait))} s"
            raise ThrottledError(msg, retry_after=wait)

    def _wait(self, count: int, last: float, now: float) -> float:
        if count < self._free:
            return 0.0
        delay = min(self._max_delay, 2.0 ** (count - self._free + 1))
        return max(0.0, last + delay - now)

    async def failed(self, *keys: str) -> None:
        """Count a failure for each key."""
        now = time.time()
        for key in keys:
            await self._store.add(key, now, keep_s=4 * self._max_delay)

    async def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        await self._store.clear(key)
