"""SQL of batch ingest from agents: the agent row lock, the ledger of received ranges, meter ownership.

All of it runs inside the one transaction that also writes the batch's readings.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from luna_shared.wire import ReadingFields

__all__ = [
    "AgentState",
    "LedgerEntry",
    "check_instance",
    "claim_meters",
    "lock_agent",
    "overlapping_entries",
    "record_batch",
    "record_replay",
    "set_aside",
]


class AgentState(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch needs to know about its agent, read under the agent's row lock."""

    max_reading_ts: datetime | None
    last_acked_seq: int | None


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A range received before, with the hash of its content."""

    first_seq: int
    last_seq: int
    content_hash: str
    received_at: datetime


async def check_instance(
    connection: asyncpg.Connection, agent_id: str, instance_id: str | None, now: datetime, takeover_s: float
) -> tuple[str, datetime] | None:
    """Record ``instance_id`` as the agent's running copy; return the other live copy ``(id, last seen)`` if any.

    Another copy counts as live when heard from within ``takeover_s``; after that silence a new copy
    (a replaced device, a new buffer) takes over. Call under the agent's row lock.
    """
    if instance_id is None:  # an agent from before instance ids: nothing to compare
        return None
    row = await connection.fetchrow(
        "SELECT instance_id, instance_seen_at FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
    )
    current, seen = row["instance_id"], row["instance_seen_at"]
    if (
        current is not None
        and current != instance_id
        and seen is not None
        and (now - seen).total_seconds() < takeover_s
    ):
        return current, seen
    await connection.execute(
        "UPDATE agents SET instance_id = $2, instance_seen_at = $3 WHERE agent_id = $1", agent_id, instance_id, now
    )
    return None


async def lock_agent(connection: asyncpg.Connection, agent_id: str) -> AgentState:
    """Lock the agent's row for this transaction: batches of one agent are stored one after the other."""
    row = await connection.fetchrow(
        "SELECT max_reading_ts, last_acked_seq FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
    )
    return AgentState(max_reading_ts=row["max_reading_ts"], last_acked_seq=row["last_acked_seq"])


async def overlapping_entries(
    connection: asyncpg.Connection, agent_id: str, first_seq: int, last_seq: int
) -> list[LedgerEntry]:
    """Return the ranges received before that overlap ``first_seq..last_seq`` (the same range included), in order."""
    rows = await connection.fetch(
        "SELECT first_seq, last_seq, content_hash, received_at FROM ingest_batches"
        " WHERE agent_id = $1 AND last_seq >= $2 AND first_seq <= $3 ORDER BY first_seq, last_seq",
        agent_id,
        first_seq,
        last_seq,
    )
    return [LedgerEntry(**dict(row)) for row in rows]


async def claim_meters(
    connection: asyncpg.Connection, meters: list[str], site_id: str, agent_id: str | None
) -> list[tuple[str, str]]:
    """Register the meters as the site's (and the agent's); return those that belong to another site, with it.

    A meter belongs to the site that first registered it, or to the site an operator set; a meter
    only known from file loads without site is claimed by the first agent (or load with ``site=``)
    that sends it.
    """
    await connection.execute(
        "INSERT INTO meters (meter_id, site_id, agent_id) SELECT unnest($1::text[]), $2, $3"
        " ON CONFLICT (meter_id) DO UPDATE SET site_id = coalesce(meters.site_id, EXCLUDED.site_id),"
        " agent_id = coalesce(meters.agent_id, EXCLUDED.agent_id)"
        " WHERE meters.site_id IS NULL OR (meters.site_id = EXCLUDED.site_id AND meters.agent_id IS NULL)",
        meters,
        site_id,
        agent_id,
    )
    rows = await connection.fetch(
        "SELECT meter_id, site_id FROM meters WHERE meter_id = ANY($1::text[]) AND site_id IS DISTINCT FROM $2"
        " ORDER BY meter_id",
        meters,
        site_id,
    )
    return [(row["meter_id"], row["site_id"]) for row in rows]


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
    """Add the ledger entry of a newly received range and update the agent's counters and clock (one statement)."""
    await connection.execute(
        """
        WITH ledger AS (
            INSERT INTO ingest_batches (agent_id, first_seq, last_seq, content_hash, sent_at, received_at,
                                        stored, duplicates, backfilled, clock_offset_ms)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        )
        UPDATE agents SET last_seen_at = $6, clock_offset_ms = $10, batches = batches + 1,
               readings = readings + $7, duplicates = duplicates + $8, backfilled = backfilled + $9,
               last_acked_seq = greatest(last_acked_seq, $3), max_reading_ts = greatest(max_reading_ts, $11)
        WHERE agent_id = $1
        """,
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


async def set_aside(connection: asyncpg.Connection, agent_id: str, rows: list[tuple[ReadingFields, str]]) -> None:
    """Keep readings the hub will not store in ``sync_quarantine`` (side ``hub``), each with its reason."""
    readings = [
        msgspec.json.encode(
            {"meter_id": m, "metric": k, "ts": ts, "value": v, "unit": u, "quality": q, "reasons": list(r)}
        ).decode()
        for (m, k, ts, v, u, q, r, _), _ in rows
    ]
    await connection.execute(
        "INSERT INTO sync_quarantine (agent_id, seq, side, reason, reading)"
        " SELECT $1, seq, 'hub', reason, reading::jsonb FROM unnest($2::bigint[], $3::text[], $4::text[])"
        " AS q(seq, reason, reading) ON CONFLICT (agent_id, seq) DO NOTHING",
        agent_id,
        [row[7] for row, _ in rows],
        [reason for _, reason in rows],
        readings,
    )
