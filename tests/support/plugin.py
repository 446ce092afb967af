"""The pytest plugin every test package loads (see ``tests/conftest.py``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from support.leaks import no_leaked_tasks, no_leaked_threads
from support.modbus import ModbusTestServer, RegisterMap
from support.services import mqtt_broker, mqtt_topic, pg_admin_dsn, pg_dsn

__all__ = [
    "modbus_server",
    "mqtt_broker",
    "mqtt_topic",
    "no_leaked_tasks",
    "no_leaked_threads",
    "pg_admin_dsn",
    "pg_dsn",
    "service_dir",
]

StartModbusServer = Callable[..., Awaitable[ModbusTestServer]]


@pytest.fixture
async def modbus_server() -> AsyncIterator[StartModbusServer]:
    """Start in-process Modbus TCP servers on loopback: ``await modbus_server(RegisterMap(...), device_id=1)``."""
    running: list[ModbusTestServer] = []

    async def start(register_map: RegisterMap, *, device_id: int = 1) -> ModbusTestServer:
        server = await ModbusTestServer(register_map, device_id=device_id).start()
        running.append(server)
        return server

    yield start
    for server in running:
        await server.stop()


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A data directory that other system users can traverse, for the embedded PostgreSQL.

    Run as root, the embedded server runs as its own system user, which cannot enter pytest's
    ``tmp_path`` (under a 0700 directory that concurrent pytest sessions re-create).
    """
    path = Path(tempfile.mkdtemp(prefix="luna-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
