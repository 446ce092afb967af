"""``GET /agents``: the agents that deliver readings, with last contact, clock offset, backlog and gaps."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, get
from litestar.di import NamedDependency

from luna_hub.agents.schemas import AgentView
from luna_hub.agents.services import list_agents
from luna_hub.auth.guards import api_key_guard, readable_sites

__all__ = ["AgentsController"]


class AgentsController(Controller):
    """The agent list."""

    path = "/agents"
    tags = ["agents"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012

    @get("/", summary="Agents with last contact, clock offset, backlog, counters and sequence gaps")
    async def agents(self, db_pool: NamedDependency[asyncpg.Pool], request: Request[Any, Any, Any]) -> list[AgentView]:
        """List the agents of the caller's sites (every agent for analysts and admins); ``gaps`` are never hidden."""
        return await list_agents(db_pool, sites=readable_sites(request))
