"""Duties run on exactly one of several replicas and move to another when the holder's connection dies.

Two :class:`DutyRunner` objects stand for two hub replicas: each has its own pool and its own lock
connections to the real PostgreSQL, as separate processes would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from luna_hub.duties import Duty, DutyRunner, duty_lock_key


@asynccontextmanager
async def _replica(dsn: str, *, locked: bool = True, cut_off: asyncio.Event | None = None) -> AsyncIterator[DutyRunner]:
    """A replica; once ``cut_off`` is set its host reaches the database no more (new lock connections fail)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)

    async def connect() -> asyncpg.Connection:
        if cut_off is not None and cut_off.is_set():
            raise ConnectionRefusedError("this replica's host is cut off from the database")
        return await asyncpg.connect(dsn)

    runner = DutyRunner(pool, connect, locked=locked)
    try:
        yield runner
    finally:
        await runner.stop()
        await pool.close()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not condition():  # noqa: ASYNC110 - polling counters the duties bump
            await asyncio.sleep(0.02)


async def test_one_replica_runs_a_duty_and_another_takes_over_when_it_dies(hub_dsn: str, unique: str) -> None:
    ran: Counter[str] = Counter()
    released: Counter[str] = Counter()

    def work(replica: str) -> Duty:
        async def run(_pool: asyncpg.Pool) -> None:
            ran[replica] += 1
            released[replica] = 0  # holding it: the duty's own work runs

        async def release() -> None:
            released[replica] += 1

        return Duty(unique, 0.05, run, release=release)

    first_cut_off = asyncio.Event()
    async with _replica(hub_dsn, cut_off=first_cut_off) as first, _replica(hub_dsn) as second:
        first.start(work("first"))
        await _until(lambda: ran["first"] >= 3)
        second.start(work("second"))
        await asyncio.sleep(0.5)
        assert ran["second"] == 0, "a second replica ran a duty the first one holds"
        assert first.held() == {unique}
        assert second.held() == frozenset()

        admin = await asyncpg.connect(hub_dsn)
        first_cut_off.set()  # the holder's host loses the database: it cannot win the lock back at once
        try:  # ... and its lock connection dies with it
            holders = await admin.fetch(
                "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                " AND ((l.classid::bigint << 32) | l.objid::bigint) = ($1::bigint & x'FFFFFFFFFFFFFFFF'::bigint)",
                duty_lock_key(unique),
            )
            assert len(holders) == 1
            await admin.execute("SELECT pg_terminate_backend($1)", holders[0]["pid"])
        finally:
            await admin.close()
        await _until(lambda: ran["second"] >= 3)
        assert second.held() == {unique}
        assert released["first"] >= 1, "the replica that lost the lock did not release the duty's own work"
        assert released["second"] == 0


async def test_a_failing_duty_keeps_running(hub_dsn: str, unique: str) -> None:
    calls = 0

    async def flaky(_pool: asyncpg.Pool) -> None:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("boom")

    async with _replica(hub_dsn) as replica:
        replica.start(Duty(unique, 0.02, flaky))
        await _until(lambda: replica.runs(unique) >= 3)
    assert calls >= 6


@pytest.mark.parametrize("name", ["rollup refresh", "alert evaluation", "x" * 200])
def test_lock_keys_are_stable_signed_64_bit(name: str) -> None:
    key = duty_lock_key(name)
    assert -(2**63) <= key < 2**63
    assert key == duty_lock_key(name)
    assert key != duty_lock_key(name + "!")
