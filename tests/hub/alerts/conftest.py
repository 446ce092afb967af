"""Fixtures of the alerts tests: an empty database each (rules see every agent in it), a receiver, agents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from support.alerting import Fleet
from support.databases import fresh_database
from support.hub import migrated_pool
from support.receivers import WebhookReceiver, webhook_receiver


@pytest.fixture
async def alerts_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A migrated database of the test's own: the rules look at every agent and alert in it."""
    async with fresh_database(pg_admin_dsn) as dsn:
        async with migrated_pool(dsn):
            pass
        yield dsn


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver on loopback."""
    async with webhook_receiver() as server:
        yield server


@pytest.fixture
async def fleet(alerts_dsn: str) -> AsyncIterator[Fleet]:
    async with migrated_pool(alerts_dsn) as pool:
        fleet = Fleet(pool)
        beating = asyncio.create_task(fleet.heartbeat(), name="test agents heartbeat")
        try:
            yield fleet
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
