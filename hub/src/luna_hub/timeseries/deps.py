"""The timeseries domain's long-lived part: the task that keeps rollups current while the app runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar

from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.settings import HubSettings
from luna_hub.timeseries.repository import refresh_dirty
from luna_shared.logs import get_logger

__all__ = ["rollups_lifespan"]

_log = get_logger(__name__)


@asynccontextmanager
async def rollups_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Refresh the rollups of new readings every ``rollup_refresh_seconds`` once the schema is migrated."""
    pool, schema_ready = provide_db_pool(app.state), provide_schema_ready(app.state)
    upkeep = asyncio.create_task(_refresh_rollups(schema_ready, pool, settings), name="luna-hub upkeep")
    try:
        yield
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep


async def _refresh_rollups(schema_ready: asyncio.Event, pool: asyncpg.Pool, settings: HubSettings) -> None:
    await schema_ready.wait()
    while True:
        try:
            async with pool.acquire(timeout=10) as connection:
                await refresh_dirty(connection)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("database upkeep failed; retrying", error=str(exc), migrated=True)
        except Exception as exc:  # noqa: BLE001 - the upkeep task must outlive any one failure, loudly
            _log.error("rollup upkeep failed; retrying", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        await asyncio.sleep(settings.rollup_refresh_seconds)
