"""The hub application against a real PostgreSQL: health, problem responses, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.testing import AsyncTestClient

from luna_hub.app import create_app
from luna_hub.errors import ConflictError, NotFoundError
from luna_hub.health import check_database
from luna_hub.problems import PROBLEM_JSON, exception_handlers
from luna_hub.settings import HubSettings
from support.databases import fresh_database
from support.hub import migrated_pool, ready_client
from support.processes import free_port


@pytest.fixture
async def client(hub_dsn: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with ready_client(HubSettings(database_url=hub_dsn)) as test_client:
        yield test_client


async def test_health_reports_the_database_version(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"].startswith("PostgreSQL ")


async def test_health_is_503_problem_while_the_database_is_unreachable(tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    settings = HubSettings(database_url=unreachable, data_dir=str(tmp_path))  # not the checkout's var/
    async with AsyncTestClient(create_app(settings)) as test_client:
        response = await test_client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 503
    assert problem["title"] == "Service unavailable"
    assert problem["detail"].startswith("database unreachable")
    assert problem["instance"] == "/health"


async def test_unknown_route_is_a_404_problem(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["title"] == "Not Found"


async def test_openapi_schema_is_served(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert {"/health", "/data/load", "/data/query", "/data/completeness"} <= set(response.json()["paths"])


@get("/missing")
async def missing() -> None:
    raise NotFoundError("meter 'm9' does not exist")


@get("/conflict")
async def conflict() -> None:
    raise ConflictError("agent 'a1' belongs to another site")


@get("/crash")
async def crash() -> None:
    raise RuntimeError("secret internals")


@get("/typed")
async def typed(count: FromQuery[int]) -> int:
    return count


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/missing", 404, "meter 'm9' does not exist"),
        ("/conflict", 409, "agent 'a1' belongs to another site"),
        ("/crash", 500, "the hub failed to handle this request; see its log"),
    ],
)
async def test_errors_map_to_problem_json_in_one_place(path: str, status: int, detail: str) -> None:
    app = Litestar([missing, conflict, crash], exception_handlers=exception_handlers, logging_config=None)
    async with AsyncTestClient(app) as test_client:
        response = await test_client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == detail
    assert "secret" not in response.text


async def test_validation_errors_are_400_problems() -> None:
    app = Litestar([typed], exception_handlers=exception_handlers, logging_config=None)
    async with AsyncTestClient(app) as test_client:
        response = await test_client.get("/typed", params={"count": "abc"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"].startswith("Validation failed")
    assert response.json()["errors"][0]["key"] == "count"


async def test_each_request_gets_a_request_id_in_logs_and_response(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    fresh = response.headers["x-request-id"]
    assert len(fresh) == 16
    kept = await client.get("/health", headers={"X-Request-ID": "edge-7:poll-42"})
    assert kept.headers["x-request-id"] == "edge-7:poll-42"
    hostile = await client.get("/health", headers={"X-Request-ID": "x" * 65})
    assert hostile.headers["x-request-id"] != "x" * 65


_QUERY = {"meter": "m", "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02", "bucket": "1h"}


@pytest.mark.parametrize(("path", "params"), [("/data/query", _QUERY), ("/agents", {}), ("/audit", {})])
async def test_routes_answer_503_with_retry_after_while_the_database_is_down(
    tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    settings = HubSettings(database_url=unreachable, data_dir=str(tmp_path))
    async with AsyncTestClient(create_app(settings)) as test_client:
        # a well-formed key that only the database could verify: the answer is 503, not 401 or 500
        headers = {"Authorization": "Bearer luna_" + "k" * 40}
        response = await test_client.get(path, params=params, headers=headers)
    assert response.status_code == 503, response.text  # was a generic 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"].startswith("database unavailable: ConnectionRefusedError")


async def test_health_does_not_queue_behind_a_busy_pool(hub_dsn: str) -> None:
    async with migrated_pool(hub_dsn, max_size=1) as pool, pool.acquire():  # a long load holds the only connection
        health = await check_database(pool, partial(asyncpg.connect, hub_dsn))
    assert health.status == "ok"  # was 503 "database unreachable" after waiting 5 s for the pool
    assert health.database.startswith("PostgreSQL ")


async def test_a_database_recreated_empty_is_503_on_health_and_routes(pg_admin_dsn: str) -> None:
    async with fresh_database(pg_admin_dsn) as dsn, ready_client(HubSettings(database_url=dsn)) as test_client:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()
        health = await test_client.get("/health")
        query = await test_client.get("/data/query", params=_QUERY)
    assert health.status_code == 503, health.text  # was 200 while every route answered 500
    assert "database schema not migrated (no schema_migrations table" in health.json()["detail"]
    assert health.headers["retry-after"] == "5"
    assert query.status_code == 503, query.text
    assert "database schema missing" in query.json()["detail"]
