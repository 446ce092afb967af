"""``/auth``: sign in with a password for tokens (or a browser session cookie), refresh them, sign out, who am I."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from luna_hub.auth.browser import REFRESH_COOKIE, cleared_cookies, csrf_token, session_cookies
from luna_hub.auth.errors import CredentialsError
from luna_hub.auth.guards import principal_of
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import BrowserSession, LoginRequest, Me, RefreshRequest, TokenPair
from luna_hub.auth.throttle import LoginThrottle
from luna_hub.auth.tokens import family_of, login, revoke_family, rotate_refresh_token
from luna_hub.errors import BadRequestError
from luna_hub.settings import HubSettings

__all__ = ["AuthController"]

_Request = Request[Any, Any, Any]
_MAX_LOGIN_BODY = 4096


async def _credentials(request: _Request) -> LoginRequest:
    """Read the username and password, as JSON or as the OAuth2 password form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = await request.form()
            return LoginRequest(username=str(form.get("username", "")), password=str(form.get("password", "")))
        return msgspec.json.decode(body, type=LoginRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        msg = 'send JSON {"username", "password"} or the form fields username and password'
        raise BadRequestError(msg) from exc


async def _sign_in(  # noqa: PLR0913, PLR0917 - the login's parts
    request: _Request,
    db_pool: asyncpg.Pool,
    passwords: Passwords,
    login_throttle: LoginThrottle,
    jwt_secret: str,
    settings: HubSettings,
) -> TokenPair:
    credentials = await _credentials(request)
    address = request.client.host if request.client else "unknown"
    async with db_pool.acquire() as db:
        return await login(
            db,
            passwords,
            login_throttle,
            username=credentials.username,
            password=credentials.password,
            address=address,
            secret=jwt_secret,
            settings=settings.auth,
        )


class AuthController(Controller):
    """Tokens for people; agents use their keys."""

    path = "/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar's declared type
    request_max_body_size = _MAX_LOGIN_BODY

    @post("/token", status_code=200, summary="Sign in (JSON or OAuth2 password form): access and refresh token")
    async def token(  # noqa: PLR0913, PLR0917 - the login's parts
        self,
        request: _Request,
        db_pool: NamedDependency[asyncpg.Pool],
        passwords: NamedDependency[Passwords],
        login_throttle: NamedDependency[LoginThrottle],
        jwt_secret: NamedDependency[str],
        settings: NamedDependency[HubSettings],
    ) -> TokenPair:
        """401 for an unknown user or a wrong password alike; 429 with Retry-After after repeated failures."""
        return await _sign_in(request, db_pool, passwords, login_throttle, jwt_secret, settings)

    @post("/login", status_code=200, summary="Sign a browser in (form or JSON): session and CSRF cookies")
    async def login(  # noqa: PLR0913, PLR0917 - the login's parts
        self,
        request: _Request,
        db_pool: NamedDependency[asyncpg.Pool],
        passwords: NamedDependency[Passwords],
        login_throttle: NamedDependency[LoginThrottle],
        jwt_secret: NamedDependency[str],
        settings: NamedDependency[HubSettings],
    ) -> Response[BrowserSession]:
        """Set the session as HttpOnly, SameSite=Strict cookies; answer the CSRF token for unsafe requests."""
        pair = await _sign_in(request, db_pool, passwords, login_throttle, jwt_secret, settings)
        csrf = csrf_token(jwt_secret, pair.access_token)
        credentials = await _credentials(request)
        session = BrowserSession(username=credentials.username, csrf_token=csrf, expires_in=pair.expires_in)
        return Response(session, cookies=session_cookies(pair, settings, csrf))

    @post("/refresh", status_code=200, summary="Trade a refresh token for a new pair (each works once)")
    async def refresh(
        self,
        request: _Request,
        db_pool: NamedDependency[asyncpg.Pool],
        jwt_secret: NamedDependency[str],
        settings: NamedDependency[HubSettings],
        data: JSONBody[RefreshRequest | None] = None,
    ) -> Response[TokenPair]:
        """Rotate: a refresh token used before revokes its whole family (someone else has a copy).

        Without a body, a browser's refresh cookie is rotated and its session cookies renewed.
        """
        token = data.refresh_token if data is not None else request.cookies.get(REFRESH_COOKIE)
        if not token:
            msg = 'send JSON {"refresh_token"} (or the refresh cookie of POST /auth/login)'
            raise CredentialsError(msg)
        async with db_pool.acquire() as db:
            pair = await rotate_refresh_token(db, token, jwt_secret, settings.auth)
        if data is not None:
            return Response(pair)
        return Response(pair, cookies=session_cookies(pair, settings, csrf_token(jwt_secret, pair.access_token)))

    @post("/logout", status_code=204, summary="Revoke a refresh token and its family; clear the browser's cookies")
    async def logout(
        self,
        request: _Request,
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        data: JSONBody[RefreshRequest | None] = None,
    ) -> Response[None]:
        """Sign out: the refresh token and every token refreshed from the same login stop working."""
        token = data.refresh_token if data is not None else request.cookies.get(REFRESH_COOKIE)
        if token:
            async with db_pool.acquire() as db:
                family = await family_of(db, token)
                if family is None and data is not None:
                    msg = "the refresh token is unknown"
                    raise CredentialsError(msg)
                if family is not None:
                    await revoke_family(db, family)
        return Response(None, status_code=204, cookies=cleared_cookies(settings))

    @get("/me", summary="Who the credential belongs to: name, role, sites")
    async def me(self, request: _Request) -> Me:
        """Answer the caller's name, role and sites (null: every site)."""
        principal = principal_of(request)
        assert principal is not None  # noqa: S101 - the policy admits signed-in callers only
        return Me(
            username=principal.username,
            role=principal.role,
            sites=None if principal.sites is None else list(principal.sites),
        )
