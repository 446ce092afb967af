"""The TimescaleDB path, against the real TimescaleDB 2.23 engine (PGlite build, see support.timescale).

Same API as on plain PostgreSQL: hypertables, compression, continuous aggregates for 15 min,
1 h and local days with refresh policies, rows written with INSERT ... unnest (no COPY here).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.agents.services import create_agent
from luna_hub.settings import AuthSettings, HubSettings
from luna_hub.timeseries.repository import refresh_dirty
from luna_hub.timeseries.services import SeriesQuery, run_query
from luna_hub.timeseries.writer import ReadingRow, write_readings
from luna_shared.codec import decode_hub_message
from luna_shared.vocabulary import Flag
from support.hub import migrated_pool, ready_client
from support.sync import Agent, batch, post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.slow
# One connection at a time; the engine shares one session between connections (see support.timescale).
ENGINE_POOL: dict[str, Any] = {"max_size": 1, "statement_cache_size": 0, "search_path": "public"}


@pytest.fixture
async def pool(timescale_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(timescale_dsn, **ENGINE_POOL) as ready:
        yield ready


@pytest.fixture
async def hub(timescale_dsn: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = HubSettings(
        database_url=timescale_dsn,
        database_pool_size=1,
        database_statement_cache_size=0,
        database_search_path="public",
        bulk_insert="unnest",
        auth=AuthSettings(required=False),  # loopback; an admin key would need a second engine connection
    )
    async with ready_client(settings, as_admin=False) as client:
        yield client


async def test_schema_uses_hypertables_compression_and_continuous_aggregates(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as db:
        engine = await db.fetchval("SELECT engine FROM rollup_settings")
        version = await db.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        hypertables = {r[0] for r in await db.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        views = await db.fetch(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        )
        compressed = await db.fetchval(
            "SELECT compression_enabled FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'smart_meter_readings'"
        )
        jobs = sorted(
            r[0]
            for r in await db.fetch(
                "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL"
            )
        )
    assert engine == "timescaledb"
    assert version.startswith("2.23")
    assert hypertables >= {"smart_meter_readings", "market_prices"}
    assert [(v["view_name"], v["materialized_only"]) for v in views] == [
        ("readings_15m", False),
        ("readings_1d", False),
        ("readings_1h", False),
    ]
    assert compressed is True
    assert jobs == ["policy_compression", *["policy_refresh_continuous_aggregate"] * 3]


async def test_real_price_file_with_dst_days_loads_and_queries(hub: AsyncTestClient[Litestar]) -> None:
    market = f"TS-{uuid.uuid4().hex[:6]}"
    body = (FIXTURES / "smard_dst_2024.csv").read_bytes()
    report = (await hub.post("/data/load", content=body, params={"market": market})).json()
    assert (report["stored"], report["rejected"]) == (96, 0)
    again = (await hub.post("/data/load", content=body, params={"market": market})).json()
    assert (again["stored"], again["duplicates"]) == (0, 96)
    response = await hub.get(
        "/data/query", params={"market": market, "start": "2024-10-27", "end": "2024-10-28", "bucket": "1d"}
    )
    point = response.json()["series"][0]["points"][0]
    assert point["count"] == 25
    assert point["value"] == pytest.approx(90.334, abs=1e-3)


async def write(pool: asyncpg.Pool, meter: str, points: list[tuple[datetime, float]]) -> None:
    rows: list[ReadingRow] = [(meter, "energy_import_kwh", ts, v, "kWh", "good", [], None, None) for ts, v in points]
    async with pool.acquire() as connection:
        await write_readings(connection, rows, method="unnest")
        await refresh_dirty(connection)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(
        st.tuples(st.integers(0, 60 * 24 * 12), st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2))),
        min_size=1,
        max_size=40,
        unique_by=lambda p: p[0],
    ),
    late=st.sets(st.integers(0, 39), max_size=15),
    zone_name=st.sampled_from(["Europe/Berlin", "UTC", "Asia/Kathmandu"]),
)
async def test_continuous_aggregates_equal_raw_with_late_data(
    pool: asyncpg.Pool, points: list[tuple[int, float]], late: set[int], zone_name: str
) -> None:
    meter = f"ts-{uuid.uuid4().hex[:10]}"
    base = datetime(2024, 10, 21, 5, 3, tzinfo=UTC)  # spans the autumn DST switch
    series = [(base + timedelta(minutes=m), v) for m, v in points]
    await write(pool, meter, [p for i, p in enumerate(series) if i not in late])
    await write(pool, meter, [p for i, p in enumerate(series) if i in late])  # into materialized buckets
    for bucket in ("15m", "1h", "1d", "1w"):
        for aggregate in ("avg", "min", "max", "sum", "first", "last", "delta"):
            query = SeriesQuery(
                meters=(meter,),
                metric="energy_import_kwh",
                market=None,
                start=base - timedelta(days=1),
                end=base + timedelta(days=14),
                tz=zone_name,
                bucket=bucket,
                aggregate=aggregate,
            )
            auto = await run_query(pool, query)
            raw = await run_query(pool, query._replace(source="raw"))
            if aggregate == "delta":
                assert auto.source == "raw"
            else:
                assert auto.source != "raw" or (zone_name == "Asia/Kathmandu" and bucket == "15m")
            got = [(p.ts, p.count, p.value) for p in auto.series[0].points]
            want = [(p.ts, p.count, p.value) for p in raw.series[0].points]
            assert [g[:2] for g in got] == [w[:2] for w in want], (bucket, aggregate)
            assert [g[2] for g in got] == pytest.approx([w[2] for w in want], rel=1e-9), (bucket, aggregate)
            counts = sum(p.count for p in raw.series[0].points)
            assert counts == len(series)


async def test_agent_batches_are_stored_once_on_the_hypertable(timescale_dsn: str) -> None:
    # One connection at a time: provision, then serve, then look, each with its own pool of one.
    async with migrated_pool(timescale_dsn, **ENGINE_POOL) as pool, pool.acquire() as connection:
        created = await create_agent(connection, "ts-agent", "ts-site", actor="test")
    agent = Agent(created.agent_id, created.site_id, created.key, "ts-agent-meter")
    sent = batch(agent, 0, 99, reasons=(Flag.CLOCK_UNTRUSTED.value,))
    settings = HubSettings(
        database_url=timescale_dsn,
        database_pool_size=1,
        database_statement_cache_size=0,
        database_search_path="public",
        bulk_insert="unnest",
        auth=AuthSettings(required=False),  # loopback; an admin key would need a second engine connection
    )
    async with ready_client(settings, as_admin=False) as client:
        acks = [decode_hub_message((await post(client, sent, agent.key)).content) for _ in range(2)]
    assert [(ack.stored, ack.duplicates) for ack in acks] == [(100, 0), (0, 100)]
    async with migrated_pool(timescale_dsn, **ENGINE_POOL) as pool, pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT seq, reasons FROM smart_meter_readings WHERE meter_id = $1 ORDER BY seq", agent.meter
        )
    assert [row["seq"] for row in rows] == list(range(100))
    assert rows[0]["reasons"] == ["clock_untrusted", "timestamp_corrected"]
