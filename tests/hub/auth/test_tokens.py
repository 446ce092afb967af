"""``/auth``: password logins for JWTs, rotating refresh tokens with reuse detection, expiry, throttling."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.auth.errors import ThrottledError
from luna_hub.auth.throttle import FailureStore, LoginThrottle, MemoryFailures, RedisFailures
from luna_hub.auth.tokens import jwt_secret
from luna_hub.settings import AuthSettings, CacheSettings, HubSettings
from luna_shared.errors import ConfigError
from support.hub import ready_client

PASSWORD = "correct horse battery"  # noqa: S105 - a test user's


REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Hub:
    client: AsyncTestClient[Litestar]
    user: str
    secret: str


@pytest.fixture
async def hub_with_user(hub_dsn: str, unique: str, tmp_path: Path) -> AsyncIterator[Hub]:
    auth = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1, login_free_failures=3)
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path), auth=auth)
    async with ready_client(settings) as client:
        created = await client.post(
            "/admin/users", json={"username": unique, "role": "user", "sites": ["s1"], "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        del client.headers["Authorization"]  # from here on: only what the test sends
        yield Hub(client, unique, (tmp_path / "jwt.secret").read_text().strip())


async def test_json_and_form_logins_give_a_bearer_pair_and_me_answers(hub_with_user: Hub) -> None:
    client, user = hub_with_user.client, hub_with_user.user
    by_json = await client.post("/auth/token", json={"username": user, "password": PASSWORD})
    assert by_json.status_code == 200, by_json.text
    pair = by_json.json()
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (pair["token_type"], pair["expires_in"]) == ("bearer", 900)
    by_form = await client.post("/auth/token", data={"username": user, "password": PASSWORD, "grant_type": "password"})
    assert by_form.status_code == 200
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json() == {"username": user, "role": "user", "sites": ["s1"]}
    claims = jwt.decode(pair["access_token"], hub_with_user.secret, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 900


async def test_unknown_user_and_wrong_password_get_the_same_401(hub_with_user: Hub) -> None:
    client = hub_with_user.client
    wrong = await client.post("/auth/token", json={"username": hub_with_user.user, "password": "nope nope"})
    unknown = await client.post("/auth/token", json={"username": "nobody-at-all", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "unknown user or wrong password"
    assert (await client.post("/auth/token", content=b"{")).status_code == 400


async def test_expired_forged_and_disabled_tokens_are_refused(hub_with_user: Hub, hub_dsn: str) -> None:
    client, user, secret = hub_with_user.client, hub_with_user.user, hub_with_user.secret
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode({"sub": user, "iat": past, "exp": past + timedelta(minutes=15), "typ": "access"}, secret)
    forged = jwt.encode({"sub": user, "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(minutes=5),
                         "typ": "access"}, "another secret of enough length 0123456789")  # fmt: skip
    for token in (expired, forged, "a.b.c"):
        assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    access = (await client.post("/auth/token", json={"username": user, "password": PASSWORD})).json()["access_token"]
    async with ready_client(HubSettings(database_url=hub_dsn)) as admin:
        await admin.patch(f"/admin/users/{user}", json={"disabled": True})
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})).status_code == 401


async def test_refresh_rotates_and_reusing_an_old_token_revokes_the_family(hub_with_user: Hub) -> None:
    client, user = hub_with_user.client, hub_with_user.user
    first = (await client.post("/auth/token", json={"username": user, "password": PASSWORD})).json()
    second = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    third = (await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})).json()
    reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})  # a stolen copy
    assert reused.status_code == 401
    # the whole family is gone: the newest token, held by the rightful user, no longer works either
    assert (await client.post("/auth/refresh", json={"refresh_token": third["refresh_token"]})).status_code == 401
    other = (await client.post("/auth/token", json={"username": user, "password": PASSWORD})).json()
    assert (await client.post("/auth/logout", json={"refresh_token": other["refresh_token"]})).status_code == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": "lrt_unknown"})).status_code == 401


async def test_failed_logins_are_throttled_per_user_with_retry_after(hub_with_user: Hub) -> None:
    client, user = hub_with_user.client, hub_with_user.user
    for _ in range(3):
        assert (await client.post("/auth/token", json={"username": user, "password": "wrong one"})).status_code == 401
    throttled = await client.post("/auth/token", json={"username": user, "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1


@pytest.fixture(params=["memory", "redis"])
async def failures(request: pytest.FixtureRequest) -> AsyncIterator[FailureStore]:
    """Both stores of failed logins: this process, and the real Redis on 127.0.0.1:6379 (shared by replicas)."""
    if request.param == "memory":
        yield MemoryFailures()
        return
    store = RedisFailures(REDIS_URL, f"luna-test-{uuid.uuid4().hex}:")
    try:
        yield store
    finally:
        for key in ("user:u", "address:a"):
            await store.clear(key)
        await store.close()


async def test_throttle_delays_grow_and_a_success_clears_the_user(failures: FailureStore) -> None:
    throttle = LoginThrottle(AuthSettings(login_free_failures=2, login_max_delay_s=5), failures)
    keys = ("user:u", "address:a")
    await throttle.failed(*keys)
    await throttle.check(*keys)
    await throttle.failed(*keys)
    with pytest.raises(ThrottledError, match="too many failed logins") as first:
        await throttle.check(*keys)
    await throttle.failed(*keys)
    with pytest.raises(ThrottledError, match="too many failed logins") as second:
        await throttle.check("address:a")
    assert second.value.retry_after > first.value.retry_after
    await throttle.succeeded("user:u")
    await throttle.check("user:u")


async def test_two_replicas_sharing_redis_share_the_free_attempts(hub_dsn: str, unique: str) -> None:
    auth = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1, login_free_failures=2)
    cache = CacheSettings(url=REDIS_URL, prefix=f"luna-test-{uuid.uuid4().hex}:")
    settings = HubSettings(database_url=hub_dsn, auth=auth, cache=cache)  # each replica: a data dir of its own
    async with ready_client(settings) as first, ready_client(settings) as second:
        created = await first.post(
            "/admin/users", json={"username": unique, "role": "user", "sites": ["s1"], "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        wrong = {"username": unique, "password": "wrong one"}
        assert (await first.post("/auth/token", json=wrong)).status_code == 401
        assert (await second.post("/auth/token", json=wrong)).status_code == 401
        # two failures in all, one on each replica: the third attempt waits on either
        assert (await first.post("/auth/token", json={**wrong, "password": PASSWORD})).status_code == 429
        assert (await second.post("/auth/token", json={**wrong, "password": PASSWORD})).status_code == 429
    store = RedisFailures(REDIS_URL, cache.prefix)
    await store.clear(f"user:{unique}")
    await store.clear("address:testclient")
    await store.close()


def test_the_jwt_secret_is_created_private_or_must_be_real(tmp_path: Path) -> None:
    made = jwt_secret(HubSettings(data_dir=str(tmp_path)))
    assert len(made) == 64
    assert stat.S_IMODE((tmp_path / "jwt.secret").stat().st_mode) == 0o600
    assert jwt_secret(HubSettings(data_dir=str(tmp_path))) == made
    with pytest.raises(ConfigError, match="placeholder"):
        jwt_secret(HubSettings(auth=AuthSettings(jwt_secret="change-me-change-me-change-me-change-me")))  # noqa: S106
    secret_file = tmp_path / "given.secret"
    secret_file.write_text("0123456789abcdef" * 4 + "\n")
    assert jwt_secret(HubSettings(auth=AuthSettings(jwt_secret_file=str(secret_file)))) == "0123456789abcdef" * 4
