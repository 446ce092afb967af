"""A served app stops cleanly when its stop request arrives twice (a terminal's Ctrl-C and a supervisor's SIGTERM).

A real process: uvicorn under :func:`luna_shared.process.serve_http`, its lifespan taking a moment to
shut down, and both signals sent a few milliseconds apart, as ``make run`` does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

_SERVER = """
import asyncio, contextlib, sys
from litestar import Litestar
from luna_shared.process import run_main, serve_http

@contextlib.asynccontextmanager
async def slow_shutdown(app):
    yield
    await asyncio.sleep(1.0)  # e.g. document jobs put back in the queue
    print("shutdown complete", flush=True)

app = Litestar(route_handlers=[], lifespan=[slow_shutdown])
sys.exit(run_main("probe", lambda: asyncio.run(serve_http(app, host="127.0.0.1", port=0, name="probe")) or 0))
"""


@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)])
def test_a_repeated_stop_signal_lets_the_shutdown_finish(signals: tuple[signal.Signals, signal.Signals]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        started: list[str] = []
        while not any("probe ready at http://127.0.0.1:" in line for line in started):  # after uvicorn's lines
            started.append(process.stdout.readline())
            assert started[-1], started  # the process ended before it was ready
        for sig in signals:
            os.killpg(process.pid, sig)
            time.sleep(0.05)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "shutdown complete" in output, output
    assert "Traceback" not in output, output
    assert process.returncode == 0, output
