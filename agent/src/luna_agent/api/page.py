"""The site operator's page at ``/``: devices with their last values and health, buffer fill, sync, last errors.

Server-rendered from the same view as ``GET /status``, with Jinja's autoescaping on for every
value (device, meter and error texts come from devices and brokers, so markup in them is shown as
text, never run). The page loads only its own stylesheet and reloads itself every 10 s; its CSP
allows nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Final

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from luna_agent.api.views import status_view
from luna_agent.runtime import Agent

__all__ = ["PAGE_CSP", "site_page", "site_static"]

PAGE_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_REFRESH_S: Final = 10


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("luna_agent.api", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@get("/", include_in_schema=False)
async def site_page(state: State) -> Response[str]:
    """Render the status page for the people at the site."""
    agent: Agent = state.agent
    view = status_view(agent)
    buffer_settings = agent.settings.buffer
    now = datetime.now(UTC)
    html = (
        _environment()
        .get_template("status.html")
        .render(
            status=view,
            readings=[agent.latest[key] for key in sorted(agent.latest)],
            fill_percent=100.0 * view.buffer.rows / buffer_settings.max_rows,
            fill_bytes_percent=100.0 * view.buffer.bytes / buffer_settings.max_bytes,
            uptime=_span((now - view.started_at).total_seconds()),
            ago=lambda moment: "never" if moment is None else _span((now - moment).total_seconds()) + " ago",
            refresh_s=_REFRESH_S,
        )
    )
    return Response(html, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": PAGE_CSP})


_STATIC: Final = {"status.css": "text/css", "favicon.svg": "image/svg+xml"}


@get("/static/{name:str}", include_in_schema=False)
async def site_static(name: FromPath[str]) -> Response[bytes]:
    """Serve the page's stylesheet and icon (no CDN: a site may be offline)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFoundException(detail=f"no static file {name!r}")
    content = files("luna_agent.api").joinpath("static", name).read_bytes()
    return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


def _span(seconds: float) -> str:
    """Say ``seconds`` the way a person reads it: 42 s, 5 min, 3 h 12 min, 2 d 4 h."""
    whole = max(0, round(seconds))
    if whole < 60:  # noqa: PLR2004 - a minute
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:  # noqa: PLR2004 - an hour
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:  # noqa: PLR2004 - a day
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
