"""What the auth domain adds to the app: the password hasher (its threads live as long as the app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.auth.passwords import Passwords
from luna_hub.auth.throttle import LoginThrottle, RedisFailures
from luna_hub.auth.tokens import jwt_secret
from luna_hub.settings import HubSettings

__all__ = ["auth_dependencies", "auth_lifespan", "provide_jwt_secret", "provide_login_throttle", "provide_passwords"]


@asynccontextmanager
async def auth_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Create the password hasher and the login throttle (in Redis when ``cache.url`` is set) for the app's life."""
    app.state.jwt_secret = jwt_secret(settings)
    failures = RedisFailures(settings.cache.url, settings.cache.prefix) if settings.cache.url else None
    app.state.login_throttle = LoginThrottle(settings.auth, failures)
    passwords = app.state.passwords = Passwords(settings.auth)
    try:
        yield
    finally:
        passwords.close()
        if failures is not None:
            await failures.close()


def provide_passwords(state: State) -> Passwords:
    """Return the app's password hasher."""
    passwords: Passwords = state.passwords
    return passwords


def provide_jwt_secret(state: State) -> str:
    """Return the key that signs access tokens."""
    secret: str = state.jwt_secret
    return secret


def provide_login_throttle(state: State) -> LoginThrottle:
    """Return the app's record of failed logins."""
    throttle: LoginThrottle = state.login_throttle
    return throttle


def auth_dependencies() -> dict[str, Provide]:
    """Return the auth domain's dependencies, by name."""
    return {
        "passwords": Provide(provide_passwords, sync_to_thread=False),
        "jwt_secret": Provide(provide_jwt_secret, sync_to_thread=False),
        "login_throttle": Provide(provide_login_throttle, sync_to_thread=False),
    }
