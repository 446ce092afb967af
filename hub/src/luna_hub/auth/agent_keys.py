"""Agent keys: who may deliver readings for which site. The auth domain owns every credential.

An agent key reads ``lak_<secret>``; the first characters of the secret are stored as a prefix
(to find the row) next to the SHA-256 of the whole key, so a leaked database leaks no usable
key. The agents domain issues keys (``luna-hub create-agent``); this module makes and checks them.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

import asyncpg
import msgspec

from luna_hub.auth.services import find_key_row

__all__ = ["AGENT_KEY_PREFIX", "AgentIdentity", "agent_key_prefix", "new_agent_key", "verify_agent_key"]

AGENT_KEY_PREFIX: Final = "lak_"
_PREFIX_LENGTH: Final = 10
_KEY: Final = re.compile(r"^lak_([A-Za-z0-9_-]{10})[A-Za-z0-9_-]{22,}$")


class AgentIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who a verified agent key belongs to."""

    agent_id: str
    site_id: str
    key_id: int


def new_agent_key() -> str:
    """Return a fresh agent key (shown once; only its prefix and hash are stored)."""
    return AGENT_KEY_PREFIX + secrets.token_urlsafe(32)


def agent_key_prefix(key: str) -> str:
    """Return the stored prefix of ``key``: the secret's first characters, to find its row."""
    return key[len(AGENT_KEY_PREFIX) : len(AGENT_KEY_PREFIX) + _PREFIX_LENGTH]


async def verify_agent_key(connection: asyncpg.Connection, key: str) -> AgentIdentity | None:
    """Return the agent ``key`` belongs to, or None when it is unknown, revoked or malformed."""
    row = await find_key_row(connection, "agent_keys", key, _KEY)
    if row is None:
        return None
    return AgentIdentity(agent_id=row["agent_id"], site_id=row["site_id"], key_id=row["key_id"])
