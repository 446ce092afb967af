"""Write audit entries, and the hash-chained log of model calls.

``audit_log`` records who changed what (:func:`record`). ``model_calls`` records every call of an
embedding or chat model (:func:`record_model_call`); each row carries the hash of the row before it,
so :func:`verify_model_calls` finds any row changed or removed behind the database's back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from luna_hub.audit import repository
from luna_hub.audit.chain import chain_hash as hash_link
from luna_hub.audit.chain import verify_chain
from luna_hub.audit.schemas import ChunkRef, ModelCall, ModelCallFilter, ModelCallPage, ModelCallRow, VerifyReport

__all__ = ["chain_hash", "list_model_calls", "record", "record_model_call", "verify_model_calls"]


async def record(
    connection: asyncpg.Connection, *, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
) -> None:
    """Append one entry; call it inside the transaction of the change it records, so both or neither stay."""
    await connection.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        target,
        msgspec.json.encode(details or {}).decode(),
    )


_HASHED = (
    "at",
    "actor",
    "endpoint",
    "operation",
    "model",
    "model_digest",
    "params",
    "prompt",
    "answer",
    "chunks",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
)


def chain_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """Return the model call's link in the chain (:func:`luna_hub.audit.chain.chain_hash` over its columns)."""
    return hash_link(prev_hash, values, _HASHED)


async def record_model_call(pool: asyncpg.Pool, call: ModelCall) -> int:
    """Append ``call`` to the chain; return its id."""
    async with pool.acquire() as connection, connection.transaction():
        await repository.lock_chain(connection)
        params, chunks = await repository.normalise_json(
            connection, msgspec.json.encode(call.params).decode(), msgspec.json.encode(call.chunks).decode()
        )
        values: dict[str, Any] = {
            "at": datetime.now(UTC),
            "actor": call.actor,
            "endpoint": call.endpoint,
            "operation": call.operation,
            "model": call.model,
            "model_digest": call.model_digest,
            "params": params,
            "prompt": call.prompt,
            "answer": call.answer,
            "chunks": chunks,
            "latency_ms": float(call.latency_ms),
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "prev_hash": await repository.last_hash(connection),
        }
        values["row_hash"] = chain_hash(values["prev_hash"], values)
        return await repository.insert_call(connection, values)


async def verify_model_calls(connection: asyncpg.Connection) -> VerifyReport:
    """Recompute the chain from the first row; report the first row whose hash or link does not match."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        calls = repository.iter_calls(connection)
        return await verify_chain(calls, id_column="call_id", columns=_HASHED, noun="row")


async def list_model_calls(pool: asyncpg.Pool, query: ModelCallFilter) -> ModelCallPage:
    """Return calls matching ``query``, newest first, ``query.limit`` per page."""
    async with pool.acquire() as connection:
        rows = await repository.select_calls(connection, query)
    calls = [
        ModelCallRow(
            **{
                **dict(row),
                "params": msgspec.json.decode(row["params"]),
                "chunks": msgspec.json.decode(row["chunks"], type=list[ChunkRef]),
            }
        )
        for row in rows
    ]
    return ModelCallPage(calls=calls, next_before=calls[-1].call_id if len(calls) == query.limit else None)
