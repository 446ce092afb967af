"""The dashboard's queries: small, indexed or bounded, safe to run every few seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

__all__ = ["TABLES", "agent_rows", "ingest_minutes", "latest_admin_entries", "latest_jobs", "table_sizes"]

TABLES: Final = (
    "smart_meter_readings",
    "market_prices",
    "rollup_15m",
    "rollup_1h",
    "rollup_1d",
    "ingest_batches",
    "chunks",
    "document_versions",
    "model_calls",
    "admin_log",
)


async def agent_rows(connection: asyncpg.Connection, day_start: datetime) -> list[asyncpg.Record]:
    """Return every agent with its last status report and today's received/expected sequence numbers."""
    rows: list[asyncpg.Record] = await connection.fetch(
        """
        SELECT a.agent_id, a.site_id, a.last_seen_at, a.backlog, a.version, a.clock_offset_ms, t.received, t.span
        FROM agents a
        LEFT JOIN LATERAL (
            SELECT sum(last_seq - first_seq + 1) AS received, max(last_seq) - min(first_seq) + 1 AS span
            FROM ingest_batches b WHERE b.agent_id = a.agent_id AND b.received_at >= $1
        ) t ON true
        ORDER BY a.agent_id
        """,
        day_start,
    )
    return rows


async def ingest_minutes(connection: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    """Return the readings stored and batches received per minute since ``since`` (from the ingest ledger)."""
    rows: list[asyncpg.Record] = await connection.fetch(
        """
        SELECT date_trunc('minute', received_at) AS minute, sum(stored)::bigint AS readings, count(*) AS batches
        FROM ingest_batches WHERE received_at >= $1 GROUP BY 1 ORDER BY 1
        """,
        since,
    )
    return rows


async def table_sizes(connection: asyncpg.Connection) -> dict[str, int]:
    """Return the bytes on disk of each of :data:`TABLES` that exists (a hypertable's chunks included)."""
    timescale = await connection.fetchval("SELECT count(*) > 0 FROM pg_extension WHERE extname = 'timescaledb'")
    sizes: dict[str, int] = {}
    for table in TABLES:
        if await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            hyper = timescale and await connection.fetchval(
                "SELECT count(*) > 0 FROM timescaledb_information.hypertables WHERE hypertable_name = $1", table
            )
            query = "SELECT hypertable_size($1::regclass)" if hyper else "SELECT pg_total_relation_size($1::regclass)"
            sizes[table] = int(await connection.fetchval(query, table) or 0)
    return sizes


async def latest_admin_entries(connection: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Return the newest entries of the admin log."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT at, actor, action, target FROM admin_log ORDER BY entry_id DESC LIMIT $1", limit
    )
    return rows


async def latest_jobs(connection: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Return the newest document jobs."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT job_id, document_id, state, stage, progress, created_at, finished_at, error"
        " FROM document_jobs ORDER BY job_id DESC LIMIT $1",
        limit,
    )
    return rows
