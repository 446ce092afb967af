"""User events as a TimescaleDB hypertable (the real engine, see support.timescale): the same API as on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from luna_hub.settings import AuthSettings, HubSettings
from support.hub import migrated_pool, ready_client
from support.recommend import reco_settings

pytestmark = pytest.mark.slow


async def test_events_stay_idempotent_and_learn_on_timescaledb(timescale_dsn: str, tmp_path: Path) -> None:
    base = reco_settings(timescale_dsn, tmp_path)
    settings = HubSettings(
        database_url=timescale_dsn,
        data_dir=base.data_dir,
        recommend=base.recommend,
        database_pool_size=1,
        database_statement_cache_size=0,
        database_search_path="public",
        bulk_insert="unnest",
        auth=AuthSettings(required=False),  # loopback; the engine serves one connection
    )
    item_type = f"t{uuid.uuid4().hex[:10]}"
    async with ready_client(settings, as_admin=False) as client:
        items = [{"item_id": f"{item_type}-{n}", "type": item_type, "title": f"item {n}"} for n in range(3)]
        assert (await client.post("/items", json={"items": items})).status_code == 200
        answer = (await client.get("/recommend", params={"type": item_type, "k": 2})).json()
        assert len(answer["items"]) == 2
        liked = answer["items"][1]["item_id"]
        old = (datetime.now(UTC) - timedelta(days=400)).isoformat()  # an old event: another chunk
        events = [
            {"event_id": uuid.uuid4().hex, "type": "view", "item_id": liked, "ts": old},
            {
                "event_id": uuid.uuid4().hex,
                "type": "click",
                "item_id": liked,
                "recommendation_id": answer["recommendation_id"],
                "ts": datetime.now(UTC).isoformat(),
            },
        ]
        assert (await client.post("/events", json={"events": events})).json() == {"stored": 2, "duplicates": 0}
        assert (await client.post("/events", json={"events": events})).json() == {"stored": 0, "duplicates": 2}
        explained = await client.get("/recommend/explain", params={"recommendation_id": answer["recommendation_id"]})
        assert {i["item_id"]: i["reward"] for i in explained.json()["items"]}[liked] == 1.0
        again = (await client.get("/recommend", params={"type": item_type, "k": 1})).json()
        assert again["items"][0]["item_id"] == liked


async def test_user_events_are_a_hypertable(timescale_dsn: str) -> None:
    engine = migrated_pool(timescale_dsn, max_size=1, statement_cache_size=0, search_path="public")
    async with engine as pool, pool.acquire() as connection:
        hypertables = await connection.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")
    assert "user_events" in {row["hypertable_name"] for row in hypertables}
