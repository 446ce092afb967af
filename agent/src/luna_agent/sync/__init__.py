"""Sync: the buffer's readings to the hub, exactly once (acknowledged batches, replays recognised by the hub)."""

from luna_agent.sync.settings import SyncSettings
from luna_agent.sync.state import DrainSummary, Step, SyncProgress, SyncState
from luna_agent.sync.uploader import BatchCounter, Uploader, hub_tls_context, read_agent_key

__all__ = [
    "BatchCounter",
    "DrainSummary",
    "Step",
    "SyncProgress",
    "SyncSettings",
    "SyncState",
    "Uploader",
    "hub_tls_context",
    "read_agent_key",
]
