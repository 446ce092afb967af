"""Loading real files through ``POST /data/load`` into the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.problems import PROBLEM_JSON
from luna_hub.timeseries.writer import BulkMethod, ReadingRow, write_readings
from support.hub import migrated_pool

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Client = AsyncTestClient[Litestar]


async def load(hub: Client, body: bytes, **params: Any) -> Any:
    response = await hub.post("/data/load", content=body, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def daily(hub: Client, market: str, start: str, end: str, aggregate: str = "avg") -> list[dict[str, Any]]:
    response = await hub.get(
        "/data/query",
        params={"market": market, "start": start, "end": end, "bucket": "1d", "aggregate": aggregate},
    )
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["series"][0]["points"]
    return points


async def test_smard_csv_with_both_dst_days(hub: Client, unique: str) -> None:
    body = (FIXTURES / "smard_dst_2024.csv").read_bytes()
    report = await load(hub, body, market=unique)
    assert (report["stored"], report["rejected"], report["duplicates"]) == (24 + 23 + 24 + 25, 0, 0)
    spring = await daily(hub, unique, "2024-03-31", "2024-04-01")
    assert spring == [{"ts": "2024-03-31T00:00:00+01:00", "value": pytest.approx(55.4452, abs=1e-4), "count": 23}]
    autumn = await daily(hub, unique, "2024-10-27", "2024-10-28")
    assert autumn[0]["count"] == 25
    assert autumn[0]["value"] == pytest.approx(90.334, abs=1e-3)
    hours = await hub.get(
        "/data/query",
        params={"market": unique, "start": "2024-10-27T01:00", "end": "2024-10-27T04:00", "bucket": "raw"},
    )
    assert [(p["ts"], p["value"]) for p in hours.json()["series"][0]["points"]] == [
        ("2024-10-27T01:00:00+02:00", 84.0),
        ("2024-10-27T02:00:00+02:00", 82.23),
        ("2024-10-27T02:00:00+01:00", 80.43),
        ("2024-10-27T03:00:00+01:00", 79.41),
    ]
    again = await load(hub, body, market=unique)
    assert (again["stored"], again["duplicates"]) == (0, 96)


async def test_smard_crlf_file_and_its_wrong_datum_bis(hub: Client, unique: str) -> None:
    report = await load(hub, (FIXTURES / "smard_crlf_2023.csv").read_bytes(), market=unique)
    assert (report["stored"], report["rejected"]) == (24 + 23, 0)
    day = await daily(hub, unique, "2023-03-26", "2023-03-27", aggregate="first")
    assert day == [{"ts": "2023-03-26T00:00:00+01:00", "value": pytest.approx(day[0]["value"]), "count": 23}]


async def test_smard_quarter_hour_grid_holds_hourly_prices(hub: Client, unique: str) -> None:
    report = await load(hub, (FIXTURES / "smard_quarter_grid_20241027.csv").read_bytes(), market=unique)
    assert report["stored"] == 25  # 100 quarter-hour rows, DE-LU priced on the 25 full hours
    assert report["gaps"] == []  # the '-' rows are not missing prices: the series is hourly
    points = await daily(hub, unique, "2024-10-27", "2024-10-28")
    assert points[0]["value"] == pytest.approx(90.334, abs=1e-3)


async def test_entsoe_csv_skips_the_listed_hour_that_does_not_exist(hub: Client, unique: str) -> None:
    report = await load(hub, (FIXTURES / "entsoe_dst_2024.csv").read_bytes(), market=unique)
    # 31.03: 23 real hours (+ the listed 02:00 without a price); 03.10: 24; 04.10: not yet published ("-").
    assert (report["stored"], report["rejected"]) == (23 + 24, 0)
    spring = await daily(hub, unique, "2024-03-31", "2024-04-01")
    assert spring[0]["value"] == pytest.approx(55.4452, abs=1e-4)


async def test_opsd_counters_and_the_common_gap(hub: Client) -> None:
    report = await load(hub, (FIXTURES / "opsd_household_2016_excerpt.csv").read_bytes(), name="opsd.csv")
    assert report["rejected"] == 0
    assert "DE_KN_residential4_grid_import/energy_import_kwh" in report["series"]
    assert "DE_KN_residential4_pv/energy_export_kwh" in report["series"]
    gaps = {(g["series"], g["after"], g["before"]) for g in report["gaps"]}
    assert (
        "DE_KN_residential4_grid_import/energy_import_kwh",
        "2016-04-22T14:00:00Z",
        "2016-04-24T21:00:00Z",
    ) in gaps
    again = await load(hub, (FIXTURES / "opsd_household_2016_excerpt.csv").read_bytes())
    assert again["stored"] == 0
    assert again["duplicates"] == report["accepted"]


async def test_wide_file_with_metric_from_the_request(hub: Client) -> None:
    report = await load(hub, (FIXTURES / "emhass_30min_excerpt.csv").read_bytes(), metric="power_w")
    assert report["rejected"] == 0
    assert report["series"] == [
        "sensor.p_pv_forecast/power_w",
        "sensor.power_load_no_var_loads/power_w",
        "sensor.power_photovoltaics/power_w",
    ]
    assert report["gaps"][0]["after"] == "2024-02-28T21:30:00Z"  # the 21-hour gap after the first two rows


def readings_csv(meter: str, *lines: str) -> bytes:
    return ("meter_id,metric,ts,value,unit\n" + "".join(f"{meter},{line}\n" for line in lines)).encode()


async def test_bad_rows_are_reported_by_line_and_the_good_ones_stored(hub: Client, unique: str) -> None:
    body = readings_csv(
        unique,
        "power_w,2024-01-01T00:00:00+01:00,100,W",
        "power_w,2024-01-01T00:15:00+01:00,abc,W",
        "power_w,yesterday,100,W",
        "power_w,2024-01-01T00:30:00+01:00,100,kW",
        "power_w,2024-01-01T00:45:00+01:00,100",
        "power_w,2024-01-01T01:00:00+01:00,101,W",
    )
    report = await load(hub, body)
    assert report["stored"] == 2
    assert [(r["line"], r["reasons"][0].split(":")[0]) for r in report["rejections"]] == [
        (3, "not a number"),
        (4, "not an ISO 8601 timestamp"),
        (5, "unit_mismatch"),
        (6, "4 fields, expected 5"),
    ]


async def test_strict_load_with_a_bad_row_stores_nothing(hub: Client, unique: str) -> None:
    body = readings_csv(unique, "power_w,2024-01-01T00:00:00Z,1,W", "power_w,2024-01-01T00:15:00Z,x,W")
    response = await hub.post("/data/load", content=body, params={"strict": "true"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["report"]["rejections"] == [{"line": 3, "reasons": ["not a number: 'x'"]}]
    query = await hub.get(
        "/data/query",
        params={"meter": unique, "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02", "bucket": "raw"},
    )
    assert query.status_code == 404  # nothing stored: the hub has never heard of the meter
    assert unique in query.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"what,is,this\n1,2,3\n", "unrecognised header"),
        (b"", "empty"),
        (b'{"readings": [', "not valid JSON"),
        (b'{"something": 1}', "expected"),
        (b"meter_id,metric,ts,value\nm,power_w,2024-01-01T00:00:00Z,1\n\xff\xfe\n", "not UTF-8"),
    ],
)
async def test_malformed_files_are_400_problems_and_store_nothing(hub: Client, body: bytes, detail: str) -> None:
    before = await hub.get(
        "/data/query",
        params={"meter": "m", "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02", "bucket": "raw"},
    )
    response = await hub.post("/data/load", content=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert detail in response.json()["detail"]
    after = await hub.get(
        "/data/query",
        params={"meter": "m", "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02", "bucket": "raw"},
    )
    assert after.json() == before.json()


async def test_json_document_and_json_lines(hub: Client, unique: str) -> None:
    reading = {"meter_id": unique, "metric": "power_w", "ts": "2024-05-01T10:00:00+02:00", "value": 5}
    bad = {**reading, "ts": "2024-05-01T10:15:00+02:00", "value": "x"}
    report = await load(hub, json.dumps({"readings": [reading, bad]}).encode())
    assert (report["stored"], report["rejected"]) == (1, 1)
    assert report["rejections"][0]["line"] == 2
    lines = "".join(
        f'{{"market": "{unique}", "ts": "2024-05-01T{hour:02d}:00:00Z", "price": {hour}.5}}\n' for hour in range(3)
    )
    prices = await load(hub, lines.encode())
    assert prices["stored"] == 3
    points = await daily(hub, unique, "2024-05-01T00:00Z", "2024-05-01T03:00Z", aggregate="sum")
    assert points[0]["value"] == pytest.approx(0.5 + 1.5 + 2.5)


async def test_the_bulk_writer_counts_redeliveries_as_duplicates(hub_dsn: str, unique: str) -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    rows: list[ReadingRow] = [
        (unique, "power_w", start + timedelta(minutes=m), float(m), "W", "good", ["spike"] if m == 3 else [], "a1", m)
        for m in range(10)
    ]
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        methods: tuple[BulkMethod, ...] = ("copy", "unnest")
        for method in methods:
            async with connection.transaction():  # two batches in one transaction: savepoints
                first = await write_readings(connection, rows[:6], method=method)
                second = await write_readings(connection, rows, method=method)
            if method == "copy":
                assert (first.stored, first.duplicates, second.stored, second.duplicates) == (6, 0, 4, 6)
            else:
                assert (first.stored, second.stored, second.duplicates) == (0, 0, 10)
        stored = await connection.fetch(
            "SELECT reasons, agent_id, seq FROM smart_meter_readings WHERE meter_id = $1 ORDER BY ts", unique
        )
        dirty = await connection.fetchval("SELECT count(*) FROM rollup_dirty WHERE meter_id = $1", unique)
    assert [(list(r["reasons"]), r["agent_id"], r["seq"]) for r in stored][2:4] == [([], "a1", 2), (["spike"], "a1", 3)]
    assert dirty >= 1  # the next refresh folds them into the rollups
