"""ASGI middleware shared by the hub's API and the agent's status API."""

from __future__ import annotations

import re
from typing import Any, Final

from luna_shared.logs import correlation

__all__ = ["REQUEST_ID_HEADER", "request_id_middleware"]

REQUEST_ID_HEADER: Final = b"x-request-id"
_ACCEPTABLE_ID: Final = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

Scope = dict[str, Any]
Message = dict[str, Any]


class _RequestIdMiddleware:
    """Bind a request id to every log line of an HTTP request and echo it in ``X-Request-ID``.

    A well-formed id sent by the client (or a proxy) is kept so one request can be followed
    across systems; anything else is replaced by a fresh id.
    """

    def __init__(self, app: Any) -> None:  # noqa: ANN401 - any ASGI application
        self._app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:  # noqa: ANN401
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        offered = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER, b"")
        given = offered.decode("ascii") if _ACCEPTABLE_ID.match(offered) else None
        with correlation("request_id", given) as request_id:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode("ascii"))]
                    message = {**message, "headers": headers}
                await send(message)

            await self._app(scope, receive, send_with_id)


def request_id_middleware(app: Any) -> Any:  # noqa: ANN401 - Litestar's middleware factory signature
    """Wrap ``app`` so each HTTP request gets a request id (Litestar applies it to every routed request)."""
    return _RequestIdMiddleware(app)
