"""``GET /health``: the hub answers 200 once it can reach its database, 503 with a problem body otherwise."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
from litestar import get
from litestar.di import NamedDependency

from luna_hub.errors import UnavailableError
from luna_hub.timeseries.repository import rollup_failures

__all__ = ["Health", "health"]


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The hub is up and its database answers."""

    status: str
    database: str
    rollup_failures: int = 0
    """Written ranges the rollup refresher had to skip (table ``rollup_failures``); shown when not 0."""


async def check_database(pool: asyncpg.Pool) -> str:
    """Return the database server's version, or raise :class:`UnavailableError`."""
    try:
        async with pool.acquire(timeout=5) as connection:
            version: str = await connection.fetchval("SHOW server_version")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        msg = f"database unreachable: {exc}"
        raise UnavailableError(msg) from exc
    return f"PostgreSQL {version}"


@get("/health", tags=["system"], summary="Readiness of the hub and its database")
async def health(db_pool: NamedDependency[asyncpg.Pool], schema_ready: NamedDependency[asyncio.Event]) -> Health:
    """Report readiness; 503 (problem JSON) while the database cannot be reached or is not migrated yet."""
    database = await check_database(db_pool)
    if not schema_ready.is_set():
        msg = "database schema is being migrated"
        raise UnavailableError(msg)
    async with db_pool.acquire(timeout=5) as connection:
        failures = await rollup_failures(connection)
    return Health(status="ok", database=database, rollup_failures=failures)
