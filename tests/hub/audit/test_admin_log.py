"""The admin log: admin actions and failed logins, append-only, hash-chained, verified, listed at /audit?kind=admin."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest

from luna_hub.audit.admin_log import record_admin, verify_admin_log
from luna_hub.settings import AuthSettings, HubSettings
from support.databases import fresh_database
from support.hub import migrated_pool, ready_client
from support.processes import BIN


@pytest.fixture
async def own_db(pg_admin_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with fresh_database(pg_admin_dsn) as dsn, migrated_pool(dsn) as pool:
        yield dsn, pool


async def test_admin_actions_and_failed_logins_are_chained_listed_and_verified(
    own_db: tuple[str, asyncpg.Pool],
) -> None:
    dsn, _ = own_db
    fast = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
    async with ready_client(HubSettings(database_url=dsn, auth=fast)) as admin:
        await admin.post("/admin/users", json={"username": "ivan", "role": "user", "password": "long enough"})
        key = (await admin.post("/admin/api-keys", json={"user": "ivan", "name": "k"})).json()
        await admin.delete(f"/admin/api-keys/{key['id']}")
        await admin.post("/admin/agents", json={"agent_id": "log-agent", "site_id": "log-site"})
        await admin.post("/admin/agents/log-agent/rotate-key")
        await admin.delete("/admin/agents/log-agent")
        failed = await admin.post("/auth/token", json={"username": "ivan", "password": "wrong password"})
        assert failed.status_code == 401
        page = (await admin.get("/audit", params={"kind": "admin", "limit": 1000})).json()
    actions = [entry["action"] for entry in page["entries"]][::-1]
    assert actions == [
        "user.create",  # the test client's own admin, then its key
        "api_key.create",
        "user.create",
        "api_key.create",
        "api_key.revoke",
        "agent.create",
        "agent_key.rotate",
        "agent.retire",
        "login.failed",
    ]
    assert actions[-1] == "login.failed"
    assert "wrong password" not in str(page)
    assert "key" not in str(page["entries"][-1]["details"])
    result = subprocess.run(  # noqa: ASYNC221 - the CLI, once
        [str(BIN / "luna-hub"), "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LUNA_DATABASE_URL": dsn, "LUNA_LOG__LEVEL": "WARNING"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"admin log: {len(actions)} rows, hash chain intact" in result.stdout


async def test_the_database_refuses_changes_and_verify_names_a_forged_entry(
    own_db: tuple[str, asyncpg.Pool],
) -> None:
    _, pool = own_db
    async with pool.acquire() as connection:
        for n in range(3):
            await record_admin(connection, actor="test", action="user.create", target=f"u{n}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="admin_log is append-only"):
            await connection.execute("UPDATE admin_log SET actor = 'mallory'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("TRUNCATE admin_log")
        assert (await verify_admin_log(connection)).ok
        # a superuser can switch the trigger off; the chain still tells
        await connection.execute("ALTER TABLE admin_log DISABLE TRIGGER admin_log_append_only")
        second = await connection.fetchval("SELECT entry_id FROM admin_log ORDER BY entry_id OFFSET 1 LIMIT 1")
        await connection.execute("UPDATE admin_log SET target = 'someone else' WHERE entry_id = $1", second)
        await connection.execute("ALTER TABLE admin_log ENABLE TRIGGER admin_log_append_only")
        report = await verify_admin_log(connection)
    assert (report.ok, report.broken_call_id) == (False, second)
    assert "content does not match" in report.reason
