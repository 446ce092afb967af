"""Users and API keys: create, change, list, revoke; verify a presented key or password.

A key reads ``luna_<prefix>_<secret>``. Only the prefix (to find the row and to name the key in
lists and logs) and the SHA-256 of the whole key are stored, so a leaked database does not leak
usable keys; the key itself is shown once, when it is created. Keys are long random strings, so
a fast hash is enough (no stretching needed), and the comparison is constant-time. Passwords are
Argon2id (:mod:`luna_hub.auth.passwords`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import msgspec

from luna_hub.audit.admin_log import record_admin
from luna_hub.auth import repository
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import ApiKeyCreated, ApiKeyView, Principal, UserPatch, UserRole, UserView
from luna_hub.errors import BadRequestError, ConflictError, NotFoundError

__all__ = [
    "API_KEY_PREFIX",
    "ROLES",
    "authenticate_password",
    "create_api_key",
    "create_user",
    "find_key_row",
    "hash_key",
    "list_api_keys",
    "list_users",
    "parse_duration",
    "revoke_api_key",
    "update_user",
    "user_principal",
    "verify_api_key",
]

API_KEY_PREFIX: Final = "luna_"
_MAX_ID: Final = 2**63 - 1
_KEY_PREFIX_SHAPE: Final = re.compile(r"[0-9a-f]{8}")
"""What :func:`create_api_key` makes a key's prefix of (``secrets.token_hex(4)``); one in 40 is all digits."""
"""Key ids are PostgreSQL bigints: a larger number names no key (404), it is not a driver error (500)."""
ROLES: Final[tuple[UserRole, ...]] = ("admin", "analyst", "user")
_USERNAME: Final = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_SITE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_KEY: Final = re.compile(r"^luna_([a-z0-9]{8})_[A-Za-z0-9_-]{32,}$")
_DURATION: Final = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_MIN_PASSWORD: Final = 8


def hash_key(key: str) -> str:
    """Return the stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` as a timedelta; anything else is a 400 naming the text."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        msg = f"invalid duration {text!r}: a positive number with m, h, d or w, e.g. 90d"
        raise BadRequestError(msg)
    return int(match.group(1)) * _UNITS[match.group(2)]


def _check_user(username: str, role: str, sites: list[str] | None) -> None:
    if not _USERNAME.fullmatch(username):
        msg = f"invalid username {username!r}: use 1-64 of A-Z a-z 0-9 . _ @ -"
        raise BadRequestError(msg)
    if role not in ROLES:
        msg = f"invalid role {role!r}: admin, analyst or user"
        raise BadRequestError(msg)
    for site in sites or ():
        if not _SITE.fullmatch(site):
            msg = f"invalid site {site!r}: 1-64 of A-Z a-z 0-9 . _ : - (not starting with a symbol)"
            raise BadRequestError(msg)


def _check_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD:
        msg = f"the password is too short: at least {_MIN_PASSWORD} characters"
        raise BadRequestError(msg)


def _user_view(row: asyncpg.Record) -> UserView:
    return UserView(
        username=row["username"],
        role=row["role"],
        sites=row["sites"],
        display_name=row["display_name"],
        disabled=row["disabled"],
        has_password=row["has_password"],
        created_at=row["created_at"],
    )


async def create_user(  # noqa: PLR0913 - the user's fields
    connection: asyncpg.Connection,
    username: str,
    *,
    role: UserRole,
    sites: list[str] | None = None,
    password: str | None = None,
    passwords: Passwords | None = None,
    display_name: str = "",
    actor: str = "cli",
) -> UserView:
    """Create a user (and its audit entry); 409 when the name exists.

    ``sites`` None lets the user read every site; a role ``user`` is normally given a list.
    A user without a password signs in only with API keys.
    """
    _check_user(username, role, sites)
    password_hash = None
    if password is not None:
        _check_password(password)
        if passwords is None:
            msg = "a password needs the hub's password settings"
            raise ValueError(msg)
        password_hash = await passwords.hash(password)
    async with connection.transaction():
        new_id = await repository.insert_user(
            connection, username, display_name, role=role, sites=sites, password_hash=password_hash
        )
        if new_id is None:
            msg = f"user {username!r} exists already"
            raise ConflictError(msg)
        details = {"role": role, "sites": sites, "password": password is not None}
        await record_admin(connection, actor=actor, action="user.create", target=username, details=details)
        row = await repository.find_user(connection, username)
    assert row is not None  # noqa: S101 - inserted in this transaction
    return _user_view(row)


async def update_user(
    connection: asyncpg.Connection,
    username: str,
    patch: UserPatch,
    *,
    passwords: Passwords | None = None,
    actor: str,
) -> UserView:
    """Change a user's role, sites, disabled flag, password or name; 404 when there is no such user."""
    fields = {name: getattr(patch, name) for name in ("role", "sites", "disabled", "display_name")}
    changes: dict[str, Any] = {name: value for name, value in fields.items() if value is not msgspec.UNSET}
    if "role" in changes or "sites" in changes:
        _check_user(username, changes.get("role", "user"), changes.get("sites"))
    if isinstance(patch.password, str):
        _check_password(patch.password)
        if passwords is None:
            msg = "a password needs the hub's password settings"
            raise ValueError(msg)
        changes["password_hash"] = await passwords.hash(patch.password)
    async with connection.transaction():
        if not await repository.update_user(connection, username, changes):
            msg = f"no user {username!r}"
            raise NotFoundError(msg)
        details = {name: value for name, value in changes.items() if name != "password_hash"}
        if "password_hash" in changes:
            details["password"] = "changed"  # noqa: S105 - a note, no secret
        await record_admin(connection, actor=actor, action="user.update", target=username, details=details)
        row = await repository.find_user(connection, username)
    assert row is not None  # noqa: S101 - updated in this transaction
    return _user_view(row)


async def list_users(connection: asyncpg.Connection) -> list[UserView]:
    """Every user, by name."""
    return [_user_view(row) for row in await repository.list_users(connection)]


async def create_api_key(
    connection: asyncpg.Connection,
    username: str,
    name: str,
    *,
    expires_in: timedelta | None = None,
    actor: str = "cli",
) -> ApiKeyCreated:
    """Create a key for ``username`` (and its audit entry); return it, the only time its secret is visible.

    The key acts with its user's role and sites, as they are when it is used.
    """
    owner = await repository.user_id(connection, username)
    if owner is None:
        msg = f"no user {username!r}: create it first (luna-hub create-user)"
        raise NotFoundError(msg)
    prefix = secrets.token_hex(4)
    key = f"luna_{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
    async with connection.transaction():
        key_id = await repository.insert_key(
            connection, "api_keys", owner, name, expires_at, prefix=prefix, key_hash=hash_key(key)
        )
        details = {"key_id": key_id, "name": name, "prefix": prefix, "expires_at": expires_at}
        await record_admin(connection, actor=actor, action="api_key.create", target=username, details=details)
    return ApiKeyCreated(id=key_id, key=key, user=username, name=name, expires_at=expires_at)


async def list_api_keys(connection: asyncpg.Connection, username: str | None = None) -> list[ApiKeyView]:
    """Every API key (of ``username``), oldest first, without secrets."""
    return [ApiKeyView(**dict(row)) for row in await repository.list_api_keys(connection, username)]


async def revoke_api_key(connection: asyncpg.Connection, key: str, *, actor: str = "cli") -> ApiKeyView:
    """Revoke the key whose id or prefix is ``key``; it stops working with the next request. 404 when unknown."""
    key_id = int(key) if key.isascii() and key.isdigit() and int(key) <= _MAX_ID else None
    async with connection.transaction():
        # A prefix may be all digits: it is tried first, then the id (never both: one key is revoked).
        row = await repository.revoke_api_key(connection, None, key) if _KEY_PREFIX_SHAPE.fullmatch(key) else None
        if row is None and key_id is not None:
            row = await repository.revoke_api_key(connection, key_id, None)
        if row is None:
            msg = f"no API key with id or prefix {key!r} (luna-hub api-keys lists them)"
            raise NotFoundError(msg)
        details = {"key_id": row["id"], "prefix": row["prefix"], "name": row["name"]}
        await record_admin(connection, actor=actor, action="api_key.revoke", target=row["user"], details=details)
    return ApiKeyView(**dict(row))


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


def _principal(row: asyncpg.Record, via: Any, key_id: int | None = None) -> Principal:  # noqa: ANN401 - Credential
    sites = row["sites"]
    return Principal(
        username=row["username"],
        role=row["role"],
        sites=None if sites is None else tuple(sites),
        via=via,
        user_id=row["user_id"],
        key_id=key_id,
    )


async def verify_api_key(connection: asyncpg.Connection, key: str) -> Principal | None:
    """Return who ``key`` acts as, or None when it is unknown, revoked, expired, malformed or its user disabled."""
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    row = await repository.find_api_key(connection, match.group(1))
    if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key)):
        return None
    await repository.touch_api_key(connection, row["key_id"])
    return _principal(row, "api_key", row["key_id"])


async def user_principal(connection: asyncpg.Connection, username: str, via: Any) -> Principal | None:  # noqa: ANN401
    """Return ``username`` as a principal (role and sites as stored now), or None when unknown or disabled."""
    row = await repository.find_user(connection, username)
    if row is None or row["disabled"]:
        return None
    return _principal(row, via)


async def authenticate_password(
    connection: asyncpg.Connection, passwords: Passwords, username: str, password: str
) -> Principal | None:
    """Return the user when ``password`` is theirs (and they are enabled), else None; refresh an outdated hash.

    Unknown users cost the same Argon2 verification as a wrong password.
    """
    row = await repository.find_user(connection, username) if _USERNAME.fullmatch(username) else None
    stored = None if row is None else row["password_hash"]
    matches, outdated = await passwords.verify(stored, password)
    if not matches or row is None or row["disabled"]:
        return None
    if outdated:
        await repository.update_user(connection, username, {"password_hash": await passwords.hash(password)})
    return _principal(row, "token")
