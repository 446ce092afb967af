"""``GET /``: a small landing page saying what runs here and where to go next.

It names only what anyone who can reach the port learns anyway (the version, the database engine,
whether credentials are required); no meter, site or count. No script; its one style block is allowed
by hash in its own Content-Security-Policy, everything else is refused.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path
from typing import Final

from litestar import MediaType, Response, get
from litestar.di import NamedDependency

from luna_hub import __version__
from luna_hub.settings import HubSettings

__all__ = ["PROJECT_URL", "home"]

PROJECT_URL: Final = "https://github.com/luna-iems/luna-iems#readme"
"""The project page whose README walks through the hub (the organisation that publishes its images)."""

_STYLE: Final = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2430}"
    "dt{font-weight:600}dd{margin:0 0 .5rem}a{color:#0b5cad}"
)
_CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _database(settings: HubSettings) -> str:
    url = settings.database_url or ""
    if str(Path(settings.data_dir).resolve()) in url or str(Path(settings.data_dir)) in url:
        return "PostgreSQL, embedded (in the data directory)"
    return "PostgreSQL (LUNA_DATABASE_URL)"


def landing_page(settings: HubSettings) -> str:
    """Render the page for ``settings``."""
    auth = "required for every route but /, /health and /schema" if settings.auth.required else "off (loopback only)"
    rows = (
        ("Version", __version__),
        ("Database", _database(settings)),
        ("Credentials", auth),
    )
    facts = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in rows)
    links = (
        ("/admin", "Dashboard", "live state of agents, ingest and documents (admins)"),
        ("/schema", "API documentation", "every route, its parameters and answers (OpenAPI)"),
        ("/catalog", "Catalog", "the meters, metrics, markets and time ranges held (signed in)"),
        (PROJECT_URL, "README", "start, look, ask, load your file, connect a meter"),
    )
    items = "".join(
        f'<li><a href="{escape(href)}">{escape(title)}</a>: {escape(what)}</li>' for href, title, what in links
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Luna-iEMS hub</title><style>{_STYLE}</style></head><body>"
        f"<h1>Luna-iEMS hub</h1><dl>{facts}</dl><ul>{items}</ul></body></html>"
    )


@get("/", include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
def home(settings: NamedDependency[HubSettings]) -> Response[str]:
    """Serve the landing page."""
    return Response(landing_page(settings), media_type=MediaType.HTML, headers={"content-security-policy": _CSP})
