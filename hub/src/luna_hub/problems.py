"""The one place where exceptions become RFC 9457 problem responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, InternalServerException, ValidationException
from litestar.types import ExceptionHandlersMap

from luna_hub.errors import BadRequestError, HubError, UnavailableError
from luna_shared.logs import get_logger

__all__ = [
    "PROBLEM_JSON",
    "RETRY_AFTER_SECONDS",
    "exception_handlers",
    "problem_body",
    "problem_response",
    "unavailable",
]

PROBLEM_JSON: Final = "application/problem+json"
_SERVER_ERROR: Final = 500
RETRY_AFTER_SECONDS: Final = "5"
"""``Retry-After`` of every 503: a backing service that is down or starting is worth asking again soon."""
_CONNECTION_LOST: Final = (
    ConnectionError,  # refused, reset
    asyncpg.PostgresConnectionError,  # the connection is gone or was never made
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)
_log = get_logger(__name__)


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Render any exception as problem JSON; only unexpected server errors log a traceback."""
    if _client_gone(exc):  # nobody reads the answer: one line, no traceback
        _log.info("client disconnected before sending its whole request", path=request.url.path)
        exc = BadRequestError("the client disconnected before sending its whole request")
    exc = unavailable(exc) or exc
    body = problem_body(exc, instance=request.url.path)
    status = body["status"]
    headers = exc.problem_headers() if isinstance(exc, HubError) else {}
    if isinstance(exc, UnavailableError):
        headers = {"Retry-After": RETRY_AFTER_SECONDS, **headers}
        # Expected while a backing service starts or is down: the message says it all.
        _log.warning("request failed", path=request.url.path, status=status, detail=body["detail"])
    elif status >= _SERVER_ERROR:
        _log.error("request failed", path=request.url.path, status=status, exc_info=exc)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_DISCONNECTED: Final = "client disconnected prematurely"
"""The detail of the InternalServerException Litestar raises when a request body stops half way."""


def _client_gone(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is Litestar's client-disconnected error."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain is short; a cycle must not loop for ever
        if seen is None:
            return False
        if isinstance(seen, InternalServerException) and seen.detail == _DISCONNECTED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unavailable(exc: BaseException) -> UnavailableError | None:
    """Translate a lost or refused database connection, or a schema gone missing, into a 503; else None."""
    if isinstance(exc, _CONNECTION_LOST):
        error = UnavailableError(f"database unavailable: {type(exc).__name__}: {exc}")
    elif isinstance(exc, asyncpg.UndefinedTableError):
        error = UnavailableError(f"database schema missing ({exc}): restart the hub or run luna-hub migrate")
    else:
        return None
    error.__cause__ = exc
    return error


def problem_body(exc: Exception, *, instance: str) -> dict[str, Any]:
    """Return the problem JSON members for ``exc`` (also sent as the ``error`` event of a stream)."""
    exc = unavailable(exc) or exc
    status, title, detail, extra = _classify(exc)
    problem_type = exc.problem_type if isinstance(exc, HubError) else "about:blank"
    return {"type": problem_type, "title": title, "status": status, "detail": detail, "instance": instance, **extra}


def _classify(exc: Exception) -> tuple[int, str, str, dict[str, Any]]:
    if isinstance(exc, HubError):
        return exc.status, exc.title, str(exc) or exc.title, exc.problem_extra()
    if isinstance(exc, ValidationException):
        return 400, "Bad request", str(exc.detail), {"errors": exc.extra or []}
    if isinstance(exc, HTTPException):
        return exc.status_code, _reason(exc.status_code), str(exc.detail), {}
    return 500, "Internal error", "the hub failed to handle this request; see its log", {}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


exception_handlers: Final[ExceptionHandlersMap] = {Exception: problem_response}
