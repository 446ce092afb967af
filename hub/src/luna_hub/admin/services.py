"""Agents' credentials for admins: list, create, rotate a key, retire (users and keys: :mod:`luna_hub.auth`)."""

from __future__ import annotations

import asyncpg

from luna_hub.admin import repository
from luna_hub.admin.schemas import AgentAccount
from luna_hub.agents.schemas import AgentCreated
from luna_hub.agents.services import create_agent
from luna_hub.audit.admin_log import record_admin
from luna_hub.errors import NotFoundError

__all__ = ["create_agent_account", "list_agent_accounts", "retire_agent", "rotate_agent_key"]


async def list_agent_accounts(connection: asyncpg.Connection) -> list[AgentAccount]:
    """Every agent with its count of working keys."""
    return [AgentAccount(**dict(row)) for row in await repository.agent_accounts(connection)]


async def _site_of(connection: asyncpg.Connection, agent_id: str) -> str:
    rows = await repository.agent_accounts(connection, agent_id)
    if not rows or rows[0]["site_id"] is None:
        msg = f"no agent {agent_id!r}"
        raise NotFoundError(msg)
    site: str = rows[0]["site_id"]
    return site


async def create_agent_account(
    connection: asyncpg.Connection, agent_id: str, site_id: str, *, actor: str
) -> AgentCreated:
    """Create the agent (and its site) when missing with a new key; 409 when it belongs to another site."""
    async with connection.transaction():
        created = await create_agent(connection, agent_id, site_id, actor=actor)
        details = {"key_id": created.key_id, "site_id": site_id}
        await record_admin(connection, actor=actor, action="agent.create", target=agent_id, details=details)
    return created


async def rotate_agent_key(connection: asyncpg.Connection, agent_id: str, *, actor: str) -> AgentCreated:
    """Issue a new key for the agent and revoke its others (refused from the next request on)."""
    async with connection.transaction():
        created = await create_agent(connection, agent_id, await _site_of(connection, agent_id), actor=actor)
        revoked = await repository.revoke_agent_keys(connection, agent_id, keep=created.key_id)
        details = {"new_key_id": created.key_id, "revoked_key_ids": revoked}
        await record_admin(connection, actor=actor, action="agent_key.rotate", target=agent_id, details=details)
    return created


async def retire_agent(connection: asyncpg.Connection, agent_id: str, *, actor: str) -> None:
    """Revoke every key of the agent; its row and the readings it delivered stay."""
    async with connection.transaction():
        await _site_of(connection, agent_id)
        revoked = await repository.revoke_agent_keys(connection, agent_id)
        await record_admin(
            connection, actor=actor, action="agent.retire", target=agent_id, details={"revoked": revoked}
        )
