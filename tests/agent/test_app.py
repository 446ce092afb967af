"""The agent's local status API."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from luna_agent import __version__
from luna_agent.api import create_app
from luna_agent.settings import AgentSettings


async def test_health_names_the_agent() -> None:
    settings = AgentSettings(agent_id="pv-roof", site_id="farm-7")
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "agent_id": "pv-roof", "site_id": "farm-7", "version": __version__}
