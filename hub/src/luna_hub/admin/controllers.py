"""``/admin``: users, API keys and agents' credentials (the policy table admits admins only)."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from luna_hub.admin.schemas import AgentAccount, NewAgent
from luna_hub.admin.services import create_agent_account, list_agent_accounts, retire_agent, rotate_agent_key
from luna_hub.agents.schemas import AgentCreated
from luna_hub.auth.guards import actor_of
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.schemas import ApiKeyCreated, ApiKeyView, NewApiKey, NewUser, UserPatch, UserView
from luna_hub.auth.services import create_api_key, create_user, list_api_keys, list_users, revoke_api_key, update_user

__all__ = ["AdminController"]

_Request = Request[Any, Any, Any]


class AdminController(Controller):
    """Accounts and credentials; every change lands in the audit log with the admin as actor."""

    path = "/admin"
    tags = ["admin"]  # noqa: RUF012 - Litestar's declared type

    @get("/users", summary="Users with role, sites and whether they are disabled")
    async def users(self, db_pool: NamedDependency[asyncpg.Pool]) -> list[UserView]:
        """List every user (never a password hash)."""
        async with db_pool.acquire() as db:
            return await list_users(db)

    @post("/users", summary="Create a user")
    async def create_user(
        self,
        request: _Request,
        data: JSONBody[NewUser],
        db_pool: NamedDependency[asyncpg.Pool],
        passwords: NamedDependency[Passwords],
    ) -> UserView:
        """Create a user; ``sites`` null lets it read every site; 409 when the name is taken."""
        async with db_pool.acquire() as db:
            return await create_user(
                db,
                data.username,
                role=data.role,
                sites=data.sites,
                password=data.password,
                passwords=passwords,
                display_name=data.display_name,
                actor=actor_of(request),
            )

    @patch("/users/{name:str}", summary="Change a user's role, sites, password or disabled flag")
    async def update_user(
        self,
        request: _Request,
        name: FromPath[str],
        data: JSONBody[UserPatch],
        db_pool: NamedDependency[asyncpg.Pool],
        passwords: NamedDependency[Passwords],
    ) -> UserView:
        """Change the fields given; it applies to the user's keys and tokens from the next request on."""
        async with db_pool.acquire() as db:
            return await update_user(db, name, data, passwords=passwords, actor=actor_of(request))

    @get("/api-keys", summary="API keys (id, prefix, user, expiry, last use, revocation), never their secrets")
    async def api_keys(
        self, db_pool: NamedDependency[asyncpg.Pool], user: FromQuery[str | None] = None
    ) -> list[ApiKeyView]:
        """List every key, or those of ``user``."""
        async with db_pool.acquire() as db:
            return await list_api_keys(db, user)

    @post("/api-keys", summary="Create an API key for a user; the key is in this answer only")
    async def create_api_key(
        self, request: _Request, data: JSONBody[NewApiKey], db_pool: NamedDependency[asyncpg.Pool]
    ) -> ApiKeyCreated:
        """Create a key acting with the user's role and sites."""
        expires_in = data.expires_in()
        async with db_pool.acquire() as db:
            return await create_api_key(db, data.user, data.name, expires_in=expires_in, actor=actor_of(request))

    @delete("/api-keys/{key_id:int}", summary="Revoke an API key (refused from the next request on)")
    async def revoke_api_key(
        self, request: _Request, key_id: FromPath[int], db_pool: NamedDependency[asyncpg.Pool]
    ) -> None:
        """Revoke the key; 404 when there is none with this id."""
        async with db_pool.acquire() as db:
            await revoke_api_key(db, str(key_id), actor=actor_of(request))

    @get("/agents", summary="Agents with their site and count of working keys")
    async def agents(self, db_pool: NamedDependency[asyncpg.Pool]) -> list[AgentAccount]:
        """List every agent's credentials."""
        async with db_pool.acquire() as db:
            return await list_agent_accounts(db)

    @post("/agents", summary="Create an agent at a site with a key (in this answer only)")
    async def create_agent(
        self, request: _Request, data: JSONBody[NewAgent], db_pool: NamedDependency[asyncpg.Pool]
    ) -> AgentCreated:
        """Create the agent (and its site) when missing and issue a key; 409 when it belongs to another site."""
        async with db_pool.acquire() as db:
            return await create_agent_account(db, data.agent_id, data.site_id, actor=actor_of(request))

    @post("/agents/{agent_id:str}/rotate-key", summary="Issue a new agent key and revoke the others")
    async def rotate_key(
        self, request: _Request, agent_id: FromPath[str], db_pool: NamedDependency[asyncpg.Pool]
    ) -> AgentCreated:
        """Answer the new key (only here); the old ones stop working with the next request."""
        async with db_pool.acquire() as db:
            return await rotate_agent_key(db, agent_id, actor=actor_of(request))

    @delete("/agents/{agent_id:str}", summary="Revoke every key of an agent (its readings stay)")
    async def retire(self, request: _Request, agent_id: FromPath[str], db_pool: NamedDependency[asyncpg.Pool]) -> None:
        """Stop the agent delivering; 404 when there is none."""
        async with db_pool.acquire() as db:
            await retire_agent(db, agent_id, actor=actor_of(request))
