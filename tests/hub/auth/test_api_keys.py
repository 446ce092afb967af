"""API keys: verification and the guard on the /data endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from luna_hub.auth.services import create_api_key, create_user, verify_api_key
from luna_hub.problems import PROBLEM_JSON
from luna_hub.settings import HubSettings
from support.hub import migrated_pool, ready_client


@pytest.fixture
async def db(hub_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        yield connection


async def test_a_created_key_verifies_and_a_forged_one_does_not(db: asyncpg.Connection, unique: str) -> None:
    await create_user(db, unique)
    created = await create_api_key(db, unique, "test")
    principal = await verify_api_key(db, created.key)
    assert principal is not None
    assert principal.username == unique
    prefix = created.key.split("_")[1]
    forged = f"luna_{prefix}_{'A' * 43}"
    assert await verify_api_key(db, forged) is None
    assert await verify_api_key(db, "not a key") is None
    await db.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", created.key_id)
    assert await verify_api_key(db, created.key) is None


async def test_guard_enforces_keys_on_data_endpoints_when_required(
    hub_dsn: str, db: asyncpg.Connection, unique: str
) -> None:
    await create_user(db, unique)
    key = (await create_api_key(db, unique, "guard")).key
    query = {"market": "DE-LU", "start": "2024-01-01", "end": "2024-01-02"}
    async with ready_client(HubSettings(database_url=hub_dsn, require_api_key=True)) as client:
        assert (await client.get("/health")).status_code == 200  # stays open
        anonymous = await client.get("/data/query", params=query)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == PROBLEM_JSON
        assert "needs an API key" in anonymous.json()["detail"]
        wrong = await client.get("/data/query", params=query, headers={"Authorization": "Bearer luna_x_y"})
        assert wrong.status_code == 401
        bearer = await client.get("/data/query", params=query, headers={"Authorization": f"Bearer {key}"})
        assert bearer.status_code == 200
        header = await client.post("/data/load", content=b"", headers={"X-API-Key": key})
        assert header.status_code == 400  # past the guard: an empty file is malformed
        body = f"meter_id,metric,ts,value\n{unique},power_w,2024-01-01T00:00:00Z,1\n".encode()
        loaded = await client.post("/data/load", content=body, params={"name": unique}, headers={"X-API-Key": key})
        assert loaded.json()["stored"] == 1
    entry = await db.fetchrow(
        "SELECT actor, action, details FROM audit_log WHERE target = $1 AND action = 'data.load'", unique
    )
    assert (entry["actor"], entry["action"]) == (unique, "data.load")  # the key's user is the actor
    assert '"stored": 1' in entry["details"]
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        assert (await client.get("/data/query", params=query)).status_code == 200  # default: keys optional
