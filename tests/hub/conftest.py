"""Fixtures of the hub tests: a migrated hub on the session's PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from support.databases import database_for_session
from support.hub import ready_client
from support.timescale import timescale_dsn

__all__ = ["hub", "hub_dsn", "timescale_dsn", "unique"]

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def hub_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A database of its own for the hub tests (the shared ``pg_dsn`` stays empty for others), dropped after."""
    with database_for_session(pg_admin_dsn, "luna_hub_test") as dsn:
        yield dsn


@pytest.fixture
async def hub(hub_dsn: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The hub app in process, migrated, on the hub tests' database."""
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A name no other test uses (meters and markets share the session database)."""
    return f"t{uuid.uuid4().hex[:10]}"
