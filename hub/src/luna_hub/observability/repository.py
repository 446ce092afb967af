"""SQL of the observability domain: what the database says at scrape time."""

from __future__ import annotations

import asyncpg

__all__ = ["agent_contacts", "alerts_firing_from_table", "document_job_counts"]


async def agent_contacts(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per agent: site, last reported backlog, and seconds since it was last heard from (NULL: never)."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT agent_id, site_id, backlog,"
        " extract(epoch FROM now() - greatest(last_seen_at, status_at))::float8 AS since_contact_s"
        " FROM agents ORDER BY agent_id"
    )
    return rows


async def document_job_counts(connection: asyncpg.Connection) -> dict[str, int]:
    """Document jobs per state (every state listed, 0 when none)."""
    rows = await connection.fetch(
        "SELECT s.state, count(j.state)::int AS jobs"
        " FROM unnest(ARRAY['queued', 'running', 'done', 'failed']) AS s(state)"
        " LEFT JOIN document_jobs j ON j.state = s.state GROUP BY s.state"
    )
    return {row["state"]: row["jobs"] for row in rows}


async def alerts_firing_from_table(connection: asyncpg.Connection) -> int:
    """Rows of a table ``alerts`` whose ``state`` is ``firing``; 0 while there is no such table with such a column."""
    present = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'alerts' AND column_name = 'state')"
    )
    if not present:
        return 0
    firing: int = await connection.fetchval("SELECT count(*)::int FROM alerts WHERE state = 'firing'")
    return firing
