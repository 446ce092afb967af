"""Who may read the status API: anyone on this machine; from elsewhere only with the token of ``status_api.token_file``.

On loopback (the default) no token is needed. Bound elsewhere, the agent refuses to start
without a token file; with one, every route but ``/health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from luna_agent.settings import StatusApiSettings
from luna_shared.errors import ConfigError
from luna_shared.keyfile import read_key
from luna_shared.process import is_loopback

__all__ = ["status_token", "status_token_guard"]

_OPEN_PATHS = frozenset({"/health"})


def status_token(settings: StatusApiSettings) -> str | None:
    """Return the token callers must send, None when none is needed; ConfigError (one line) when one is missing."""
    source, key = "LUNA_STATUS_API__TOKEN_FILE", "status_api.token_file"
    if settings.token_file is None:
        if is_loopback(settings.host):
            return None
        problem = f"the status API listens on {settings.host}, reachable from other machines: set a token file"
        raise ConfigError(source, key, problem + " (or listen on 127.0.0.1)")
    token = read_key(Path(settings.token_file))
    if token is None:
        raise ConfigError(source, key, f"{settings.token_file} does not exist")
    return token


async def status_token_guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """401 unless the request sends the status token (when there is one); ``/health`` stays open."""
    token: str | None = connection.app.state.status_token
    if token is None or connection.scope["path"] in _OPEN_PATHS:
        return
    scheme, _, sent = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        raise NotAuthorizedException(
            detail="send 'Authorization: Bearer <token of status_api.token_file>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
