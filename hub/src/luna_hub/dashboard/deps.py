"""The dashboard's per-replica parts: the sources a snapshot reads beyond the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from luna_hub.dashboard.services import SnapshotSources
from luna_hub.settings import HubSettings

__all__ = ["dashboard_lifespan", "provide_snapshot_sources"]


@asynccontextmanager
async def dashboard_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Give the app its snapshot sources (``app.state.snapshot_sources``); other domains plug theirs in."""
    app.state.snapshot_sources = SnapshotSources(
        stale_after_s=settings.dashboard.agent_stale_after_s, offline_after_s=settings.dashboard.agent_offline_after_s
    )
    yield


def provide_snapshot_sources(state: State) -> SnapshotSources:
    """Return the app's snapshot sources (made by :func:`dashboard_lifespan`)."""
    sources: SnapshotSources = state.snapshot_sources
    return sources
