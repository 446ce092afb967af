"""Helpers of the alerts tests: agents whose contact a test sets, fast alert settings, waiting for duties."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.agents.services import create_agent
from luna_hub.alerts.deps import ALERT_DUTY
from luna_hub.duties import provide_duties
from luna_hub.settings import HubSettings
from luna_hub.settings.alerts import AlertSettings

__all__ = ["Fleet", "alert_settings", "evaluations", "until"]


@dataclass
class Fleet:
    """Agents in the test's database; those ``alive`` contact the hub every 0.05 s (see :meth:`heartbeat`)."""

    pool: asyncpg.Pool
    alive: set[str] = field(default_factory=set)
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def add(self, agent_id: str, site_id: str = "site-a") -> None:
        """Create an agent that is in contact from now on."""
        async with self.pool.acquire() as connection:
            await create_agent(connection, agent_id, site_id, actor="test")
        await self.contact(agent_id)

    async def contact(self, agent_id: str) -> None:
        """The agent reaches the hub now and keeps doing so (as the sync domain records its batches)."""
        async with self._writing:
            await self.pool.execute("UPDATE agents SET last_seen_at = now() WHERE agent_id = $1", agent_id)
            self.alive.add(agent_id)

    async def silent_since(self, agent_id: str, seconds: float) -> None:
        """The agent's last contact was ``seconds`` ago, and it stays silent."""
        async with self._writing:  # not overtaken by a heartbeat already on its way
            self.alive.discard(agent_id)
            await self.pool.execute(
                "UPDATE agents SET last_seen_at = now() - make_interval(secs => $2) WHERE agent_id = $1",
                agent_id,
                seconds,
            )

    async def heartbeat(self) -> None:
        """Keep the ``alive`` agents in contact until cancelled."""
        while True:
            async with self._writing:
                if self.alive:
                    await self.pool.execute(
                        "UPDATE agents SET last_seen_at = now() WHERE agent_id = ANY($1::text[])", sorted(self.alive)
                    )
            await asyncio.sleep(0.05)


def alert_settings(dsn: str, **alerts: object) -> HubSettings:
    """Hub settings with fast alerting (every 0.1 s, no pending period, offline after 1 s), backups unwatched."""
    base = AlertSettings(evaluate_every_s=0.1, pending_s=0, agent_offline_after_s=1.0, backup_max_age_s=None)
    return HubSettings(database_url=dsn, alerts=msgspec.structs.replace(base, **alerts))


def evaluations(client: AsyncTestClient[Litestar]) -> int:
    """How many evaluations the client's app ran (0 where another replica holds the duty)."""
    return provide_duties(client.app.state).runs(ALERT_DUTY)


async def until(condition: Callable[[], bool], within: float = 30) -> None:
    """Wait until ``condition()`` holds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling what a background duty changes
            await asyncio.sleep(0.02)
