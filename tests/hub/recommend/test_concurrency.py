"""Two hubs on one database learning at once: no reward lost, none counted twice.

Two real hubs (uvicorn, each in a thread of its own, each with its own Qdrant folder) take the
rewards of the same servings concurrently, most of them for the same few items. Afterwards each
item's statistics must equal exactly what the rewarded servings add up to: A = I + Σ x xᵀ and
b = Σ r x over the contexts logged with them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import numpy as np

from luna_hub.recommend.features import FEATURE_DIMS
from support.hub import served_hub
from support.recommend import reco_settings


async def test_two_hubs_rewarding_the_same_items_concurrently_lose_nothing(hub_dsn: str, tmp_path: Path) -> None:
    item_type = f"t{uuid.uuid4().hex[:10]}"
    ids = [f"{item_type}-{n}" for n in range(3)]
    settings_a = reco_settings(hub_dsn, tmp_path / "a", policy="thompson", epsilon=0.2)
    settings_b = reco_settings(hub_dsn, tmp_path / "b", policy="thompson", epsilon=0.2)
    async with (
        served_hub(settings_a) as url_a,
        served_hub(settings_b) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=60) as a,
        httpx.AsyncClient(base_url=url_b, timeout=60) as b,
    ):
        items = [{"item_id": i, "type": item_type, "title": f"item {i}"} for i in ids]
        assert (await a.post("/items", json={"items": items})).status_code == 200
        servings = []
        for n in range(16):
            user = f"user-{n % 4}"
            answer = (await a.get("/recommend", params={"user_id": user, "k": 3, "type": item_type})).json()
            servings += [(user, answer["recommendation_id"], item["item_id"]) for item in answer["items"]]

        async def reward(client: httpx.AsyncClient, user: str, rid: str, item: str, kind: str) -> None:
            body = {
                "event_id": uuid.uuid4().hex,
                "user_id": user,
                "type": kind,
                "item_id": item,
                "recommendation_id": rid,
                "ts": datetime.now(UTC).isoformat(),
            }
            response = await client.post("/events", json={"events": [body]})
            assert response.status_code == 200, response.text

        # each serving: a view on one hub and (for every other one) a click on the other, all at once
        await asyncio.gather(
            *(reward(a if n % 2 else b, user, rid, item, "view") for n, (user, rid, item) in enumerate(servings)),
            *(
                reward(b if n % 2 else a, user, rid, item, "click")
                for n, (user, rid, item) in enumerate(servings)
                if n % 3 == 0
            ),
        )
    connection = await asyncpg.connect(hub_dsn)
    try:
        rows = await connection.fetch(
            """
            SELECT ri.item_id, ri.reward, rc.context FROM recommendation_items ri
            JOIN recommendation_candidates rc USING (recommendation_id, item_id)
            WHERE ri.item_id = ANY($1)
            """,
            ids,
        )
        arms = {
            r["item_id"]: r for r in await connection.fetch("SELECT * FROM recommend_arms WHERE item_id = ANY($1)", ids)
        }
    finally:
        await connection.close()
    assert len(rows) == len(servings) == 48
    assert all(row["reward"] is not None for row in rows)
    for item in ids:
        mine = [row for row in rows if row["item_id"] == item]
        x = np.asarray([row["context"] for row in mine], dtype=np.float64).reshape(-1, FEATURE_DIMS)
        r = np.asarray([row["reward"] for row in mine])
        assert arms[item]["rewards"] == len(mine)
        stored_a = np.asarray(arms[item]["a"]).reshape(FEATURE_DIMS, FEATURE_DIMS)
        np.testing.assert_allclose(stored_a, np.eye(FEATURE_DIMS) + x.T @ x, atol=1e-9)
        np.testing.assert_allclose(np.asarray(arms[item]["b"]), r @ x, atol=1e-9)
    clicked = {item for n, (_, _, item) in enumerate(servings) if n % 3 == 0}
    assert sum(row["reward"] for row in rows) == sum(1 for n in range(len(servings)) if n % 3 == 0)
    assert clicked
