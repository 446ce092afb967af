"""SQL of batch ingest from agents: the agent row lock, the ledger of received ranges, meter ownership.

All of it runs inside the one transaction that also writes the batch's readings.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

__all__ = [
    "AgentState",
    "LedgerEntry",
    "claim_meters",
    "covered_ranges",
    "ledger_entry",
    "lock_agent",
    "record_batch",
    "record_replay",
]


class AgentState(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch needs to know about its agent, read under the agent's row lock."""

    max_reading_ts: datetime | None
    last_acked_seq: int | None


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A range received before, with the hash of its content."""

    content_hash: str
    received_at: datetime


async def lock_agent(connection: asyncpg.Connection, agent_id: str) -> AgentState:
    """Lock the agent's row for this transaction: batches of one agent are stored one after the other."""
    row = await connection.fetchrow(
        "SELECT max_reading_ts, last_acked_seq FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
    )
    return AgentState(max_reading_ts=row["max_reading_ts"], last_acked_seq=row["last_acked_seq"])


async def ledger_entry(
    connection: asyncpg.Connection, agent_id: str, first_seq: int, last_seq: int
) -> LedgerEntry | None:
    """Return the ledger entry of exactly this range, if it was received before."""
    row = await connection.fetchrow(
        "SELECT content_hash, received_at FROM ingest_batches WHERE agent_id = $1 AND first_seq = $2 AND last_seq = $3",
        agent_id,
        first_seq,
        last_seq,
    )
    return None if row is None else LedgerEntry(content_hash=row["content_hash"], received_at=row["received_at"])


async def covered_ranges(
    connection: asyncpg.Connection, agent_id: str, first_seq: int, last_seq: int
) -> list[tuple[int, int]]:
    """Ranges received before that overlap ``first_seq..last_seq``, clipped to it, in order."""
    rows = await connection.fetch(
        "SELECT greatest(first_seq, $2) AS lo, least(last_seq, $3) AS hi FROM ingest_batches"
        " WHERE agent_id = $1 AND last_seq >= $2 AND first_seq <= $3 ORDER BY lo",
        agent_id,
        first_seq,
        last_seq,
    )
    return [(row["lo"], row["hi"]) for row in rows]


async def claim_meters(connection: asyncpg.Connection, meters: list[str], site_id: str, agent_id: str) -> None:
    """Register the meters as the agent's (a meter first seen elsewhere keeps its owner)."""
    await connection.execute(
        "INSERT INTO meters (meter_id, site_id, agent_id) SELECT unnest($1::text[]), $2, $3"
        " ON CONFLICT (meter_id) DO UPDATE SET site_id = EXCLUDED.site_id, agent_id = EXCLUDED.agent_id"
        " WHERE meters.agent_id IS NULL",
        meters,
        site_id,
        agent_id,
    )


async def record_batch(  # noqa: PLR0913 - one column each
    connection: asyncpg.Connection,
    agent_id: str,
    *,
    first_seq: int,
    last_seq: int,
    content_hash: str,
    sent_at: datetime,
    received_at: datetime,
    stored: int,
    duplicates: int,
    backfilled: int,
    clock_offset_ms: int,
    max_reading_ts: datetime | None,
) -> None:
    """Add the ledger entry of a newly received range and update the agent's counters and clock."""
    await connection.execute(
        "INSERT INTO ingest_batches (agent_id, first_seq, last_seq, content_hash, sent_at, received_at,"
        " stored, duplicates, backfilled, clock_offset_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        agent_id,
        first_seq,
        last_seq,
        content_hash,
        sent_at,
        received_at,
        stored,
        duplicates,
        backfilled,
        clock_offset_ms,
    )
    await connection.execute(
        """
        UPDATE agents SET last_seen_at = $2, clock_offset_ms = $3, batches = batches + 1,
               readings = readings + $4, duplicates = duplicates + $5, backfilled = backfilled + $6,
               last_acked_seq = greatest(last_acked_seq, $7),
               max_reading_ts = greatest(max_reading_ts, $8)
        WHERE agent_id = $1
        """,
        agent_id,
        received_at,
        clock_offset_ms,
        stored,
        duplicates,
        backfilled,
        last_seq,
        max_reading_ts,
    )


async def record_replay(
    connection: asyncpg.Connection, agent_id: str, received_at: datetime, clock_offset_ms: int, duplicates: int
) -> None:
    """Note a replayed batch: the contact, the clock, and its readings as duplicates."""
    await connection.execute(
        "UPDATE agents SET last_seen_at = $2, clock_offset_ms = $3, duplicates = duplicates + $4 WHERE agent_id = $1",
        agent_id,
        received_at,
        clock_offset_ms,
        duplicates,
    )
