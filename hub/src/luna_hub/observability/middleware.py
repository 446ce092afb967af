"""ASGI middleware: time every routed request by route template, method and status; bind the app's metrics.

It also opens the request's log scope for ``agent_id`` (bound by the sync domain once it knows
the agent), so every line about the request, uvicorn's access line too, names the agent.
"""

from __future__ import annotations

import time
from typing import Any

from luna_hub.metrics import HubMetrics, bound
from luna_shared.logs import log_scope

__all__ = ["metrics_middleware"]

Scope = dict[str, Any]
Message = dict[str, Any]


class _MetricsMiddleware:
    """Observe ``luna_http_request_duration_seconds`` once per HTTP request (status 500 when none was sent).

    The route label is the template (``/documents/{document_id}``), never the path, so the number
    of series stays bounded whatever clients ask for.
    """

    def __init__(self, app: Any) -> None:  # noqa: ANN401 - any ASGI application
        self._app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:  # noqa: ANN401
        """Handle one ASGI connection."""
        metrics: HubMetrics | None = getattr(scope["app"].state, "metrics", None)
        if scope["type"] != "http" or metrics is None:
            await self._app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            with bound(metrics), log_scope("agent_id"):
                await self._app(scope, receive, send_noting_status)
        finally:
            route = str(scope.get("path_template") or "unrouted")
            metrics.http_duration.labels(route, scope.get("method", "GET"), str(status)).observe(
                time.perf_counter() - started
            )


def metrics_middleware(app: Any) -> Any:  # noqa: ANN401 - Litestar's middleware factory signature
    """Wrap ``app`` so each routed HTTP request is timed into the app's metrics."""
    return _MetricsMiddleware(app)
