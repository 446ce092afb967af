"""A streamed answer failing after its 200 ends with an ``error`` event of problem JSON, never a cut (issue 16)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.errors import BadRequestError, UnavailableError, UnprocessableError
from luna_hub.rag.services import RagService
from support.ollama import OllamaTestServer

Client = AsyncTestClient[Litestar]
QUESTION = "Mit welcher Frist kann der Grundversorgungsvertrag gekündigt werden?"


def parse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), "")
        data = "\n".join(line[5:].lstrip() for line in lines if line.startswith("data:"))
        if kind:
            events.append((kind, msgspec.json.decode(data)))
    return events


async def stream(client: Client, question: str) -> list[tuple[str, Any]]:
    response = await client.post("/rag/ask", json={"question": question, "stream": True})
    assert response.status_code == 200
    return parse_events(response.text)


async def test_a_model_server_failing_mid_answer_ends_the_stream_with_an_error_event(
    generative_hub: tuple[Client, OllamaTestServer],
) -> None:
    client, server = generative_hub
    server.garbage_after = 3
    events = await stream(client, QUESTION)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources"
    assert kinds[1:4] == ["token"] * 3
    assert kinds[-1] == "error"
    assert "done" not in kinds
    problem = events[-1][1]
    assert problem["status"] == 500
    assert problem["instance"] == "/rag/ask"
    assert "see its log" in problem["detail"]


failures = st.sampled_from(
    [
        RuntimeError("boom"),
        ValueError("bad value"),
        KeyError("missing"),
        OverflowError("date value out of range"),
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
        BadRequestError("bad question"),
        UnprocessableError("impossible"),
        UnavailableError("database unreachable"),
    ]
)


@pytest.fixture
def rag_service(rag_hub: Client) -> RagService:
    service: RagService = rag_hub.app.state.rag
    return service


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.integers(0, 3), failure=failures)
async def test_any_failure_at_any_point_of_a_stream_becomes_its_last_event(
    rag_hub: Client, rag_service: RagService, before: int, failure: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*_args: Any, **_kwargs: Any) -> AsyncIterator[tuple[str, Any]]:
        for number in range(before):
            yield "token", {"text": f"piece {number}"}
        raise failure

    with monkeypatch.context() as patch:
        patch.setattr(rag_service, "ask_events", failing)
        events = await stream(rag_hub, QUESTION)
    assert [kind for kind, _ in events] == ["token"] * before + ["error"]
    problem = events[-1][1]
    expected = getattr(failure, "status", 500)
    assert problem["status"] == expected
    assert {"type", "title", "status", "detail", "instance"} <= set(problem)
    if expected == 500:
        assert str(failure) not in problem["detail"]  # internals stay in the log
