"""Qdrant local mode off the event loop: every call runs in one thread of its own.

Local mode's "async" client does its work synchronously inside its coroutines: an upsert writes
and commits (fsyncs) each point to SQLite in turn, some 15 ms a point here, so a batch of 64 held
the hub's event loop for about a second while documents were indexed (issue 23; measured with
``PYTHONASYNCIODEBUG=1``, whose slow-callback warnings named the document worker). Here the
local client lives in one thread with its own event loop, and :class:`AsyncQdrantClient` reaches it
through :class:`LocalQdrantThread`: the hub's loop only awaits. One thread, so the local client
(not thread-safe) is only ever touched by one thread, and calls run one after the other, in order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, cast

from qdrant_client import AsyncQdrantClient
from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.local.async_qdrant_local import AsyncQdrantLocal

__all__ = ["LocalQdrantThread", "local_qdrant_client"]

_CLOSED = "the local vector store is closed (the hub is stopping)"


class LocalQdrantThread:
    """Stands in for :class:`AsyncQdrantLocal` on the caller's loop; the real one runs in a thread of its own."""

    def __init__(self, path: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="qdrant-local", daemon=True)
        self._thread.start()
        self._local: AsyncQdrantLocal = self._submit(self._open, path).result()
        self._closed = False

    @staticmethod
    async def _open(path: str) -> AsyncQdrantLocal:
        return AsyncQdrantLocal(location=path)

    def _submit(self, function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Future[Any]:  # noqa: ANN401
        async def call() -> Any:  # noqa: ANN401 - whatever the local client returns
            return await function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the local client's methods, as they are
        method = getattr(self._local, name)
        if not callable(method):
            return method

        async def dispatched(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if self._closed:
                raise RuntimeError(_CLOSED)
            outcome = method(*args, **kwargs)
            if not asyncio.iscoroutine(outcome):
                return outcome
            awaited = _awaited(outcome)
            try:
                future = asyncio.run_coroutine_threadsafe(awaited, self._loop)
            except RuntimeError:  # closed between the check and here: nothing ran, nothing left unawaited
                awaited.close()
                outcome.close()
                raise RuntimeError(_CLOSED) from None
            return await asyncio.wrap_future(future)

        return dispatched

    async def close(self, **kwargs: Any) -> None:  # noqa: ANN401
        """Close the local client in its thread, then end the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wrap_future(self._submit(_drain))  # calls already in flight end first
            await asyncio.wrap_future(self._submit(self._local.close, **kwargs))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)  # stops at once: its loop has nothing left (no default-executor thread to leak)
            self._loop.close()


async def _awaited(outcome: Awaitable[Any]) -> Any:  # noqa: ANN401
    return await outcome


async def _drain() -> None:
    """In the store's thread: wait for every other call still running there."""
    running = asyncio.current_task()
    await asyncio.gather(*(task for task in asyncio.all_tasks() if task is not running), return_exceptions=True)


def local_qdrant_client(path: str) -> AsyncQdrantClient:
    """Return an :class:`AsyncQdrantClient` in local mode on ``path`` whose work runs in its own thread."""
    client = AsyncQdrantClient(location=":memory:")  # local mode as far as the client is concerned ...
    # ... and its in-memory store (nothing to close) replaced by the one on disk behind a thread
    client._client = cast("AsyncQdrantBase", LocalQdrantThread(path))  # noqa: SLF001 - the one seam there is
    return client
