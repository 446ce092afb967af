"""``POST /api/v1/ingest``: agents deliver batches of readings and status reports (see ``luna_hub.sync.services``)."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency

from luna_hub.auth.guards import presented_key
from luna_hub.settings import HubSettings
from luna_hub.sync.decoding import ACCEPT_ENCODING
from luna_hub.sync.services import IncomingMessage, receive

__all__ = ["AgentIngestController"]


class AgentIngestController(Controller):
    """Where agents sync to; authenticated by the agent's own key, always."""

    path = "/api/v1"
    tags = ["ingest"]  # noqa: RUF012 - Litestar's declared type

    @post(
        "/ingest",
        summary="Deliver a batch of readings (readings.v1) or a status report (status.v1)",
        request_max_body_size=None,  # ingest.max_body_bytes is enforced while reading, with a problem body
        status_code=200,
    )
    async def ingest(
        self,
        request: Request[Any, Any, Any],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
    ) -> Response[bytes]:
        """Store a batch exactly once and answer its ``ack.v1`` (in the request's content type), or 204 for a status.

        Errors are problem JSON and store nothing: 400 malformed, 401 no or unknown key, 403 another
        agent's or site's data, 409 a stored range with different content, 413 too large, 415 unknown
        content type or encoding, 422 unknown message version or readings from the future.
        """
        incoming = IncomingMessage(
            key=presented_key(request),
            content_type=request.headers.get("content-type"),
            content_encoding=request.headers.get("content-encoding"),
            content_length=request.content_length,
            body=request.stream(),
        )
        reply = await receive(db_pool, settings, incoming)
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        if reply.body is None:
            return Response(b"", status_code=204, headers=headers)
        return Response(reply.body, media_type=reply.media_type, headers=headers)
