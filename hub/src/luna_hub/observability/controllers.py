"""``GET /metrics`` (Prometheus text format) and ``GET /health/ready`` (each component, 503 on a required failure)."""

from __future__ import annotations

import asyncpg
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from luna_hub.metrics import CONTENT_TYPE, HubMetrics
from luna_hub.observability.readiness import ReadinessProbe, check_readiness
from luna_hub.observability.schemas import Readiness
from luna_hub.observability.services import AlertsFiring, scrape
from luna_hub.settings import HubSettings

__all__ = ["MetricsController", "ReadinessController"]


class MetricsController(Controller):
    """Prometheus scrapes this."""

    path = "/metrics"
    tags = ["system"]  # noqa: RUF012 - Litestar's declared type

    @get("/", summary="Metrics in Prometheus text format (admin, or the scrape token of metrics.bearer_token_file)")
    async def metrics(
        self,
        metrics: NamedDependency[HubMetrics],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        alerts_firing: NamedDependency[AlertsFiring],
    ) -> Response[bytes]:
        """Counters and histograms of this process; agent, job and alert gauges computed from the database now."""
        body = await scrape(metrics, db_pool, settings.metrics, alerts_firing)
        return Response(body, media_type=CONTENT_TYPE)


class ReadinessController(Controller):
    """Whether this hub can serve: for load balancers and compose healthchecks (``/health`` is liveness)."""

    path = "/health/ready"
    tags = ["system"]  # noqa: RUF012

    @get(
        "/",
        summary="Readiness of every component: database, object store, vector store, embedder, LLM",
        responses={503: ResponseSpec(Readiness, description="A required component failed (the body says which)")},
    )
    async def ready(self, readiness_probe: NamedDependency[ReadinessProbe]) -> Response[Readiness]:
        """Each component with status and latency; 503 when a required one failed."""
        readiness = await check_readiness(readiness_probe)
        return Response(readiness, status_code=200 if readiness.status == "ready" else 503)
