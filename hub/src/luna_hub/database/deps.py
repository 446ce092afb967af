"""The database's long-lived parts for the app: the pool, and the event set once the schema is migrated.

The lifespan creates the pool (and tells ``/health`` how to connect on its own when the pool is
busy), migrates at once when the database answers (so "ready" means ``/health`` is 200) and
otherwise keeps trying in the background; handlers receive ``db_pool`` and ``schema_ready`` by injection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.database.migrate import apply_migrations
from luna_hub.database.pool import close_pool, create_pool, describe_dsn
from luna_hub.errors import UnavailableError
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = [
    "database_dependencies",
    "database_lifespan",
    "database_url",
    "provide_db_pool",
    "provide_schema_ready",
]

_log = get_logger(__name__)


@asynccontextmanager
async def database_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the pool on ``settings.database_url`` and migrate (now, or once the database answers); close at the end."""
    dsn = database_url(settings)
    pool = await create_pool(
        dsn,
        max_size=settings.database_pool_size,
        statement_cache_size=settings.database_statement_cache_size,
        search_path=settings.database_search_path,
    )
    app.state.db_pool = pool
    settings_of_session = {"search_path": settings.database_search_path} if settings.database_search_path else None
    app.state.health_connect = partial(
        asyncpg.connect, dsn, timeout=5, statement_cache_size=0, server_settings=settings_of_session
    )
    _log.info("database pool ready", database=describe_dsn(dsn))
    schema_ready = app.state.schema_ready = asyncio.Event()
    if await _migrate_now(pool, settings):
        schema_ready.set()
    migrating = asyncio.create_task(_migrate_later(schema_ready, pool, settings), name="luna-hub migrations")
    try:
        yield
    finally:
        migrating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await migrating
        await close_pool(pool)


def database_url(settings: HubSettings) -> str:
    """Return ``settings.database_url``; raise :class:`UnavailableError` when unset."""
    if settings.database_url is None:
        msg = "no database URL: the CLI starts the embedded database before building the app"
        raise UnavailableError(msg)
    return settings.database_url


def provide_db_pool(state: State) -> asyncpg.Pool:
    """Return the app's pool (opened by :func:`database_lifespan`)."""
    pool: asyncpg.Pool = state.db_pool
    return pool


def provide_schema_ready(state: State) -> asyncio.Event:
    """Return the event set once the schema is migrated (by :func:`database_lifespan`)."""
    schema_ready: asyncio.Event = state.schema_ready
    return schema_ready


def database_dependencies() -> dict[str, Provide]:
    """Return the dependencies ``db_pool`` and ``schema_ready`` for handlers."""
    return {
        "db_pool": Provide(provide_db_pool, sync_to_thread=False),
        "schema_ready": Provide(provide_schema_ready, sync_to_thread=False),
    }


async def _migrate_now(pool: asyncpg.Pool, settings: HubSettings) -> bool:
    """Migrate before serving when the database answers at once, so "ready" means /health is 200."""
    try:
        async with pool.acquire(timeout=5) as connection:
            await apply_migrations(connection, timezone=settings.rollup_timezone)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _log.warning("database not ready at start; migrating when it answers", error=str(exc))
        return False
    return True


async def _migrate_later(schema_ready: asyncio.Event, pool: asyncpg.Pool, settings: HubSettings) -> None:
    """Migrate once the database answers (unless done at start), then set ``schema_ready``."""
    while not schema_ready.is_set():
        try:
            async with pool.acquire(timeout=10) as connection:
                await apply_migrations(connection, timezone=settings.rollup_timezone)
            schema_ready.set()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("database upkeep failed; retrying", error=str(exc), migrated=False)
            await asyncio.sleep(1.0)
