"""The price import on the real database: due days, idempotent storage, backoff, tomorrow missing, one runner.

Prices come from the recorded responses on loopback (``support.price_server``); "now" is passed in.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from luna_hub.duties import Duty, DutyRunner
from luna_hub.prices.scheduler import PriceScheduler
from luna_hub.prices.services import (
    PriceImportConfigError,
    day_complete,
    due_days,
    import_day,
    import_due_days,
    make_source,
    tomorrow_missing,
)
from luna_hub.prices.sources import EntsoeSource
from luna_hub.settings.prices import PriceImportSettings
from support.hub import migrated_pool
from support.price_server import TOKEN, PriceServer

BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY_AFTERNOON = datetime(2025, 10, 4, 12, 30, tzinfo=UTC)  # 14:30 CEST: Sunday's prices are due


def settings_for(server: PriceServer, market: str, **extra: object) -> PriceImportSettings:
    fields: dict[str, object] = {"lookback_days": 5, **extra}
    return PriceImportSettings(enabled=True, market=market, smard_url=server.smard_url, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def pool(hub_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(hub_dsn) as pool:
        yield pool


async def runs(pool: asyncpg.Pool, market: str) -> list[tuple[date, str, int, int]]:
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT day, status, stored, duplicates FROM price_import_runs WHERE market = $1 ORDER BY run_id", market
        )
    return [(row["day"], row["status"], row["stored"], row["duplicates"]) for row in rows]


def test_due_days_are_the_lookback_today_and_tomorrow_once_published() -> None:
    config = PriceImportSettings(lookback_days=2)
    morning = datetime(2025, 10, 4, 9, 0, tzinfo=UTC)  # 11:00 CEST
    assert due_days(config, morning) == [date(2025, 10, 2), date(2025, 10, 3), date(2025, 10, 4)]
    assert due_days(config, SATURDAY_AFTERNOON)[-1] == date(2025, 10, 5)


async def test_a_pass_fetches_missing_days_once_and_stores_them_idempotently(
    pool: asyncpg.Pool, price_server: PriceServer, unique: str
) -> None:
    config = settings_for(price_server, unique)
    source = make_source(config)
    async with httpx.AsyncClient(timeout=10) as client:
        first = await import_due_days(pool, client, source, config, now=SATURDAY_AFTERNOON)
        assert [(o.day.isoformat(), o.status, o.stored) for o in first] == [
            ("2025-09-29", "complete", 24),
            ("2025-09-30", "complete", 24),
            ("2025-10-01", "complete", 96),
            ("2025-10-02", "complete", 96),
            ("2025-10-03", "complete", 96),
            ("2025-10-04", "complete", 96),
            ("2025-10-05", "incomplete", 0),
        ]
        fetched = len(price_server.requests)
        again = await import_due_days(pool, client, source, config, now=SATURDAY_AFTERNOON + timedelta(seconds=30))
        assert again == []  # complete days are skipped, Sunday waits retry_initial_s
        assert len(price_server.requests) == fetched
        later = await import_due_days(pool, client, source, config, now=SATURDAY_AFTERNOON + timedelta(seconds=61))
        assert [(o.day, o.status) for o in later] == [(date(2025, 10, 5), "incomplete")]
        # the same day again, as after a lost run record: every price is a duplicate
        repeat = await import_day(pool, client, source, unique, date(2025, 10, 1))
    assert (repeat.status, repeat.stored, repeat.duplicates) == ("complete", 0, 96)
    async with pool.acquire() as connection:
        assert await day_complete(connection, unique, date(2025, 10, 1), BERLIN)
        assert not await day_complete(connection, unique, date(2025, 10, 5), BERLIN)
        sources = await connection.fetch(
            "SELECT source, resolution, count(*) FROM market_prices WHERE market = $1 GROUP BY 1, 2 ORDER BY 2", unique
        )
    assert [(r["source"], r["resolution"], r["count"]) for r in sources] == [
        ("smard", timedelta(minutes=15), 4 * 96),
        ("smard", timedelta(hours=1), 48),
    ]


async def test_failures_back_off_and_recover(pool: asyncpg.Pool, price_server: PriceServer, unique: str) -> None:
    config = settings_for(price_server, unique, lookback_days=0, retry_initial_s=60.0, retry_max_s=100.0)
    source = make_source(config)
    now = datetime(2024, 3, 30, 9, 0, tzinfo=UTC)  # Saturday morning: today only
    async with httpx.AsyncClient(timeout=10) as client:
        price_server.fail_next = 100
        for wait_s in (0, 61, 61 + 101):  # 60 s after the first failure, then 100 (capped from 120)
            [failed] = await import_due_days(pool, client, source, config, now=now + timedelta(seconds=wait_s))
            assert failed.status == "failed"
            assert failed.error is not None
            assert "503" in failed.error
        assert await import_due_days(pool, client, source, config, now=now + timedelta(seconds=162 + 99)) == []
        price_server.fail_next = 0
        [done] = await import_due_days(pool, client, source, config, now=now + timedelta(seconds=162 + 101))
    assert (done.status, done.stored) == ("complete", 24)
    assert [status for _, status, _, _ in await runs(pool, unique)] == ["failed", "failed", "failed", "complete"]


async def test_tomorrow_missing_in_the_evening_is_a_condition(
    pool: asyncpg.Pool, price_server: PriceServer, unique: str
) -> None:
    config = settings_for(price_server, unique)
    async with httpx.AsyncClient(timeout=10) as client:
        await import_due_days(pool, client, make_source(config), config, now=SATURDAY_AFTERNOON)
    async with pool.acquire() as connection:
        evening = datetime(2025, 10, 4, 16, 30, tzinfo=UTC)  # 18:30 CEST
        missing = await tomorrow_missing(connection, config, now=evening)
        assert missing is not None
        assert (missing.market, missing.day) == (unique, date(2025, 10, 5))
        assert missing.since == datetime(2025, 10, 4, 16, 0, tzinfo=UTC)
        assert await tomorrow_missing(connection, config, now=SATURDAY_AFTERNOON) is None  # not evening yet
        friday_evening = datetime(2025, 10, 3, 17, 0, tzinfo=UTC)
        assert await tomorrow_missing(connection, config, now=friday_evening) is None  # Saturday is stored


async def test_entsoe_imports_through_the_same_writer(
    pool: asyncpg.Pool, price_server: PriceServer, unique: str
) -> None:
    source = EntsoeSource(price_server.entsoe_url, "10Y1001A1001A82H", TOKEN, BERLIN, date(2025, 10, 1))
    async with httpx.AsyncClient(timeout=10) as client:
        outcome = await import_day(pool, client, source, unique, date(2025, 10, 1))
        nothing = await import_day(pool, client, source, unique, date(2025, 10, 5))
    assert (outcome.status, outcome.stored) == ("complete", 96 + 24)
    assert (nothing.status, nothing.stored) == ("incomplete", 0)


def test_a_configuration_that_cannot_work_fails_with_its_reason() -> None:
    with pytest.raises(PriceImportConfigError, match="entsoe_token_file"):
        make_source(PriceImportSettings(source="entsoe"))
    with pytest.raises(PriceImportConfigError, match="no ENTSO-E zone"):
        make_source(PriceImportSettings(source="entsoe", market="XX", entsoe_token_file="/nowhere"))  # noqa: S106
    with pytest.raises(PriceImportConfigError, match="cannot read"):
        make_source(PriceImportSettings(source="entsoe", entsoe_token_file="/nowhere/token"))  # noqa: S106


@asynccontextmanager
async def _replica(dsn: str) -> AsyncIterator[tuple[DutyRunner, asyncpg.Pool]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    runner = DutyRunner(pool, partial(asyncpg.connect, dsn))
    try:
        yield runner, pool
    finally:
        await runner.stop()
        await pool.close()


async def test_two_hubs_fetch_each_day_once(
    pool: asyncpg.Pool, price_server: PriceServer, hub_dsn: str, unique: str
) -> None:
    """The scheduler fetches once across two hubs: APScheduler runs on the duty holder only, moving on take-over."""
    config = settings_for(price_server, unique)
    source = make_source(config)
    async with _replica(hub_dsn) as (first, first_pool), _replica(hub_dsn) as (second, second_pool):
        replicas = {
            "first": (first, PriceScheduler(first_pool, source, config, clock=lambda: SATURDAY_AFTERNOON)),
            "second": (second, PriceScheduler(second_pool, source, config, clock=lambda: SATURDAY_AFTERNOON)),
        }
        for runner, planner in replicas.values():
            runner.start(Duty(f"price import {unique}", 0.05, planner.heartbeat, release=planner.release))
        async with asyncio.timeout(30):
            while not any(planner.passes for _, planner in replicas.values()):  # noqa: ASYNC110 - the catch-up pass
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a few more heartbeats on both replicas
        assert sorted(planner.starts for _, planner in replicas.values()) == [0, 1], "both hubs scheduled"
        [holder] = [name for name, (_, planner) in replicas.items() if planner.starts]
        [other] = set(replicas) - {holder}
        scheduler = replicas[holder][1].scheduler
        assert scheduler is not None
        assert replicas[other][1].scheduler is None
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert jobs.keys() == {"publication", "missing", "retry"}  # the catch-up pass ran; Sunday is incomplete
        publication = jobs["publication"].next_run_time.astimezone(BERLIN)
        assert (publication.hour, publication.minute) == (13, 0)
        retry_in = jobs["retry"].next_run_time - datetime.now(UTC)
        assert timedelta(0) < retry_in <= timedelta(seconds=config.retry_initial_s)  # Sunday's backoff
        days = Counter(day for day, _, _, _ in await runs(pool, unique))
        assert days == dict.fromkeys([date(2025, 9, 29) + timedelta(days=n) for n in range(7)], 1)

        await replicas[holder][0].stop()  # the holder goes away: the other takes over and catches up
        assert replicas[holder][1].scheduler is None
        async with asyncio.timeout(30):
            while not replicas[other][1].passes:  # noqa: ASYNC110 - the new holder's catch-up pass
                await asyncio.sleep(0.02)
        assert replicas[other][1].starts == 1
    # complete days are not fetched again, Sunday waits for its backoff
    assert Counter(day for day, _, _, _ in await runs(pool, unique)) == days


async def test_the_scheduler_retries_with_backoff_until_the_day_is_stored(
    price_server: PriceServer, hub_dsn: str, pool: asyncpg.Pool, unique: str
) -> None:
    """A failed catch-up pass is retried by the scheduler after the backoff (0.2 s, then 0.4 s), until stored."""
    config = settings_for(price_server, unique, lookback_days=0, retry_initial_s=0.2, retry_max_s=0.4)
    began = datetime.now(UTC)
    morning = datetime(2024, 3, 30, 9, 0, tzinfo=UTC)  # Saturday morning: today only

    def clock() -> datetime:  # the import's "now" moves with the real clock from Saturday morning
        return morning + (datetime.now(UTC) - began)

    planner = PriceScheduler(pool, make_source(config), config, clock=clock)
    price_server.fail_next = 2
    async with _replica(hub_dsn) as (runner, _):
        runner.start(Duty(f"price import {unique}", 0.05, planner.heartbeat, release=planner.release))
        async with asyncio.timeout(30):
            while [status for _, status, _, _ in await runs(pool, unique)][-1:] != ["complete"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        scheduler = planner.scheduler
        assert scheduler is not None
        assert {job.id for job in scheduler.get_jobs()} == {"publication", "missing"}  # no retry left
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT status, started_at, finished_at FROM price_import_runs WHERE market = $1 ORDER BY run_id", unique
        )
    assert [row["status"] for row in rows] == ["failed", "failed", "complete"]
    waits = [later["started_at"] - earlier["finished_at"] for earlier, later in itertools.pairwise(rows)]
    assert waits[0] >= timedelta(seconds=0.2)
    assert waits[1] >= timedelta(seconds=0.4)
    assert planner.passes == 3


async def test_the_hub_runs_the_import_only_when_enabled(hub_dsn: str, price_server: PriceServer, unique: str) -> None:
    from luna_hub.settings import HubSettings  # noqa: PLC0415 - only this test builds a hub
    from support.hub import ready_client  # noqa: PLC0415

    assert HubSettings().prices.enabled is False
    config = settings_for(price_server, unique, lookback_days=0, check_every_s=0.05)
    async with migrated_pool(hub_dsn) as pool, ready_client(HubSettings(database_url=hub_dsn, prices=config)):
        async with asyncio.timeout(30):
            while not await runs(pool, unique):  # noqa: ASYNC110 - polling the table the duty writes
                await asyncio.sleep(0.05)
        # today's real date has no recorded prices: the index is read, nothing is there yet
        assert {status for _, status, _, _ in await runs(pool, unique)} == {"incomplete"}


async def test_two_hub_apps_schedule_the_import_once_and_hand_it_over(
    hub_dsn: str, price_server: PriceServer, unique: str
) -> None:
    """Two whole hubs (apps with every lifespan) on one database: one schedules, the other takes over when it stops."""
    from luna_hub.settings import HubSettings  # noqa: PLC0415 - only these tests build hubs
    from support.hub import ready_client  # noqa: PLC0415

    config = settings_for(price_server, unique, lookback_days=0, check_every_s=0.05)
    settings = HubSettings(database_url=hub_dsn, prices=config)
    async with migrated_pool(hub_dsn) as pool, AsyncExitStack() as outer:
        first = await outer.enter_async_context(ready_client(settings))
        async with AsyncExitStack() as inner:
            second = await inner.enter_async_context(ready_client(settings))
            planners = {"first": first.app.state.price_scheduler, "second": second.app.state.price_scheduler}
            async with asyncio.timeout(30):
                while not await runs(pool, unique):  # noqa: ASYNC110 - polling the table the duty writes
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # many heartbeats on both
            assert sorted(p.starts for p in planners.values()) == [0, 1], "both hubs scheduled the import"
            fetched = await runs(pool, unique)  # today (and tomorrow after 13:00): no recorded prices, then backoff
            assert set(Counter(day for day, _, _, _ in fetched).values()) == {1}
            if planners["first"].starts:  # stop the holder, keep the other
                await outer.aclose()
                survivor = planners["second"]
            else:
                await inner.aclose()
                survivor = planners["first"]
            async with asyncio.timeout(30):
                while not survivor.passes:  # noqa: ASYNC110 - the survivor takes over and runs its catch-up pass
                    await asyncio.sleep(0.05)
            assert survivor.starts == 1
            assert survivor.scheduler is not None
            assert await runs(pool, unique) == fetched  # the take-over's catch-up respects the backoff
