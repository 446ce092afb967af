"""The hub application against a real database, ready to use: migrated, and a client that waits for it."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.app import create_app
from luna_hub.auth.schemas import UserRole
from luna_hub.auth.services import create_api_key, create_user
from luna_hub.database import close_pool, create_pool
from luna_hub.database.migrate import apply_migrations
from luna_hub.documents.index import ChunkIndex
from luna_hub.settings import HubSettings
from support.served import served_app

__all__ = [
    "SiteCallers",
    "admin_key",
    "bearer",
    "load_prices",
    "migrated_pool",
    "ready_client",
    "served_hub",
    "site_callers",
]


@asynccontextmanager
async def ready_client(
    settings: HubSettings, *, chunk_index: ChunkIndex | None = None, as_admin: bool = True
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An in-process client of ``create_app(settings, ...)`` once ``/health`` says the schema is migrated.

    With ``as_admin`` (default) the client sends an API key of a new admin user with every request
    (auth is required by default); without, it sends no credential.

    Without a ``data_dir`` of its own, the hub keeps its local state (document files, Qdrant's local
    storage) in a scratch directory, never in the checkout's ``var/``.
    """
    with tempfile.TemporaryDirectory(prefix="luna-hub-test-") as scratch:
        if settings.data_dir == HubSettings().data_dir:
            settings = msgspec.structs.replace(settings, data_dir=scratch)
        async with _client(settings, chunk_index) as client:
            if as_admin:
                client.headers["Authorization"] = f"Bearer {await _admin_key_for(settings)}"
            yield client


async def _admin_key_for(settings: HubSettings) -> str:
    """An admin key, made over a pool of the test's loop (the app's pool lives on the client's portal loop)."""
    pool = await create_pool(
        settings.database_url or "",
        max_size=1,
        statement_cache_size=settings.database_statement_cache_size,
        search_path=settings.database_search_path,
    )
    try:
        return await admin_key(pool)
    finally:
        await close_pool(pool)


async def admin_key(pool: asyncpg.Pool, role: UserRole = "admin", sites: list[str] | None = None) -> str:
    """Create a user of ``role`` (reading ``sites``, None: every site) with an API key; return the key."""
    username = f"test-{role}-{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as connection:
        await create_user(connection, username, role=role, sites=sites, actor="test")
        return (await create_api_key(connection, username, "test", actor="test")).key


def bearer(key: str) -> dict[str, str]:
    """The header that sends ``key``."""
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class SiteCallers:
    """The headers of a user of ``site``, a user of ``other`` only, and an analyst (every site)."""

    site: str
    other: str
    own: dict[str, str]
    foreign: dict[str, str]
    analyst: dict[str, str]


async def site_callers(dsn: str, site: str, other: str) -> SiteCallers:
    """Create a user of ``site``, a user of ``other`` and an analyst on the hub database ``dsn``, with keys."""
    async with migrated_pool(dsn) as pool:
        own = await admin_key(pool, "user", [site])
        foreign = await admin_key(pool, "user", [other])
        analyst = await admin_key(pool, "analyst")
    return SiteCallers(site, other, bearer(own), bearer(foreign), bearer(analyst))


@asynccontextmanager
async def _client(settings: HubSettings, chunk_index: ChunkIndex | None) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(create_app(settings, chunk_index=chunk_index)) as client:
        for _ in range(300):
            if (await client.get("/health")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        else:
            msg = "hub not ready after 30 s"
            raise AssertionError(msg)
        yield client


@asynccontextmanager
async def migrated_pool(
    dsn: str, *, max_size: int = 2, statement_cache_size: int = 100, search_path: str | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on ``dsn`` (made as the hub makes it) after applying the hub's migrations (idempotent)."""
    pool = await create_pool(dsn, max_size=max_size, statement_cache_size=statement_cache_size, search_path=search_path)
    try:
        async with pool.acquire() as connection:
            await apply_migrations(connection, timezone="Europe/Berlin")
        yield pool
    finally:
        await close_pool(pool)


@asynccontextmanager
async def served_hub(settings: HubSettings) -> AsyncIterator[str]:
    """The hub under uvicorn in a thread of its own, its URL once ``/health`` is 200.

    For tests of concurrent requests: the in-process test client hands the app one request at a time.
    It serves without authentication, which the hub allows on loopback (access is the auth tests' matter).
    """
    settings = msgspec.structs.replace(settings, auth=msgspec.structs.replace(settings.auth, required=False))
    async with served_app(create_app(settings), name="served hub") as url:
        yield url


async def load_prices(
    client: AsyncTestClient[Litestar], market: str, minutes: int, prices: list[tuple[datetime, float]]
) -> None:
    """Load ``prices`` (start, EUR/MWh) of ``market`` at ``minutes`` resolution through ``POST /data/load`` (JSON)."""
    document = {
        "market": market,
        "resolution_minutes": minutes,
        "prices": [{"ts": ts.isoformat(), "price": price} for ts, price in prices],
    }
    response = await client.post("/data/load", content=json.dumps(document).encode())
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 0
