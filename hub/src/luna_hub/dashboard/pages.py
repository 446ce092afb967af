"""The dashboard's HTML shells and static files, read from this package (the shells hold no data: no templates)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from litestar import Response

__all__ = ["DASHBOARD_CSP", "page", "static_file"]

DASHBOARD_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_STATIC: Final = {
    "dashboard.js": "text/javascript",
    "login.js": "text/javascript",
    "dashboard.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


@cache
def _read(folder: str, name: str) -> bytes:
    return files("luna_hub.dashboard").joinpath(folder, name).read_bytes()


def page(name: str) -> Response[str]:
    """Return the HTML shell ``templates/name`` with the dashboard's CSP."""
    return Response(
        _read("templates", name).decode(),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-store"},
    )


def static_file(name: str) -> Response[bytes] | None:
    """Return ``static/name`` when it is one of the dashboard's files, else None."""
    media_type = _STATIC.get(name)
    if media_type is None:
        return None
    return Response(_read("static", name), media_type=media_type, headers={"Cache-Control": "max-age=300"})
