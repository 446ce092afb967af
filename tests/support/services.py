"""Session fixtures for the real services the tests talk to: PostgreSQL and Mosquitto.

Both are expected on loopback (``.ci/run`` starts them). Override with ``LUNA_TEST_PG_DSN``
(an admin DSN; each session creates and drops its own database) and ``LUNA_TEST_MQTT_URL``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = ["MqttBroker", "mqtt_broker", "mqtt_topic", "pg_admin_dsn", "pg_dsn"]

DEFAULT_PG_DSN: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_MQTT_URL: Final = "mqtt://127.0.0.1:1883"


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """DSN of a role that may create databases (``LUNA_TEST_PG_DSN``, default local ``postgres``)."""
    return os.environ.get("LUNA_TEST_PG_DSN", DEFAULT_PG_DSN)


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, uniquely named database for this test session, dropped afterwards."""
    name = f"luna_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        _run(_admin(pg_admin_dsn, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {pg_admin_dsn} is not usable ({exc}); start it or set LUNA_TEST_PG_DSN")
    parts = urlsplit(pg_admin_dsn)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    _run(_admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run(work: Coroutine[None, None, None]) -> None:
    """Run setup work on a private loop; ``asyncio.run`` would unset pytest-asyncio's current loop."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(work)
    finally:
        loop.close()


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass(frozen=True)
class MqttBroker:
    """Where the test broker listens."""

    host: str
    port: int


@pytest.fixture(scope="session")
def mqtt_broker() -> MqttBroker:
    """The real Mosquitto on loopback (``LUNA_TEST_MQTT_URL``); fails clearly when it is down."""
    url = urlsplit(os.environ.get("LUNA_TEST_MQTT_URL", DEFAULT_MQTT_URL))
    broker = MqttBroker(url.hostname or "127.0.0.1", url.port or 1883)
    try:
        socket.create_connection((broker.host, broker.port), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"MQTT broker at {broker.host}:{broker.port} is not reachable ({exc}); start Mosquitto")
    return broker


@pytest.fixture
def mqtt_topic() -> str:
    """A topic prefix no other test (or earlier run) publishes under."""
    return f"luna-test/{uuid.uuid4().hex[:12]}"
