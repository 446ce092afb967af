"""The timeseries domain's long-lived part: the duty that keeps rollups current while the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar

from luna_hub.database.deps import provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.settings import HubSettings
from luna_hub.timeseries.repository import refresh_dirty

__all__ = ["rollups_lifespan"]


@asynccontextmanager
async def rollups_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Refresh the rollups of new readings every ``rollup_refresh_seconds`` (one replica does) once migrated."""
    provide_duties(app.state).start(
        Duty("rollup refresh", settings.rollup_refresh_seconds, _refresh_rollups),
        after=provide_schema_ready(app.state),
    )
    yield


async def _refresh_rollups(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=10) as connection:
        await refresh_dirty(connection)
