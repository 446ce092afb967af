"""The observability domain's long-lived parts: the app's metrics, the scrape token, the log archiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.database.deps import provide_db_pool, provide_schema_ready
from luna_hub.errors import UnavailableError
from luna_hub.metrics import HubMetrics, bound
from luna_hub.observability import repository
from luna_hub.observability.logfiles import log_archiver
from luna_hub.observability.readiness import ReadinessProbe
from luna_hub.observability.services import AlertsFiring, read_scrape_token
from luna_hub.settings import HubSettings

__all__ = [
    "log_archive_lifespan",
    "metrics_lifespan",
    "observability_dependencies",
    "observability_state",
    "provide_alerts_firing",
    "provide_metrics",
    "provide_readiness_probe",
]


def observability_state(settings: HubSettings) -> dict[str, Any]:
    """App state made before start-up: fresh metrics, and the scrape token (a bad token file fails here)."""
    return {
        "metrics": HubMetrics(),
        "scrape_token": read_scrape_token(settings.metrics),
        "alerts_firing": repository.alerts_firing_from_table,
    }


@asynccontextmanager
async def metrics_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Bind the app's metrics for the background work the lifespans after this one start."""
    with bound(provide_metrics(app.state)):
        yield


@asynccontextmanager
async def log_archive_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Archive rotated log files to the object store, and prune old archives, while the app runs."""
    async with log_archiver(settings, provide_db_pool(app.state), provide_schema_ready(app.state)):
        yield


def provide_metrics(state: State) -> HubMetrics:
    """Return the app's metrics."""
    metrics: HubMetrics = state.metrics
    return metrics


def provide_alerts_firing(state: State) -> AlertsFiring:
    """Return how to count firing alerts (the alerts domain may set ``app.state.alerts_firing``)."""
    count: AlertsFiring = state.alerts_firing
    return count


def provide_readiness_probe(state: State) -> ReadinessProbe:
    """Return the parts readiness looks at (each None until its lifespan opened it)."""
    settings: HubSettings = state.settings
    if state.get("db_pool") is None:
        msg = "the hub is starting"
        raise UnavailableError(msg)
    return ReadinessProbe(
        settings=settings,
        db_pool=provide_db_pool(state),
        connect=state.get("health_connect"),
        schema_ready=provide_schema_ready(state),
        store=state.get("object_store"),
        index=state.get("chunk_index"),
    )


def observability_dependencies() -> dict[str, Provide]:
    """Return the dependencies ``metrics``, ``alerts_firing`` and ``readiness_probe``."""
    return {
        "metrics": Provide(provide_metrics, sync_to_thread=False),
        "alerts_firing": Provide(provide_alerts_firing, sync_to_thread=False),
        "readiness_probe": Provide(provide_readiness_probe, sync_to_thread=False),
    }
