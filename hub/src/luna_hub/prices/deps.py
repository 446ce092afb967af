"""The prices domain's long-lived part: the duty that imports day-ahead prices (when ``prices.enabled``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from litestar import Litestar

from luna_hub.database.deps import provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.prices.services import import_due_days, make_source, tomorrow_missing
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = ["PRICE_IMPORT_DUTY", "prices_lifespan"]

PRICE_IMPORT_DUTY = "price import"
_log = get_logger(__name__)


@asynccontextmanager
async def prices_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Import prices every ``prices.check_every_s`` on one replica, once migrated; nothing when disabled."""
    config = settings.prices
    if not config.enabled:
        yield
        return
    source = make_source(config)  # a bad configuration fails the start, with its reason
    warned: set[str] = set()

    async def run(pool: asyncpg.Pool) -> None:
        # a client per pass: none outlives the app (the duty runner stops after this lifespan ends)
        async with httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=True) as client:
            await import_due_days(pool, client, source, config, method=settings.bulk_insert)
        async with pool.acquire(timeout=10) as connection:
            missing = await tomorrow_missing(connection, config)
        if missing is not None and missing.day.isoformat() not in warned:
            warned.add(missing.day.isoformat())  # once per day and replica; alert rules query the condition
            _log.warning("tomorrow's prices still missing", market=missing.market, day=missing.day.isoformat(),
                         last_error=missing.last_error)  # fmt: skip

    provide_duties(app.state).start(
        Duty(PRICE_IMPORT_DUTY, config.check_every_s, run), after=provide_schema_ready(app.state)
    )
    yield
