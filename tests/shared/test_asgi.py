"""Request ids are bound to the log context of exactly one request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from luna_shared.asgi import request_id_middleware
from luna_shared.logs import LogFormat, LogSettings, configure_logging, get_logger


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


@get("/work")
async def work() -> str:
    get_logger("luna.test").info("working")
    return "done"


async def test_log_lines_inside_a_request_carry_its_id(json_logs: io.StringIO) -> None:
    app = Litestar([work], middleware=[request_id_middleware], logging_config=None)
    async with AsyncTestClient(app) as client:
        first = await client.get("/work", headers={"X-Request-ID": "req-1"})
        second = await client.get("/work")
    get_logger("luna.test").info("after")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    working = [line["request_id"] for line in lines if line["event"] == "working"]
    assert working == ["req-1", second.headers["x-request-id"]]
    assert first.headers["x-request-id"] == "req-1"
    assert "request_id" not in lines[-1]
