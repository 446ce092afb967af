""" "Tomorrow's prices are out": one notice per market and day, through the alert outbox, across two hubs.

Two hubs share one fresh database: each has its own pool, its own alert service and its own HTTP
client. Prices come from the recorded SMARD responses on loopback; the notice goes to a webhook
receiver on loopback. Both hubs import and evaluate at the same time, then again (repeated passes,
a backfill of the same day, the next day's pass): the receiver gets the notice once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from luna_hub.alerts.services import AlertService
from luna_hub.prices.services import import_day, import_due_days, make_source
from luna_hub.settings.alerts import AlertSettings
from luna_hub.settings.prices import PriceImportSettings
from support.databases import fresh_database
from support.hub import migrated_pool
from support.price_server import PriceServer
from support.receivers import WebhookReceiver, webhook_receiver

FRIDAY_AFTERNOON = datetime(2025, 10, 3, 12, 30, tzinfo=UTC)  # 14:30 CEST: Saturday's prices are due
MARKET = "DE-LU"


class Hub:
    """What one hub replica brings to the price import and its notice: a pool, an HTTP client, an alert service."""

    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
        self.pool = pool
        self.client = client
        base = receiver.url.removesuffix("/hook")  # the same receiver stands in for Alertmanager's API
        settings = AlertSettings(webhook_urls=[receiver.url], alertmanager_url=base)
        self.alerts = AlertService(pool, settings, timezone="Europe/Berlin", client=client, checks=tuple)


@pytest.fixture
async def hubs(pg_admin_dsn: str) -> AsyncIterator[tuple[Hub, Hub, WebhookReceiver]]:
    async with fresh_database(pg_admin_dsn) as dsn, webhook_receiver() as receiver, AsyncExitStack() as stack:
        replicas = []
        for _ in range(2):
            pool = await stack.enter_async_context(migrated_pool(dsn))
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            replicas.append(Hub(pool, client, receiver))
        yield replicas[0], replicas[1], receiver


def notices(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The notices the webhook got."""
    return [
        alert
        for body in receiver.bodies("/hook")
        for alert in body["alerts"]
        if alert["labels"]["alertname"] == "prices_published"
    ]


def pushed(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The notices pushed to Alertmanager's API."""
    return [
        alert
        for alerts in receiver.bodies("/api/v2/alerts")
        for alert in alerts
        if alert["labels"]["alertname"] == "prices_published"
    ]


async def both(hubs: Sequence[Hub], config: PriceImportSettings, now: datetime) -> None:
    """Both hubs import, then both run their alert duty, each pair at the same time."""
    source = make_source(config)
    await asyncio.gather(*(import_due_days(hub.pool, hub.client, source, config, now=now) for hub in hubs))
    await asyncio.gather(*(hub.alerts.run_duty(hub.pool) for hub in hubs))


async def test_tomorrows_prices_are_announced_once(
    hubs: tuple[Hub, Hub, WebhookReceiver], price_server: PriceServer
) -> None:
    first, second, receiver = hubs
    config = PriceImportSettings(enabled=True, market=MARKET, smard_url=price_server.smard_url, lookback_days=2)
    await both((first, second), config, FRIDAY_AFTERNOON)
    [notice] = notices(receiver)
    [alert] = pushed(receiver)
    assert alert["labels"] == notice["labels"]
    assert notice["labels"] == {
        "alertname": "prices_published",
        "severity": "info",
        "market": MARKET,
        "day": "2025-10-04",
    }
    async with first.pool.acquire() as connection:
        low, mean, high = await connection.fetchrow(
            "SELECT min(price), sum(price * extract(epoch FROM resolution)) / sum(extract(epoch FROM resolution)),"
            " max(price) FROM market_prices WHERE market = $1 AND ts >= $2 AND ts < $3",
            MARKET,
            datetime(2025, 10, 3, 22, 0, tzinfo=UTC),
            datetime(2025, 10, 4, 22, 0, tzinfo=UTC),
        )
    assert notice["annotations"]["summary"] == (
        f"{MARKET} day-ahead prices for 2025-10-04 are out: {low:.2f} to {high:.2f} EUR/MWh, mean {mean:.2f}"
    )

    # again: repeated passes, a backfill of the same day, the next day's pass (Saturday: Sunday is incomplete)
    await both((first, second), config, FRIDAY_AFTERNOON + timedelta(minutes=10))
    await import_day(first.pool, first.client, make_source(config), MARKET, date(2025, 10, 4))
    await both((first, second), config, FRIDAY_AFTERNOON + timedelta(days=1))
    await both((second, first), config, FRIDAY_AFTERNOON + timedelta(days=1, hours=3))
    assert (len(notices(receiver)), len(pushed(receiver))) == (1, 1)
    async with first.pool.acquire() as connection:
        rows = await connection.fetch("SELECT market, day, notified_at IS NOT NULL AS notified FROM price_publications")
        outbox = await connection.fetchval("SELECT count(*) FROM alert_outbox WHERE kind = 'info'")
    assert [tuple(row) for row in rows] == [(MARKET, date(2025, 10, 4), True)]
    assert outbox == 2


async def test_a_silence_holds_the_notice_back(
    hubs: tuple[Hub, Hub, WebhookReceiver], price_server: PriceServer
) -> None:
    from luna_hub.alerts.schemas import Matcher, NewSilence  # noqa: PLC0415

    first, second, receiver = hubs
    await first.alerts.create_silence(
        NewSilence(
            matchers=[Matcher(name="alertname", value="prices_published")],
            ends_at=datetime.now(UTC) + timedelta(hours=1),
        ),
        actor="test",
    )
    config = PriceImportSettings(enabled=True, market=MARKET, smard_url=price_server.smard_url, lookback_days=0)
    await both((first, second), config, FRIDAY_AFTERNOON)
    assert notices(receiver) == pushed(receiver) == []
    async with first.pool.acquire() as connection:
        given_up = await connection.fetchval("SELECT count(*) FROM alert_outbox WHERE given_up_at IS NOT NULL")
    assert given_up == 2
