"""``GET /data/query`` and the rollups behind it, against the real PostgreSQL.

The consistency property: for random series (gauges and counters with resets, loaded in two
parts so that the second brings late data into already rolled-up buckets), every bucket and
aggregate read from the rollups equals the same aggregate over raw readings, and both equal a
plain-Python computation of it.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from luna_hub.timeseries.buckets import bucket_floor, bucket_next
from luna_hub.timeseries.repository import refresh_dirty
from luna_hub.timeseries.services import SeriesQuery, run_query
from luna_hub.timeseries.writer import ReadingRow, write_readings
from support.hub import migrated_pool, ready_client

Client = AsyncTestClient[Litestar]
AGGREGATES = ("avg", "min", "max", "sum", "first", "last", "delta")
BUCKETS = ("15m", "1h", "1d", "1w", "1mo")
ZONES = ("Europe/Berlin", "UTC", "America/New_York", "Asia/Kathmandu")


@pytest.fixture
async def pool(hub_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(hub_dsn) as ready:
        yield ready


async def write(pool: asyncpg.Pool, meter: str, metric: str, points: list[tuple[datetime, float]]) -> None:
    rows: list[ReadingRow] = [(meter, metric, ts, value, "kWh", "good", [], None, None) for ts, value in points]
    async with pool.acquire() as connection:
        await write_readings(connection, rows)
        await refresh_dirty(connection)


def oracle(
    points: list[tuple[datetime, float]], bucket: str, zone: ZoneInfo, start: datetime, end: datetime
) -> dict[datetime, dict[str, float]]:
    """Every aggregate per bucket, computed in Python from the raw points."""
    ordered = sorted(points)
    inside = [(ts, v) for ts, v in ordered if start <= ts < end]
    after = next(((ts, v) for ts, v in ordered if ts >= end), None)
    groups: dict[datetime, list[tuple[datetime, float]]] = defaultdict(list)
    for ts, value in inside:
        groups[bucket_floor(ts, bucket, zone)].append((ts, value))
    chain = [*inside, *([after] if after else [])]
    deltas: dict[datetime, float] = defaultdict(float)
    for (ts, value), (_, following) in itertools.pairwise(chain):
        deltas[bucket_floor(ts, bucket, zone)] += following - value if following >= value else following
    result = {}
    for key, members in groups.items():
        values = [v for _, v in members]
        result[key] = {
            "avg": sum(values) / len(values),
            "min": min(values),
            "max": max(values),
            "sum": sum(values),
            "first": values[0],
            "last": values[-1],
            "delta": deltas[key],
            "count": len(values),
        }
    return result


async def both_sources(pool: asyncpg.Pool, query: SeriesQuery) -> tuple[Any, Any]:
    auto = await run_query(pool, query)
    raw = await run_query(pool, query._replace(source="raw"))
    return auto, raw


series_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60 * 24 * 45),  # minutes after the base, over DST and a month end
        st.floats(min_value=0, max_value=1000, allow_nan=False).map(lambda v: round(v, 3)),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda point: point[0],
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=series_strategy,
    late=st.sets(st.integers(min_value=0, max_value=59), max_size=20),
    base=st.sampled_from([datetime(2024, 3, 20, 21, 7, tzinfo=UTC), datetime(2024, 10, 15, 0, 0, tzinfo=UTC)]),
    zone_name=st.sampled_from(ZONES),
)
async def test_rollups_equal_raw_equal_python(
    pool: asyncpg.Pool, points: list[tuple[int, float]], late: set[int], base: datetime, zone_name: str
) -> None:
    meter = f"prop-{uuid.uuid4().hex[:10]}"
    series = [(base + timedelta(minutes=minute, seconds=minute % 7), value) for minute, value in points]
    early = [point for index, point in enumerate(series) if index not in late]
    backfill = [point for index, point in enumerate(series) if index in late]
    await write(pool, meter, "energy_import_kwh", early)
    await write(pool, meter, "energy_import_kwh", backfill)  # late data lands in rolled-up buckets
    zone = ZoneInfo(zone_name)
    start, end = base - timedelta(days=1), base + timedelta(days=40)  # the last readings follow the range
    for bucket in BUCKETS:
        aligned_start = bucket_floor(start, bucket, zone)
        aligned_end = bucket_floor(end, bucket, zone)
        if aligned_end < end:
            aligned_end = bucket_next(aligned_end, bucket, zone)
        expected = oracle(series, bucket, zone, aligned_start, aligned_end)
        for aggregate in AGGREGATES:
            query = SeriesQuery(
                meters=(meter,),
                metric="energy_import_kwh",
                market=None,
                start=start,
                end=end,
                tz=zone_name,
                bucket=bucket,
                aggregate=aggregate,  # type: ignore[arg-type]
            )
            auto, raw = await both_sources(pool, query)
            # Keyed in UTC: a local time in the repeated autumn hour never equals an instant of another zone (PEP 495).
            got_auto = {p.ts.astimezone(UTC): (p.value, p.count) for p in auto.series[0].points}
            got_raw = {p.ts.astimezone(UTC): (p.value, p.count) for p in raw.series[0].points}
            assert raw.source == "raw"
            assert got_auto.keys() == got_raw.keys() == expected.keys(), (bucket, aggregate, auto.source)
            for key, numbers in expected.items():
                assert got_auto[key][1] == got_raw[key][1] == numbers["count"]
                assert got_auto[key][0] == pytest.approx(numbers[aggregate], rel=1e-9, abs=1e-6), (bucket, aggregate)
                assert got_raw[key][0] == pytest.approx(numbers[aggregate], rel=1e-9, abs=1e-6), (bucket, aggregate)


async def test_source_is_the_rollup_of_the_bucket(pool: asyncpg.Pool) -> None:
    meter = f"src-{uuid.uuid4().hex[:8]}"
    base = datetime(2024, 1, 1, tzinfo=UTC)
    await write(pool, meter, "power_w", [(base + timedelta(minutes=m), 1.0) for m in range(0, 120, 5)])
    expected = {
        ("15m", "Europe/Berlin"): "rollup_15m",
        ("1h", "Europe/Berlin"): "rollup_1h",
        ("1d", "Europe/Berlin"): "rollup_1d",
        ("1mo", "Europe/Berlin"): "rollup_1d",
        ("1d", "America/New_York"): "rollup_1h",
        ("1h", "Asia/Kathmandu"): "rollup_15m",
    }
    for (bucket, zone), source in expected.items():
        query = SeriesQuery(
            meters=(meter,),
            metric="power_w",
            market=None,
            start=base,
            end=base + timedelta(hours=2),
            tz=zone,
            bucket=bucket,
        )
        result = await run_query(pool, query)
        assert result.source == source, (bucket, zone)
    bad_too = SeriesQuery(
        meters=(meter,),
        metric="power_w",
        market=None,
        start=base,
        end=base + timedelta(hours=2),
        tz="UTC",
        qualities=("bad", "good", "suspect"),
    )
    assert (await run_query(pool, bad_too)).source == "raw"


async def test_delta_handles_a_counter_reset(hub: Client, unique: str) -> None:
    lines = [
        ("00:00", 100.0),
        ("00:15", 101.0),
        ("00:30", 102.5),
        ("00:45", 0.5),  # reset: the meter restarted at 0
        ("01:00", 1.5),
        ("01:15", 3.0),
    ]
    body = "meter_id,metric,ts,value\n" + "".join(
        f"{unique},energy_import_kwh,2024-02-01T{t}:00Z,{v}\n" for t, v in lines
    )
    report = (await hub.post("/data/load", content=body.encode())).json()
    assert report["stored"] == 6
    assert report["flags"] == [{"line": 5, "reasons": ["counter_reset"]}]
    response = await hub.get(
        "/data/query",
        params={
            "meter": unique,
            "metric": "energy_import_kwh",
            "start": "2024-02-01T00:00Z",
            "end": "2024-02-01T02:00Z",
            "bucket": "1h",
            "aggregate": "delta",
            "tz": "UTC",
        },
    )
    values = [point["value"] for point in response.json()["series"][0]["points"]]
    # An increase belongs to the bucket of the earlier reading: hour 0 gets +1.0, +1.5, the reset (its new
    # value, 0.5, is the increase) and 00:45 -> 01:00 (+1.0); hour 1 gets 01:00 -> 01:15 (+1.5).
    assert values == [pytest.approx(1.0 + 1.5 + 0.5 + 1.0), pytest.approx(1.5)]


async def test_gap_filling_csv_and_quality_filter(hub: Client, unique: str) -> None:
    body = (
        "meter_id,metric,ts,value,unit,quality\n"
        f"{unique},power_w,2024-02-01T00:10:00Z,10,W,good\n"
        f"{unique},power_w,2024-02-01T02:10:00Z,30,W,bad\n"
        f"{unique},power_w,2024-02-01T03:10:00Z,40,W,suspect\n"
    )
    assert (await hub.post("/data/load", content=body.encode())).json()["stored"] == 3
    params = {
        "meter": unique,
        "metric": "power_w",
        "start": "2024-02-01T00:00Z",
        "end": "2024-02-01T04:00Z",
        "bucket": "1h",
        "tz": "UTC",
    }
    previous = await hub.get("/data/query", params={**params, "fill": "previous"})
    assert [(p["value"], p["count"]) for p in previous.json()["series"][0]["points"]] == [
        (10.0, 1),
        (10.0, 0),
        (10.0, 0),
        (40.0, 1),
    ]  # the bad reading is left out by default
    nulls = await hub.get("/data/query", params={**params, "fill": "null", "format": "csv"})
    assert nulls.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(nulls.text)))
    assert [row["value"] for row in rows] == ["10.0", "", "", "40.0"]
    assert rows[0]["ts"] == "2024-02-01T00:00:00+00:00"
    only_bad = await hub.get("/data/query", params={**params, "quality": "bad"})
    assert only_bad.json()["source"] == "raw"
    assert [p["value"] for p in only_bad.json()["series"][0]["points"]] == [30.0]


async def test_raw_readings_are_paged_with_a_cursor(hub: Client, unique: str) -> None:
    body = "meter_id,metric,ts,value\n" + "".join(
        f"{meter},power_w,2024-03-01T00:{minute:02d}:00Z,{minute}\n"
        for meter in (f"{unique}-a", f"{unique}-b")
        for minute in range(10)
    )
    assert (await hub.post("/data/load", content=body.encode())).json()["stored"] == 20
    seen: list[tuple[str, float]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {
            "meter": [f"{unique}-a", f"{unique}-b"],
            "metric": "power_w",
            "start": "2024-03-01T00:00Z",
            "end": "2024-03-02T00:00Z",
            "bucket": "raw",
            "limit": 7,
        }
        if cursor:
            params["cursor"] = cursor
        page = (await hub.get("/data/query", params=params)).json()
        pages += 1
        seen += [(s["id"], p["value"]) for s in page["series"] for p in s["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [(f"{unique}-a", float(m)) for m in range(10)] + [(f"{unique}-b", float(m)) for m in range(10)]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"metric": "power_w"}, "pass meter="),
        ({"meter": "m", "metric": "power_w", "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"meter": "m", "metric": "power_w", "end": "2023-01-01"}, "end must be after start"),
        ({"market": "DE-LU", "aggregate": "delta"}, "delta is for cumulative counters"),
        ({"meter": "m", "metric": "power_w", "bucket": "raw", "cursor": "nonsense"}, "invalid cursor"),
        ({"meter": "m", "metric": "power_w", "start": "soon"}, "start: not an ISO 8601"),
    ],
)
async def test_bad_queries_are_400_problems(hub: Client, params: dict[str, str], detail: str) -> None:
    response = await hub.get("/data/query", params={"start": "2024-01-01", "end": "2024-01-02", **params})
    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_an_unknown_meter_metric_or_market_is_a_404_naming_close_matches(hub_dsn: str) -> None:
    meter = f"house-{uuid.uuid4().hex[:6]}"
    async with migrated_pool(hub_dsn) as pool:
        await write(pool, meter, "energy_kwh", [(datetime(2024, 1, 1, tzinfo=UTC), 1.0)])
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        span = {"start": "2024-01-01", "end": "2024-01-02"}
        typo_metric = await client.get("/data/query", params={**span, "meter": meter, "metric": "energy_kw"})
        typo_meter = await client.get("/data/query", params={**span, "meter": meter + "x", "metric": "energy_kwh"})
        empty_range = await client.get(
            "/data/query", params={"meter": meter, "metric": "energy_kwh", "start": "2023-01-01", "end": "2023-01-02"}
        )
        listed = await client.get("/catalog")
    assert typo_metric.status_code == 404
    assert "did you mean 'energy_kwh'" in typo_metric.json()["detail"]
    assert typo_meter.status_code == 404
    assert f"did you mean '{meter}'" in typo_meter.json()["detail"]
    assert empty_range.status_code == 200  # a known series with nothing in the range is an empty answer
    assert empty_range.json()["series"][0]["points"] == []
    entry = next(m for m in listed.json()["meters"] if m["meter_id"] == meter)
    [metric] = entry["metrics"]
    assert metric["kind"] in {"gauge", "counter", "state"}
    assert {key: metric[key] for key in ("metric", "unit", "first", "last")} == {
        "metric": "energy_kwh",
        "unit": "kWh",
        "first": "2024-01-01T00:00:00Z",
        "last": "2024-01-01T00:00:00Z",
    }
