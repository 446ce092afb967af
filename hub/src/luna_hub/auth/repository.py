"""SQL of the auth domain, and of the keys of both kinds: users' API keys and agents' keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

__all__ = ["KeyTable", "find_key", "insert_key", "insert_user", "user_id"]

KeyTable = Literal["api_keys", "agent_keys"]
"""The tables that hold keys; their SQL is built from the constants below, never from input."""


@dataclass(frozen=True)
class _KeySql:
    insert: str
    find: str


def _key_sql(keys: str, owners: str, owner_id: str, owner_detail: str, extra: tuple[str, ...] = ()) -> _KeySql:
    """Build the SQL of a key table whose rows belong to ``owners`` through ``owner_id``."""
    columns = [owner_id, *extra, "prefix", "key_hash"]
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    # S608: every name is one of the constants in _KEY_SQL; the values are bind parameters
    return _KeySql(
        insert=f"INSERT INTO {keys} ({', '.join(columns)}) VALUES ({values}) RETURNING key_id",  # noqa: S608
        find=f"SELECT k.key_id, k.key_hash, o.{owner_id}, o.{owner_detail} FROM {keys} AS k"  # noqa: S608
        f" JOIN {owners} AS o USING ({owner_id}) WHERE k.prefix = $1 AND k.revoked_at IS NULL",
    )


_KEY_SQL: Final[dict[KeyTable, _KeySql]] = {
    "api_keys": _key_sql("api_keys", "users", "user_id", "username", extra=("name",)),
    "agent_keys": _key_sql("agent_keys", "agents", "agent_id", "site_id"),
}


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


async def insert_key(
    connection: asyncpg.Connection, table: KeyTable, owner: int | str, *values: str, prefix: str, key_hash: str
) -> int:
    """Store a key's prefix and hash for ``owner``; return its id.

    ``values`` fill the table's further columns: the ``name`` of an API key, nothing for an agent key.
    """
    key_id: int = await connection.fetchval(_KEY_SQL[table].insert, owner, *values, prefix, key_hash)
    return key_id


async def find_key(connection: asyncpg.Connection, table: KeyTable, prefix: str) -> asyncpg.Record | None:
    """Return the unrevoked key with ``prefix``, its owner's id and a detail (username; agent's site), or None."""
    row: asyncpg.Record | None = await connection.fetchrow(_KEY_SQL[table].find, prefix)
    return row
