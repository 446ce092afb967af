"""SQL of the model audit log (``model_calls``, migration 0006)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

import asyncpg

if TYPE_CHECKING:
    from luna_hub.audit.schemas import ModelCallFilter

__all__ = ["GENESIS", "insert_call", "iter_calls", "last_hash", "lock_chain", "normalise_json", "select_calls"]

GENESIS: Final = "sha256:" + "0" * 64
"""``prev_hash`` of the first row."""

COLUMNS: Final = (
    "call_id, at, actor, endpoint, operation, model, model_digest, params::text AS params, prompt, answer,"
    " chunks::text AS chunks, latency_ms, prompt_tokens, completion_tokens, prev_hash, row_hash"
)


async def lock_chain(connection: asyncpg.Connection) -> None:
    """Serialise writers of the chain until the transaction ends (readers are not blocked)."""
    await connection.execute("LOCK TABLE model_calls IN SHARE ROW EXCLUSIVE MODE")


async def last_hash(connection: asyncpg.Connection) -> str:
    """Return the newest row's hash, or :data:`GENESIS` for an empty log."""
    found: str | None = await connection.fetchval("SELECT row_hash FROM model_calls ORDER BY call_id DESC LIMIT 1")
    return found or GENESIS


async def normalise_json(connection: asyncpg.Connection, *texts: str) -> list[str]:
    """Return the texts as PostgreSQL prints them back from ``jsonb`` (what the hash covers)."""
    row = await connection.fetchrow(
        "SELECT " + ", ".join(f"${i}::jsonb::text" for i in range(1, len(texts) + 1)), *texts
    )
    return [str(value) for value in row.values()] if row is not None else []


async def insert_call(connection: asyncpg.Connection, values: dict[str, Any]) -> int:
    """Insert one row; return its id."""
    call_id: int = await connection.fetchval(
        "INSERT INTO model_calls (at, actor, endpoint, operation, model, model_digest, params, prompt, answer,"
        " chunks, latency_ms, prompt_tokens, completion_tokens, prev_hash, row_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14, $15) RETURNING call_id",
        values["at"],
        values["actor"],
        values["endpoint"],
        values["operation"],
        values["model"],
        values["model_digest"],
        values["params"],
        values["prompt"],
        values["answer"],
        values["chunks"],
        values["latency_ms"],
        values["prompt_tokens"],
        values["completion_tokens"],
        values["prev_hash"],
        values["row_hash"],
    )
    return call_id


async def iter_calls(connection: asyncpg.Connection) -> AsyncIterator[asyncpg.Record]:
    """Every row in chain order (call the inside of a transaction: it uses a cursor)."""
    async for row in connection.cursor(f"SELECT {COLUMNS} FROM model_calls ORDER BY call_id"):  # noqa: S608 - constant
        yield row


async def select_calls(connection: asyncpg.Connection, query: ModelCallFilter) -> list[asyncpg.Record]:
    """Rows matching ``query``, newest first."""
    rows: list[asyncpg.Record] = await connection.fetch(
        f"SELECT {COLUMNS} FROM model_calls"  # noqa: S608 - constant column list
        " WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR operation = $2)"
        " AND ($3::text IS NULL OR model = $3) AND ($4::text IS NULL OR endpoint = $4)"
        " AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)"
        " AND ($7::bigint IS NULL OR call_id < $7)"
        " ORDER BY call_id DESC LIMIT $8",
        query.actor,
        query.operation,
        query.model,
        query.endpoint,
        query.since,
        query.until,
        query.before,
        query.limit,
    )
    return rows
