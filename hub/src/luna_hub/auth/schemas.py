"""Who is who: roles, the principal a request runs as, and the wire types of users, keys and tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

from luna_hub.errors import BadRequestError

__all__ = [
    "ApiKeyCreated",
    "ApiKeyView",
    "BrowserSession",
    "Credential",
    "LoginRequest",
    "Me",
    "NewApiKey",
    "NewUser",
    "Principal",
    "RefreshRequest",
    "Role",
    "TokenPair",
    "UserPatch",
    "UserRole",
    "UserView",
]

Role = Literal["admin", "analyst", "user", "agent"]
"""``admin`` everything; ``analyst`` every site's data, loads, documents; ``user`` its sites; ``agent`` ingest."""
UserRole = Literal["admin", "analyst", "user"]
"""The roles a person's account may have (agents have keys of their own)."""
Credential = Literal["api_key", "agent_key", "token", "session", "open", "local"]
"""How the principal was established; ``local``: the local admin token of :mod:`luna_hub.auth.local`."""

_Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
_Site = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request runs as: a user (by key, token or session), an agent, or everyone (auth not required)."""

    username: str
    """The user's name, ``agent:<id>`` for an agent; the actor in logs and audit entries."""
    role: Role
    sites: tuple[str, ...] | None
    """The sites whose meters it may read; None: every site."""
    via: Credential
    user_id: int | None = None
    key_id: int | None = None
    agent_id: str | None = None

    def may_read_site(self, site_id: str | None) -> bool:
        """Whether readings of a meter at ``site_id`` (None: a meter of no site, loaded from a file) are its to read."""
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    """A user as listed by ``luna-hub users`` and ``GET /admin/users``; never the password hash."""

    username: str
    role: UserRole
    sites: list[str] | None
    display_name: str
    disabled: bool
    has_password: bool
    created_at: datetime


class NewUser(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /admin/users``."""

    username: _Name
    role: UserRole
    sites: list[_Site] | None = None
    password: str | None = None
    display_name: str = ""


class UserPatch(msgspec.Struct, frozen=True, kw_only=True):
    """``PATCH /admin/users/{name}``: the fields given change; ``sites: null`` means every site."""

    role: UserRole | msgspec.UnsetType = msgspec.UNSET
    sites: list[_Site] | msgspec.UnsetType | None = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET
    password: str | msgspec.UnsetType = msgspec.UNSET
    display_name: str | msgspec.UnsetType = msgspec.UNSET


class ApiKeyView(msgspec.Struct, frozen=True, kw_only=True):
    """A key as listed: its id and prefix name it; the secret is never shown again."""

    id: int
    prefix: str
    user: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /admin/api-keys``."""

    user: str
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "default"
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    expires_in_seconds: Annotated[int, msgspec.Meta(ge=60, le=3650 * 86400)] | None = None
    """Finer than days (``luna-hub create-api-key --expires-in 12h``); not together with ``expires_in_days``."""

    def expires_in(self) -> timedelta | None:
        """How long the key lives (None: for good); 400 when both fields say it."""
        if self.expires_in_days is not None and self.expires_in_seconds is not None:
            msg = "give expires_in_days or expires_in_seconds, not both"
            raise BadRequestError(msg)
        if self.expires_in_seconds is not None:
            return timedelta(seconds=self.expires_in_seconds)
        return None if self.expires_in_days is None else timedelta(days=self.expires_in_days)


class ApiKeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new key: ``key`` is shown this once and only its hash is stored."""

    id: int
    key: str
    user: str
    name: str
    expires_at: datetime | None


class LoginRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /auth/token`` as JSON."""

    username: Annotated[str, msgspec.Meta(max_length=200)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class RefreshRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /auth/refresh`` and ``POST /auth/logout``."""

    refresh_token: Annotated[str, msgspec.Meta(max_length=200)]


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    """An access token (JWT) and the refresh token that replaces it once."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme, no secret
    expires_in: int
    refresh_token: str


class BrowserSession(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /auth/login``: the session is in cookies; send ``csrf_token`` as ``X-CSRF-Token`` on unsafe requests."""

    username: str
    csrf_token: str
    expires_in: int


class Me(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /auth/me``."""

    username: str
    role: Role
    sites: list[str] | None
