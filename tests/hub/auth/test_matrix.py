"""The authorization matrix: every route of the served OpenAPI schema, called as every kind of caller.

A route that :data:`luna_hub.auth.policy.POLICY` does not declare fails here, so no route ships
without its rule. Allowed calls may still be refused for their content (the matrix sends minimal
requests: 400, 404, 415, 422 are fine), never with 401 or 403, and never with a 5xx.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.agents.services import create_agent
from luna_hub.auth.policy import POLICY, Rule, rule_for
from luna_hub.settings import HubSettings, MetricsSettings
from support.hub import admin_key, migrated_pool, ready_client


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: no credential
    key: str | None
    own_site: bool = True


@dataclass
class World:
    client: AsyncTestClient[Litestar]
    callers: list[Caller]
    meter: str
    site: str
    """The site of the meter, of the world's one agent and of the caller "user"."""


@pytest.fixture
async def world(hub_dsn: str, tmp_path: Path) -> AsyncIterator[World]:
    site, other, meter = (f"mx-{uuid.uuid4().hex[:8]}" for _ in range(3))
    async with migrated_pool(hub_dsn) as pool:
        async with pool.acquire() as connection:
            agent = await create_agent(connection, f"agent-{site}", site, actor="test")
            await connection.execute(
                "INSERT INTO meters (meter_id, site_id, agent_id) VALUES ($1, $2, $3)", meter, site, agent.agent_id
            )
        callers = [
            Caller("anonymous", None, None),
            Caller("agent", "agent", agent.key),
            Caller("user", "user", await admin_key(pool, "user", [site])),
            Caller("user of another site", "user", await admin_key(pool, "user", [other]), own_site=False),
            Caller("analyst", "analyst", await admin_key(pool, "analyst")),
            Caller("admin", "admin", await admin_key(pool, "admin")),
            Caller("Prometheus with the scrape token", "scraper", scrape_token := secrets.token_hex(32)),
        ]
    (tmp_path / "scrape.token").write_text(scrape_token)
    metrics = MetricsSettings(bearer_token_file=str(tmp_path / "scrape.token"))
    async with ready_client(HubSettings(database_url=hub_dsn, metrics=metrics), as_admin=False) as client:
        yield World(client, callers, meter, site)


def expected(rule: Rule, caller: Caller) -> set[str]:  # noqa: PLR0911 - one answer per kind of caller
    """``allowed`` (neither 401 nor 403), ``401`` or ``403``."""
    if rule.public:
        return {"allowed"}
    if rule.agent_key:
        return {"allowed"} if caller.role == "agent" else {"401", "403"}
    if caller.role == "scraper":  # the scrape token is no user's credential
        return {"allowed"} if rule.scrape_token else {"401"}
    if caller.role is None:
        return {"401"}
    if caller.role not in rule.roles:
        return {"403"}
    if (rule.site_query is not None or rule.site_path is not None) and not caller.own_site:
        return {"403"}
    return {"allowed"}


STREAMS = frozenset({"/admin/stream"})
"""Routes answering server-sent events: asked for a single event, so the request ends."""


def request_for(method: str, path: str, meter: str, site: str) -> dict[str, Any]:
    """A minimal request: path parameters filled (the own users' site), meters named where the rule scopes by site."""
    url = path.replace("{document_id}", "matrix-doc").replace("{name}", "nobody-here").replace("{site}", site)
    url = url.replace("{device_id}", "no-such-device").replace("{action_id}", "999999")
    url = url.replace("{key_id}", "999999").replace("{agent_id}", "no-such-agent").replace("{silence_id}", "999999")
    params: dict[str, Any] = {}
    rule = rule_for(method, path)
    if rule is not None and rule.site_query is not None:
        params = {rule.site_query: meter, "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02"}
    if path in STREAMS:
        params = {"events": 1}  # one event, then the stream ends
    if method in {"POST", "PATCH", "PUT"}:
        return {"method": method, "url": url, "params": params, "json": {}}
    return {"method": method, "url": url, "params": params}


async def test_every_served_route_is_declared_and_every_declared_route_is_served(world: World) -> None:
    schema = (await world.client.get("/schema/openapi.json")).json()
    in_schema = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    served = {  # every route of the app, those left out of the schema (HTML pages, their files) too
        (method, re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path))
        for route in world.client.app.routes
        for method in getattr(route, "methods", ())
        if method not in {"HEAD", "OPTIONS"} and not route.path.startswith("/schema")
    }
    assert in_schema <= served
    assert served - set(POLICY) == set(), "routes without an access rule in luna_hub.auth.policy.POLICY"
    assert set(POLICY) - served == set(), "rules for routes the hub does not serve"


async def test_each_caller_gets_the_declared_answer_on_every_route(world: World) -> None:
    schema = (await world.client.get("/schema/openapi.json")).json()
    failures = []
    for path, item in schema["paths"].items():
        for method in item:
            rule = POLICY[(method.upper(), path)]
            for caller in world.callers:
                headers = {} if caller.key is None else {"Authorization": f"Bearer {caller.key}"}
                response = await world.client.request(
                    **request_for(method.upper(), path, world.meter, world.site), headers=headers
                )
                got = str(response.status_code) if response.status_code in {401, 403} else "allowed"
                if response.status_code >= 500 or got not in expected(rule, caller):
                    failures.append(f"{method.upper()} {path} as {caller.name}: {response.status_code}")
    assert failures == []


async def test_a_user_reads_only_meters_of_its_sites_and_market_prices(world: World) -> None:
    by_name = {caller.name: caller for caller in world.callers}
    query = {"meter": world.meter, "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02"}
    prices = {"market": "DE-LU", "start": "2024-01-01", "end": "2024-01-02"}
    own = {"Authorization": f"Bearer {by_name['user'].key}"}
    other = {"Authorization": f"Bearer {by_name['user of another site'].key}"}
    agent = {"Authorization": f"Bearer {by_name['agent'].key}"}
    assert (await world.client.get("/data/query", params=query, headers=own)).status_code in {200, 404}  # no data
    refused = await world.client.get("/data/query", params=query, headers=other)
    assert refused.status_code == 403
    assert refused.json()["detail"] == f"meter {world.meter!r} is not at a site of yours"
    both = {**query, "meter": [world.meter, "a-meter-of-no-site"]}
    assert (await world.client.get("/data/query", params=both, headers=own)).status_code == 403
    assert (await world.client.get("/data/query", params=prices, headers=other)).status_code in {200, 404}
    assert (await world.client.get("/data/query", params=query, headers=agent)).status_code == 403
    anonymous = await world.client.get("/data/query", params=prices)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_a_user_lists_the_agents_of_its_sites_analysts_and_admins_all(world: World) -> None:
    by_name = {caller.name: caller for caller in world.callers}

    async def agents(caller: str) -> list[dict[str, Any]]:
        key = by_name[caller].key
        response = await world.client.get("/agents", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        listed: list[dict[str, Any]] = response.json()
        return listed

    [own] = await agents("user")
    assert (own["agent_id"], own["site_id"]) == (f"agent-{world.site}", world.site)
    assert await agents("user of another site") == []
    for everyone in ("analyst", "admin"):
        assert own["agent_id"] in {agent["agent_id"] for agent in await agents(everyone)}


async def test_an_unknown_credential_is_one_401(world: World) -> None:
    for credential in ("luna_abcdefgh_" + "x" * 43, "lak_" + "y" * 43, "garbage"):
        response = await world.client.get("/documents", headers={"Authorization": f"Bearer {credential}"})
        assert response.status_code == 401
        assert response.json()["detail"] == "the credential is unknown, expired or revoked"


async def test_revocation_takes_effect_on_the_next_request(world: World, hub_dsn: str) -> None:
    key = next(caller.key for caller in world.callers if caller.name == "analyst")
    assert key is not None
    headers = {"Authorization": f"Bearer {key}"}
    assert (await world.client.get("/documents", headers=headers)).status_code == 200
    connection = await asyncpg.connect(hub_dsn)
    try:
        await connection.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = $1", key.split("_")[1])
    finally:
        await connection.close()
    assert (await world.client.get("/documents", headers=headers)).status_code == 401


async def test_signed_in_users_send_events_and_get_recommendations_for_themselves_only(world: World) -> None:
    by_name = {caller.name: {"Authorization": f"Bearer {caller.key}"} for caller in world.callers}
    user, analyst = by_name["user"], by_name["analyst"]
    me = (await world.client.get("/auth/me", headers=user)).json()["username"]
    assert (await world.client.get("/recommend", params={"user_id": me}, headers=user)).status_code == 200
    for_other = {"user_id": "somebody-else"}
    assert (await world.client.get("/recommend", params=for_other, headers=user)).status_code == 403
    assert (await world.client.get("/recommend", params=for_other, headers=analyst)).status_code == 200
    other_event = {
        "events": [{"event_id": "m1", "type": "click", "item_id": "no-such-item", "ts": "2024-01-01T00:00:00Z"}]
    }
    other_event["events"][0]["user_id"] = "somebody-else"
    assert (await world.client.post("/events", json=other_event, headers=user)).status_code == 403
    # an analyst may send for others: refused only for the unknown item
    assert (await world.client.post("/events", json=other_event, headers=analyst)).status_code == 422
    items = {"items": [{"item_id": "matrix-item", "type": "article", "title": "t"}]}
    assert (await world.client.post("/items", json=items, headers=user)).status_code == 403
