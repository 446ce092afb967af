"""What protects browsers and the hub from them: security headers, CORS only for listed origins, bounded bodies."""

from __future__ import annotations

import pytest

from luna_hub.settings import AuthSettings, HubSettings
from support.hub import ready_client

ORIGIN = "https://dashboard.example.org"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/auth/me"), ("GET", "/no/such/route"), ("DELETE", "/health"), ("GET", "/schema")],
)
async def test_every_response_carries_the_security_headers(hub_dsn: str, method: str, path: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        response = await client.request(method, path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers  # plain HTTP; HTTPS adds it (test_tls)
    if path != "/schema":
        assert csp.startswith("default-src 'none'")


async def test_cors_is_closed_without_an_allow_list(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        preflight = await client.options("/auth/me", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
        simple = await client.get("/auth/me", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_answers_listed_origins_only(hub_dsn: str) -> None:
    settings = HubSettings(database_url=hub_dsn, auth=AuthSettings(cors_allow_origins=[ORIGIN]))
    async with ready_client(settings) as client:
        listed = await client.options(
            "/auth/me",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = await client.options(
            "/auth/me", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        read = await client.get("/auth/me", headers={"Origin": ORIGIN})
    assert listed.status_code == 204
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in listed.headers
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == ORIGIN


async def test_bodies_are_bounded_unless_a_route_declares_more(hub_dsn: str) -> None:
    megabyte = b"x" * (1 << 20)
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        admin = await client.post("/admin/users", content=megabyte + b"x", headers={"Content-Type": "application/json"})
        login = await client.post("/auth/token", content=b"x" * 5000, headers={"Content-Type": "application/json"})
        # /data/load takes files up to 10 MB: 2 MiB is read (and refused as no known format), not cut off
        lines = b"when,what\n" + b"yesterday,something\n" * (2 * megabyte.count(b"x") // 20)
        load = await client.post("/data/load", content=lines, headers={"Content-Type": "text/csv"})
        too_big = await client.post("/data/load", content=megabyte * 11, headers={"Content-Type": "text/csv"})
    assert admin.status_code == 413
    assert login.status_code == 413
    assert load.status_code == 400, load.text
    assert too_big.status_code == 413
