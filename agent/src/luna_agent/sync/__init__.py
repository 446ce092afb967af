"""Sync: the buffer's readings to the hub, exactly once (acknowledged batches, replays recognised by the hub)."""

from luna_agent.sync.keyfile import read_key
from luna_agent.sync.settings import SyncSettings
from luna_agent.sync.uploader import DrainSummary, Step, SyncProgress, SyncState, Uploader

__all__ = ["DrainSummary", "Step", "SyncProgress", "SyncSettings", "SyncState", "Uploader", "read_key"]
