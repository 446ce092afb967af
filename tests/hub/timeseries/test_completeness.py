"""``GET /data/completeness``: expected vs received per local day, gaps, DST days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


async def test_quarter_hours_over_the_dst_days_with_a_gap(hub: Client, unique: str) -> None:
    # Every quarter hour of the local days 2024-03-31 (23 h) and 2024-10-27 (25 h), minus one hour on the first.
    lines = []
    for day, hours in ((datetime(2024, 3, 30, 23, tzinfo=UTC), 23), (datetime(2024, 10, 26, 22, tzinfo=UTC), 25)):
        for quarter in range(hours * 4):
            moment = day + timedelta(minutes=15 * quarter)
            if day.month == 3 and 8 * 4 <= quarter < 9 * 4:  # 07:00-08:00 UTC
                continue
            lines.append(f"{unique},power_w,{moment.isoformat()},{quarter}\n")
    body = "meter_id,metric,ts,value\n" + "".join(lines)
    assert (await hub.post("/data/load", content=body.encode())).json()["stored"] == len(lines)
    response = await hub.get(
        "/data/completeness",
        params={"meter": unique, "metric": "power_w", "start": "2024-03-31", "end": "2024-04-01"},
    )
    assert response.status_code == 200, response.text
    meter = response.json()["meters"][0]
    assert meter["interval_seconds"] == 900
    spring = meter["days"][0]
    assert (spring["day"], spring["expected"], spring["received"], spring["missing"]) == ("2024-03-31", 92, 88, 4)
    assert spring["gaps"] == [["2024-03-31T06:45:00Z", "2024-03-31T08:00:00Z"]]
    autumn = await hub.get(
        "/data/completeness",
        params={"meter": unique, "metric": "power_w", "start": "2024-10-27", "end": "2024-10-29"},
    )
    days = autumn.json()["meters"][0]["days"]
    assert [(d["day"], d["expected"], d["received"], d["missing"]) for d in days] == [
        ("2024-10-27", 100, 100, 0),
        ("2024-10-28", 96, 0, 96),
    ]
    assert days[1]["gaps"] == [["2024-10-27T23:00:00Z", "2024-10-28T23:00:00Z"]]


async def test_the_expected_interval_can_be_given(hub: Client, unique: str) -> None:
    body = "meter_id,metric,ts,value\n" + "".join(
        f"{unique},power_w,2024-06-01T{hour:02d}:00:00+02:00,1\n" for hour in range(24)
    )
    await hub.post("/data/load", content=body.encode())
    response = await hub.get(
        "/data/completeness",
        params={
            "meter": unique,
            "metric": "power_w",
            "start": "2024-06-01",
            "end": "2024-06-02",
            "interval_minutes": 15,
        },
    )
    day = response.json()["meters"][0]["days"][0]
    assert (day["expected"], day["received"], day["missing"]) == (96, 24, 72)
    assert len(day["gaps"]) == 23
