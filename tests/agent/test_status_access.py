"""The status API: open on loopback; bound elsewhere only with a token file, and then only with the token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from luna_agent.api import create_app
from luna_agent.settings import AgentSettings, StatusApiSettings
from luna_shared.errors import ConfigError
from support.processes import BIN, free_port

TOKEN = "status-token-0123456789abcdef"  # noqa: S105 - the test's


async def test_loopback_needs_no_token(tmp_path: Path) -> None:
    assert StatusApiSettings().host == "127.0.0.1"
    async with AsyncTestClient(create_app(AgentSettings(data_dir=str(tmp_path)))) as client:
        assert (await client.get("/status")).status_code == 200


async def test_elsewhere_every_route_but_health_needs_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "status.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    api = StatusApiSettings(host="0.0.0.0", token_file=str(token_file))  # noqa: S104 - what is tested
    async with AsyncTestClient(create_app(AgentSettings(data_dir=str(tmp_path), status_api=api))) as client:
        assert (await client.get("/health")).status_code == 200
        refused = await client.get("/status")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        allowed = await client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert allowed.status_code == 200


def test_elsewhere_without_a_token_file_is_refused(tmp_path: Path) -> None:
    api = StatusApiSettings(host="192.0.2.10")
    with pytest.raises(ConfigError, match="reachable from other machines"):
        create_app(AgentSettings(data_dir=str(tmp_path), status_api=api))
    missing = StatusApiSettings(host="192.0.2.10", token_file=str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(AgentSettings(data_dir=str(tmp_path), status_api=missing))


def test_run_on_a_public_address_without_a_token_stops_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    result = subprocess.run(
        [str(BIN / "luna-agent"), "run", "-c", str(config), "--host", "0.0.0.0", "--port", str(free_port())],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "status_api.token_file" in lines[0]
    assert "0.0.0.0" in lines[0]  # noqa: S104 - the address named
