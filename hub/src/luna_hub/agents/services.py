"""Agents: create them with a key, record status reports, list them with their gaps.

Keys are made and checked by the auth domain (:mod:`luna_hub.auth.agent_keys`); a new key is
shown once, when it is created (``luna-hub create-agent``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import asyncpg
import msgspec

from luna_hub import audit
from luna_hub.agents import repository
from luna_hub.agents.schemas import AgentCompleteness, AgentCreated, AgentView
from luna_hub.auth.agent_keys import AGENT_KEY_PREFIX, agent_key_prefix, new_agent_key, verify_agent_key
from luna_hub.auth.repository import insert_key
from luna_hub.auth.services import hash_key
from luna_hub.errors import BadRequestError, ConflictError
from luna_shared.wire import AgentStatus

__all__ = [
    "KEY_PREFIX",
    "agent_completeness",
    "clock_offset_ms",
    "create_agent",
    "list_agents",
    "record_status",
    "reuse_or_create_key",
    "subtract_seqs",
    "verify_agent_key",
]

KEY_PREFIX: Final = AGENT_KEY_PREFIX
_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _check_id(kind: str, value: str) -> None:
    if not _ID.fullmatch(value):
        msg = f"invalid {kind} {value!r}: 1-64 of A-Z a-z 0-9 . _ : - (not starting with a symbol)"
        raise BadRequestError(msg)


async def create_agent(
    connection: asyncpg.Connection, agent_id: str, site_id: str, *, actor: str = "cli"
) -> AgentCreated:
    """Create the site and agent when missing and issue a new key for the agent (its audit entry too).

    An existing agent keeps its earlier keys; asking for it at another site is a 409.
    """
    _check_id("agent id", agent_id)
    _check_id("site id", site_id)
    key = new_agent_key()
    async with connection.transaction():
        current_site = await repository.ensure_agent(connection, agent_id, site_id)
        if current_site != site_id:
            msg = f"agent {agent_id!r} belongs to site {current_site!r}, not {site_id!r}"
            raise ConflictError(msg)
        key_id = await insert_key(
            connection, "agent_keys", agent_id, prefix=agent_key_prefix(key), key_hash=hash_key(key)
        )
        details = {"key_id": key_id, "site_id": site_id, "prefix": agent_key_prefix(key)}
        await audit.record(connection, actor=actor, action="agent_key.create", target=agent_id, details=details)
    return AgentCreated(agent_id=agent_id, site_id=site_id, key_id=key_id, key=key)


async def reuse_or_create_key(
    connection: asyncpg.Connection, agent_id: str, site_id: str, key: str | None, *, actor: str
) -> AgentCreated | None:
    """Return None when ``key`` is a valid key of the agent already; else create it as needed with a new key."""
    if key is not None:
        identity = await verify_agent_key(connection, key)
        if identity is not None and identity.agent_id == agent_id and identity.site_id == site_id:
            return None
    return await create_agent(connection, agent_id, site_id, actor=actor)


async def record_status(connection: asyncpg.Connection, status: AgentStatus, received_at: datetime) -> None:
    """Store what an agent reported about itself on its row (the clock offset is measured, as for batches).

    Sequence numbers it quarantined (the hub refused those readings on their own) are recorded, so
    they show as quarantined instead of missing.
    """
    if status.quarantined:
        await repository.record_agent_quarantine(
            connection,
            status.agent_id,
            [q.seq for q in status.quarantined],
            [q.reason for q in status.quarantined],
        )
    await repository.record_status(
        connection,
        status.agent_id,
        version=status.version,
        clock_trusted=status.clock_trusted,
        backlog=status.backlog,
        oldest_unsynced_at=status.oldest_unsynced_at,
        last_acked_seq=status.last_acked_seq,
        last_ack_at=status.last_ack_at,
        clock_offset_ms=clock_offset_ms(received_at, status.sent_at),
        devices_json=msgspec.json.encode(status.devices).decode(),
    )


def clock_offset_ms(received_at: datetime, sent_at: datetime) -> int:
    """How far the agent's clock is behind the hub's, in milliseconds (negative: ahead), transit included."""
    return round((received_at - sent_at).total_seconds() * 1000)


def _gaps(summary: asyncpg.Record | None, quarantined: list[int] | None = None) -> tuple[list[tuple[int, int]], int]:
    """Return the ledger's holes minus the seqs the agent quarantined, and how many of those fell in them."""
    if summary is None:
        return [], 0
    gaps = list(zip(summary["gap_first"], summary["gap_last"], strict=True))
    return subtract_seqs(gaps, quarantined or [])


def subtract_seqs(gaps: list[tuple[int, int]], seqs: list[int]) -> tuple[list[tuple[int, int]], int]:
    """Remove the (ascending) ``seqs`` from the inclusive ranges ``gaps``; return what is left and how many went."""
    left: list[tuple[int, int]] = []
    removed = 0
    index = 0
    for first, last in gaps:
        while index < len(seqs) and seqs[index] < first:
            index += 1
        start = first
        while index < len(seqs) and seqs[index] <= last:
            if seqs[index] > start:
                left.append((start, seqs[index] - 1))
            start = seqs[index] + 1
            removed += 1
            index += 1
        if start <= last:
            left.append((start, last))
    return left, removed


async def list_agents(pool: asyncpg.Pool, *, sites: Sequence[str] | None = None) -> list[AgentView]:
    """Every agent (at ``sites`` only, when given) with its last contact, clock, backlog, counters and gaps."""
    async with pool.acquire() as connection:
        rows = await repository.agent_rows(connection, sites=sites)
        ids = [row["agent_id"] for row in rows]
        ledger = await repository.ledger_summary(connection, ids)
        quarantine = await repository.quarantined_seqs(connection, ids)
    views = []
    for row in rows:
        gaps, _ = _gaps(ledger.get(row["agent_id"]), quarantine.get(row["agent_id"]))
        views.append(
            AgentView(
                agent_id=row["agent_id"],
                site_id=row["site_id"],
                last_seen_at=row["last_seen_at"],
                clock_offset_ms=row["clock_offset_ms"],
                backlog=row["backlog"],
                oldest_unsynced_at=row["oldest_unsynced_at"],
                last_acked_seq=row["last_acked_seq"],
                batches=row["batches"],
                readings=row["readings"],
                duplicates=row["duplicates"],
                backfilled=row["backfilled"],
                version=row["version"],
                clock_trusted=row["clock_trusted"],
                status_at=row["status_at"],
                gaps=gaps,
                quarantined=len(quarantine.get(row["agent_id"], ())),
            )
        )
    return views


async def agent_completeness(connection: asyncpg.Connection, agent_ids: list[str]) -> list[AgentCompleteness]:
    """Per agent: sequence numbers received, the missing ranges between them, readings delivered late."""
    rows = await repository.agent_rows(connection, agent_ids)
    ledger = await repository.ledger_summary(connection, agent_ids)
    quarantine = await repository.quarantined_seqs(connection, agent_ids)
    report = []
    for row in rows:
        summary = ledger.get(row["agent_id"])
        gaps, quarantined = _gaps(summary, quarantine.get(row["agent_id"]))
        report.append(
            AgentCompleteness(
                agent_id=row["agent_id"],
                site_id=row["site_id"],
                first_seq=summary["first_seq"] if summary else None,
                last_seq=summary["last_seq"] if summary else None,
                received=summary["received"] if summary else 0,
                missing=gaps,
                missing_count=sum(last - first + 1 for first, last in gaps),
                backfilled=row["backfilled"],
                duplicates=row["duplicates"],
                quarantined=quarantined,
            )
        )
    return report
