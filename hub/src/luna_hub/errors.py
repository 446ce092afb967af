"""Exceptions of the hub, each carrying the HTTP status it maps to (see :mod:`luna_hub.problems`).

::

    LunaError (luna_shared)
    └── HubError                  500 unless a subclass says otherwise
        ├── BadRequestError       400 the request is malformed or fails validation
        ├── UnauthorizedError     401 no valid API key where one is required
        ├── ForbiddenError        403 the key is valid but may not do this
        ├── NotFoundError         404 the named resource does not exist
        ├── ConflictError         409 the request contradicts stored state
        ├── PayloadTooLargeError  413 the body is beyond a size limit (also once decompressed)
        ├── UnsupportedMediaError 415 a Content-Type, Content-Encoding or file format the hub does not read
        ├── UnprocessableError    422 well-formed, but the hub cannot accept it
        │   └── UnsupportedVersionHubError  a message type or major version the hub does not speak
        ├── TooManyRequestsError  429 the caller's rate limit is spent (with Retry-After)
        └── UnavailableError      503 a backing service (database, ...) cannot be reached

Domains hang their errors from these by status; the documents domain's rejected uploads
also share a ``DocumentRejectedError`` base (:mod:`luna_hub.documents.errors`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from luna_shared.errors import LunaError

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "HubError",
    "NotFoundError",
    "PayloadTooLargeError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnavailableError",
    "UnprocessableError",
    "UnsupportedMediaError",
    "UnsupportedVersionHubError",
]

PROBLEM_TYPE_BASE: Final = "urn:luna-iems:problem:"
"""Problem types other than ``about:blank`` are this prefix plus a name (RFC 9457 ``type``, a URI)."""


class HubError(LunaError):
    """Base of the hub's exceptions; ``status`` and ``title`` feed the problem response."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    problem_type: ClassVar[str] = "about:blank"

    def problem_extra(self) -> dict[str, Any]:
        """Return extra members for the problem body (RFC 9457 extensions); none by default."""
        return {}

    def problem_headers(self) -> dict[str, str]:
        """Return extra response headers; none by default."""
        return {}


class BadRequestError(HubError):
    """The request is malformed or fails validation."""

    status = 400
    title = "Bad request"


class UnauthorizedError(HubError):
    """No valid API key was presented where one is required."""

    status = 401
    title = "Unauthorized"


class ForbiddenError(HubError):
    """The presented key is valid but does not allow this request."""

    status = 403
    title = "Forbidden"


class NotFoundError(HubError):
    """The named resource does not exist."""

    status = 404
    title = "Not found"


class ConflictError(HubError):
    """The request contradicts stored state."""

    status = 409
    title = "Conflict"


class PayloadTooLargeError(HubError):
    """The body is larger than the hub accepts, as sent or once decompressed."""

    status = 413
    title = "Content too large"


class UnsupportedMediaError(HubError):
    """The body's Content-Type or Content-Encoding, or an uploaded file's format, is one the hub does not read."""

    status = 415
    title = "Unsupported media type"

    def __init__(self, message: str, *, accept_encoding: str | None = None) -> None:
        super().__init__(message)
        self.accept_encoding = accept_encoding

    def problem_headers(self) -> dict[str, str]:
        """Tell the client which encodings would work (RFC 7694), where an encoding was the trouble."""
        return {"Accept-Encoding": self.accept_encoding} if self.accept_encoding is not None else {}


class UnprocessableError(HubError):
    """The request is well-formed, but its content cannot be accepted."""

    status = 422
    title = "Unprocessable content"


class UnsupportedVersionHubError(UnprocessableError):
    """A message type or major version this hub does not speak."""

    title = "Unsupported message version"
    problem_type = PROBLEM_TYPE_BASE + "unsupported-version"


class TooManyRequestsError(HubError):
    """The caller has spent its rate limit; ``retry_after`` seconds from now it may try again."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def problem_extra(self) -> dict[str, Any]:
        """Name the wait in the body too."""
        return {"retry_after": self.retry_after}

    def problem_headers(self) -> dict[str, str]:
        """Tell the client when to come back (RFC 9110 Retry-After, in seconds)."""
        return {"Retry-After": str(self.retry_after)}


class UnavailableError(HubError):
    """A backing service (database, object store, model server) cannot be reached."""

    status = 503
    title = "Service unavailable"
