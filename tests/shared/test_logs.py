"""Structured logs: JSON in production, console in development, correlation ids bound in context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from luna_shared.logs import (
    LogFormat,
    LogSettings,
    bind_in_scope,
    configure_logging,
    correlation,
    get_logger,
    json_formatter,
    log_scope,
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
async def test_json_lines_carry_the_bound_poll_id_across_awaits() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    log = get_logger("luna.test")

    async def poll(device: str) -> str:
        with correlation("poll_id") as poll_id:
            await asyncio.sleep(0)
            log.info("polled", device=device)
            return poll_id

    ids = await asyncio.gather(poll("a"), poll("b"))
    log.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["device"], line["poll_id"]) for line in lines[:2]] == [("a", ids[0]), ("b", ids[1])]
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "luna.test"
    assert lines[0]["timestamp"].endswith("Z")
    assert "poll_id" not in lines[2]


@pytest.mark.usefixtures("restore_logging")
def test_standard_library_loggers_go_through_the_same_renderer() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    with correlation("request_id", "r-42"):
        logging.getLogger("uvicorn.error").warning("port %d busy", 8080)
    line = json.loads(stream.getvalue())
    assert line == line | {"event": "port 8080 busy", "level": "warning", "request_id": "r-42"}


@pytest.mark.usefixtures("restore_logging")
def test_console_format_is_readable_and_level_filters() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(level="warning", format=LogFormat.CONSOLE), stream=stream)
    get_logger("luna.test").info("hidden")
    get_logger("luna.test").warning("shown", meter="m1")
    output = stream.getvalue()
    assert "hidden" not in output
    assert "shown" in output
    assert "meter=m1" in output


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        LogSettings(level="LOUD")


@pytest.mark.usefixtures("restore_logging")
def test_a_value_bound_in_a_scope_ends_with_it_and_the_outer_value_returns() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    log = get_logger("luna.test")
    with log_scope("agent_id"):
        bind_in_scope("agent_id", "outer")
        with log_scope("agent_id"):
            bind_in_scope("agent_id", "inner")
            log.info("inner")
        log.info("outer")
    log.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("agent_id") for line in lines] == ["inner", "outer", None]
    assert "agent_id" not in lines[2]


def test_the_file_formatter_always_names_its_fields_and_redacts() -> None:
    formatter = json_formatter(("request_id", "agent_id"))
    record = logging.makeLogRecord({"msg": "password=hunter2 here", "levelno": 20, "levelname": "INFO"})
    with correlation("request_id", "r-1"):
        line = json.loads(formatter.format(record))
    assert (line["request_id"], line["agent_id"]) == ("r-1", None)
    assert "hunter2" not in line["event"]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_access_lines_are_debug_lines(level: str, shown: bool) -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON, level=level), stream=stream)
    configure_logging(LogSettings(format=LogFormat.JSON, level=level), stream=stream)  # twice: one filter still
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/health", "1.1", 200)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == (["debug", "info"] if shown else ["info"])
    assert ("GET /health" in lines[0]["event"]) is shown
    assert len(logging.getLogger("uvicorn.access").filters) == 1
