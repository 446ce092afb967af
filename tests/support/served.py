"""Serve an ASGI app under uvicorn in a thread of its own, for tests that need a real HTTP server (browsers, load)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

__all__ = ["served_app"]


@asynccontextmanager
async def served_app(app: Any, *, name: str = "served app", ready_path: str = "/health") -> AsyncIterator[str]:
    """Yield the app's URL on loopback once ``ready_path`` answers 200; stop the server after."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name=name)
    thread.start()
    while not server.started and thread.is_alive():  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.01)
    try:
        if not server.started:
            msg = f"{name} did not start"
            raise AssertionError(msg)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        url = f"http://{host}:{port}"
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):
                if (await client.get(ready_path)).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=60)
