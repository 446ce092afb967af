"""SQL of the auth domain."""

from __future__ import annotations

import asyncpg

__all__ = ["find_key", "insert_key", "insert_user", "user_id"]


async def insert_user(connection: asyncpg.Connection, username: str, display_name: str) -> int | None:
    """Insert a user; return its id, or None when the name is taken."""
    new_id: int | None = await connection.fetchval(
        "INSERT INTO users (username, display_name) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING"
        " RETURNING user_id",
        username,
        display_name,
    )
    return new_id


async def user_id(connection: asyncpg.Connection, username: str) -> int | None:
    """Return the id of ``username``, or None."""
    found: int | None = await connection.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    return found


async def insert_key(connection: asyncpg.Connection, owner: int, name: str, prefix: str, key_hash: str) -> int:
    """Store a key's prefix and hash; return its id."""
    key_id: int = await connection.fetchval(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4) RETURNING key_id",
        owner,
        name,
        prefix,
        key_hash,
    )
    return key_id


async def find_key(connection: asyncpg.Connection, prefix: str) -> asyncpg.Record | None:
    """Return the unrevoked key with ``prefix`` and its owner, or None."""
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT k.key_id, k.key_hash, u.user_id, u.username FROM api_keys AS k JOIN users AS u USING (user_id)"
        " WHERE k.prefix = $1 AND k.revoked_at IS NULL",
        prefix,
    )
    return row
