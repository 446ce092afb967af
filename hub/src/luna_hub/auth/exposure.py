"""Secure by default: the hub runs without authentication only where nobody else can reach it."""

from __future__ import annotations

import ipaddress

from luna_hub.settings import HubSettings
from luna_shared.errors import ConfigError

__all__ = ["check_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: HubSettings) -> None:
    """Refuse (ConfigError, one line) ``auth.required = false`` on an address other machines can reach."""
    if not settings.auth.required and not is_loopback(settings.server.host):
        problem = (
            f"false is allowed only while the hub listens on loopback, not on {settings.server.host}:"
            " create an admin key (luna-hub create-user, create-api-key) instead"
        )
        raise ConfigError("LUNA_AUTH__REQUIRED", "auth.required", problem)
