"""Energy actions with PV: real PV and house-load readings in PostgreSQL, real prices, a feed-in tariff.

PV and load: EMHASS's year of Home Assistant history (``fixtures/emhass_pv_20240324_30.csv``, 30-minute
mean W, 2024-03-24..30 local time; see ``fixtures/SOURCES.md``). Prices: SMARD, 2024-03-31 (the DST
switch day). The expected plan is searched here by brute force over every start, each costed with
:func:`load_cost_pv` under a forecast computed here straight from the CSV.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.energy.pv import persistence_forecast
from luna_hub.energy.repository import price_slots
from luna_hub.energy.windows import QUARTER, Tariff, load_cost_pv, load_energy
from luna_hub.settings import HubSettings
from luna_hub.settings.energy import EnergySettings
from luna_hub.timeseries.writer import ReadingRow, write_readings
from support.hub import migrated_pool, ready_client

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2024, 3, 31)
PV_COLUMN, LOAD_COLUMN = "sensor.power_photovoltaics", "sensor.power_load_no_var_loads"
FEED_IN, FEE = 0.082, 0.20  # EUR/kWh: an EEG feed-in tariff and grid fees, levies and VAT of a dynamic tariff
WASHER = {
    "device_id": "washer",
    "name": "Washing machine",
    "type": "washing_machine",
    "power_kw": 1.0,
    "duration_min": 120,
    "earliest_start": "08:00",
    "deadline": "22:00",
    "baseline": "19:00",
}


def recorded() -> list[dict[str, str]]:
    with (FIXTURES / "emhass_pv_20240324_30.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def forecast_from_csv(rows: list[dict[str, str]]) -> dict[datetime, float]:
    """The documented forecast, from the CSV directly: each 30-min row fills its two quarters; empty PV is 0 W."""
    pv: dict[date, dict[time, float]] = defaultdict(dict)
    load: dict[date, dict[time, float]] = defaultdict(dict)
    for row in rows:
        start = datetime.fromisoformat(row["timestamp_utc"])
        for quarter in (start, start + QUARTER):
            local = quarter.astimezone(BERLIN)
            pv[local.date()][local.time()] = float(row[PV_COLUMN] or 0.0)
            if row[LOAD_COLUMN]:
                load[local.date()][local.time()] = float(row[LOAD_COLUMN])
    history = [DAY - timedelta(days=n) for n in range(7, 0, -1)]
    best = sorted(history, key=lambda d: -sum(pv[d].values()))[: math.ceil(len(history) / 2)]
    surplus = {}
    start = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    for index in range(92):  # 23 hours
        quarter = start + index * QUARTER
        clock = quarter.astimezone(BERLIN).time()
        produced = statistics.fmean(pv[d].get(clock, 0.0) for d in best)
        used = statistics.median(load[d][clock] for d in history if clock in load[d])
        if produced > used:
            surplus[quarter] = (produced - used) / 1000
    return surplus


def test_the_forecast_is_the_clear_days_pv_minus_the_median_load() -> None:
    rows = recorded()
    readings: dict[str, dict[datetime, float]] = {PV_COLUMN: {}, LOAD_COLUMN: {}}
    for row in rows:
        for column, series in readings.items():
            if row[column]:
                series[datetime.fromisoformat(row["timestamp_utc"])] = float(row[column])
    forecast = persistence_forecast(readings[PV_COLUMN], readings[LOAD_COLUMN], DAY, BERLIN, history_days=7)
    expected = forecast_from_csv(rows)
    assert forecast.surplus_kw.keys() == expected.keys()
    assert [forecast.surplus_kw[q] for q in expected] == pytest.approx(list(expected.values()))
    # the sunniest 4 of 7 days (23.2, 17.6, 11.3 and 9.3 kWh of PV)
    assert forecast.clear_days == [date(2024, 3, 24), date(2024, 3, 25), date(2024, 3, 28), date(2024, 3, 29)]
    assert 5 < forecast.energy_kwh < 20
    assert all(quarter.astimezone(BERLIN).time() >= time(7) for quarter in forecast.surplus_kw)  # no sun at night


def test_no_history_no_surplus() -> None:
    forecast = persistence_forecast({}, None, DAY, BERLIN)
    assert (forecast.surplus_kw, forecast.clear_days) == ({}, [])


@dataclass
class PvSite:
    client: AsyncTestClient[Litestar]
    pool: asyncpg.Pool
    site: str
    market: str
    pv: str
    house: str


@pytest.fixture
async def pv_site(hub_dsn: str) -> AsyncIterator[PvSite]:
    market, name = (f"e{uuid.uuid4().hex[:10]}" for _ in range(2))
    settings = HubSettings(database_url=hub_dsn, energy=EnergySettings(market=market))
    async with migrated_pool(hub_dsn) as pool, ready_client(settings) as client:
        loaded = await client.post(
            "/data/load", params={"market": market}, content=(FIXTURES / "smard_dst_2024.csv").read_bytes()
        )
        assert loaded.status_code == 200, loaded.text
        pv, house = f"{name}-pv", f"{name}-house"
        rows: list[ReadingRow] = []
        for row in recorded():
            ts = datetime.fromisoformat(row["timestamp_utc"])
            for meter, column in ((pv, PV_COLUMN), (house, LOAD_COLUMN)):
                if row[column]:
                    rows.append((meter, "power_w", ts, float(row[column]), "W", "good", [], None, None))
        async with pool.acquire() as connection:
            await connection.execute("INSERT INTO sites (site_id, timezone) VALUES ($1, 'Europe/Berlin')", name)
            for meter in (pv, house):
                await connection.execute("INSERT INTO meters (meter_id, site_id) VALUES ($1, $2)", meter, name)
            await write_readings(connection, rows)
        yield PvSite(client, pool, name, market, pv, house)


async def test_an_action_runs_on_the_forecast_pv_valued_at_the_feed_in_tariff(pv_site: PvSite) -> None:
    site = f"/sites/{pv_site.site}"
    assert (await pv_site.client.get(f"{site}/energy")).status_code == 404
    settings = {
        "pv_meter_id": pv_site.pv,
        "load_meter_id": pv_site.house,
        "feed_in_eur_kwh": FEED_IN,
        "grid_fee_eur_kwh": FEE,
    }
    saved = await pv_site.client.put(f"{site}/energy", json=settings)
    assert saved.status_code == 200, saved.text
    assert (await pv_site.client.get(f"{site}/energy")).json()["energy"] == settings | {"pv_history_days": 7}
    assert (await pv_site.client.post(f"{site}/devices", json=WASHER)).status_code == 201
    answer = (await pv_site.client.get(f"{site}/actions", params={"day": DAY.isoformat()})).json()
    [action] = answer["actions"]

    # the expected plan: every price-slot start (hourly here) from 08:00 to 20:00, costed one by one
    tariff = Tariff(FEE * 1000, FEED_IN * 1000, forecast_from_csv(recorded()))
    earliest, latest = datetime(2024, 3, 31, 6, 0, tzinfo=UTC), datetime(2024, 3, 31, 20, 0, tzinfo=UTC)
    async with pv_site.pool.acquire() as connection:
        slots = await price_slots(connection, pv_site.market, earliest, latest)
    energy, duration = load_energy(timedelta(hours=2), power_kw=1.0), timedelta(hours=2)
    starts = [slot.start for slot in slots if earliest <= slot.start <= latest - duration]
    costed = {start: load_cost_pv(slots, energy, start, duration, tariff) for start in starts}
    best = min(starts, key=lambda start: (round(costed[start][0], 9), start))
    baseline = datetime(2024, 3, 31, 17, 0, tzinfo=UTC)  # 19:00 CEST
    base_cost, _ = costed[baseline]
    cost, pv = costed[best]

    window = action["windows"][0]
    assert datetime.fromisoformat(window["start"]) == best
    assert action["cost_eur"] == pytest.approx(cost, abs=1e-6)
    assert action["pv_kwh"] == pytest.approx(pv, abs=1e-6)
    assert action["baseline"]["cost_eur"] == pytest.approx(base_cost, abs=1e-6)
    assert action["saving_eur"] == pytest.approx(base_cost - cost, abs=1e-6)
    assert pv > 1.0  # mostly on PV: more than half of the 2 kWh
    assert best.astimezone(BERLIN).hour < 13
    local = best.astimezone(BERLIN)
    title = (
        f"Washing machine on {DAY} {local:%H:%M}–{local + duration:%H:%M}: runs mostly on your PV"  # noqa: RUF001
        f" (valued at 8.2 ct/kWh feed-in), {base_cost - cost:.2f} € cheaper than at 19:00"
    )
    assert action["title"] == title
    # without PV the same prices plan the market's cheapest hours (13:00-15:00), at market price plus fee
    without = await pv_site.client.put(f"{site}/energy", json={"grid_fee_eur_kwh": FEE})
    assert without.status_code == 200, without.text
    [plain] = (await pv_site.client.get(f"{site}/actions", params={"day": DAY.isoformat()})).json()["actions"]
    assert plain["windows"][0]["start"] == "2024-03-31T13:00:00+02:00"
    assert plain["pv_kwh"] == 0
    assert re.fullmatch(r"Washing machine on 2024-03-31 13:00–15:00: \d+\.\d\d € cheaper than at 19:00", plain["title"])  # noqa: RUF001


async def test_the_pv_meter_must_be_the_sites(pv_site: PvSite) -> None:
    bad = await pv_site.client.put(f"/sites/{pv_site.site}/energy", json={"pv_meter_id": "someone-else"})
    assert bad.status_code == 400
    assert "pv_meter_id" in bad.json()["detail"]
    typo = await pv_site.client.put(f"/sites/{pv_site.site}/energy", json={"feed_in_ct": 8.2})
    assert typo.status_code == 400
    alone = await pv_site.client.put(f"/sites/{pv_site.site}/energy", json={"load_meter_id": pv_site.house})
    assert alone.status_code == 400
    assert "needs pv_meter_id" in alone.text
