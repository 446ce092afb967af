"""The Litestar guard that checks API keys on the data endpoints.

What is enforced now: with ``require_api_key = true`` (``LUNA_REQUIRE_API_KEY``) every route of
the ``/data`` controllers needs a valid, unrevoked key in ``Authorization: Bearer <key>`` or
``X-API-Key``; otherwise 401 problem JSON. ``/health`` and ``/schema`` stay open. Any valid key
may do everything: roles and per-site permissions come with a later issue and plug in here.
The default is off, so the local demo (``make run``) and its curl examples need no key.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from luna_hub.auth.services import Principal, verify_api_key
from luna_hub.database.deps import provide_db_pool
from luna_hub.errors import UnauthorizedError
from luna_hub.settings import HubSettings

__all__ = ["actor_of", "api_key_guard", "presented_key"]


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the key sent with the request, if any."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key")


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Return who makes the request, for logs and the audit: the key's user, or ``anonymous``."""
    principal = connection.scope.get("user")
    return principal.username if isinstance(principal, Principal) else "anonymous"


def _app_parts(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[HubSettings, asyncpg.Pool]:
    """Return the app's settings and pool: guards run before dependencies are resolved, so they read app state here."""
    state = connection.app.state
    settings: HubSettings = state.settings
    return settings, provide_db_pool(state)


async def api_key_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse the request (401) unless keys are optional or a valid one was presented."""
    settings, pool = _app_parts(connection)
    if not settings.require_api_key:
        return
    key = presented_key(connection)
    if key is None:
        msg = "this endpoint needs an API key: send 'Authorization: Bearer <key>' (luna-hub create-api-key)"
        raise UnauthorizedError(msg)
    async with pool.acquire() as db:
        principal = await verify_api_key(db, key)
    if principal is None:
        msg = "the API key is unknown or revoked"
        raise UnauthorizedError(msg)
    connection.scope["user"] = principal
