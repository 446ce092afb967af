"""A site's devices and energy actions on real prices (the SMARD 2024 spring switch day) and real meter readings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from luna_hub.settings.energy import EnergySettings
from luna_hub.timeseries.writer import ReadingRow, write_readings
from support.hub import migrated_pool, ready_client

Client = AsyncTestClient[Litestar]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DAY = "2024-03-31"


@dataclass
class Site:
    client: Client
    pool: asyncpg.Pool
    site: str
    meter: str

    async def device(self, **spec: Any) -> None:
        response = await self.client.post(f"/sites/{self.site}/devices", json=spec)
        assert response.status_code == 201, response.text

    async def actions(self) -> dict[str, Any]:
        response = await self.client.get(f"/sites/{self.site}/actions", params={"day": DAY})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def power(self, start: datetime, minutes: int, watts: float) -> None:
        rows: list[ReadingRow] = [
            (self.meter, "power_w", start + timedelta(minutes=m), watts, "W", "good", [], None, None)
            for m in range(0, minutes, 5)
        ]
        async with self.pool.acquire() as connection:
            await write_readings(connection, rows)


@pytest.fixture
async def site(hub_dsn: str) -> AsyncIterator[Site]:
    market, name = (f"e{uuid.uuid4().hex[:10]}" for _ in range(2))
    settings = HubSettings(database_url=hub_dsn, energy=EnergySettings(market=market, actions_per_day=2))
    async with migrated_pool(hub_dsn) as pool, ready_client(settings) as client:
        loaded = await client.post(
            "/data/load", params={"market": market}, content=(FIXTURES / "smard_dst_2024.csv").read_bytes()
        )
        assert loaded.status_code == 200, loaded.text
        meter = f"{name}-dishwasher"
        async with pool.acquire() as connection:
            await connection.execute("INSERT INTO sites (site_id) VALUES ($1)", name)
            await connection.execute("INSERT INTO meters (meter_id, site_id) VALUES ($1, $2)", meter, name)
        yield Site(client, pool, name, meter)


DISHWASHER = {
    "device_id": "dishwasher",
    "name": "Dishwasher",
    "type": "dishwasher",
    "power_kw": 2.0,
    "duration_min": 120,
    "earliest_start": "08:00",
    "deadline": "22:00",
    "baseline": "19:00",
}


async def test_an_action_names_its_window_saving_and_baseline(site: Site) -> None:
    await site.device(**DISHWASHER)
    answer = await site.actions()
    [action] = answer["actions"]
    assert action["title"] == f"Dishwasher on {DAY} 13:00–15:00: 0.39 € cheaper than at 19:00"  # noqa: RUF001
    assert action["windows"][0]["start"] == "2024-03-31T13:00:00+02:00"
    assert action["baseline"]["start"] == "2024-03-31T19:00:00+02:00"
    assert action["baseline"]["cost_eur"] == pytest.approx((117.29 + 83.72) * 2 / 1000)
    assert action["saving_eur"] == pytest.approx((117.29 + 83.72 - 3.06 - 1.03) * 2 / 1000)
    again = await site.actions()
    assert again["actions"][0]["action_id"] == action["action_id"]  # the same plan keeps its id


async def test_actions_become_recommendable_items(site: Site) -> None:
    """Each proposed action is an item ``energy_action`` (replaced, not duplicated, when it is planned again)."""
    await site.device(**DISHWASHER)
    await site.device(**DISHWASHER | {"device_id": "washer", "name": "Washer", "type": "washing_machine"})
    answer = await site.actions()
    await site.actions()
    rows = await site.pool.fetch(
        "SELECT item_id, type, title, tags, source, active FROM items WHERE item_id LIKE $1 ORDER BY item_id",
        f"energy_action:{site.site}:%",
    )
    expected = sorted(
        (f"energy_action:{site.site}:{a['action_id']}", a["title"], a["device_id"]) for a in answer["actions"]
    )
    assert len(expected) == 2
    assert [(r["item_id"], r["title"], r["tags"][-1]) for r in rows] == [
        (item_id, title, f"device:{device}") for item_id, title, device in expected
    ]
    assert {(r["type"], r["source"], r["active"]) for r in rows} == {("energy_action", "energy", True)}
    recommended = await site.client.get("/recommend", params={"k": 10, "type": "energy_action"})
    assert recommended.status_code == 200, recommended.text
    assert {i["item_id"] for i in recommended.json()["items"]} >= {item_id for item_id, _, _ in expected}


async def test_never_infeasible_and_at_most_n_a_day(site: Site) -> None:
    await site.device(**DISHWASHER)
    await site.device(**DISHWASHER | {"device_id": "washer", "name": "Washer", "type": "washing_machine"})
    await site.device(**DISHWASHER | {"device_id": "dryer", "name": "Dryer", "type": "dryer", "power_kw": 3.0})
    await site.device(
        **DISHWASHER | {"device_id": "tight", "name": "Tight", "earliest_start": "10:00", "deadline": "11:00"}
    )
    await site.device(**DISHWASHER | {"device_id": "capped", "name": "Capped", "max_price_eur_mwh": 1.0})
    ev = {"device_id": "ev", "name": "EV", "type": "ev", "power_kw": 11.0, "energy_kwh": 22.0, "contiguous": False}
    await site.device(
        **ev, earliest_start="20:00", deadline="07:00", baseline="20:00"
    )  # overnight: no price after 24:00
    answer = await site.actions()
    assert [a["device_id"] for a in answer["actions"]] == ["dryer", "dishwasher"]  # the largest savings, 2 a day
    reasons = {s["device_id"]: s["reason"] for s in answer["skipped"]}
    assert reasons["washer"] == "beyond energy.actions_per_day"
    assert reasons["tight"] == "the run does not fit between earliest_start and deadline"
    assert reasons["capped"] == "no feasible window (range or max_price_eur_mwh)"
    assert reasons["ev"].endswith("price from 2024-04-01 00:00 to 2024-04-01 07:00 yet")


async def test_a_dismissal_rests_the_device_and_a_running_load_is_left_alone(site: Site) -> None:
    await site.device(**DISHWASHER)
    [action] = (await site.actions())["actions"]
    dismissed = await site.client.post(f"/sites/{site.site}/actions/{action['action_id']}/dismiss")
    assert dismissed.status_code == 201, dismissed.text
    assert dismissed.json()["dismissed"] is True
    answer = await site.actions()
    assert answer["actions"] == []
    assert answer["skipped"] == [
        {"device_id": "dishwasher", "reason": "an action was dismissed recently (energy.dismiss_cooldown_hours)"}
    ]
    await site.device(**DISHWASHER | {"device_id": "metered", "meter_id": site.meter})
    await site.power(datetime.now(UTC) - timedelta(minutes=6), 5, 1800.0)
    running = await site.actions()
    assert running["actions"] == []
    assert {"device_id": "metered", "reason": f"running now: meter {site.meter} shows 1800 W"} in running["skipped"]
    missing = await site.client.post(f"/sites/{site.site}/actions/999999/dismiss")
    assert missing.status_code == 404


async def test_did_it_save_from_the_meter_and_prices(site: Site) -> None:
    await site.device(**DISHWASHER | {"meter_id": site.meter})
    await site.device(**DISHWASHER | {"device_id": "unmetered", "name": "Unmetered", "power_kw": 1.0})
    answer = await site.actions()
    by_device = {a["device_id"]: a["action_id"] for a in answer["actions"]}
    outcome = f"/sites/{site.site}/actions/{by_device['dishwasher']}/outcome"
    assert (await site.client.get(outcome)).json()["status"] == "no_data"
    start = datetime(2024, 3, 31, 11, 0, tzinfo=UTC)  # 13:00 CEST
    await site.power(start - timedelta(hours=1), 60, 0.0)  # idle before: not in the window
    await site.power(start, 120, 2000.0)
    result = (await site.client.get(outcome)).json()
    assert result["status"] == "done"
    assert result["measured_kwh"] == pytest.approx(4.0)
    assert result["cost_eur"] == pytest.approx((3.06 + 1.03) * 2 / 1000)
    assert result["baseline_cost_eur"] == pytest.approx((117.29 + 83.72) * 2 / 1000)
    assert result["saving_eur"] == pytest.approx((117.29 + 83.72 - 3.06 - 1.03) * 2 / 1000)
    unmetered = await site.client.get(f"/sites/{site.site}/actions/{by_device['unmetered']}/outcome")
    assert unmetered.json()["status"] == "no_meter"


async def test_did_it_save_values_the_measured_pv_at_the_feed_in_tariff(site: Site) -> None:
    await site.device(**DISHWASHER | {"meter_id": site.meter})
    [action] = (await site.actions())["actions"]  # 13:00-15:00 CEST, baseline 19:00
    pv = f"{site.site}-pv"
    async with site.pool.acquire() as connection:
        await connection.execute("INSERT INTO meters (meter_id, site_id) VALUES ($1, $2)", pv, site.site)
    energy = {"pv_meter_id": pv, "feed_in_eur_kwh": 0.08, "grid_fee_eur_kwh": 0.1}
    assert (await site.client.put(f"/sites/{site.site}/energy", json=energy)).status_code == 200
    start = datetime(2024, 3, 31, 11, 0, tzinfo=UTC)  # 13:00 CEST
    await site.power(start, 120, 2000.0)  # the dishwasher ran its 4 kWh in the window
    pv_rows: list[ReadingRow] = [
        (pv, "power_w", start + timedelta(minutes=m), 1000.0, "W", "good", [], None, None) for m in range(0, 60, 5)
    ]  # 1 kW of sun in the first hour only, none at 19:00
    async with site.pool.acquire() as connection:
        await write_readings(connection, pv_rows)
    result = (await site.client.get(f"/sites/{site.site}/actions/{action['action_id']}/outcome")).json()
    assert result["status"] == "done"
    assert result["pv_kwh"] == pytest.approx(1.0)
    bought = (2.0 - 1.0) * (3.06 + 100.0) + 2.0 * (1.03 + 100.0)  # kWh x EUR/MWh (market + fee), PV hour's rest
    assert result["cost_eur"] == pytest.approx((bought + 1.0 * 80.0) / 1000)
    assert result["baseline_cost_eur"] == pytest.approx((117.29 + 83.72 + 2 * 100.0) * 2 / 1000)
    assert result["saving_eur"] == pytest.approx(result["baseline_cost_eur"] - result["cost_eur"])


async def test_not_done_when_the_meter_shows_no_run(site: Site) -> None:
    await site.device(**DISHWASHER | {"meter_id": site.meter})
    [action] = (await site.actions())["actions"]
    await site.power(datetime(2024, 3, 31, 11, 0, tzinfo=UTC), 120, 3.0)  # standby only
    result = (await site.client.get(f"/sites/{site.site}/actions/{action['action_id']}/outcome")).json()
    assert result["status"] == "not_done"
    assert result["saving_eur"] is None


async def test_devices_are_listed_replaced_and_deleted(site: Site) -> None:
    await site.device(**DISHWASHER)
    await site.device(**DISHWASHER | {"power_kw": 1.5})
    listed = (await site.client.get(f"/sites/{site.site}/devices")).json()
    assert [(d["device"]["device_id"], d["device"]["power_kw"]) for d in listed] == [("dishwasher", 1.5)]
    bad = await site.client.post(f"/sites/{site.site}/devices", json=DISHWASHER | {"meter_id": "not-of-this-site"})
    assert bad.status_code == 400
    both = await site.client.post(f"/sites/{site.site}/devices", json=DISHWASHER | {"energy_kwh": 3.0})
    assert both.status_code == 400
    assert (await site.client.delete(f"/sites/{site.site}/devices/dishwasher")).status_code == 204
    assert (await site.client.delete(f"/sites/{site.site}/devices/dishwasher")).status_code == 404
