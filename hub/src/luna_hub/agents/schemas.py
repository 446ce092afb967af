"""What the agents domain answers: ``GET /agents``, a new agent key, per-agent completeness."""

from __future__ import annotations

from datetime import datetime

import msgspec

from luna_hub.auth.agent_keys import AgentIdentity

__all__ = ["AgentCompleteness", "AgentCreated", "AgentIdentity", "AgentView"]


class AgentCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new agent key: ``key`` is shown this once and only its hash is stored."""

    agent_id: str
    site_id: str
    key_id: int
    key: str


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    """An agent as the hub sees it: last contact, clock, backlog (as reported) and what it delivered."""

    agent_id: str
    site_id: str | None
    last_seen_at: datetime | None
    clock_offset_ms: int | None
    """Hub receive time minus the agent's send time at the last contact; positive: the agent is behind."""
    backlog: int | None
    """Readings waiting on the agent, from its last status report."""
    oldest_unsynced_at: datetime | None
    last_acked_seq: int | None
    batches: int
    readings: int
    """Readings newly stored from this agent."""
    duplicates: int
    backfilled: int
    version: str | None
    clock_trusted: bool | None
    status_at: datetime | None
    gaps: list[tuple[int, int]]
    """Sequence ranges missing between the batches received, ``[first, last]`` inclusive (quarantined ones not)."""
    quarantined: int = 0
    """Readings the agent set aside because the hub refused them on their own (reported in ``status.v1``)."""


class AgentCompleteness(msgspec.Struct, frozen=True, kw_only=True):
    """What one agent delivered, over all time: sequence numbers received, missing and delivered late."""

    agent_id: str
    site_id: str | None
    first_seq: int | None
    last_seq: int | None
    received: int
    """Distinct sequence numbers received (the union of the ledger's ranges)."""
    missing: list[tuple[int, int]]
    """Gap ranges ``[first, last]`` between received ranges."""
    missing_count: int
    backfilled: int
    """Readings older than the agent's latest reading when they arrived (delivered late, after an outage)."""
    duplicates: int
    quarantined: int = 0
    """Sequence numbers between received ranges the agent quarantined (refused by the hub): not missing."""
