"""Access tokens (short-lived JWT, HS256) and refresh tokens that rotate on every use.

A refresh token reads ``lrt_<secret>``; only its SHA-256 is stored, with the family it belongs
to. Each use marks it used and issues the next token of the family; a used (or revoked) token
presented again means someone kept a copy, so the whole family is revoked and both holders must
sign in again. Failed logins are throttled per user and per client address (:mod:`luna_hub.auth.throttle`).
"""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import asyncpg
import jwt

from luna_hub.audit.admin_log import record_admin
from luna_hub.auth.errors import CredentialsError
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import Principal, TokenPair
from luna_hub.auth.services import authenticate_password, hash_key
from luna_hub.auth.throttle import LoginThrottle
from luna_hub.settings import AuthSettings, HubSettings
from luna_shared.errors import ConfigError

__all__ = [
    "family_of",
    "issue_pair",
    "jwt_secret",
    "login",
    "read_access_token",
    "revoke_family",
    "rotate_refresh_token",
]

_ALGORITHM: Final = "HS256"
_REFRESH_PREFIX: Final = "lrt_"
_SECRET_FILE: Final = "jwt.secret"  # noqa: S105 - a file name
_PLACEHOLDERS: Final = ("change", "secret", "example", "placeholder", "xxxx")


def jwt_secret(settings: HubSettings) -> str:
    """Return the key that signs access tokens: from settings, a secret file, or one the hub keeps in its data dir."""
    auth = settings.auth
    if auth.jwt_secret is not None:
        secret = auth.jwt_secret
    elif auth.jwt_secret_file is not None:
        try:
            secret = Path(auth.jwt_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("auth.jwt_secret_file", "auth.jwt_secret_file", exc.strerror or str(exc)) from exc
    else:
        return _local_secret(Path(settings.data_dir) / _SECRET_FILE)
    if len(secret) < 32 or any(word in secret.lower() for word in _PLACEHOLDERS):  # noqa: PLR2004
        problem = "missing, short or a placeholder: use 32+ random characters (openssl rand -hex 32)"
        raise ConfigError("LUNA_AUTH__JWT_SECRET", "auth.jwt_secret", problem)
    return secret


def _local_secret(path: Path) -> str:
    """Read the secret kept in ``path``, creating it (mode 0600) on first use."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    return secret


def _access_token(username: str, secret: str, minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": username, "iat": now, "exp": now + timedelta(minutes=minutes), "typ": "access"}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_access_token(token: str, secret: str) -> str | None:
    """Return the user an access token was issued to, or None when it is forged, expired or not one."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "iat"]})
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if claims.get("typ") == "access" and isinstance(subject, str) else None


async def issue_pair(
    connection: asyncpg.Connection,
    principal: Principal,
    secret: str,
    settings: AuthSettings,
    *,
    family: uuid.UUID | None = None,
) -> TokenPair:
    """Issue an access token and a refresh token (of ``family``, or a new family at login)."""
    refresh = _REFRESH_PREFIX + secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)"
        " VALUES ($1, $2, $3, now() + $4::interval)",
        family or uuid.uuid4(),
        principal.user_id,
        hash_key(refresh),
        timedelta(days=settings.refresh_token_days),
    )
    return TokenPair(
        access_token=_access_token(principal.username, secret, settings.access_token_minutes),
        expires_in=settings.access_token_minutes * 60,
        refresh_token=refresh,
    )


async def revoke_family(connection: asyncpg.Connection, family: uuid.UUID) -> None:
    """Revoke every token of a family (logout, or a reused token)."""
    await connection.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL", family
    )


_INVALID: Final = "the refresh token is unknown, expired or revoked: sign in again"


async def rotate_refresh_token(
    connection: asyncpg.Connection, token: str, secret: str, settings: AuthSettings
) -> TokenPair:
    """Trade a refresh token for a new pair; a used one presented again revokes its family (401 either way)."""
    async with connection.transaction():
        row = await connection.fetchrow(
            "SELECT t.token_id, t.family_id, t.used_at, t.revoked_at, t.expires_at < now() AS expired,"
            " u.user_id, u.username, u.role, u.sites, u.disabled FROM refresh_tokens AS t"
            " JOIN users AS u USING (user_id) WHERE t.token_hash = $1 FOR UPDATE OF t",
            hash_key(token),
        )
        if row is None:
            raise CredentialsError(_INVALID)
        if row["used_at"] is not None or row["revoked_at"] is not None:
            if row["revoked_at"] is None:  # reuse of a live family: someone else holds a copy
                await revoke_family(connection, row["family_id"])
                details = {"family": str(row["family_id"])}
                await record_admin(
                    connection, actor=row["username"], action="refresh_token.reuse", target=row["username"],
                    details=details,
                )  # fmt: skip
            reject = True
        else:
            reject = row["expired"] or row["disabled"]
            if not reject:
                await connection.execute(
                    "UPDATE refresh_tokens SET used_at = now() WHERE token_id = $1", row["token_id"]
                )
        if not reject:
            sites = row["sites"]
            principal = Principal(
                username=row["username"],
                role=row["role"],
                sites=None if sites is None else tuple(sites),
                via="token",
                user_id=row["user_id"],
            )
            return await issue_pair(connection, principal, secret, settings, family=row["family_id"])
    raise CredentialsError(_INVALID)  # after the transaction: a revoked family stays revoked


async def family_of(connection: asyncpg.Connection, token: str) -> uuid.UUID | None:
    """Return the family of a refresh token, or None."""
    found: uuid.UUID | None = await connection.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", hash_key(token)
    )
    return found


async def login(  # noqa: PLR0913 - the login's parts
    connection: asyncpg.Connection,
    passwords: Passwords,
    throttle: LoginThrottle,
    *,
    username: str,
    password: str,
    address: str,
    secret: str,
    settings: AuthSettings,
) -> TokenPair:
    """Check a password login (throttled) and issue a new token family; one 401 for every kind of failure."""
    keys = (f"user:{username}", f"address:{address}")
    await throttle.check(*keys)
    principal = await authenticate_password(connection, passwords, username, password)
    if principal is None:
        await throttle.failed(*keys)
        details = {"address": address}
        await record_admin(connection, actor="anonymous", action="login.failed", target=username[:64], details=details)
        msg = "unknown user or wrong password"
        raise CredentialsError(msg)
    await throttle.succeeded(keys[0])
    async with connection.transaction():
        return await issue_pair(connection, principal, secret, settings)
