"""An Ollama-API test server on loopback: the transport seam of the hub's Ollama provider.

It answers ``/api/tags``, ``/api/embed`` and ``/api/chat`` with Ollama's request and response shapes
(NDJSON streaming for chat), so the real ``ollama`` client and the hub's code run unchanged. No model
runs: embeddings are hashed bags of words and character trigrams (deterministic, similar texts get
similar vectors), and chat quotes the source that shares most words with the question. Every request
body is kept in ``requests`` for tests to inspect (e.g. that ``num_ctx`` was set).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.response import Stream

__all__ = ["OllamaTestServer", "ollama_test_server"]

EMBED_DIMS = 768
_WORD = re.compile(r"\w+", re.UNICODE)


def fake_embedding(text: str, dims: int = EMBED_DIMS) -> list[float]:
    """A deterministic unit vector from the text's words and trigrams (hashing trick)."""
    vector = [0.0] * dims
    lowered = text.lower()
    features = _WORD.findall(lowered) + [lowered[i : i + 3] for i in range(max(len(lowered) - 2, 0))]
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dims
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _reply(messages: list[dict[str, Any]]) -> str:
    question_text = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    sources = re.findall(r"^\[(\d+)\][^\n]*\n(.*?)(?=^\[\d+\]|\Z)", question_text, flags=re.MULTILINE | re.DOTALL)
    question = question_text.rsplit("Question:", 1)[-1]
    wanted = set(_WORD.findall(question.lower()))
    best: tuple[int, str, str] | None = None
    for number, body in sources:
        overlap = len(wanted & set(_WORD.findall(body.lower())))
        if best is None or overlap > best[0]:
            best = (overlap, number, body)
    if best is None or best[0] == 0:
        return "The sources do not contain the answer."
    sentence = re.split(r"(?<=[.!?])\s", best[2].strip(), maxsplit=1)[0]
    return f"According to the sources, {sentence} [{best[1]}]"


@dataclass
class OllamaTestServer:
    """Where the test server listens, which models it offers and what it was asked."""

    url: str = ""
    models: dict[str, str] = field(
        default_factory=lambda: {
            "nomic-embed-text:latest": "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
            "llama3.1:8b-instruct-q4_K_M": "46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
        }
    )
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    garbage_after: int | None = None
    """Send a line that is not JSON after this many streamed words (a model server failing mid-answer)."""

    def has(self, model: str) -> bool:
        """Whether ``model`` (with or without ``:latest``) is offered."""
        return model in self.models or f"{model}:latest" in self.models

    def app(self) -> Litestar:
        """The Litestar app speaking Ollama's API."""

        def missing(model: str) -> Response[dict[str, str]]:
            return Response({"error": f'model "{model}" not found, try pulling it first'}, status_code=404)

        @get("/api/tags")
        async def tags() -> dict[str, Any]:
            return {
                "models": [
                    {"name": name, "model": name, "modified_at": "2025-01-01T00:00:00Z", "size": 1, "digest": digest}
                    for name, digest in self.models.items()
                ]
            }

        @post("/api/embed", status_code=200)
        async def embed(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
            body = msgspec.json.decode(await request.body())
            self.requests.append(("embed", body))
            if not self.has(body["model"]):
                return missing(body["model"])
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            tokens = sum(len(_WORD.findall(text)) for text in texts)
            embeddings = [fake_embedding(text) for text in texts]
            return Response({"model": body["model"], "embeddings": embeddings, "prompt_eval_count": tokens})

        @post("/api/chat", status_code=200)
        async def chat(request: Request[Any, Any, Any]) -> Response[Any]:
            body = msgspec.json.decode(await request.body())
            self.requests.append(("chat", body))
            if not self.has(body["model"]):
                return missing(body["model"])
            answer = _reply(body["messages"])
            prompt_tokens = sum(len(_WORD.findall(m["content"])) for m in body["messages"])
            final = {
                "model": body["model"],
                "created_at": "2025-01-01T00:00:00Z",
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": prompt_tokens,
                "eval_count": len(answer.split()),
            }
            if not body.get("stream", True):
                return Response({**final, "message": {"role": "assistant", "content": answer}})

            async def lines() -> AsyncIterator[bytes]:
                words = re.findall(r"\S+\s*", answer)
                for word in words[: self.garbage_after]:
                    part = {"model": body["model"], "created_at": final["created_at"], "done": False}
                    yield msgspec.json.encode({**part, "message": {"role": "assistant", "content": word}}) + b"\n"
                last = {**final, "message": {"role": "assistant", "content": ""}}
                yield b"{not json\n" if self.garbage_after is not None else msgspec.json.encode(last) + b"\n"

            return Stream(lines(), media_type="application/x-ndjson")

        return Litestar([tags, embed, chat], logging_config=None)


@asynccontextmanager
async def ollama_test_server() -> AsyncIterator[OllamaTestServer]:
    """Serve an :class:`OllamaTestServer` on a free loopback port for the duration of the block.

    It runs in a thread of its own with its own event loop: Litestar's test client blocks the test's
    loop while the in-process hub handles a request, and the hub's calls to Ollama must still be answered.
    """
    state = OllamaTestServer()
    server = uvicorn.Server(
        uvicorn.Config(state.app(), host="127.0.0.1", port=0, log_config=None, lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="ollama test server")
    thread.start()
    while not server.started and thread.is_alive():  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.01)
    if not server.started:
        msg = "the Ollama test server did not start"
        raise RuntimeError(msg)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    state.url = f"http://{host}:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
