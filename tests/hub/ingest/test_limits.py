"""Limits of ``POST /data/load``: body size (413 that says the limit and the way around it) and CSV width (issue 16)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.problems import PROBLEM_JSON
from luna_hub.settings import HubSettings, LoadSettings
from support.hub import ready_client

Client = AsyncTestClient[Litestar]


async def test_a_body_beyond_the_default_limit_is_413_naming_it_and_the_cli(hub: Client) -> None:
    response = await hub.post("/data/load", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    detail = response.json()["detail"]
    assert "load.max_body_bytes (10485760 bytes)" in detail
    assert "luna-hub load FILE" in detail


async def test_the_limit_is_a_setting(hub_dsn: str, unique: str) -> None:
    body = b"ts,price\n2024-01-01T00:00:00Z,1.5\n2024-01-01T01:00:00Z,2.5\n"
    settings = HubSettings(database_url=hub_dsn, load=LoadSettings(max_body_bytes=len(body)))

    async with ready_client(settings) as client:
        fits = await client.post("/data/load", content=body, params={"market": unique})
        over = await client.post("/data/load", content=body + b"\n", params={"market": unique})
    assert fits.status_code == 200, fits.text
    assert over.status_code == 413, over.text
    assert f"load.max_body_bytes ({len(body)} bytes)" in over.json()["detail"]
