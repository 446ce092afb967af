"""Secure by default: the hub runs without authentication only where nobody else can reach it."""

from __future__ import annotations

from pathlib import Path

from luna_hub.settings import HubSettings, ServerSettings
from luna_shared.errors import ConfigError
from luna_shared.process import is_loopback

__all__ = ["check_exposure", "tls_files"]


def check_exposure(settings: HubSettings) -> None:
    """Refuse (ConfigError, one line) ``auth.required = false`` on an address other machines can reach."""
    if not settings.auth.required and not is_loopback(settings.server.host):
        problem = (
            f"false is allowed only while the hub listens on loopback, not on {settings.server.host}:"
            " create an admin key (luna-hub create-user, create-api-key) instead"
        )
        raise ConfigError("LUNA_AUTH__REQUIRED", "auth.required", problem)


def tls_files(server: ServerSettings) -> tuple[str, str] | None:
    """Return the certificate and key files to serve HTTPS with (None: HTTP); an unreadable file stops the start."""
    if server.tls_cert is None or server.tls_key is None:
        return None
    for env, key, path in (
        ("LUNA_SERVER__TLS_CERT", "server.tls_cert", server.tls_cert),
        ("LUNA_SERVER__TLS_KEY", "server.tls_key", server.tls_key),
    ):
        try:
            Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(env, key, f"cannot read {path}: {exc.strerror or exc}") from exc
    return server.tls_cert, server.tls_key
