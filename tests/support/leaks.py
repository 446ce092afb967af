"""Autouse guards that fail a test which leaves asyncio tasks or threads running behind it.

A leaked task or thread keeps sockets, files or a database connection open into the next
test and makes failures appear far from their cause. The thread guard is set up first, so
it is torn down last: after pytest-asyncio has closed the test's event loop and shut down
its default executor.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Final

import pytest

__all__ = ["no_leaked_tasks", "no_leaked_threads"]

_GRACE_SECONDS: Final = 2.0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail the test if a thread it started is still alive after a short grace period."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + _GRACE_SECONDS
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    while leaked and time.monotonic() < deadline:
        for thread in leaked:
            thread.join(timeout=0.05)
        leaked = [t for t in leaked if t.is_alive()]
    if leaked:
        pytest.fail(f"test leaked threads: {sorted(t.name for t in leaked)}", pytrace=False)


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if asyncio tasks it started are still pending when its fixtures are torn down."""
    before = asyncio.all_tasks()
    yield
    for _ in range(3):  # let tasks that are finishing right now finish
        await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(f"test leaked asyncio tasks: {sorted(t.get_name() for t in leaked)}", pytrace=False)
