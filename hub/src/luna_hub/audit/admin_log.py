"""The admin log: every change of users, keys and agents and every failed login, hash-chained.

Each row holds the hash of the row before it and of its own content (as the model audit log
does), written under a lock so the rows form one chain in ``entry_id`` order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import msgspec

from luna_hub.audit.chain import chain_hash, verify_chain
from luna_hub.audit.repository import GENESIS
from luna_hub.audit.schemas import AdminEntry, VerifyReport

__all__ = ["list_admin_entries", "record_admin", "verify_admin_log"]

_HASHED: Final = ("at", "actor", "action", "target", "details")


async def record_admin(
    connection: asyncpg.Connection, *, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
) -> None:
    """Append an entry; inside the caller's transaction when there is one (both or neither stay)."""
    async with connection.transaction():
        await connection.execute("LOCK TABLE admin_log IN SHARE ROW EXCLUSIVE MODE")
        details_text: str = await connection.fetchval(
            "SELECT $1::jsonb::text", msgspec.json.encode(details or {}).decode()
        )
        prev: str = (
            await connection.fetchval("SELECT row_hash FROM admin_log ORDER BY entry_id DESC LIMIT 1") or GENESIS
        )
        values = {"at": datetime.now(UTC), "actor": actor, "action": action, "target": target, "details": details_text}
        await connection.execute(
            "INSERT INTO admin_log (at, actor, action, target, details, prev_hash, row_hash)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)",
            values["at"], actor, action, target, details_text, prev, chain_hash(prev, values, _HASHED),
        )  # fmt: skip


async def verify_admin_log(connection: asyncpg.Connection) -> VerifyReport:
    """Recompute the chain; report the first entry whose link or content does not match."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        entries = connection.cursor(
            "SELECT entry_id, at, actor, action, target, details::text AS details, prev_hash, row_hash"
            " FROM admin_log ORDER BY entry_id"
        )
        return await verify_chain(entries.__aiter__(), id_column="entry_id", columns=_HASHED, noun="entry")


async def list_admin_entries(pool: asyncpg.Pool, *, before: int | None, limit: int) -> list[AdminEntry]:
    """Entries newest first, older than ``before``."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT entry_id, at, actor, action, target, details::text AS details, prev_hash, row_hash"
            " FROM admin_log WHERE $1::bigint IS NULL OR entry_id < $1 ORDER BY entry_id DESC LIMIT $2",
            before,
            limit,
        )
    return [AdminEntry(**{**dict(row), "details": msgspec.json.decode(row["details"])}) for row in rows]
