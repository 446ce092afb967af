"""The local admin token: how ``luna-hub`` commands on the hub's own host act through the running hub.

``luna-hub serve`` makes one at start (``llt_<secret>``), keeps it in memory and writes it to the
data dir's runtime file (mode 0600, :mod:`luna_hub.datadir`), so only the user the hub runs as can
read it. It is accepted by that process alone (other replicas never saw it), as an admin acting as
``cli:<that user>``, and dies with the process; it is never stored in the database nor logged.
"""

from __future__ import annotations

import getpass
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Final

from luna_hub.auth.schemas import Principal

__all__ = ["LOCAL_TOKEN_PREFIX", "LocalAdmin", "new_local_admin"]

LOCAL_TOKEN_PREFIX: Final = "llt_"  # noqa: S105 - how the token starts, no secret


@dataclass(frozen=True, slots=True)
class LocalAdmin:
    """The token this hub process accepts from local commands, and who they act as."""

    token: str = field(repr=False)
    actor: str

    def principal(self, presented: str) -> Principal | None:
        """Return the admin principal when ``presented`` is this token (compared in constant time), else None."""
        if not hmac.compare_digest(self.token.encode(), presented.encode("utf-8", "surrogateescape")):
            return None
        return Principal(username=self.actor, role="admin", sites=None, via="local")


def new_local_admin() -> LocalAdmin:
    """Return a fresh token for this process, acting as ``cli:<the user the hub runs as>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        user = "local"
    return LocalAdmin(token=LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32), actor=f"cli:{user}")
