"""A market holds several resolutions over time; queries read each interval from the prices covering it (issue 16).

Loading two 15-minute DE-LU prices (EPEX day-ahead is 15-minute since 2025-10-01) used to hide all
hourly history: the query took the market's finest resolution and read only prices of that one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from support.hub import load_prices

Client = AsyncTestClient[Litestar]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_DAY0 = datetime(2025, 10, 1, tzinfo=UTC)


async def points(hub: Client, market: str, start: str, end: str, **params: str) -> list[dict[str, Any]]:
    response = await hub.get("/data/query", params={"market": market, "start": start, "end": end, **params})
    assert response.status_code == 200, response.text
    assert response.json()["bucket"] == params.get("bucket", "1h")  # the bucket asked for, "raw" included
    result: list[dict[str, Any]] = response.json()["series"][0]["points"]
    return result


async def test_quarter_hour_prices_do_not_hide_the_hourly_history(hub: Client, unique: str) -> None:
    smard = await hub.post(
        "/data/load", params={"market": unique}, content=(FIXTURES / "smard_dst_2024.csv").read_bytes()
    )
    assert smard.status_code == 200, smard.text
    await load_prices(hub, unique, 15, [(_DAY0, 80.0), (_DAY0 + timedelta(minutes=15), 81.0)])
    [day] = await points(hub, unique, "2024-10-27", "2024-10-28", bucket="1d")
    assert (day["value"], day["count"]) == (pytest.approx(90.334, abs=1e-3), 25)
    quarters = await points(hub, unique, "2025-10-01T02:00", "2025-10-01T03:00", bucket="raw")
    assert [(p["ts"], p["value"]) for p in quarters] == [
        ("2025-10-01T02:00:00+02:00", 80.0),
        ("2025-10-01T02:15:00+02:00", 81.0),
    ]
    hourly = await points(hub, unique, "2024-10-27T01:00", "2024-10-27T03:00", bucket="raw")
    assert [p["ts"] for p in hourly] == [
        "2024-10-27T01:00:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
    ]


async def test_where_both_cover_an_hour_the_finer_prices_count(hub: Client, unique: str) -> None:
    await load_prices(hub, unique, 60, [(_DAY0, 100.0), (_DAY0 + timedelta(hours=1), 200.0)])
    await load_prices(hub, unique, 15, [(_DAY0 + timedelta(minutes=15 * q), float(q + 1)) for q in range(4)])
    [day] = await points(hub, unique, "2025-10-01T00:00Z", "2025-10-01T02:00Z", bucket="1d", tz="UTC")
    assert (day["value"], day["count"]) == (pytest.approx((1 + 2 + 3 + 4 + 200) / 5), 5)
    raw = await points(hub, unique, "2025-10-01T00:00Z", "2025-10-01T02:00Z", bucket="raw", tz="UTC")
    assert [p["value"] for p in raw] == [1.0, 2.0, 3.0, 4.0, 200.0]
    hourly_only = await points(
        hub, unique, "2025-10-01T00:00Z", "2025-10-01T02:00Z", bucket="raw", tz="UTC", resolution_minutes="60"
    )
    assert [p["value"] for p in hourly_only] == [100.0, 200.0]


_HOUR_KINDS = st.sampled_from(["none", "hourly", "quarters", "both"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(_HOUR_KINDS, min_size=1, max_size=48), price=st.integers(-500, 4000))
async def test_each_interval_is_read_from_the_finest_prices_covering_it(
    hub: Client, kinds: list[str], price: int
) -> None:
    market = f"p{uuid.uuid4().hex[:10]}"
    hourly, quarters = [], []
    expected: dict[int, tuple[float, int]] = {}
    for hour, kind in enumerate(kinds):
        start = _DAY0 + timedelta(hours=hour)
        day_sum, day_count = expected.get(hour // 24, (0.0, 0))
        if kind in {"hourly", "both"}:
            hourly.append((start, float(price + hour)))
        if kind in {"quarters", "both"}:
            quarters += [(start + timedelta(minutes=15 * q), float(price - q)) for q in range(4)]
            day_sum, day_count = day_sum + sum(float(price - q) for q in range(4)), day_count + 4
        elif kind == "hourly":
            day_sum, day_count = day_sum + price + hour, day_count + 1
        expected[hour // 24] = (day_sum, day_count)
    for minutes, prices in ((60, hourly), (15, quarters)):
        if prices:
            await load_prices(hub, market, minutes, prices)
    if not hourly and not quarters:  # a market the hub never heard of
        unknown = await hub.get("/data/query", params={"market": market, "start": "2025-10-01", "end": "2025-10-03"})
        assert unknown.status_code == 404
        return
    days = await points(hub, market, "2025-10-01T00:00Z", "2025-10-03T00:00Z", bucket="1d", tz="UTC", aggregate="sum")
    got = {(datetime.fromisoformat(p["ts"]) - _DAY0).days: (p["value"], p["count"]) for p in days}
    assert got == {day: (pytest.approx(total), count) for day, (total, count) in expected.items() if count}
