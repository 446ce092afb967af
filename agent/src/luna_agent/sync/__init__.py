"""Sync: the buffer's readings to the hub, exactly once (acknowledged batches, replays recognised by the hub)."""

from luna_agent.sync.keyfile import read_key
from luna_agent.sync.settings import SyncSettings
from luna_agent.sync.state import DrainSummary, Step, SyncProgress, SyncState
from luna_agent.sync.uploader import BatchCounter, Uploader

__all__ = ["BatchCounter", "DrainSummary", "Step", "SyncProgress", "SyncSettings", "SyncState", "Uploader", "read_key"]
