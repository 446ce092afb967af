"""SQL of the auth domain: users, their API keys and refresh tokens, and agents' keys (both kinds of key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import asyncpg

__all__ = [
    "KeyTable",
    "find_api_key",
    "find_key",
    "find_user",
    "insert_key",
    "insert_user",
    "list_api_keys",
    "list_users",
    "revoke_api_key",
    "touch_api_key",
    "update_user",
    "user_id",
]

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
    "api_keys": _key_sql("api_keys", "users", "user_id", "username", extra=("name", "expires_at")),
    "agent_keys": _key_sql("agent_keys", "agents", "agent_id", "site_id"),
}

_USER_COLUMNS: Final = (
    "user_id, username, role, sites, display_name, disabled, password_hash, created_at,"
    " password_hash IS NOT NULL AS has_password"
)
_API_KEY_VIEW: Final = (
    "SELECT k.key_id AS id, k.prefix, u.username AS user, k.name, k.created_at, k.expires_at, k.last_used_at,"
    " k.revoked_at FROM api_keys AS k JOIN users AS u USING (user_id)"
)


async def insert_user(  # noqa: PLR0913 - one column each
    connection: asyncpg.Connection,
    username: str,
    display_name: str,
    *,
    role: str,
    sites: list[str] | None,
    password_hash: str | None,
) -> int | None:
    """Insert a user; return its id, or None when the name is taken."""
    new_id: int | None = await connection.fetchval(
        "INSERT INTO users (username, display_name, role, sites, password_hash) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (username) DO NOTHING RETURNING user_id",
        username,
        display_name,
        role,
        sites,
        password_hash,
    )
    return new_id


async def user_id(connection: asyncpg.Connection, username: str) -> int | None:
    """Return the id of ``username``, or None."""
    found: int | None = await connection.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    return found


async def find_user(connection: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    """Return the user row of ``username`` (password hash included), or None."""
    row: asyncpg.Record | None = await connection.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1",  # noqa: S608 - constant column list
        username,
    )
    return row


async def list_users(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every user, by name."""
    rows: list[asyncpg.Record] = await connection.fetch(
        f"SELECT {_USER_COLUMNS} FROM users ORDER BY username"  # noqa: S608 - constant column list
    )
    return rows


async def update_user(connection: asyncpg.Connection, username: str, changes: dict[str, object]) -> bool:
    """Set the given columns (names from the caller's fixed set) of ``username``; False when there is none."""
    allowed = {"role", "sites", "disabled", "password_hash", "display_name"}
    names = [name for name in changes if name in allowed]
    if not names:
        return await user_id(connection, username) is not None
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    done: str = await connection.execute(
        f"UPDATE users SET {assignments} WHERE username = $1",  # noqa: S608 - names from the allowed set
        username,
        *(changes[name] for name in names),
    )
    return done != "UPDATE 0"


async def insert_key(
    connection: asyncpg.Connection, table: KeyTable, owner: int | str, *values: object, prefix: str, key_hash: str
) -> int:
    """Store a key's prefix and hash for ``owner``; return its id.

    ``values`` fill the table's further columns: ``name`` and ``expires_at`` of an API key, nothing for an agent key.
    """
    key_id: int = await connection.fetchval(_KEY_SQL[table].insert, owner, *values, prefix, key_hash)
    return key_id


async def find_key(connection: asyncpg.Connection, table: KeyTable, prefix: str) -> asyncpg.Record | None:
    """Return the unrevoked key with ``prefix``, its owner's id and a detail (username; agent's site), or None."""
    row: asyncpg.Record | None = await connection.fetchrow(_KEY_SQL[table].find, prefix)
    return row


async def find_api_key(connection: asyncpg.Connection, prefix: str) -> asyncpg.Record | None:
    """Return the usable API key with ``prefix`` (unrevoked, unexpired, its user enabled) and its user, or None."""
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT k.key_id, k.key_hash, u.user_id, u.username, u.role, u.sites FROM api_keys AS k"
        " JOIN users AS u USING (user_id) WHERE k.prefix = $1 AND k.revoked_at IS NULL"
        " AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT u.disabled",
        prefix,
    )
    return row


async def touch_api_key(connection: asyncpg.Connection, key_id: int) -> None:
    """Note the key's use (at most every 30 s, so a busy key does not write a row per request)."""
    await connection.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE key_id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '30 seconds')",
        key_id,
    )


async def list_api_keys(connection: asyncpg.Connection, username: str | None = None) -> list[asyncpg.Record]:
    """Every API key (of ``username`` when given), oldest first."""
    rows: list[asyncpg.Record] = await connection.fetch(
        _API_KEY_VIEW + " WHERE $1::text IS NULL OR u.username = $1 ORDER BY k.key_id", username
    )
    return rows


async def revoke_api_key(
    connection: asyncpg.Connection, key_id: int | None, prefix: str | None
) -> asyncpg.Record | None:
    """Revoke the key with ``key_id`` or ``prefix`` (now, or keep the earlier revocation); return it, or None."""
    row: asyncpg.Record | None = await connection.fetchrow(
        "UPDATE api_keys AS k SET revoked_at = coalesce(k.revoked_at, now()) FROM users AS u"
        " WHERE u.user_id = k.user_id AND (k.key_id = $1 OR k.prefix = $2)"
        " RETURNING k.key_id AS id, k.prefix, u.username AS user, k.name, k.created_at, k.expires_at,"
        " k.last_used_at, k.revoked_at",
        key_id,
        prefix,
    )
    return row
