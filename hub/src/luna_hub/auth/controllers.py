"""``/auth``: sign in with a password for tokens, refresh them, sign out, and who am I."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from luna_hub.auth.errors import CredentialsError
from luna_hub.auth.guards import principal_of
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import LoginRequest, Me, RefreshRequest, TokenPair
from luna_hub.auth.tokens import LoginThrottle, family_of, login, revoke_family, rotate_refresh_token
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

    @post("/refresh", status_code=200, summary="Trade a refresh token for a new pair (each works once)")
    async def refresh(
        self,
        data: JSONBody[RefreshRequest],
        db_pool: NamedDependency[asyncpg.Pool],
        jwt_secret: NamedDependency[str],
        settings: NamedDependency[HubSettings],
    ) -> TokenPair:
        """Rotate: a refresh token used before revokes its whole family (someone else has a copy)."""
        async with db_pool.acquire() as db:
            return await rotate_refresh_token(db, data.refresh_token, jwt_secret, settings.auth)

    @post("/logout", status_code=204, summary="Revoke a refresh token and its family")
    async def logout(self, data: JSONBody[RefreshRequest], db_pool: NamedDependency[asyncpg.Pool]) -> None:
        """Sign out: the refresh token and every token refreshed from the same login stop working."""
        async with db_pool.acquire() as db:
            family = await family_of(db, data.refresh_token)
            if family is None:
                msg = "the refresh token is unknown"
                raise CredentialsError(msg)
            await revoke_family(db, family)

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
