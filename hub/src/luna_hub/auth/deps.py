"""What the auth domain adds to the app: the password hasher (its threads live as long as the app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from luna_hub.auth.passwords import Passwords
from luna_hub.settings import HubSettings

__all__ = ["auth_dependencies", "auth_lifespan", "provide_passwords"]


@asynccontextmanager
async def auth_lifespan(app: Litestar, *, settings: HubSettings) -> AsyncIterator[None]:
    """Create the password hasher for the app's life."""
    passwords = app.state.passwords = Passwords(settings.auth)
    try:
        yield
    finally:
        passwords.close()


def provide_passwords(state: State) -> Passwords:
    """Return the app's password hasher."""
    passwords: Passwords = state.passwords
    return passwords


def auth_dependencies() -> dict[str, Provide]:
    """Return the auth domain's dependencies, by name."""
    return {"passwords": Provide(provide_passwords, sync_to_thread=False)}
