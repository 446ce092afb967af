"""Limits of ``POST /data/load``: body size (413 that says the limit and the way around it) and CSV width (issue 16)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


async def test_a_csv_of_20000_meter_columns_is_400_naming_the_limit(hub: Client) -> None:
    header = "timestamp," + ",".join(f"m{index}" for index in range(20_000))
    body = f"{header}\n2024-01-01T00:00:00Z," + ",".join("1" for _ in range(20_000)) + "\n"
    response = await hub.post("/data/load", content=body.encode())  # took 77 s and blocked queries for 57 s
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "20001 columns, at most load.max_columns (1000) allowed" in response.json()["detail"]


async def test_a_field_beyond_csv_s_limit_is_400(hub: Client, unique: str) -> None:
    body = f"meter_id,metric,ts,value\n{unique},power_w,2024-01-01T00:00:00Z,{'1' * 200_000}\n".encode()
    response = await hub.post("/data/load", content=body)
    assert response.status_code == 400, response.text  # csv.Error was a 500
    assert "not a readable CSV file" in response.json()["detail"]


@pytest.fixture
async def narrow_hub(hub_dsn: str) -> AsyncIterator[Client]:
    async with ready_client(HubSettings(database_url=hub_dsn, load=LoadSettings(max_columns=5))) as client:
        yield client


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meters=st.integers(min_value=1, max_value=9), rows=st.integers(min_value=0, max_value=3))
async def test_a_file_is_loaded_exactly_when_it_fits_the_width(narrow_hub: Client, meters: int, rows: int) -> None:
    prefix = f"w{uuid.uuid4().hex[:8]}"
    lines = [",".join(["timestamp", *(f"{prefix}-{index}" for index in range(meters))])]
    lines += [",".join([f"2024-01-01T0{row}:00:00Z", *("1" for _ in range(meters))]) for row in range(rows)]
    response = await narrow_hub.post("/data/load", content=("\n".join(lines) + "\n").encode())
    if meters + 1 <= 5:
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == meters * rows
    else:
        assert response.status_code == 400, response.text
        assert f"{meters + 1} columns, at most load.max_columns (5)" in response.json()["detail"]


_DAILY = {"bucket": "1d"}


async def test_a_query_does_not_wait_for_a_refresh_of_other_series(hub: Client, hub_dsn: str, unique: str) -> None:
    body = f"meter_id,metric,ts,value,unit\n{unique},power_w,2024-01-01T00:00:00Z,4,W\n".encode()
    assert (await hub.post("/data/load", content=body)).status_code == 200
    refresher = await asyncpg.connect(hub_dsn)
    try:
        async with refresher.transaction():  # a long refresh (a 1,000-meter load) holds the refresh lock ...
            await refresher.execute("SELECT pg_advisory_xact_lock(1280658754)")
            # ... while new readings of this meter wait in rollup_dirty for theirs
            connection = await asyncpg.connect(hub_dsn)
            try:
                await connection.execute(
                    "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit)"
                    " VALUES ($1, 'power_w', '2024-01-01T00:30:00Z', 6, 'W');",
                    unique,
                )
                await connection.execute(
                    "INSERT INTO rollup_dirty (meter_id, metric, from_ts, to_ts)"
                    " VALUES ($1, 'power_w', '2024-01-01T00:30:00Z', '2024-01-01T00:30:00Z')",
                    unique,
                )
            finally:
                await connection.close()
            response = await hub.get(  # used to wait on the lock for as long as the refresh took
                "/data/query",
                params={
                    "meter": unique,
                    "metric": "power_w",
                    "start": "2024-01-01",
                    "end": "2024-01-02",
                    "bucket": "1d",
                },
            )
    finally:
        await refresher.close()
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["source"] == "raw"  # exact while the rollups of this meter are not current
    assert [(p["value"], p["count"]) for p in result["series"][0]["points"]] == [(5.0, 2)]
