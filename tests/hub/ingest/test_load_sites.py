"""``POST /data/load?site=S``: the file records its site, meters it brings without one become the site's.

A load without ``site`` leaves the meters it creates without site (analysts and admins read them);
a load with a site that names another site's meter is refused whole (403, nothing stored).
"""

from __future__ import annotations

import hashlib

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from support.hub import SiteCallers, admin_key, bearer, migrated_pool, site_callers

Client = AsyncTestClient[Litestar]
Sites = SiteCallers


@pytest.fixture
async def sites(hub_dsn: str, unique: str) -> Sites:
    return await site_callers(hub_dsn, f"{unique}-site", f"{unique}-other")


def readings(*meters: str, value: float = 1.0, day: int = 1) -> bytes:
    rows = "".join(
        f"{meter},power_w,2024-03-{day:02d}T{hour:02d}:00:00Z,{value},W\n" for meter in meters for hour in range(3)
    )
    return ("meter_id,metric,ts,value,unit\n" + rows).encode()


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def query(meter: str) -> dict[str, str]:
    return {"meter": meter, "metric": "power_w", "start": "2024-03-01", "end": "2024-03-05", "bucket": "1h"}


async def fetch(hub_dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
        return rows


async def test_the_site_s_users_read_what_a_load_for_it_brought_others_get_403(
    hub: Client, hub_dsn: str, sites: Sites, unique: str
) -> None:
    meter = f"{unique}-m"
    body = readings(meter)
    loaded = await hub.post("/data/load", params={"site": sites.site, "name": "site.csv"}, content=body)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["stored"] == 3
    own = await hub.get("/data/query", params=query(meter), headers=sites.own)
    assert own.status_code == 200, own.text
    assert [p["value"] for p in own.json()["series"][0]["points"]] == [1.0, 1.0, 1.0]
    refused = await hub.get("/data/query", params=query(meter), headers=sites.foreign)
    assert refused.status_code == 403
    assert refused.json()["detail"] == f"meter {meter!r} is not at a site of yours"
    [file] = await fetch(hub_dsn, "SELECT site_id FROM loaded_files WHERE sha256 = $1", sha256(body))
    assert file["site_id"] == sites.site
    [row] = await fetch(hub_dsn, "SELECT site_id, agent_id FROM meters WHERE meter_id = $1", meter)
    assert (row["site_id"], row["agent_id"]) == (sites.site, None)


async def test_without_site_the_new_meters_are_for_analysts_and_admins_only(
    hub: Client, hub_dsn: str, sites: Sites, unique: str
) -> None:
    meter = f"{unique}-nosite"
    body = readings(meter)
    assert (await hub.post("/data/load", content=body)).status_code == 200
    assert (await hub.get("/data/query", params=query(meter), headers=sites.own)).status_code == 403
    assert (await hub.get("/data/query", params=query(meter), headers=sites.foreign)).status_code == 403
    assert (await hub.get("/data/query", params=query(meter), headers=sites.analyst)).status_code == 200
    [file] = await fetch(hub_dsn, "SELECT site_id FROM loaded_files WHERE sha256 = $1", sha256(body))
    assert file["site_id"] is None
    # a later load for a site claims the meter without site, as an agent's first batch does
    more = readings(meter, day=2)
    assert (await hub.post("/data/load", params={"site": sites.site}, content=more)).status_code == 200
    assert (await hub.get("/data/query", params=query(meter), headers=sites.own)).status_code == 200


async def test_a_load_naming_a_meter_of_another_site_is_refused_and_stores_nothing(
    hub: Client, hub_dsn: str, sites: Sites, unique: str
) -> None:
    meter, fresh = f"{unique}-owned", f"{unique}-fresh"
    assert (await hub.post("/data/load", params={"site": sites.site}, content=readings(meter))).status_code == 200
    body = readings(fresh, meter, value=99.0, day=3)
    refused = await hub.post("/data/load", params={"site": sites.other}, content=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == (
        f"meters of another site: {meter!r} (site {sites.site!r});"
        f" this load is for site {sites.other!r}: nothing stored"
    )
    stored = await fetch(hub_dsn, "SELECT meter_id FROM smart_meter_readings WHERE meter_id = ANY($1)", [meter, fresh])
    assert sorted(row["meter_id"] for row in stored) == [meter] * 3  # the first load's readings only
    assert await fetch(hub_dsn, "SELECT 1 FROM meters WHERE meter_id = $1", fresh) == []
    assert await fetch(hub_dsn, "SELECT 1 FROM loaded_files WHERE sha256 = $1", sha256(body)) == []
    [row] = await fetch(hub_dsn, "SELECT site_id FROM meters WHERE meter_id = $1", meter)
    assert row["site_id"] == sites.site


async def test_a_caller_limited_to_sites_loads_only_for_those(hub: Client, hub_dsn: str, sites: Sites) -> None:
    async with migrated_pool(hub_dsn) as pool:
        limited = bearer(await admin_key(pool, "analyst", [sites.site]))
    meter = f"{sites.site}-limited"
    refused = await hub.post("/data/load", params={"site": sites.other}, content=readings(meter), headers=limited)
    assert refused.status_code == 403
    assert refused.json()["detail"] == f"site {sites.other!r} is not one of yours"
    assert await fetch(hub_dsn, "SELECT 1 FROM meters WHERE meter_id = $1", meter) == []
    allowed = await hub.post("/data/load", params={"site": sites.site}, content=readings(meter), headers=limited)
    assert allowed.status_code == 200, allowed.text
    # without site=, only into meters of its sites: not into new ones (they would have none), nor another site's
    assert (await hub.post("/data/load", content=readings(meter, day=2), headers=limited)).status_code == 200
    theirs, fresh = f"{sites.other}-theirs", f"{sites.site}-fresh"
    assert (await hub.post("/data/load", params={"site": sites.other}, content=readings(theirs))).status_code == 200
    for body in (readings(theirs, day=3), readings(fresh), readings(meter, fresh, day=4)):
        refused = await hub.post("/data/load", content=body, headers=limited)
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"].startswith("meters not at a site of yours: ")
    stored = await fetch(
        hub_dsn, "SELECT count(*) AS n FROM smart_meter_readings WHERE meter_id = ANY($1)", [meter, theirs, fresh]
    )
    assert stored[0]["n"] == 9  # 3 + 3 of the limited analyst's own meter, 3 of the other site's load
    assert await fetch(hub_dsn, "SELECT 1 FROM meters WHERE meter_id = $1", fresh) == []


async def test_a_malformed_site_is_a_400(hub: Client) -> None:
    response = await hub.post("/data/load", params={"site": "no such/site"}, content=readings("m-bad-site"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("site id 'no such/site' is not of the form")
