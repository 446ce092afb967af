"""The hub application against a real PostgreSQL: health, problem responses, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.testing import AsyncTestClient

from luna_hub.app import create_app
from luna_hub.errors import ConflictError, NotFoundError
from luna_hub.problems import PROBLEM_JSON, exception_handlers
from luna_hub.settings import HubSettings
from support.hub import ready_client
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
