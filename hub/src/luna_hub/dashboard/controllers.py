"""``/admin`` (the page), ``/admin/login``, and the data behind the page: ``/admin/snapshot`` and ``/admin/stream``.

The page itself needs the admin role: a browser without a session is sent to the login page. The
page is a shell; its script fills it from server-sent events, writing every value as text
(``textContent``), so names that agents or users chose are never markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from luna_hub.auth.errors import CredentialsError
from luna_hub.dashboard.deps import provide_snapshot_sources
from luna_hub.dashboard.pages import DASHBOARD_CSP, page, static_file
from luna_hub.dashboard.schemas import DashboardSnapshot
from luna_hub.dashboard.services import build_snapshot
from luna_hub.errors import UnauthorizedError
from luna_hub.problems import problem_response
from luna_hub.settings import HubSettings

__all__ = ["DashboardController", "DashboardPagesController"]

_STREAM_S: Final = 300.0
"""A stream ends after this long; the browser reconnects, which checks its session again."""


def _to_login(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, UnauthorizedError | CredentialsError):
        return Redirect("/admin/login")
    return problem_response(request, exc)


class DashboardPagesController(Controller):
    """The dashboard's HTML and its own scripts and styles (no build step, no CDN)."""

    path = "/admin"
    include_in_schema = False

    @get("/", exception_handlers={Exception: _to_login})
    async def dashboard(self) -> Response[str]:
        """Serve the live dashboard (admins; others are sent to sign in)."""
        return page("dashboard.html")

    @get("/login")
    async def login_page(self) -> Response[str]:
        """Sign in (the form posts to ``/auth/login`` from the page's script)."""
        return page("login.html")

    @get("/static/{name:str}")
    async def static(self, name: FromPath[str]) -> Response[bytes]:
        """Serve the dashboard's script, styles and icon."""
        found = static_file(name)
        if found is None:
            raise NotFoundException(detail=f"no static file {name!r}")
        return found


class DashboardController(Controller):
    """The dashboard's data: one snapshot, or a stream of them."""

    path = "/admin"
    tags = ["dashboard"]  # noqa: RUF012 - Litestar's declared type

    @get("/snapshot", summary="The dashboard's numbers now")
    async def snapshot(self, db_pool: NamedDependency[asyncpg.Pool], state: State) -> DashboardSnapshot:
        """Components, agents, ingest, API latency, table volumes, alerts, admin log and document jobs."""
        return await build_snapshot(db_pool, provide_snapshot_sources(state))

    @get("/stream", summary="The dashboard's numbers as server-sent events (event 'snapshot')")
    async def stream(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        state: State,
        events: Annotated[int | None, QueryParameter(ge=1, le=10_000, description="end after this many")] = None,
    ) -> ServerSentEvent:
        """Send a snapshot every ``dashboard.refresh_s`` seconds for five minutes; the browser then reconnects."""
        sources = provide_snapshot_sources(state)
        every = settings.dashboard.refresh_s

        async def snapshots() -> AsyncIterator[ServerSentEventMessage]:
            loop = asyncio.get_running_loop()
            ends, sent = loop.time() + _STREAM_S, 0
            while loop.time() < ends and (events is None or sent < events):
                snapshot = await build_snapshot(db_pool, sources)
                yield ServerSentEventMessage(data=msgspec.json.encode(snapshot).decode(), event="snapshot")
                sent += 1
                if events is None or sent < events:
                    await asyncio.sleep(every)

        headers = {"Cache-Control": "no-store", "Content-Security-Policy": DASHBOARD_CSP}
        return ServerSentEvent(snapshots(), headers=headers)
