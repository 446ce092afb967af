"""SQL of the agents domain: sites, agents, their keys, status reports and the batch ledger's gaps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

__all__ = [
    "agent_rows",
    "ensure_agent",
    "ensure_site",
    "ledger_summary",
    "quarantined_seqs",
    "record_agent_quarantine",
    "record_status",
]

# Per agent, each ledger entry next to the highest sequence number covered before it (in
# first_seq order): a hole is where an entry starts beyond that; the new coverage of an entry
# is what it adds past it.
_LEDGER_SQL: Final = """
    WITH e AS (
        SELECT agent_id, first_seq, last_seq,
               max(last_seq) OVER (PARTITION BY agent_id ORDER BY first_seq, last_seq
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered
        FROM ingest_batches WHERE agent_id = ANY($1::text[])
    )
    SELECT agent_id,
           min(first_seq) AS first_seq,
           max(last_seq) AS last_seq,
           sum(greatest(last_seq - greatest(first_seq, coalesce(covered + 1, first_seq)) + 1, 0))::bigint
               AS received,
           coalesce(array_agg(covered + 1 ORDER BY first_seq) FILTER (WHERE first_seq > covered + 1), '{}')
               AS gap_first,
           coalesce(array_agg(first_seq - 1 ORDER BY first_seq) FILTER (WHERE first_seq > covered + 1), '{}')
               AS gap_last
    FROM e GROUP BY agent_id
"""


async def ensure_site(connection: asyncpg.Connection, site_id: str) -> None:
    """Create the site when missing (its first agent, file load or document names it)."""
    await connection.execute("INSERT INTO sites (site_id) VALUES ($1) ON CONFLICT DO NOTHING", site_id)


async def ensure_agent(connection: asyncpg.Connection, agent_id: str, site_id: str) -> str:
    """Create the site and the agent when missing; return the site the agent belongs to (maybe another)."""
    await ensure_site(connection, site_id)
    await connection.execute(
        "INSERT INTO agents (agent_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", agent_id, site_id
    )
    current: str = await connection.fetchval("SELECT site_id FROM agents WHERE agent_id = $1", agent_id)
    return current


async def record_status(  # noqa: PLR0913 - one column each
    connection: asyncpg.Connection,
    agent_id: str,
    *,
    version: str,
    clock_trusted: bool,
    backlog: int,
    oldest_unsynced_at: object,
    last_acked_seq: int | None,
    last_ack_at: object,
    clock_offset_ms: int,
    devices_json: str,
) -> None:
    """Store an agent's status report on its row; the hub's own ``last_acked_seq`` is never lowered."""
    await connection.execute(
        """
        UPDATE agents SET status_at = now(), last_seen_at = now(), version = $2, clock_trusted = $3,
               backlog = $4, oldest_unsynced_at = $5, agent_last_ack_at = $7, clock_offset_ms = $8,
               last_acked_seq = greatest(last_acked_seq, $6), devices = $9::jsonb
        WHERE agent_id = $1
        """,
        agent_id,
        version,
        clock_trusted,
        backlog,
        oldest_unsynced_at,
        last_acked_seq,
        last_ack_at,
        clock_offset_ms,
        devices_json,
    )


async def record_agent_quarantine(
    connection: asyncpg.Connection, agent_id: str, seqs: list[int], reasons: list[str]
) -> None:
    """Note readings the agent set aside (the hub refused them); a seq already known keeps its first record."""
    await connection.execute(
        "INSERT INTO sync_quarantine (agent_id, seq, side, reason)"
        " SELECT $1, seq, 'agent', reason FROM unnest($2::bigint[], $3::text[]) AS q(seq, reason)"
        " ON CONFLICT (agent_id, seq) DO NOTHING",
        agent_id,
        seqs,
        reasons,
    )


async def quarantined_seqs(connection: asyncpg.Connection, agent_ids: list[str]) -> dict[str, list[int]]:
    """Per agent, the sequence numbers set aside by the agent (never sent whole) or by the hub, ascending."""
    rows = await connection.fetch(
        "SELECT agent_id, array_agg(seq ORDER BY seq) AS seqs FROM sync_quarantine"
        " WHERE agent_id = ANY($1::text[]) GROUP BY agent_id",
        agent_ids,
    )
    return {row["agent_id"]: list(row["seqs"]) for row in rows}


async def agent_rows(
    connection: asyncpg.Connection, agent_ids: list[str] | None = None, *, sites: Sequence[str] | None = None
) -> list[asyncpg.Record]:
    """Return the agents (all, or those named; at ``sites`` only, when given), ordered by id."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT * FROM agents WHERE ($1::text[] IS NULL OR agent_id = ANY($1::text[]))"
        " AND ($2::text[] IS NULL OR site_id = ANY($2::text[])) ORDER BY agent_id",
        agent_ids,
        None if sites is None else list(sites),
    )
    return rows


async def ledger_summary(connection: asyncpg.Connection, agent_ids: list[str]) -> dict[str, asyncpg.Record]:
    """Per agent: sequence numbers received (union of the ledger's ranges), first and last, and the gaps."""
    return {row["agent_id"]: row for row in await connection.fetch(_LEDGER_SQL, agent_ids)}
