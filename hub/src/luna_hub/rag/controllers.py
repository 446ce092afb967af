"""``POST /embed`` and ``POST /rag/ask`` (JSON, or server-sent events with ``"stream": true``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage

from luna_hub.auth.guards import actor_of, api_key_guard, readable_sites
from luna_hub.errors import UnavailableError
from luna_hub.problems import problem_body
from luna_hub.rag.schemas import Answer, AskRequest, Embeddings, EmbedRequest
from luna_hub.rag.services import RagService
from luna_shared.logs import get_logger

__all__ = ["RagController"]

_SERVER_ERROR = 500
_log = get_logger(__name__)


class RagController(Controller):
    """Embeddings and grounded answers."""

    tags = ["rag"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012

    @post(
        "/embed",
        status_code=200,
        summary="Embed texts with the configured embedding model",
        request_max_body_size=8 << 20,
    )
    async def embed(
        self, data: JSONBody[EmbedRequest], rag: NamedDependency[RagService], request: Request[Any, Any, Any]
    ) -> Embeddings:
        """Return one vector per text; 413 beyond ``rag.embed_max_texts``/``embed_max_chars``, 429 beyond the budget."""
        actor = actor_of(request)
        caller = actor if actor != "anonymous" else f"address {request.client.host if request.client else 'unknown'}"
        return await rag.embed(data.texts, purpose=data.purpose, actor=actor, endpoint="/embed", caller=caller)

    @post(
        "/rag/ask",
        status_code=200,
        summary="Answer a question from the documents (and stored series), with citations",
    )
    async def ask(
        self, data: JSONBody[AskRequest], rag: NamedDependency[RagService], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        """Answer as JSON, or stream ``sources``, ``token`` and ``done`` events when ``stream`` is true."""
        actor, sites = actor_of(request), readable_sites(request)
        if not data.stream:
            answer: Answer = await rag.ask(data, actor=actor, sites=sites)
            return Response(msgspec.json.encode(answer), media_type="application/json")

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            # The 200 is sent: from here on every failure must end the stream with an ``error`` event, never a cut.
            try:
                async for kind, payload in rag.ask_events(data, actor=actor, sites=sites):
                    yield ServerSentEventMessage(event=kind, data=msgspec.json.encode(payload).decode())
            except Exception as exc:  # noqa: BLE001 - each becomes the stream's problem JSON; 5xx are logged
                body = problem_body(exc, instance=request.url.path)
                if body["status"] >= _SERVER_ERROR and not isinstance(exc, UnavailableError):
                    _log.error("answer stream failed", path=request.url.path, status=body["status"], exc_info=exc)
                yield ServerSentEventMessage(event="error", data=msgspec.json.encode(body).decode())

        return ServerSentEvent(events())
