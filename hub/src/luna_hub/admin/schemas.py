"""What the admin routes take and answer about agents (users and keys: :mod:`luna_hub.auth.schemas`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = ["AgentAccount", "NewAgent"]

_Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class NewAgent(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /admin/agents``: an agent at a site (both created when missing) and its first key."""

    agent_id: _Id
    site_id: _Id


class AgentAccount(msgspec.Struct, frozen=True, kw_only=True):
    """An agent's credentials as admins see them (its deliveries: ``GET /agents``)."""

    agent_id: str
    site_id: str | None
    active_keys: int
    """Unrevoked keys; 0 after ``DELETE /admin/agents/{id}``."""
    last_seen_at: datetime | None
    created_at: datetime
