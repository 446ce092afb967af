"""The pytest plugin every test package loads (see ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

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
