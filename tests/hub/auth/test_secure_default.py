"""Secure by default: auth is required unless the hub listens on loopback only; the demo's admin key."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import msgspec
import pytest

from luna_hub.app import create_app
from luna_hub.demo import provision_demo_admin
from luna_hub.settings import AuthSettings, HubSettings, ServerSettings
from luna_shared.errors import ConfigError
from luna_shared.process import is_loopback
from support.hub import migrated_pool, ready_client
from support.processes import BIN


def test_auth_is_required_by_default() -> None:
    assert HubSettings().auth.required is True


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                                ("127.0.0.2", True), ("0.0.0.0", False), ("::", False),  # noqa: S104
                                                ("192.168.1.5", False), ("hub.example", False)])  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_open_hub_on_a_reachable_address_refuses_to_be_built(tmp_path: Path) -> None:
    settings = HubSettings(
        database_url="postgresql://unused/db",
        data_dir=str(tmp_path),
        server=ServerSettings(host="0.0.0.0"),  # noqa: S104 - the point of the test
        auth=AuthSettings(required=False),
    )
    with pytest.raises(
        ConfigError, match=r"auth\.required'.*only while the hub listens on loopback, not on 0\.0\.0\.0"
    ):
        create_app(settings)
    create_app(msgspec.structs.replace(settings, auth=AuthSettings()))  # with auth: fine anywhere


def refused_start(tmp_path: Path, *args: str, **env: str) -> list[str]:
    """Run ``luna-hub serve`` with ``args`` and ``env``; return its stderr lines once it stopped with exit 2."""
    result = subprocess.run(
        [str(BIN / "luna-hub"), "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env, "LUNA_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before starting a database
    return result.stderr.splitlines()


def test_serve_refuses_to_start_open_on_a_reachable_address_with_one_line(tmp_path: Path) -> None:
    stderr = refused_start(tmp_path, "--host", "0.0.0.0", LUNA_AUTH__REQUIRED="false")  # noqa: S104 - refused
    assert stderr == [
        (
            "luna-hub: configuration error: LUNA_AUTH__REQUIRED: key 'auth.required': false is allowed only while"
            " the hub listens on loopback, not on 0.0.0.0: create an admin key (luna-hub create-user,"
            " create-api-key) instead"
        )
    ]


async def test_open_on_loopback_runs_as_anonymous_admin_but_still_checks_a_sent_key(hub_dsn: str) -> None:
    settings = HubSettings(database_url=hub_dsn, auth=AuthSettings(required=False))
    async with ready_client(settings, as_admin=False) as client:
        assert (await client.get("/agents")).status_code == 200
        wrong = await client.get("/agents", headers={"Authorization": "Bearer luna_abcdefgh_" + "x" * 43})
        assert wrong.status_code == 401


async def test_the_demo_admin_key_is_private_reused_and_replaced_when_revoked(hub_dsn: str, tmp_path: Path) -> None:
    async with migrated_pool(hub_dsn) as pool:
        path = await provision_demo_admin(pool, tmp_path)
        key = path.read_text().strip()
        assert path == tmp_path / "admin.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (await provision_demo_admin(pool, tmp_path)).read_text().strip() == key
        async with pool.acquire() as connection:
            await connection.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = $1", key.split("_")[1])
        assert (await provision_demo_admin(pool, tmp_path)).read_text().strip() != key
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        fresh = path.read_text().strip()
        assert (await client.get("/agents", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


def test_a_session_cookie_without_secure_is_refused_when_the_hub_serves_tls(tmp_path: Path) -> None:
    tls = ServerSettings(tls_cert=str(tmp_path / "hub.crt"), tls_key=str(tmp_path / "hub.key"))
    with pytest.raises(ValueError, match=r"auth\.cookie_secure = false while the hub serves TLS"):
        HubSettings(server=tls, auth=AuthSettings(cookie_secure=False))
    HubSettings(server=tls, auth=AuthSettings(cookie_secure=True))
    HubSettings(server=tls)  # the default: Secure with TLS
    HubSettings(auth=AuthSettings(cookie_secure=False))  # plain HTTP on loopback, e.g. a local dashboard


def test_serve_with_tls_and_cookie_secure_false_stops_with_one_line(tmp_path: Path) -> None:
    stderr = refused_start(
        tmp_path,
        LUNA_AUTH__COOKIE_SECURE="false",
        LUNA_SERVER__TLS_CERT=str(tmp_path / "hub.crt"),
        LUNA_SERVER__TLS_KEY=str(tmp_path / "hub.key"),
    )
    assert stderr == [
        (
            "luna-hub: configuration error: settings (defaults and environment): auth.cookie_secure = false while"
            " the hub serves TLS (server.tls_cert is set): browsers would send the session cookie over plain HTTP"
            " too; remove auth.cookie_secure (with TLS it is on)"
        )
    ]
