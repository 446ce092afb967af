"""The recommend domain's long-lived parts: the recommender, its hook into ``/rag/ask``, and the reward timeout duty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import numpy as np
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.duties import Duty, provide_duties
from luna_hub.events.deps import provide_events, provide_item_index
from luna_hub.rag.deps import provide_rag
from luna_hub.recommend.learning import apply_rewards, expire_servings
from luna_hub.recommend.services import Recommender
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger

__all__ = ["provide_recommender", "recommend_dependencies", "recommend_lifespan"]

_log = get_logger(__name__)


@asynccontextmanager
async def recommend_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Open the recommender, hand it to the rag service, and close servings without reward on one hub."""
    config = settings.recommend
    rng = np.random.default_rng(config.seed)
    recommender = Recommender(provide_db_pool(app.state), provide_item_index(app.state), config, rng=rng)
    app.state.recommender = recommender
    rag = provide_rag(app.state)
    rag.recommender = recommender
    events = provide_events(app.state)
    events.learn = partial(apply_rewards, ridge=config.ridge)  # events feed this domain's learning step

    async def expire(pool: asyncpg.Pool) -> None:
        closed = await expire_servings(pool, older_than_s=config.reward_timeout_s, ridge=config.ridge)
        if closed:
            _log.info("servings without reward closed", count=closed)

    provide_duties(app.state).start(
        Duty("recommend reward timeout", config.expire_every_s, expire), after=provide_schema_ready(app.state)
    )
    _log.info("recommender ready", policy=config.policy)
    try:
        yield
    finally:
        rag.recommender = None


def provide_recommender(state: State) -> Recommender:
    """Return the app's recommender."""
    recommender: Recommender = state.recommender
    return recommender


def recommend_dependencies() -> dict[str, Provide]:
    """Return the dependency ``recommender`` for handlers."""
    return {"recommender": Provide(provide_recommender, sync_to_thread=False)}
