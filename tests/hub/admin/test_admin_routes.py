"""``/admin``: users, API keys and agents over HTTP; revocation takes effect on the next request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import AuthSettings, HubSettings
from support.hub import ready_client

FAST = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)


@pytest.fixture
async def admin(hub_dsn: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with ready_client(HubSettings(database_url=hub_dsn, auth=FAST)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_users_are_created_listed_and_changed(admin: AsyncTestClient[Litestar], unique: str) -> None:
    created = await admin.post(
        "/admin/users", json={"username": unique, "role": "user", "sites": ["s1"], "password": "long enough"}
    )
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None} == {
        "username": unique,
        "role": "user",
        "sites": ["s1"],
        "display_name": "",
        "disabled": False,
        "has_password": True,
        "created_at": None,
    }
    assert "password" not in created.text.replace('"has_password"', "")
    assert (await admin.post("/admin/users", json={"username": unique, "role": "user"})).status_code == 409
    bad = await admin.post("/admin/users", json={"username": "x y", "role": "root"})
    assert bad.status_code == 400
    listed = (await admin.get("/admin/users")).json()
    assert any(user["username"] == unique for user in listed)
    changed = await admin.patch(f"/admin/users/{unique}", json={"role": "analyst", "sites": None})
    assert (changed.json()["role"], changed.json()["sites"]) == ("analyst", None)
    assert (await admin.patch("/admin/users/nobody-at-all", json={"disabled": True})).status_code == 404


async def test_a_key_is_shown_once_acts_as_its_user_and_is_refused_after_revocation_or_disabling(
    admin: AsyncTestClient[Litestar], unique: str
) -> None:
    await admin.post("/admin/users", json={"username": unique, "role": "analyst"})
    created = await admin.post("/admin/api-keys", json={"user": unique, "name": "ci", "expires_in_days": 90})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "key", "user", "name", "expires_at"}
    assert (body["user"], body["name"]) == (unique, "ci")
    key = body["key"]
    assert (await admin.get("/documents", headers=bearer(key))).status_code == 200
    assert (await admin.get("/admin/users", headers=bearer(key))).status_code == 403  # an analyst
    listed = (await admin.get("/admin/api-keys", params={"user": unique})).json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert key not in str(listed)
    assert listed[0]["last_used_at"] is not None
    assert (await admin.delete(f"/admin/api-keys/{body['id']}")).status_code == 204
    assert (await admin.get("/documents", headers=bearer(key))).status_code == 401  # the very next request
    assert (await admin.delete("/admin/api-keys/99999999")).status_code == 404
    second = (await admin.post("/admin/api-keys", json={"user": unique})).json()["key"]
    await admin.patch(f"/admin/users/{unique}", json={"disabled": True})
    assert (await admin.get("/documents", headers=bearer(second))).status_code == 401
    assert (await admin.post("/admin/api-keys", json={"user": "nobody-at-all"})).status_code == 404


async def test_agents_are_created_rotated_and_retired(admin: AsyncTestClient[Litestar], unique: str) -> None:
    created = await admin.post("/admin/agents", json={"agent_id": unique, "site_id": f"{unique}-site"})
    assert created.status_code == 201, created.text
    first = created.json()["key"]
    assert first.startswith("lak_")
    # a working agent key is known (403: agents may only ingest); a revoked one is unknown (401)
    assert (await admin.get("/documents", headers=bearer(first))).status_code == 403
    rotated = await admin.post(f"/admin/agents/{unique}/rotate-key")
    assert rotated.status_code == 201
    second = rotated.json()["key"]
    assert (await admin.get("/documents", headers=bearer(first))).status_code == 401
    assert (await admin.get("/documents", headers=bearer(second))).status_code == 403
    [account] = [item for item in (await admin.get("/admin/agents")).json() if item["agent_id"] == unique]
    assert (account["site_id"], account["active_keys"]) == (f"{unique}-site", 1)
    assert (await admin.delete(f"/admin/agents/{unique}")).status_code == 204
    assert (await admin.get("/documents", headers=bearer(second))).status_code == 401
    assert (await admin.post("/admin/agents/no-such-agent/rotate-key")).status_code == 404
    moved = await admin.post("/admin/agents", json={"agent_id": unique, "site_id": "elsewhere"})
    assert moved.status_code == 409
