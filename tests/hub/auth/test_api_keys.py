"""Users and API keys: roles, sites, Argon2id passwords (rehashed when the parameters change), key lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import asyncpg
import pytest

from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import UserPatch
from luna_hub.auth.services import (
    authenticate_password,
    create_api_key,
    create_user,
    list_api_keys,
    list_users,
    parse_duration,
    revoke_api_key,
    update_user,
    verify_api_key,
)
from luna_hub.errors import BadRequestError, ConflictError, NotFoundError
from luna_hub.settings import AuthSettings
from support.hub import migrated_pool

FAST = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
"""Cheap Argon2id parameters: the tests hash many passwords on shared cores."""


@pytest.fixture
async def db(hub_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        yield connection


async def test_a_created_key_verifies_with_its_users_role_and_sites_and_a_forged_one_does_not(
    db: asyncpg.Connection, unique: str
) -> None:
    await create_user(db, unique, role="user", sites=["site-a"])
    created = await create_api_key(db, unique, "test")
    principal = await verify_api_key(db, created.key)
    assert principal is not None
    assert (principal.username, principal.role, principal.sites, principal.via) == (
        unique,
        "user",
        ("site-a",),
        "api_key",
    )
    assert principal.may_read_site("site-a")
    assert not principal.may_read_site("site-b")
    assert not principal.may_read_site(None)
    prefix = created.key.split("_")[1]
    assert await verify_api_key(db, f"luna_{prefix}_{'A' * 43}") is None
    assert await verify_api_key(db, "not a key") is None


async def test_only_the_hash_is_stored_and_last_use_is_recorded(db: asyncpg.Connection, unique: str) -> None:
    await create_user(db, unique, role="analyst")
    created = await create_api_key(db, unique, "grafana")
    stored = await db.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", created.id)
    assert created.key not in [str(value) for value in stored.values()]
    assert stored["last_used_at"] is None
    await verify_api_key(db, created.key)
    [listed] = await list_api_keys(db, unique)
    assert (listed.id, listed.name, listed.user, listed.revoked_at) == (created.id, "grafana", unique, None)
    assert listed.prefix == created.key.split("_")[1]
    assert listed.last_used_at is not None


async def test_revocation_by_id_or_prefix_and_expiry_stop_a_key(db: asyncpg.Connection, unique: str) -> None:
    await create_user(db, unique, role="user", sites=[])
    by_id, by_prefix = await create_api_key(db, unique, "a"), await create_api_key(db, unique, "b")
    await revoke_api_key(db, str(by_id.id))
    await revoke_api_key(db, by_prefix.key.split("_")[1])
    assert await verify_api_key(db, by_id.key) is None
    assert await verify_api_key(db, by_prefix.key) is None
    with pytest.raises(NotFoundError, match="no API key with id or prefix 'nope'"):
        await revoke_api_key(db, "nope")
    soon = await create_api_key(db, unique, "short", expires_in=timedelta(days=90))
    assert soon.expires_at is not None
    assert await verify_api_key(db, soon.key) is not None
    await db.execute("UPDATE api_keys SET expires_at = now() - interval '1 s' WHERE key_id = $1", soon.id)
    assert await verify_api_key(db, soon.key) is None


async def test_a_prefix_of_digits_is_revoked_as_a_prefix_not_read_as_an_id(db: asyncpg.Connection, unique: str) -> None:
    await create_user(db, unique, role="user", sites=[])
    digits, other = await create_api_key(db, unique, "digits"), await create_api_key(db, unique, "other")
    prefix = f"{other.id:08d}"[-8:]  # the very id of the other key, written as a prefix
    await db.execute("UPDATE api_keys SET prefix = $2 WHERE key_id = $1", digits.id, prefix)
    revoked = await revoke_api_key(db, prefix)
    assert revoked.id == digits.id
    assert await verify_api_key(db, other.key) is not None  # the key with that id still works
    assert (await revoke_api_key(db, str(other.id))).id == other.id  # an id that is no prefix: the id


async def test_a_disabled_user_s_keys_stop_and_role_changes_apply_at_once(db: asyncpg.Connection, unique: str) -> None:
    await create_user(db, unique, role="user", sites=["s1"])
    key = (await create_api_key(db, unique, "k")).key
    await update_user(db, unique, UserPatch(role="analyst", sites=None), actor="test")
    principal = await verify_api_key(db, key)
    assert principal is not None
    assert (principal.role, principal.sites) == ("analyst", None)
    await update_user(db, unique, UserPatch(disabled=True), actor="test")
    assert await verify_api_key(db, key) is None
    with pytest.raises(NotFoundError):
        await update_user(db, f"{unique}-missing", UserPatch(disabled=True), actor="test")


async def test_user_names_roles_and_sites_are_checked(db: asyncpg.Connection, unique: str) -> None:
    with pytest.raises(BadRequestError, match="invalid username"):
        await create_user(db, "no spaces", role="user")
    with pytest.raises(BadRequestError, match="invalid role"):
        await create_user(db, unique, role="root")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="invalid site"):
        await create_user(db, unique, role="user", sites=["../etc"])
    await create_user(db, unique, role="admin")
    with pytest.raises(ConflictError, match="exists already"):
        await create_user(db, unique, role="admin")
    with pytest.raises(NotFoundError, match="create it first"):
        await create_api_key(db, f"{unique}-missing", "k")
    assert any(user.username == unique and user.role == "admin" for user in await list_users(db))


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    hasher = Passwords(FAST)
    yield hasher
    hasher.close()


async def test_passwords_are_argon2id_and_rehashed_at_login_when_the_parameters_change(
    db: asyncpg.Connection, unique: str, passwords: Passwords
) -> None:
    await create_user(db, unique, role="user", password="correct horse", passwords=passwords)  # noqa: S106
    stored = await db.fetchval("SELECT password_hash FROM users WHERE username = $1", unique)
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert await authenticate_password(db, passwords, unique, "wrong horse") is None
    assert await authenticate_password(db, passwords, f"{unique}-nobody", "correct horse") is None
    assert await db.fetchval("SELECT password_hash FROM users WHERE username = $1", unique) == stored
    stronger = Passwords(AuthSettings(password_time_cost=2, password_memory_kib=16, password_parallelism=1))
    principal = await authenticate_password(db, stronger, unique, "correct horse")
    stronger.close()
    assert principal is not None
    assert principal.username == unique
    rehashed = await db.fetchval("SELECT password_hash FROM users WHERE username = $1", unique)
    assert rehashed.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert await authenticate_password(db, stronger, unique, "correct horse") is not None
    stronger.close()
    with pytest.raises(BadRequestError, match="too short"):
        await create_user(db, f"{unique}-2", role="user", password="short", passwords=passwords)  # noqa: S106


@pytest.mark.parametrize(("text", "expected"), [("90d", timedelta(days=90)), ("12h", timedelta(hours=12))])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "0d", "-1d", "1y", "ninety days"])
def test_bad_durations_name_the_text(text: str) -> None:
    with pytest.raises(BadRequestError, match="invalid duration"):
        parse_duration(text)
