"""Hub time series on the real PostgreSQL: loading against raw COPY, and queries through the API against raw SQL.

Data (generated, reproducible): one year of 1-minute power readings for one meter, written as a
CSV file and loaded through the hub's file loader (parse, validate, stage, insert, refresh rollups),
and one year of 15-minute readings for 100 meters written through the bulk writer. The baselines,
in the same run: COPY of the same 525,600 rows into a bare copy of the readings table, and the
plain SQL aggregate over raw readings that a query would run without rollups.
"""

from __future__ import annotations

import asyncio
import csv
import math
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from bench.databases import migrated_database
from bench.report import Result
from luna_hub.app import create_app
from luna_hub.ingest.services import LoadOptions, load_file
from luna_hub.settings import AuthSettings, HubSettings
from luna_hub.timeseries.repository import refresh_dirty
from luna_hub.timeseries.writer import ReadingRow, ReadingWriter

YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
MINUTES = 525_600
METERS = 100
QUARTERS = 35_040
ROUNDS = 15
TZ = "Europe/Berlin"


def _power(i: int, phase: float = 0.0) -> float:
    return round(800 + 400 * math.sin(i / 1440 * 2 * math.pi + phase) + (i * 7919 % 97), 2)


def _write_minute_file(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "bench-1min"])
        for i in range(MINUTES):
            writer.writerow([(YEAR_START + timedelta(minutes=i)).isoformat(), _power(i)])


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def _median_ms(work: Callable[[], Awaitable[Any]], rounds: int = ROUNDS) -> float:
    await work()  # warm caches and prepared statements
    samples = [await _timed(work) for _ in range(rounds)]
    return statistics.median(samples) * 1000


async def _load_minute_year(pool: asyncpg.Pool, path: Path) -> tuple[float, float]:
    def rows() -> list[tuple[Any, ...]]:
        return [
            ("raw-1min", "power_w", YEAR_START + timedelta(minutes=i), _power(i), "W", "good", [], None, None)
            for i in range(MINUTES)
        ]

    async with pool.acquire() as connection:
        await connection.execute("CREATE TABLE raw_copy (LIKE smart_meter_readings INCLUDING ALL)")

        async def raw_copy() -> None:
            columns = ("meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "agent_id", "seq")
            await connection.copy_records_to_table("raw_copy", records=rows(), columns=columns)

        raw_seconds = await _timed(raw_copy)
    with path.open("rb") as binary:
        started = time.perf_counter()
        report = await load_file(pool, binary, LoadOptions(name=path.name))
        ours = time.perf_counter() - started
    assert report.stored == MINUTES, report
    return ours, raw_seconds


async def write_quarter_hour_year(pool: asyncpg.Pool, meters: Sequence[str]) -> None:
    """Write a year of 15-minute power readings of each of ``meters`` through the bulk writer, then the rollups."""
    async with pool.acquire() as connection:
        for number, meter in enumerate(meters):
            batch: list[ReadingRow] = [
                (meter, "power_w", YEAR_START + timedelta(minutes=15 * q), _power(q * 15, number), "W", "good", [],
                 None, None)
                for q in range(QUARTERS)
            ]  # fmt: skip
            async with connection.transaction():
                writer = ReadingWriter(connection)
                await writer.open()
                await writer.add(batch)
                await writer.finish()
        await refresh_dirty(connection)


async def _write_hundred_meters(pool: asyncpg.Pool) -> float:
    started = time.perf_counter()
    await write_quarter_hour_year(pool, [f"bench-15m-{meter:03d}" for meter in range(METERS)])
    return time.perf_counter() - started


async def _queries(dsn: str, pool: asyncpg.Pool) -> list[Result]:
    results = []
    raw_sql = {
        "1d": "date_trunc('day', ts, 'Europe/Berlin')",
        "1h": "date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+01')",
    }
    hundred = [f"bench-15m-{meter:03d}" for meter in range(METERS)]
    cases: list[tuple[list[str], str, tuple[str, ...]]] = [
        (["bench-1min"], "1 meter, 1-min year", ("1d", "1h")),
        (["bench-15m-042"], "1 of 100 meters, 15-min year", ("1d", "1h")),
        (hundred, "all 100 meters, 15-min year", ("1d",)),
    ]
    async with AsyncTestClient(create_app(HubSettings(database_url=dsn, auth=AuthSettings(required=False)))) as client:
        for _ in range(600):  # the app migrates in the background; /health says when it is done
            if (await client.get("/health")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        for meters, label, buckets in cases:
            for bucket in buckets:
                params: dict[str, Any] = {
                    "meter": meters,
                    "metric": "power_w",
                    "start": "2024-01-01",
                    "end": "2025-01-01",
                    "bucket": bucket,
                    "aggregate": "avg",
                }

                async def api(params: dict[str, Any] = params) -> None:
                    response = await client.get("/data/query", params=params)
                    assert response.status_code == 200, response.text

                async def raw(meters: list[str] = meters, bucket: str = bucket) -> None:
                    async with pool.acquire() as connection:
                        await connection.fetch(
                            f"SELECT meter_id, {raw_sql[bucket]} AS b, avg(value), count(*) FROM smart_meter_readings"  # noqa: S608
                            " WHERE meter_id = ANY($1::text[]) AND metric = 'power_w' AND ts >= $2 AND ts < $3"
                            " GROUP BY meter_id, b ORDER BY meter_id, b",
                            meters,
                            YEAR_START,
                            datetime(2025, 1, 1, tzinfo=UTC),
                        )

                rounds = ROUNDS if len(meters) == 1 else 5  # the raw scan of 3.5 million rows takes seconds
                ours, baseline = await _median_ms(api, rounds), await _median_ms(raw, rounds)
                name = f"{'daily' if bucket == '1d' else 'hourly'} avg over a year, {label}"
                results.append(
                    Result(
                        "hub query",
                        name,
                        ours,
                        "ms",
                        baseline,
                        "API (HTTP in process, JSON) vs raw SQL on readings; time, lower is better",
                    )
                )
    return results


async def _run() -> list[Result]:
    async with migrated_database(TZ) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=4)
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "minute_year.csv"
                _write_minute_file(path)
                ours, raw = await _load_minute_year(pool, path)
            hundred = await _write_hundred_meters(pool)
            results = [
                Result(
                    "hub load",
                    "1-min year, 1 meter: CSV file loaded",
                    MINUTES / ours,
                    "rows/s",
                    MINUTES / raw,
                    "parse + validate + COPY + insert + rollups vs bare COPY of the rows",
                ),
                Result(
                    "hub load",
                    "15-min year, 100 meters: bulk writer + rollups",
                    METERS * QUARTERS / hundred,
                    "rows/s",
                    MINUTES / raw,
                    "baseline: the bare COPY above",
                ),
            ]
            async with pool.acquire() as connection:
                await connection.execute("ANALYZE")
            results += await _queries(dsn, pool)
        finally:
            await pool.close()
    return results


def run() -> list[Result]:
    """Run the suite (about two minutes on two cores)."""
    return asyncio.run(_run())
