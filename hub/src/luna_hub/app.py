"""The hub's Litestar application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from luna_hub import __version__
from luna_hub.database import create_pool, describe_dsn
from luna_hub.errors import UnavailableError
from luna_hub.health import health
from luna_hub.problems import exception_handlers
from luna_hub.settings import HubSettings
from luna_shared.asgi import request_id_middleware
from luna_shared.logs import get_logger

__all__ = ["create_app"]

_log = get_logger(__name__)


def create_app(settings: HubSettings) -> Litestar:
    """Build the application for ``settings``; ``settings.database_url`` must be set by now."""
    dsn = settings.database_url
    if dsn is None:
        msg = "no database URL: the CLI starts the embedded database before building the app"
        raise UnavailableError(msg)

    @asynccontextmanager
    async def database_pool(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(dsn, max_size=settings.database_pool_size)
        app.state.db_pool = pool
        _log.info("database pool ready", database=describe_dsn(dsn))
        try:
            yield
        finally:
            await pool.close()

    return Litestar(
        route_handlers=[health],
        lifespan=[database_pool],
        dependencies={"db_pool": Provide(_db_pool, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        openapi_config=OpenAPIConfig(title="Luna-iEMS hub", version=__version__, path="/schema"),
        state=State({"settings": settings}),
        logging_config=None,
        middleware=[request_id_middleware],
    )


def _db_pool(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.db_pool
    return pool
