"""Create users and API keys; verify a presented key.

A key reads ``luna_<prefix>_<secret>``. Only the prefix (to find the row) and the SHA-256 of
the whole key are stored, so a leaked database does not leak usable keys; the key itself is
shown once, when it is created. Keys are long random strings, so a fast hash is enough (no
password stretching needed), and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

import asyncpg
import msgspec

from luna_hub import audit
from luna_hub.auth import repository
from luna_hub.errors import BadRequestError, ConflictError, NotFoundError

__all__ = [
    "ApiKeyCreated",
    "Principal",
    "create_api_key",
    "create_user",
    "find_key_row",
    "hash_key",
    "verify_api_key",
]

_USERNAME: Final = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_KEY: Final = re.compile(r"^luna_([a-z0-9]{8})_[A-Za-z0-9_-]{32,}$")


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a verified key belongs to."""

    user_id: int
    username: str
    key_id: int


class ApiKeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new key: ``key`` is shown this once and never stored."""

    key_id: int
    username: str
    name: str
    key: str


def hash_key(key: str) -> str:
    """Return the stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_user(
    connection: asyncpg.Connection, username: str, display_name: str = "", *, actor: str = "cli"
) -> int:
    """Create a user (and its audit entry); 409 when the name exists."""
    if not _USERNAME.fullmatch(username):
        msg = f"invalid username {username!r}: use 1-64 of A-Z a-z 0-9 . _ @ -"
        raise BadRequestError(msg)
    async with connection.transaction():
        new_id = await repository.insert_user(connection, username, display_name)
        if new_id is None:
            msg = f"user {username!r} exists already"
            raise ConflictError(msg)
        await audit.record(connection, actor=actor, action="user.create", target=username)
    return new_id


async def create_api_key(
    connection: asyncpg.Connection, username: str, name: str, *, actor: str = "cli"
) -> ApiKeyCreated:
    """Create a key for ``username`` (and its audit entry); return it (the only time it is visible)."""
    owner = await repository.user_id(connection, username)
    if owner is None:
        msg = f"no user {username!r}: create it first (luna-hub create-user)"
        raise NotFoundError(msg)
    prefix = secrets.token_hex(4)
    key = f"luna_{prefix}_{secrets.token_urlsafe(32)}"
    async with connection.transaction():
        key_id = await repository.insert_key(connection, "api_keys", owner, name, prefix=prefix, key_hash=hash_key(key))
        details = {"key_id": key_id, "name": name, "prefix": prefix}
        await audit.record(connection, actor=actor, action="api_key.create", target=username, details=details)
    return ApiKeyCreated(key_id=key_id, username=username, name=name, key=key)


async def find_key_row(
    connection: asyncpg.Connection, table: repository.KeyTable, key: str, pattern: re.Pattern[str]
) -> asyncpg.Record | None:
    """Return the stored row of ``key`` in ``table``, or None when it is malformed, unknown or revoked.

    The row is found by the key's prefix (group 1 of ``pattern``); its hash is compared in constant time.
    """
    match = pattern.fullmatch(key)
    if match is None:
        return None
    row = await repository.find_key(connection, table, match.group(1))
    if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key)):
        return None
    return row


async def verify_api_key(connection: asyncpg.Connection, key: str) -> Principal | None:
    """Return who ``key`` belongs to, or None when it is unknown, revoked or malformed."""
    row = await find_key_row(connection, "api_keys", key, _KEY)
    if row is None:
        return None
    return Principal(user_id=row["user_id"], username=row["username"], key_id=row["key_id"])
