"""The agent's Litestar application, assembled in one place; the running :class:`Agent` lives in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Response, get
from litestar.datastructures import State

from luna_agent import __version__
from luna_agent.api.access import status_token, status_token_guard
from luna_agent.api.page import site_page, site_static
from luna_agent.api.views import AgentHealth, AgentStatusView, status_view
from luna_agent.runtime import Agent
from luna_agent.sample import Sample
from luna_agent.settings import AgentSettings
from luna_shared.apidocs import openapi_config, swagger_asset
from luna_shared.asgi import request_id_middleware
from luna_shared.headers import security_headers

__all__ = ["create_app"]


@get("/health", tags=["system"], summary="Liveness of the agent")
async def health(state: State) -> AgentHealth:
    """Report that the agent runs, with its identity."""
    settings: AgentSettings = state.settings
    return AgentHealth(status="ok", agent_id=settings.agent_id, site_id=settings.site_id, version=__version__)


@get("/status", tags=["system"], summary="Devices, buffer backlog and sync state")
async def status(state: State) -> AgentStatusView:
    """Report each device's health and the buffer's backlog."""
    return status_view(state.agent)


@get("/readings/latest", tags=["readings"], summary="The latest validated reading of every meter and metric")
async def latest_readings(state: State) -> list[Sample]:
    """Return the newest sample per (meter, metric), with quality and reasons, sorted by meter and metric."""
    agent: Agent = state.agent
    return [agent.latest[key] for key in sorted(agent.latest)]


@get("/metrics", tags=["system"], summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
async def prometheus_metrics(state: State) -> Response[bytes]:
    """Expose polls, errors, readings by quality, buffer depth and drops, sync series, in the Prometheus format."""
    agent: Agent = state.agent
    stats = agent.buffer.stats()  # one read for both groups of series
    agent.metrics.observe_buffer(stats)
    agent.metrics.observe_sync(stats, agent.uploader.progress() if agent.uploader else None)
    if agent.mqtt is not None:
        agent.metrics.observe_mqtt(agent.mqtt.stats)
    return Response(agent.metrics.render(), media_type="text/plain; version=0.0.4")


def create_app(settings: AgentSettings, agent: Agent | None = None) -> Litestar:
    """Build the status API for ``settings``; the agent (built from them unless given) runs in the lifespan."""
    state = State({"settings": settings, "status_token": status_token(settings.status_api)})

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        running = agent or Agent(settings)
        app.state.agent = running
        await running.start()
        try:
            yield
        finally:
            await running.stop()

    return Litestar(
        route_handlers=[health, status, latest_readings, prometheus_metrics, site_page, site_static, swagger_asset],
        openapi_config=openapi_config("Luna-iEMS agent", __version__),  # its viewer loads from the agent, not a CDN
        state=state,
        lifespan=[lifespan],
        logging_config=None,
        middleware=[request_id_middleware],
        before_send=[security_headers],
        guards=[status_token_guard],
    )
