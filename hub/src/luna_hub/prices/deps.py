"""The prices domain's long-lived part: the duty that schedules the day-ahead import (when ``prices.enabled``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.prices.scheduler import PriceScheduler
from luna_hub.prices.services import make_source
from luna_hub.settings import HubSettings

__all__ = ["PRICE_IMPORT_DUTY", "prices_lifespan"]

PRICE_IMPORT_DUTY = "price import"


@asynccontextmanager
async def prices_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Schedule the import (APScheduler) on the one replica holding the duty, once migrated; nothing when disabled.

    Every ``prices.check_every_s`` the holder confirms its lock and the others check whether it is free.
    """
    config = settings.prices
    if not config.enabled:
        yield
        return
    source = make_source(config)  # a bad configuration fails the start, with its reason
    scheduler = PriceScheduler(provide_db_pool(app.state), source, config, method=settings.bulk_insert)
    app.state.price_scheduler = scheduler
    provide_duties(app.state).start(
        Duty(PRICE_IMPORT_DUTY, config.check_every_s, scheduler.heartbeat, release=scheduler.release),
        after=provide_schema_ready(app.state),
    )
    yield
