"""SQL of the admin domain: agents' credentials."""

from __future__ import annotations

import asyncpg

__all__ = ["agent_accounts", "revoke_agent_keys"]


async def agent_accounts(connection: asyncpg.Connection, agent_id: str | None = None) -> list[asyncpg.Record]:
    """Every agent (or one) with its count of unrevoked keys."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT a.agent_id, a.site_id, a.last_seen_at, a.created_at,"
        " (SELECT count(*) FROM agent_keys AS k WHERE k.agent_id = a.agent_id AND k.revoked_at IS NULL)"
        " AS active_keys FROM agents AS a WHERE $1::text IS NULL OR a.agent_id = $1 ORDER BY a.agent_id",
        agent_id,
    )
    return rows


async def revoke_agent_keys(connection: asyncpg.Connection, agent_id: str, *, keep: int | None = None) -> list[int]:
    """Revoke the agent's unrevoked keys but ``keep``; return the ids revoked."""
    rows = await connection.fetch(
        "UPDATE agent_keys SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL"
        " AND key_id IS DISTINCT FROM $2 RETURNING key_id",
        agent_id,
        keep,
    )
    return [row["key_id"] for row in rows]
