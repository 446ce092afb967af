"""Errors of the auth domain: hang from the hub's tree (:mod:`luna_hub.errors`) by status.

UnauthorizedError (401)
└── CredentialsError          401 with ``WWW-Authenticate: Bearer``
HubError
└── ThrottledError            429 with ``Retry-After``
"""

from __future__ import annotations

import math
from typing import ClassVar

from luna_hub.errors import HubError, UnauthorizedError

__all__ = ["CredentialsError", "ThrottledError"]


class CredentialsError(UnauthorizedError):
    """No credential, or one that is unknown, expired, revoked or malformed (the same answer for each)."""

    def problem_headers(self) -> dict[str, str]:
        """Name the scheme, as RFC 9110 asks of a 401."""
        return {"WWW-Authenticate": 'Bearer realm="luna-hub"'}


class ThrottledError(HubError):
    """Too many failed logins for this user or client address: wait ``retry_after`` seconds."""

    status: ClassVar[int] = 429
    title: ClassVar[str] = "Too many requests"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def problem_headers(self) -> dict[str, str]:
        """Say when to try again (whole seconds)."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}
