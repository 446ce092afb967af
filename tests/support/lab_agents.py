"""Simulated agents in one process, run inside an agent host's network namespace by the replicas test.

``python tests/support/lab_agents.py SPEC OUT``: SPEC (JSON) names the balancer's URL, how long to
sync and the agents (id, site, key, meter). Each agent posts a batch of readings every half second
and resends the same batch until the hub acknowledges it (2xx), as a real agent's buffer does, so a
lost answer becomes a duplicate the hub must recognise. Agents listed as ``quiet`` send one batch and
stop (they must go offline, and alert once). OUT gets, per agent, the last acknowledged sequence number.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from support.sync import Agent, batch, post

__all__ = ["main"]

BATCH = 10


async def _deliver(client: httpx.AsyncClient, agent: Agent, first: int, stats: dict[str, int]) -> None:
    """Post readings ``first..first+BATCH-1`` until the hub acknowledges them."""
    message = batch(agent, first, first + BATCH - 1)
    while True:
        stats["attempts"] += 1
        try:
            response = await post(client, message, agent.key)
        except httpx.HTTPError:
            stats["errors"] += 1
        else:
            if response.is_success:
                return
            stats["errors"] += 1
        await asyncio.sleep(0.3)


async def _agent(client: httpx.AsyncClient, agent: Agent, until: float, quiet: bool) -> dict[str, int]:
    stats = {"attempts": 0, "errors": 0, "batches": 0, "last_seq": -1}
    first = 0
    while True:
        await _deliver(client, agent, first, stats)
        stats["batches"] += 1
        stats["last_seq"] = first + BATCH - 1
        first += BATCH
        if quiet or time.monotonic() >= until:
            return stats
        await asyncio.sleep(0.5)


async def _run(spec: dict[str, Any]) -> dict[str, dict[str, int]]:
    until = time.monotonic() + spec["duration_s"]
    agents = [Agent(**fields) for fields in spec["agents"]]
    timeout = httpx.Timeout(3.0)
    async with httpx.AsyncClient(base_url=spec["url"], timeout=timeout) as client:
        results = await asyncio.gather(
            *(_agent(client, agent, until, agent.agent_id in spec["quiet"]) for agent in agents)
        )
    return {agent.agent_id: stats for agent, stats in zip(agents, results, strict=True)}


def main() -> None:
    """Run the agents of SPEC, write what each had acknowledged to OUT."""
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    results = asyncio.run(_run(spec))
    Path(sys.argv[2]).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main()
