"""Exceptions of the hub, each carrying the HTTP status it maps to (see :mod:`luna_hub.problems`).

::

    LunaError (luna_shared)
    └── HubError                  500 unless a subclass says otherwise
        ├── BadRequestError       400 the request is malformed or fails validation
        ├── UnauthorizedError     401 no valid API key where one is required
        ├── NotFoundError         404 the named resource does not exist
        ├── ConflictError         409 the request contradicts stored state
        └── UnavailableError      503 a backing service (database, ...) cannot be reached
"""

from __future__ import annotations

from typing import Any, ClassVar

from luna_shared.errors import LunaError

__all__ = ["BadRequestError", "ConflictError", "HubError", "NotFoundError", "UnauthorizedError", "UnavailableError"]


class HubError(LunaError):
    """Base of the hub's exceptions; ``status`` and ``title`` feed the problem response."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def problem_extra(self) -> dict[str, Any]:
        """Return extra members for the problem body (RFC 9457 extensions); none by default."""
        return {}


class BadRequestError(HubError):
    """The request is malformed or fails validation."""

    status = 400
    title = "Bad request"


class UnauthorizedError(HubError):
    """No valid API key was presented where one is required."""

    status = 401
    title = "Unauthorized"


class NotFoundError(HubError):
    """The named resource does not exist."""

    status = 404
    title = "Not found"


class ConflictError(HubError):
    """The request contradicts stored state."""

    status = 409
    title = "Conflict"


class UnavailableError(HubError):
    """A backing service (database, object store, model server) cannot be reached."""

    status = 503
    title = "Service unavailable"
