"""``POST /auth/login``: a session cookie (HttpOnly, SameSite=Strict) the guard accepts, CSRF on unsafe methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import AuthSettings, HubSettings
from support.hub import ready_client

PASSWORD = "correct horse battery"  # noqa: S105 - a test user's


@dataclass
class Hub:
    client: AsyncTestClient[Litestar]
    admin_key: str
    user: str


@pytest.fixture
async def hub_with_admin(hub_dsn: str, unique: str, tmp_path: Path) -> AsyncIterator[Hub]:
    auth = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path), auth=auth)
    async with ready_client(settings) as client:
        created = await client.post("/admin/users", json={"username": unique, "role": "admin", "password": PASSWORD})
        assert created.status_code == 201, created.text
        key = client.headers.pop("Authorization").removeprefix("Bearer ")
        yield Hub(client, key, unique)


def _set_cookies(headers: list[str]) -> dict[str, str]:
    """The Set-Cookie lines by cookie name."""
    return {line.split("=", 1)[0]: line for line in headers}


async def test_login_sets_an_httponly_strict_session_that_the_guard_accepts(hub_with_admin: Hub) -> None:
    client, user = hub_with_admin.client, hub_with_admin.user
    login = await client.post("/auth/login", data={"username": user, "password": PASSWORD})
    assert login.status_code == 200, login.text
    body = login.json()
    assert set(body) == {"username", "csrf_token", "expires_in"}
    cookies = _set_cookies(login.headers.get_list("set-cookie"))
    session = cookies["luna_session"].lower()
    assert "httponly" in session
    assert "samesite=strict" in session
    assert "secure" not in session  # no TLS here and auth.cookie_secure unset
    assert "path=/auth" in cookies["luna_refresh"].lower()
    assert "httponly" not in cookies["luna_csrf"].lower()  # the page reads it
    assert "access_token" not in body

    me = await client.get("/auth/me")  # the client sends the cookies back
    assert me.status_code == 200
    assert me.json()["username"] == user


async def test_unsafe_cookie_requests_need_the_csrf_token_and_bearer_calls_do_not(hub_with_admin: Hub) -> None:
    client, user = hub_with_admin.client, hub_with_admin.user
    csrf = (await client.post("/auth/login", data={"username": user, "password": PASSWORD})).json()["csrf_token"]
    new_user = {"username": f"{user}-x", "role": "user"}
    without = await client.post("/admin/users", json=new_user)
    forged = await client.post("/admin/users", json=new_user, headers={"X-CSRF-Token": "0" * 64})
    assert without.status_code == forged.status_code == 403
    assert "x-csrf-token" in without.json()["detail"]
    with_token = await client.post("/admin/users", json=new_user, headers={"X-CSRF-Token": csrf})
    assert with_token.status_code == 201, with_token.text

    bearer = {"Authorization": f"Bearer {hub_with_admin.admin_key}"}  # header credential: cookies ignored, no CSRF
    other = await client.post("/admin/users", json={"username": f"{user}-y", "role": "user"}, headers=bearer)
    assert other.status_code == 201


async def test_refresh_by_cookie_and_logout_clears_the_session(hub_with_admin: Hub) -> None:
    client, user = hub_with_admin.client, hub_with_admin.user
    await client.post("/auth/login", json={"username": user, "password": PASSWORD})
    old_refresh = client.cookies["luna_refresh"]
    refreshed = await client.post("/auth/refresh")
    assert refreshed.status_code == 200
    assert client.cookies["luna_refresh"] != old_refresh
    assert (await client.get("/auth/me")).status_code == 200

    out = await client.post("/auth/logout")
    assert out.status_code == 204
    cleared = SimpleCookie()
    for line in out.headers.get_list("set-cookie"):
        cleared.load(line)
    assert {name: morsel["max-age"] for name, morsel in cleared.items()} == {
        "luna_session": "0",
        "luna_refresh": "0",
        "luna_csrf": "0",
    }
    assert (await client.get("/auth/me")).status_code == 401
    replay = await client.post("/auth/refresh", json={"refresh_token": client.cookies.get("luna_refresh") or "x"})
    assert replay.status_code == 401


async def test_cookie_is_secure_when_configured(hub_dsn: str, unique: str, tmp_path: Path) -> None:
    auth = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1, cookie_secure=True)
    async with ready_client(HubSettings(database_url=hub_dsn, data_dir=str(tmp_path), auth=auth)) as client:
        await client.post("/admin/users", json={"username": unique, "role": "user", "password": PASSWORD})
        del client.headers["Authorization"]
        login = await client.post("/auth/login", data={"username": unique, "password": PASSWORD})
        wrong = await client.post("/auth/login", data={"username": unique, "password": "nope"})
    assert all("secure" in line.lower() for line in login.headers.get_list("set-cookie"))
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
