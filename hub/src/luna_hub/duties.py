"""Duties that must run once across every hub replica: one PostgreSQL advisory lock per duty.

A duty (rollup refresh, alert evaluation, price import, ...) is a coroutine run every
``every_s`` seconds. Before each run the replica must hold the duty's session-level advisory
lock on a connection of its own (opened beside the pool, never taken from it). The holder keeps
the lock until its process or connection dies; PostgreSQL then releases it and another replica's
next attempt takes it over, so a duty moves within ``every_s`` seconds (bounded by the server's
detection of the dead connection). A replica that loses its lock connection stops running the
duty at once and competes again.

A duty may also keep work of its own going between runs (the price import's APScheduler jobs):
``run`` then starts it once the replica holds the lock, and ``release`` stops it as soon as the
replica gives the lock up (lost connection, or the hub stops), so it runs on the holder only.

On a server that takes one connection only (``database_pool_size = 1``, PGlite) there can be
no second replica and no second connection: duties run unlocked there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from litestar import Litestar
from litestar.datastructures import State

from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = ["Duty", "DutyRunner", "duties_lifespan", "duty_lock_key", "provide_duties"]

_log = get_logger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
DutyWork = Callable[[asyncpg.Pool], Awaitable[None]]
DutyRelease = Callable[[], Awaitable[None]]


def duty_lock_key(name: str) -> int:
    """Return the advisory lock key of duty ``name``: a stable signed 64-bit number (the same on every replica)."""
    digest = hashlib.blake2b(f"luna-hub duty {name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class Duty:
    """Work ``run(pool)`` to do every ``every_s`` seconds on exactly one replica; ``release()`` when it leaves it."""

    name: str
    every_s: float
    run: DutyWork
    release: DutyRelease | None = None


@dataclass(slots=True)
class _Lease:
    """One duty's lock connection while this replica holds the lock."""

    connection: asyncpg.Connection | None = None
    runs: int = field(default=0)


class DutyRunner:
    """Run duties on this replica while it holds their locks; ``held()`` tells which it holds now."""

    def __init__(self, pool: asyncpg.Pool, connect: Connect, *, locked: bool = True) -> None:
        self._pool = pool
        self._connect = connect
        self._locked = locked
        self._leases: dict[str, _Lease] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def held(self) -> frozenset[str]:
        """Names of the duties this replica runs now."""
        held = (name for name, lease in self._leases.items() if lease.connection is not None or not self._locked)
        return frozenset(held)

    def runs(self, name: str) -> int:
        """How many times duty ``name`` ran on this replica (for tests and metrics)."""
        lease = self._leases.get(name)
        return 0 if lease is None else lease.runs

    def start(self, duty: Duty, *, after: asyncio.Event | None = None) -> None:
        """Run ``duty`` in the background from now on (once ``after`` is set); a name runs once per replica."""
        if duty.name in self._leases:
            msg = f"duty {duty.name!r} is already running on this replica"
            raise RuntimeError(msg)
        self._leases[duty.name] = _Lease()
        self._tasks.append(asyncio.create_task(self._loop(duty, after), name=f"luna-hub duty {duty.name}"))

    async def stop(self) -> None:
        """Stop every duty and give their locks back."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for lease in self._leases.values():
            await _close(lease)

    async def _loop(self, duty: Duty, after: asyncio.Event | None) -> None:
        if after is not None:
            await after.wait()
        lease = self._leases[duty.name]
        try:
            while True:
                if not self._locked or await self._hold(duty.name, lease):
                    await self._run_once(duty, lease)
                else:
                    await _release(duty)  # this replica does not hold it (any more): stop its own work
                await asyncio.sleep(duty.every_s)
        finally:
            await _release(duty)
            await _close(lease)

    async def _hold(self, name: str, lease: _Lease) -> bool:
        """Whether this replica holds ``name``'s lock now (taking it when free)."""
        try:
            if lease.connection is not None:
                await lease.connection.fetchval("SELECT 1", timeout=5)
                return True
            connection = await self._connect()
            try:
                taken = await connection.fetchval("SELECT pg_try_advisory_lock($1)", duty_lock_key(name), timeout=5)
            except BaseException:
                connection.terminate()  # cancelled (the app stops) or failed: never leave the socket open
                raise
            if taken:
                lease.connection = connection
                _log.info("duty taken over", duty=name)
                return True
            await connection.close(timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if lease.connection is not None:
                _log.warning("duty lock lost", duty=name, error=str(exc))
            await _close(lease)
        return False

    async def _run_once(self, duty: Duty, lease: _Lease) -> None:
        try:
            await duty.run(self._pool)
            lease.runs += 1
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("duty failed on the database; retrying", duty=duty.name, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a duty must outlive any one failure, loudly
            _log.error("duty failed; retrying", duty=duty.name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)


async def _release(duty: Duty) -> None:
    if duty.release is None:
        return
    try:
        await duty.release()
    except Exception as exc:  # noqa: BLE001 - giving a duty up must not fail the loop
        _log.error("duty release failed", duty=duty.name, exc_info=exc)


async def _close(lease: _Lease) -> None:
    connection, lease.connection = lease.connection, None
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close(timeout=5)


@asynccontextmanager
async def duties_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Give the app its :class:`DutyRunner` (``app.state.duties``); later lifespans start their duties on it.

    Unlocked on a one-connection server (no replicas are possible there).
    """
    runner = DutyRunner(app.state.db_pool, app.state.health_connect, locked=settings.database_pool_size > 1)
    app.state.duties = runner
    try:
        yield
    finally:
        await runner.stop()


def provide_duties(state: State) -> DutyRunner:
    """Return the app's duty runner (opened by :func:`duties_lifespan`)."""
    runner: DutyRunner = state.duties
    return runner
