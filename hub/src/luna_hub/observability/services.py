"""Scrapes and token checks of the observability domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from luna_hub.errors import UnavailableError
from luna_hub.metrics import AgentGauge, HubMetrics, Snapshot
from luna_hub.observability import repository
from luna_hub.settings import MetricsSettings
from luna_shared.errors import ConfigError

__all__ = ["AlertsFiring", "agent_state", "pool_connections", "read_scrape_token", "scrape"]

AlertsFiring = Callable[[asyncpg.Connection], Awaitable[int]]
"""How many alerts fire now; the alerts domain may replace the default (a table ``alerts`` if it exists)."""


def agent_state(since_contact_s: float | None, settings: MetricsSettings) -> str:
    """``online``, ``stale`` or ``offline`` by the time since the agent was last heard from."""
    if since_contact_s is None or since_contact_s >= settings.agent_offline_after_s:
        return "offline"
    if since_contact_s >= settings.agent_stale_after_s:
        return "stale"
    return "online"


def pool_connections(pool: asyncpg.Pool) -> dict[str, int]:
    """Count the pool's connections: ``busy`` and ``idle`` (open ones) and ``max`` (its limit)."""
    size, idle = pool.get_size(), pool.get_idle_size()
    return {"busy": size - idle, "idle": idle, "max": pool.get_max_size()}


async def scrape(
    metrics: HubMetrics, pool: asyncpg.Pool, settings: MetricsSettings, alerts_firing: AlertsFiring
) -> bytes:
    """Compute the database-derived gauges now and return the whole exposition.

    The pool's numbers are read before this scrape takes a connection, so they show the load the
    requests put on it, not the scrape itself.
    """
    connections = pool_connections(pool)
    try:
        async with pool.acquire(timeout=5) as connection:
            contacts = await repository.agent_contacts(connection)
            jobs = await repository.document_job_counts(connection)
            firing = await alerts_firing(connection)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        msg = f"metrics need the database: {exc}"
        raise UnavailableError(msg) from exc
    agents = [
        AgentGauge(
            agent_id=row["agent_id"],
            site_id=row["site_id"],
            state=agent_state(row["since_contact_s"], settings),
            backlog=row["backlog"],
            since_contact_s=row["since_contact_s"],
        )
        for row in contacts
    ]
    snapshot = Snapshot(agents=agents, document_jobs=jobs, alerts_firing=firing, pool=connections)
    return metrics.expose(snapshot)


def read_scrape_token(settings: MetricsSettings) -> bytes | None:
    """Return the scrape token of ``bearer_token_file`` (surrounding whitespace removed), if one is set.

    A missing, unreadable or short file is a :class:`ConfigError`: ``create_app`` fails, the hub does not start.
    """
    if settings.bearer_token_file is None:
        return None
    path = Path(settings.bearer_token_file)
    try:
        token = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(str(path), "metrics.bearer_token_file", str(exc.strerror or exc)) from exc
    if len(token) < 16:  # noqa: PLR2004 - a guessable token would open the metrics to anyone
        problem = "the token has fewer than 16 characters (e.g. openssl rand -hex 32 > file)"
        raise ConfigError(str(path), "metrics.bearer_token_file", problem)
    return token
