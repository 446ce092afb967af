"""Security headers on every HTTP response of the hub's API and the agent's status API.

A ``before_send`` hook rather than a middleware: Litestar runs it for every response, the 404 of
an unknown path and the 405 of a wrong method included. Headers a handler set itself are kept.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["API_CSP", "DOCS_CSP", "security_headers"]

API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""JSON answers load nothing and may not be framed."""
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The OpenAPI viewer under ``/schema`` loads its files from the program itself (an inline script starts it)."""

_HSTS: Final = (b"strict-transport-security", b"max-age=31536000")
_ALWAYS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


async def security_headers(message: Any, scope: Any) -> None:  # noqa: ANN401 - Litestar's message and scope
    """Add the security headers to a response's start message (a Litestar ``before_send`` hook)."""
    if message["type"] != "http.response.start":
        return
    headers: list[tuple[bytes, bytes]] = list(message.get("headers") or [])
    present = {name.lower() for name, _ in headers}
    docs = str(scope.get("path", "")).startswith("/schema") and not str(scope.get("path", "")).endswith(
        (".json", ".yaml", ".yml")
    )
    wanted = [(b"content-security-policy", (DOCS_CSP if docs else API_CSP).encode()), *_ALWAYS]
    if scope.get("scheme") == "https":
        wanted.append(_HSTS)
    headers.extend(header for header in wanted if header[0] not in present)
    message["headers"] = headers
