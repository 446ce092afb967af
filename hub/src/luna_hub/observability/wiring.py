"""Plug what this domain measures into other views: the dashboard, and the alert rule "component not ready".

The dashboard gets the components' readiness, API latency per route and ingest lag of this replica.
Readiness is checked at most every ``_READINESS_TTL_S`` seconds however many dashboards are open or rules
run (a check writes a probe object to the store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from litestar import Litestar

from luna_hub.dashboard.schemas import ComponentRow, RouteLatency
from luna_hub.dashboard.services import SnapshotSources
from luna_hub.metrics import HubMetrics
from luna_hub.observability.deps import provide_readiness_probe
from luna_hub.observability.readiness import check_readiness
from luna_hub.observability.schemas import Readiness

__all__ = ["operations_wiring_lifespan"]

_READINESS_TTL_S: Final = 10.0


class _CachedReadiness:
    """The latest readiness, checked again once it is older than ``_READINESS_TTL_S``."""

    def __init__(self, app: Litestar) -> None:
        self._app = app
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._latest: Readiness | None = None

    async def get(self) -> Readiness:
        async with self._lock:
            if self._latest is None or time.monotonic() - self._at > _READINESS_TTL_S:
                self._latest = await check_readiness(provide_readiness_probe(self._app.state))
                self._at = time.monotonic()
            return self._latest

    async def components(self) -> list[ComponentRow]:
        readiness = await self.get()
        return [
            ComponentRow(
                name=c.name,
                status="ok" if c.status == "ok" else "failing",
                latency_ms=c.latency_ms,
                detail=c.detail or None,
            )
            for c in readiness.components
        ]


@dataclass(frozen=True, slots=True)
class _ComponentReady:
    """One component as an alert rule's readiness check (raises with the check's detail when it failed)."""

    readiness: _CachedReadiness
    name: str

    async def __call__(self) -> None:
        found = next((c for c in (await self.readiness.get()).components if c.name == self.name), None)
        if found is not None and found.status != "ok" and found.required:
            raise RuntimeError(found.detail or "failed")


def _routes(metrics: HubMetrics) -> list[RouteLatency]:
    return [
        RouteLatency(route=route, method=method, requests=count, p95_ms=None if p95 is None else p95 * 1000)
        for route, method, count, p95 in metrics.route_latencies()
    ]


@asynccontextmanager
async def operations_wiring_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Give the dashboard and the alert rules this replica's readiness and metrics (after their lifespans)."""
    readiness = _CachedReadiness(app)
    metrics: HubMetrics = app.state.metrics
    sources: SnapshotSources | None = app.state.get("snapshot_sources")
    if sources is not None:
        sources.components = readiness.components
        sources.routes = lambda: _routes(metrics)
        sources.lag = metrics.lag_quantiles
    app.state.readiness_checks = [
        _ComponentReady(readiness, name) for name in ("database", "object_store", "vector_store", "embedder")
    ]
    yield
