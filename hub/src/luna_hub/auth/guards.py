"""The one guard of the app: find the route's rule (:mod:`luna_hub.auth.policy`), authenticate, authorize.

Credentials: ``Authorization: Bearer <credential>`` or ``X-API-Key``; a user's API key
(``luna_...``), an agent key (``lak_...``), the serving process's local admin token (``llt_...``,
:mod:`luna_hub.auth.local`) or an access token (JWT); without either header, the
browser session cookie of ``POST /auth/login`` (its unsafe requests need the CSRF token, see
:mod:`luna_hub.auth.browser`). With ``auth.required = false``
(loopback only) a request without one runs as ``anonymous`` with every right; a credential that is
sent is still checked. The principal lands in ``scope["user"]`` for handlers (:func:`actor_of`).
"""

from __future__ import annotations

import hmac
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from luna_hub.auth.agent_keys import AGENT_KEY_PREFIX, verify_agent_key
from luna_hub.auth.browser import SESSION_COOKIE, check_csrf
from luna_hub.auth.errors import CredentialsError
from luna_hub.auth.local import LOCAL_TOKEN_PREFIX, LocalAdmin
from luna_hub.auth.policy import Rule, rule_for
from luna_hub.auth.schemas import Principal
from luna_hub.auth.services import API_KEY_PREFIX, user_principal, verify_api_key
from luna_hub.auth.tokens import read_access_token
from luna_hub.database.deps import provide_db_pool
from luna_hub.errors import ForbiddenError
from luna_hub.settings import HubSettings

__all__ = [
    "ANONYMOUS",
    "actor_of",
    "api_key_guard",
    "authenticate",
    "policy_guard",
    "presented_key",
    "principal_of",
    "readable_sites",
    "scrape_token_matches",
]

ANONYMOUS = Principal(username="anonymous", role="admin", sites=None, via="open")
"""Who a request without credential runs as when ``auth.required`` is false."""


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the credential sent with the request, if any."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key")


def _session_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Return the browser session's access token when the request sends no credential header."""
    if presented_key(connection) is not None:
        return None
    return connection.cookies.get(SESSION_COOKIE) or None


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Return the principal the guard established for this request, if any."""
    principal = connection.scope.get("user")
    return principal if isinstance(principal, Principal) else None


def readable_sites(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, ...] | None:
    """Return the sites the caller may read (None: every site); 403 when no principal was established."""
    principal = principal_of(connection)
    if principal is None:
        msg = "no principal: the app's policy guard did not run"
        raise ForbiddenError(msg)
    return principal.sites


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Return who makes the request, for logs and the audit: the user, ``agent:<id>``, or ``anonymous``."""
    principal = principal_of(connection)
    return principal.username if principal is not None else "anonymous"


def _app_parts(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[HubSettings, asyncpg.Pool]:
    """Return the app's settings and pool: guards run before dependencies are resolved, so they read app state here."""
    state = connection.app.state
    settings: HubSettings = state.settings
    return settings, provide_db_pool(state)


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Return who the request's credential belongs to; None without one; 401 for a bad one (one answer for all)."""
    credential = presented_key(connection) or _session_cookie(connection)
    if credential is None:
        return None
    if credential.startswith(LOCAL_TOKEN_PREFIX):
        local: LocalAdmin | None = connection.app.state.get("local_admin")
        principal = None if local is None else local.principal(credential)
        if principal is None:
            msg = "the credential is unknown, expired or revoked"
            raise CredentialsError(msg)
        return principal
    _, pool = _app_parts(connection)
    principal = None
    async with pool.acquire() as db:
        if credential.startswith(AGENT_KEY_PREFIX):
            agent = await verify_agent_key(db, credential)
            if agent is not None:
                principal = Principal(
                    username=f"agent:{agent.agent_id}",
                    role="agent",
                    sites=(agent.site_id,),
                    via="agent_key",
                    key_id=agent.key_id,
                    agent_id=agent.agent_id,
                )
        elif credential.startswith(API_KEY_PREFIX):
            principal = await verify_api_key(db, credential)
        else:
            username = read_access_token(credential, connection.app.state.jwt_secret)
            if username is not None:
                principal = await user_principal(db, username, "token")
    if principal is None:
        msg = "the credential is unknown, expired or revoked"
        raise CredentialsError(msg)
    return principal


async def _check_sites(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal, rule: Rule) -> None:
    """403 unless the rule's site (in path or query) and every meter it names are at sites the principal reads."""
    if principal.sites is None:
        return
    if rule.site_path is not None:
        site = connection.path_params.get(rule.site_path)
        if not principal.may_read_site(None if site is None else str(site)):
            msg = f"site {site!r} is not a site of yours"
            raise ForbiddenError(msg)
    site = None if rule.site_param is None else connection.query_params.get(rule.site_param)
    if site and not principal.may_read_site(site):
        msg = f"site {site!r} is not one of yours"
        raise ForbiddenError(msg)
    if rule.site_query is None:
        return
    meters = connection.query_params.getall(rule.site_query, [])
    if not meters:
        return
    _, pool = _app_parts(connection)
    async with pool.acquire() as db:
        rows = await db.fetch("SELECT meter_id, site_id FROM meters WHERE meter_id = ANY($1::text[])", meters)
    sites = {row["meter_id"]: row["site_id"] for row in rows}
    for meter in meters:
        if not principal.may_read_site(sites.get(meter)):
            msg = f"meter {meter!r} is not at a site of yours"
            raise ForbiddenError(msg)


def scrape_token_matches(expected: bytes | None, presented: str | None) -> bool:
    """Whether ``presented`` is the scrape token of ``metrics.bearer_token_file`` (compared in constant time)."""
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(expected, presented.encode("utf-8", "surrogateescape"))


async def policy_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Apply the route's rule: 401 without a valid credential, 403 for a role or site the rule excludes."""
    method = str(connection.scope.get("method") or "GET")
    template = str(connection.scope.get("path_template") or connection.scope["path"])
    rule = rule_for(method, template)
    if rule is None:
        msg = f"no access rule declares {method} {template}"
        raise ForbiddenError(msg)
    if rule.public or rule.agent_key:
        return
    if rule.scrape_token and scrape_token_matches(connection.app.state.get("scrape_token"), presented_key(connection)):
        return
    settings, _ = _app_parts(connection)
    principal = await authenticate(connection)
    if principal is None:
        if settings.auth.required:
            msg = "this route needs a credential: send 'Authorization: Bearer <key or token>' (see README, Access)"
            raise CredentialsError(msg)
        principal = ANONYMOUS
    session = _session_cookie(connection)
    if session is not None and principal is not ANONYMOUS:
        check_csrf(connection, session, connection.app.state.jwt_secret)
    if principal.role not in rule.roles:
        msg = f"role {principal.role!r} may not {method} {template}"
        raise ForbiddenError(msg)
    await _check_sites(connection, principal, rule)
    connection.scope["user"] = principal


async def api_key_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Kept for the controllers that still name it: the app-level :func:`policy_guard` has done the work."""
    if principal_of(connection) is None:
        msg = "no principal: the app's policy guard did not run"
        raise ForbiddenError(msg)
