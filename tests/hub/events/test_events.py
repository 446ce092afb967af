"""POST /items and POST /events on the real database: idempotency, all-or-nothing batches, who may send what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from support.recommend import OpenHub, event


async def stored_events(dsn: str, event_ids: list[str]) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(
            await connection.fetch("SELECT * FROM user_events WHERE event_id = ANY($1) ORDER BY event_id", event_ids)
        )
    finally:
        await connection.close()


async def arm(dsn: str, item_id: str) -> asyncpg.Record | None:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchrow("SELECT * FROM recommend_arms WHERE item_id = $1", item_id)
    finally:
        await connection.close()


async def test_events_are_idempotent_by_event_id_and_a_reward_counts_once(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        [a] = await hub.items("a")
        user = await hub.caller()
        answer = await hub.recommend(user, k=1)
        batch = [event("view", a, answer["recommendation_id"]), event("click", a, answer["recommendation_id"])]
        first = await hub.send(user, *batch)
        assert first.json() == {"stored": 2, "duplicates": 0}
        again = await hub.send(user, *batch, event("done", a))
        assert again.json() == {"stored": 1, "duplicates": 2}
        repeated_in_one = await hub.send(user, *(2 * [event("view", a)]))
        assert repeated_in_one.json() == {"stored": 1, "duplicates": 1}
        rows = await stored_events(hub.dsn, [e["event_id"] for e in batch])
        assert {(row["type"], row["user_id"]) for row in rows} == {("view", user.name), ("click", user.name)}
        stats = await arm(hub.dsn, a)
        assert stats is not None
        assert stats["rewards"] == 1  # one serving, rewarded once (its best reward: the click)
        assert stats["b"][0] == 1.0  # reward 1 x the bias feature 1


async def test_a_bad_event_refuses_the_whole_batch(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        [a] = await hub.items("a")
        user = await hub.caller()
        good = event("click", a)
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        cases: list[tuple[dict[str, Any], int]] = [
            (event("click", f"{hub.item_type}-no-such-item"), 422),
            (event("purchase", a), 400),
            (event("click", a, ts=future), 422),
            (event("click", a, ts="2026-01-01T12:00:00"), 422),  # no offset
            (event("rating", a), 422),  # a rating needs its value
            (event("rating", a, value=9), 422),
            (event("click", a, str(uuid.uuid4())), 422),  # a recommendation never made
            ({"event_id": "x", "type": "click"}, 400),
        ]
        for bad, status in cases:
            response = await hub.send(user, good, bad)
            assert response.status_code == status, (bad, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert await stored_events(hub.dsn, [good["event_id"]]) == []
        assert (await hub.send(user, good)).json() == {"stored": 1, "duplicates": 0}


async def test_only_analysts_and_admins_act_for_other_users(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        [a] = await hub.items("a")
        alice, bob, analyst = await hub.caller(), await hub.caller(), await hub.caller("analyst")
        for_bob = event("click", a, user_id=bob.name)
        assert (await hub.send(alice, for_bob)).status_code == 403
        assert (await hub.send(analyst, for_bob)).json() == {"stored": 1, "duplicates": 0}
        assert (await stored_events(hub.dsn, [for_bob["event_id"]]))[0]["sent_by"] == analyst.name
        own = event("click", a, user_id=alice.name)
        assert (await hub.send(alice, own)).status_code == 200

        params = {"type": hub.item_type, "user_id": bob.name}
        assert (await hub.client.get("/recommend", params=params, headers=alice.headers)).status_code == 403
        for_bob_answer = await hub.client.get("/recommend", params=params, headers=analyst.headers)
        assert for_bob_answer.status_code == 200
        rid = for_bob_answer.json()["recommendation_id"]
        explain = {"recommendation_id": rid}
        assert (await hub.client.get("/recommend/explain", params=explain, headers=alice.headers)).status_code == 403
        assert (await hub.client.get("/recommend/explain", params=explain, headers=bob.headers)).status_code == 200
        # an event may not reward another user's recommendation
        assert (await hub.send(alice, event("click", a, rid))).status_code == 422
        assert (await hub.client.post("/items", json={"items": []}, headers=alice.headers)).status_code == 403
        unknown = {"recommendation_id": str(uuid.uuid4())}
        assert (await hub.client.get("/recommend/explain", params=unknown)).status_code == 404


async def test_items_are_upserted_and_bad_items_refused(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        [a] = await hub.items("a")
        body = {"items": [{"item_id": a, "type": hub.item_type, "title": "Renamed", "tags": ["x", "y"]}]}
        response = await hub.client.post("/items", json=body)
        assert response.json()["stored"] == 1
        assert response.json()["collection"].startswith("items_usem3_")
        answer = await hub.recommend(await hub.caller(), k=1)
        assert answer["items"][0]["title"] == "Renamed"
        for bad in (
            {"items": [{"item_id": "", "type": "x", "title": "t"}]},
            {"items": [{"item_id": "a", "type": "Bad Type", "title": "t"}]},
            {"items": [{"item_id": "a", "type": "x", "title": ""}]},
            {"items": [{"item_id": "a", "type": "x", "title": "t", "tags": ["\u0000"]}]},
        ):
            assert (await hub.client.post("/items", json=bad)).status_code == 400, bad


async def test_new_hub_without_items_recommends_nothing_but_answers(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        answer = await hub.recommend(await hub.caller())
        assert answer["items"] == []
        assert uuid.UUID(answer["recommendation_id"]).version == 4
