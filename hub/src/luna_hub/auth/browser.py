"""What browsers get: the session cookie with its CSRF token, and CORS closed unless origins are listed.

``POST /auth/login`` puts the access token in an HttpOnly, SameSite=Strict cookie (``luna_session``)
and the refresh token in another, sent to ``/auth`` only. A request authenticated by the cookie
(no ``Authorization`` or ``X-API-Key`` header) must send, on every unsafe method, the header
``X-CSRF-Token`` with the token the login answered (also in the readable ``luna_csrf`` cookie):
an HMAC of the session under the hub's JWT secret, so it cannot be guessed nor reused for another
session. API calls with a bearer credential need none: a browser never adds that header itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final

from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from luna_hub.auth.schemas import TokenPair
from luna_hub.errors import ForbiddenError
from luna_hub.settings import HubSettings

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "REFRESH_COOKIE",
    "SESSION_COOKIE",
    "check_csrf",
    "cleared_cookies",
    "cors_config",
    "csrf_token",
    "session_cookies",
]

SESSION_COOKIE: Final = "luna_session"
REFRESH_COOKIE: Final = "luna_refresh"
CSRF_COOKIE: Final = "luna_csrf"
CSRF_HEADER: Final = "x-csrf-token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def cors_config(settings: HubSettings) -> CORSConfig | None:
    """Return the CORS rules for the allow-list, or None (no ``Access-Control-*`` headers: browsers refuse)."""
    origins = settings.auth.cors_allow_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-CSRF-Token", "X-Request-ID"],
        expose_headers=["Retry-After", "X-Request-ID"],
        allow_credentials=False,  # cross-origin callers send a bearer token, never the session cookie
        max_age=600,
    )


def csrf_token(secret: str, session: str) -> str:
    """Return the CSRF token of a session: bound to it, unforgeable without the hub's secret."""
    return hmac.new(secret.encode(), b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def _secure(settings: HubSettings) -> bool:
    if settings.auth.cookie_secure is not None:
        return settings.auth.cookie_secure
    return settings.server.tls_cert is not None


def session_cookies(pair: TokenPair, settings: HubSettings, csrf: str) -> list[Cookie]:
    """Return the cookies of a signed-in browser: session and refresh token (HttpOnly) and the CSRF token."""
    secure = _secure(settings)
    refresh_seconds = settings.auth.refresh_token_days * 86400
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=pair.access_token,
            max_age=pair.expires_in,
            httponly=True,
            samesite="strict",
            secure=secure,
        ),
        Cookie(
            key=REFRESH_COOKIE,
            value=pair.refresh_token,
            path="/auth",
            max_age=refresh_seconds,
            httponly=True,
            samesite="strict",
            secure=secure,
        ),
        Cookie(key=CSRF_COOKIE, value=csrf, max_age=pair.expires_in, samesite="strict", secure=secure),
    ]


def cleared_cookies(settings: HubSettings) -> list[Cookie]:
    """Return cookies that make the browser forget the session."""
    secure = _secure(settings)
    return [
        Cookie(key=SESSION_COOKIE, value="", max_age=0, httponly=True, samesite="strict", secure=secure),
        Cookie(key=REFRESH_COOKIE, value="", path="/auth", max_age=0, httponly=True, samesite="strict", secure=secure),
        Cookie(key=CSRF_COOKIE, value="", max_age=0, samesite="strict", secure=secure),
    ]


def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], session: str, secret: str) -> None:
    """403 unless an unsafe request authenticated by the session cookie sends the session's CSRF token."""
    method = str(connection.scope.get("method") or "GET")
    if method in _SAFE_METHODS:
        return
    sent = connection.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(secret, session).encode()):
        msg = f"a request signed in by the session cookie must send the {CSRF_HEADER} header the login answered"
        raise ForbiddenError(msg)
