"""What answering a question records in ``/metrics``: each RAG stage, each model call and its tokens.

The chat model is the Ollama-API test server on loopback (the transport seam, see ``support.ollama``).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from luna_hub.settings import OllamaSettings
from support.ollama import OllamaTestServer

Client = AsyncTestClient[Litestar]


async def _samples(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_a_generative_answer_records_its_stages_calls_and_tokens(
    generative_hub: tuple[Client, OllamaTestServer],
) -> None:
    client, server = generative_hub
    response = await client.post("/rag/ask", json={"question": "Wie hoch ist die Stromsteuer pro Megawattstunde?"})
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == "generative"
    samples = await _samples(client)
    for stage in ("data", "embed", "retrieve", "generate"):
        assert samples[("luna_rag_duration_seconds_count", frozenset({("stage", stage)}))] == 1, stage
    generate = frozenset({("operation", "generate"), ("model", OllamaSettings().chat_model)})
    assert samples[("luna_model_call_duration_seconds_count", generate)] == 1
    embed = frozenset({("operation", "embed"), ("model", "usem3")})
    assert samples[("luna_model_call_duration_seconds_count", embed)] == 1  # the question; usem3 counts no tokens
    chat = [body for kind, body in server.requests if kind == "chat"]
    assert len(chat) == 1
    answer_words = len(response.json()["answer"].split())
    completion = samples[("luna_model_tokens_total", generate | {("kind", "completion")})]
    assert completion == answer_words  # the test server reports eval_count as the answer's words
    assert samples[("luna_model_tokens_total", generate | {("kind", "prompt")})] > 0
