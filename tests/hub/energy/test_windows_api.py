"""``GET /energy/windows`` on real stored prices: the SMARD DST days of 2024 and 15-minute prices (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from support.hub import load_prices

Client = AsyncTestClient[Litestar]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
async def market(hub: Client, unique: str) -> str:
    """A market holding the real DE-LU prices of 2024-03-30/31 (23 h) and 2024-10-26/27 (25 h)."""
    response = await hub.post(
        "/data/load", params={"market": unique}, content=(FIXTURES / "smard_dst_2024.csv").read_bytes()
    )
    assert response.status_code == 200, response.text
    return unique


async def windows(hub: Client, market: str, **params: Any) -> dict[str, Any]:
    response = await hub.get("/energy/windows", params={"market": market, **params})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_cheapest_two_hours_of_the_spring_switch_day(hub: Client, market: str) -> None:
    answer = await windows(
        hub, market, earliest="2024-03-31T00:00", latest="2024-04-01T00:00", duration_min=120, power_kw=2
    )
    assert answer["market"] == market
    assert answer["tz"] == "Europe/Berlin"
    assert answer["resolution_min"] == 60
    best = answer["windows"][0]
    assert best["start"] == "2024-03-31T13:00:00+02:00"
    assert best["end"] == "2024-03-31T15:00:00+02:00"
    assert best["mean_price_eur_mwh"] == pytest.approx((3.06 + 1.03) / 2)
    assert best["cost_eur"] == pytest.approx((3.06 + 1.03) * 2 / 1000)
    costs = [(w["cost_eur"], w["start"]) for w in answer["windows"]]
    assert costs == sorted(costs)
    assert len(answer["windows"]) == 3
    baseline = answer["baseline"]
    assert baseline["start"] == "2024-03-31T00:00:00+01:00"
    assert baseline["end"] == "2024-03-31T03:00:00+02:00"  # two real hours across the missing 02:00
    assert baseline["cost_eur"] == pytest.approx((75.70 + 66.71) * 2 / 1000)
    assert answer["saving_eur"] == pytest.approx(baseline["cost_eur"] - best["cost_eur"])


async def test_every_start_of_both_dst_days_is_a_real_hour(hub: Client, market: str) -> None:
    spring = await windows(
        hub, market, earliest="2024-03-31T00:00", latest="2024-04-01T00:00", duration_min=60, power_kw=1, count=100
    )
    assert len(spring["windows"]) == 23
    autumn = await windows(
        hub, market, earliest="2024-10-27T00:00", latest="2024-10-28T00:00", duration_min=60, power_kw=1, count=100
    )
    assert len(autumn["windows"]) == 25
    twice = {w["start"]: w["cost_eur"] for w in autumn["windows"] if w["start"].startswith("2024-10-27T02:00")}
    assert twice == {
        "2024-10-27T02:00:00+02:00": pytest.approx(82.23 / 1000),
        "2024-10-27T02:00:00+01:00": pytest.approx(80.43 / 1000),
    }


async def test_missing_prices_are_a_422_naming_the_interval(hub: Client, market: str) -> None:
    response = await hub.get(
        "/energy/windows",
        params={"market": market, "earliest": "2024-03-31T20:00", "latest": "2024-04-01T03:00"}
        | {"duration_min": 60, "power_kw": 1},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["missing"] == {"start": "2024-04-01T00:00:00+02:00", "end": "2024-04-01T03:00:00+02:00"}
    assert problem["detail"] == f"no {market} price from 2024-04-01T00:00:00+02:00 to 2024-04-01T03:00:00+02:00"


async def test_a_named_baseline_and_a_washing_programme_profile(hub: Client, market: str) -> None:
    answer = await windows(
        hub,
        market,
        earliest="2024-03-31T08:00",
        latest="2024-03-31T22:00",
        profile_kw="2,2,2,2,0.5,0.5,0.5,0.5",
        baseline="2024-03-31T19:00",
        count=1,
    )
    [best] = answer["windows"]
    # heavy hour at 13:00 (3.06), light one at 14:00 (1.03): 6.635 beats 14:00/15:00 (1.03, 15.27): 9.695
    assert best["start"] == "2024-03-31T13:00:00+02:00"
    assert best["cost_eur"] == pytest.approx((3.06 * 2 + 1.03 * 0.5) / 1000)
    assert answer["baseline"]["cost_eur"] == pytest.approx((117.29 * 2 + 83.72 * 0.5) / 1000)


async def test_slots_in_any_order_under_a_cap(hub: Client, market: str) -> None:
    day = {"earliest": "2024-03-30T00:00", "latest": "2024-03-31T00:00", "power_kw": 1, "contiguous": "false"}
    answer = await windows(hub, market, duration_min=180, **day)
    assert [(w["start"], w["end"]) for w in answer["windows"]] == [
        ("2024-03-30T12:00:00+01:00", "2024-03-30T15:00:00+01:00")
    ]
    capped = await windows(hub, market, duration_min=180, max_price_eur_mwh=20, **day)
    assert [(w["start"], w["end"]) for w in capped["windows"]] == [
        ("2024-03-30T12:00:00+01:00", "2024-03-30T15:00:00+01:00")
    ]
    too_strict = await windows(hub, market, duration_min=180, max_price_eur_mwh=10, **day)
    assert too_strict["windows"] == []
    assert too_strict["saving_eur"] is None


async def test_negative_prices_count_as_they_are(hub: Client, unique: str) -> None:
    start = datetime(2024, 5, 12, 9, 0, tzinfo=UTC)
    prices = [-135.45 if hour == 2 else 10.0 * hour for hour in range(6)]
    await load_prices(hub, unique, 60, [(start + timedelta(hours=h), p) for h, p in enumerate(prices)])
    answer = await windows(
        hub, unique, earliest="2024-05-12T09:00Z", latest="2024-05-12T15:00Z", duration_min=60, power_kw=10, tz="UTC"
    )
    assert answer["windows"][0]["start"] == "2024-05-12T11:00:00Z"
    assert answer["windows"][0]["cost_eur"] == pytest.approx(-1.3545)


async def test_quarter_hour_prices_after_the_switch_and_hourly_before(hub: Client, unique: str) -> None:
    hourly = [(datetime(2025, 9, 30, 20, 0, tzinfo=UTC) + timedelta(hours=h), 100.0 - h) for h in range(2)]
    quarters = [
        (datetime(2025, 9, 30, 22, 0, tzinfo=UTC) + q * timedelta(minutes=15), 90.0 + (q % 4)) for q in range(8)
    ]
    quarters[5] = (quarters[5][0], -5.0)
    await load_prices(hub, unique, 60, hourly)
    await load_prices(hub, unique, 15, quarters)
    answer = await windows(
        hub, unique, earliest="2025-09-30T22:00", latest="2025-10-01T02:00", duration_min=30, power_kw=4, count=100
    )
    assert answer["resolution_min"] == 15
    starts = [w["start"] for w in answer["windows"]]
    assert starts[0] == "2025-10-01T01:00:00+02:00"  # 90 then the negative quarter (-5) beats -5 then 92
    assert "2025-09-30T22:00:00+02:00" in starts
    assert "2025-09-30T22:15:00+02:00" not in starts  # inside an hourly slot: not a slot boundary
    assert len(starts) == 2 + 7  # 22:00, 23:00 (hourly), then every quarter whose 30 minutes fit


async def test_bad_questions_are_400(hub: Client, market: str) -> None:
    base: dict[str, object] = {"market": market, "earliest": "2024-03-31T00:00", "latest": "2024-03-31T04:00"}
    extras: list[dict[str, object]] = [
        {},
        {"duration_min": 300, "power_kw": 1},
        {"profile_kw": "1,x"},
        {"profile_kw": "1,1", "contiguous": "false"},
        {"duration_min": 60, "power_kw": 1, "tz": "Mars/Base"},
        {"duration_min": 60, "power_kw": 1, "latest": "2024-03-30T00:00"},
        {"duration_min": 60, "power_kw": 1, "earliest": "2024-03-31T02:30"},  # does not exist
    ]
    for extra in extras:
        response = await hub.get("/energy/windows", params=base | extra)  # type: ignore[arg-type]
        assert response.status_code == 400, (extra, response.text)
