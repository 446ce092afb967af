"""One row must not poison a series, a site or the query path (issue 16).

A reading at ``9999-12-31T23:59:00Z`` used to be committed and then break every bucketed query
of its meter, every later load and the rollup task, across restarts. Rows outside the load
window are rejected per row now, and a database that already holds such a row still answers.
"""

from __future__ import annotations

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

from luna_hub.settings import HubSettings, LoadSettings
from support.databases import fresh_database
from support.hub import ready_client

Client = AsyncTestClient[Litestar]


def readings_csv(meter: str, *rows: tuple[str, float]) -> bytes:
    lines = "".join(f"{meter},power_w,{ts},{value},W\n" for ts, value in rows)
    return ("meter_id,metric,ts,value,unit\n" + lines).encode()


async def query(hub: Client, meter: str, bucket: str = "1h", **params: str) -> Any:
    response = await hub.get(
        "/data/query",
        params={"meter": meter, "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02", "bucket": bucket}
        | params,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_reading_at_the_end_of_the_calendar_is_rejected_and_the_rest_stored(hub: Client, unique: str) -> None:
    body = readings_csv(unique, ("2024-01-01T00:00:00Z", 1.0), ("9999-12-31T23:59:00Z", 2.0))
    response = await hub.post("/data/load", content=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["stored"], report["rejected"]) == (1, 1)
    assert report["rejections"][0]["line"] == 3
    assert "9999-12-31T23:59:00+00:00 is after" in report["rejections"][0]["reasons"][0]
    assert "load.reading_future_s" in report["rejections"][0]["reasons"][0]
    points = (await query(hub, unique))["series"][0]["points"]
    assert [point["value"] for point in points] == [1.0]
    later = await hub.post("/data/load", content=readings_csv(unique, ("2024-01-01T00:15:00Z", 3.0)))
    assert later.status_code == 200, later.text


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("0001-01-01T00:00:00+01:00", "beyond the calendar"),  # was an OverflowError: 500
        ("0001-01-01T00:00:00", "beyond the calendar"),  # local time in Europe/Berlin, before year 1 in UTC
        ("1969-12-31T23:59:59Z", "(load.earliest)"),
        ("1000-06-01T00:00:00Z", "(load.earliest)"),
    ],
)
async def test_readings_before_the_window_are_rejected_with_a_reason(
    hub: Client, unique: str, ts: str, reason: str
) -> None:
    response = await hub.post("/data/load", content=readings_csv(unique, (ts, 1.0)))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["stored"], report["rejected"]) == (0, 1)
    assert reason in report["rejections"][0]["reasons"][0]


async def test_prices_may_come_a_few_days_early_but_not_years(hub: Client, unique: str) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    lines = [f"{(tomorrow + timedelta(hours=h)).isoformat()},{h}.5" for h in range(2)]
    body = ("ts,price\n" + "\n".join([*lines, "9999-12-31T23:00:00Z,1.0"]) + "\n").encode()
    response = await hub.post("/data/load", content=body, params={"market": unique})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["stored"], report["rejected"]) == (2, 1)
    assert "load.price_future_days" in report["rejections"][0]["reasons"][0]


_EDGES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),  # noqa: DTZ001 - naive on purpose
    st.datetimes(min_value=datetime(1969, 12, 31), max_value=datetime(1970, 1, 2)),  # noqa: DTZ001
    st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime(9999, 12, 31, 23, 59, 59)),  # noqa: DTZ001
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),  # noqa: DTZ001
)
_OFFSETS = st.sampled_from(["Z", "+00:00", "+14:00", "-12:00", "+01:00", ""])


def _expected_stored(text: str, now: datetime) -> bool:
    moment = datetime.fromisoformat(text)
    try:
        instant = (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Berlin"))).astimezone(UTC)
    except OverflowError:
        return False
    return LoadSettings().earliest <= instant <= now


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moments=st.lists(st.tuples(_EDGES, _OFFSETS), min_size=1, max_size=5))
async def test_any_timestamp_is_stored_inside_the_window_or_rejected_with_a_reason(
    hub: Client, unique: str, moments: list[tuple[datetime, str]]
) -> None:
    before = datetime.now(UTC)
    texts = [moment.isoformat() + offset for moment, offset in moments]
    response = await hub.post("/data/load", content=readings_csv(unique, *((text, 1.0) for text in texts)))
    assert response.status_code == 200, response.text
    report = response.json()
    rejected = {issue["line"] - 2: issue["reasons"][0] for issue in report["rejections"]}
    for index, text in enumerate(texts):
        if index in rejected:
            assert any(word in rejected[index] for word in ("beyond the calendar", "before", "after")), text
            assert not _expected_stored(text, before)
        else:
            assert _expected_stored(text, datetime.now(UTC) + timedelta(seconds=300)), text


@pytest.fixture
async def own_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A database of its own: these tests store poison the other hub tests must not see."""
    async with fresh_database(pg_admin_dsn) as dsn:
        yield dsn


async def test_a_database_already_holding_poison_still_answers_queries_and_loads(own_database: str) -> None:
    async with ready_client(HubSettings(database_url=own_database)) as hub:
        assert (await hub.post("/data/load", content=readings_csv("m1", ("2024-01-01T00:00:00Z", 1.0)))).is_success
        connection = await asyncpg.connect(own_database)
        try:  # what an older hub let in: the calendar's last minute, and a sum no float can hold
            await connection.execute(
                "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit) VALUES"
                " ('m1', 'power_w', '9999-12-31T23:59:00Z', 2, 'W'),"
                " ('m2', 'power_w', '2024-01-01T00:00:00Z', 1.5e308, 'W'),"
                " ('m2', 'power_w', '2024-01-01T00:01:00Z', 1.5e308, 'W');"
                "INSERT INTO rollup_dirty (meter_id, metric, from_ts, to_ts) VALUES"
                " ('m1', 'power_w', '2024-01-01T00:00:00Z', '9999-12-31T23:59:00Z'),"
                " ('m2', 'power_w', '2024-01-01T00:00:00Z', '2024-01-01T00:01:00Z')"
            )
        finally:
            await connection.close()
        for bucket in ("15m", "1h", "1d", "1w", "1mo"):
            body = await query(hub, "m1", bucket)
            assert [point["value"] for point in body["series"][0]["points"]] == [1.0], bucket
        assert (await query(hub, "m1", "raw"))["series"][0]["points"][0]["value"] == 1.0
        load = await hub.post("/data/load", content=readings_csv("m3", ("2024-01-01T00:00:00Z", 1.0)))
        assert load.status_code == 200, load.text
        health = (await hub.get("/health")).json()
        assert health["rollup_failures"] == 1  # m2's sum overflows: skipped and counted, not retried forever
        connection = await asyncpg.connect(own_database)
        try:
            failed = await connection.fetch("SELECT meter_id, error FROM rollup_failures")
            dirty = await connection.fetchval("SELECT count(*) FROM rollup_dirty")
        finally:
            await connection.close()
        assert [row["meter_id"] for row in failed] == ["m2"]
        assert "out of range" in failed[0]["error"]
        assert dirty == 0
    async with ready_client(HubSettings(database_url=own_database)) as hub:  # and after a restart
        assert (await query(hub, "m1", "1d"))["series"][0]["points"][0]["value"] == 1.0
