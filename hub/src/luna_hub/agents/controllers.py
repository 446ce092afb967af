"""``GET /agents``: the agents that deliver readings, with last contact, clock offset, backlog and gaps."""

from __future__ import annotations

import asyncpg
from litestar import Controller, get
from litestar.di import NamedDependency

from luna_hub.agents.schemas import AgentView
from luna_hub.agents.services import list_agents
from luna_hub.auth.guards import api_key_guard

__all__ = ["AgentsController"]


class AgentsController(Controller):
    """The agent list."""

    path = "/agents"
    tags = ["agents"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012

    @get("/", summary="Agents with last contact, clock offset, backlog, counters and sequence gaps")
    async def agents(self, db_pool: NamedDependency[asyncpg.Pool]) -> list[AgentView]:
        """List every agent; ``gaps`` are sequence ranges the hub never received (never hidden)."""
        return await list_agents(db_pool)
