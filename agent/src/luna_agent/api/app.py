"""The agent's Litestar application, assembled in one place."""

from __future__ import annotations

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from luna_agent import __version__
from luna_agent.settings import AgentSettings
from luna_shared.asgi import request_id_middleware

__all__ = ["AgentHealth", "create_app"]


class AgentHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The agent process is up; who it is."""

    status: str
    agent_id: str
    site_id: str
    version: str


@get("/health", tags=["system"], summary="Liveness of the agent")
async def health(state: State) -> AgentHealth:
    """Report that the agent runs, with its identity."""
    settings: AgentSettings = state.settings
    return AgentHealth(status="ok", agent_id=settings.agent_id, site_id=settings.site_id, version=__version__)


def create_app(settings: AgentSettings) -> Litestar:
    """Build the status API for ``settings``."""
    return Litestar(
        route_handlers=[health],
        openapi_config=OpenAPIConfig(title="Luna-iEMS agent", version=__version__, path="/schema"),
        state=State({"settings": settings}),
        logging_config=None,
        middleware=[request_id_middleware],
    )
