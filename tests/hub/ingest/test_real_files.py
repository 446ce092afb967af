"""Whole real files from ``../shared/data`` (skipped when that folder is absent), checked against the facts
their README lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
SMARD_2024 = DATA / "prices" / "smard" / "Gro_handelspreise_202401010000_202501010000_Stunde.csv"
ENTSOE_2024 = DATA / "prices" / "entsoe" / "Day-ahead Prices_202401010000-202501010000.csv"
pytestmark = pytest.mark.skipif(not SMARD_2024.is_file(), reason=f"real data not found at {DATA}")


async def query(hub: AsyncTestClient[Litestar], **params: Any) -> list[dict[str, Any]]:
    response = await hub.get("/data/query", params=params)
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["series"][0]["points"]
    return points


async def test_smard_2024_hourly_matches_the_published_facts(hub: AsyncTestClient[Litestar], unique: str) -> None:
    report = (await hub.post("/data/load", content=SMARD_2024.read_bytes(), params={"market": unique})).json()
    assert (report["stored"], report["rejected"], report["gaps"]) == (8784, 0, [])
    year = await query(hub, market=unique, start="2024-01-01", end="2025-01-01", bucket="1mo", aggregate="avg")
    assert [p["count"] for p in year][2:4] == [743, 720]  # March loses an hour to DST, October (index 9) gains one
    assert year[9]["count"] == 745
    total = sum(p["value"] * p["count"] for p in year) / sum(p["count"] for p in year)
    assert total == pytest.approx(78.512033, abs=1e-6)
    lows = await query(hub, market=unique, start="2024-05-01", end="2024-06-01", bucket="1mo", aggregate="min")
    assert lows[0]["value"] == -135.45
    highs = await query(hub, market=unique, start="2024-12-01", end="2025-01-01", bucket="1mo", aggregate="max")
    assert highs[0]["value"] == 936.28
    hours = await query(hub, market=unique, start="2024-01-01", end="2025-01-01", bucket="raw")
    assert sum(1 for p in hours if p["value"] < 0) == 457


async def test_entsoe_2024_equals_smard_where_it_has_prices(hub: AsyncTestClient[Litestar], unique: str) -> None:
    smard, entsoe = f"{unique}-smard", f"{unique}-entsoe"
    await hub.post("/data/load", content=SMARD_2024.read_bytes(), params={"market": smard})
    report = (await hub.post("/data/load", content=ENTSOE_2024.read_bytes(), params={"market": entsoe})).json()
    assert (report["stored"], report["rejected"]) == (6647, 0)
    window = {"start": "2024-01-01", "end": "2024-10-04", "bucket": "raw"}
    ours = await query(hub, market=entsoe, **window)
    theirs = await query(hub, market=smard, **window)
    assert ours == theirs
