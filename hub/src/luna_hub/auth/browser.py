"""What browsers get: CORS closed unless ``auth.cors_allow_origins`` lists origins."""

from __future__ import annotations

from litestar.config.cors import CORSConfig

from luna_hub.settings import HubSettings

__all__ = ["cors_config"]


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
