"""Whether an agent is online, stale, offline or never seen: one rule for the dashboard, metrics and alerts.

The thresholds are ``alerts.agent_stale_after_s`` and ``alerts.agent_offline_after_s`` (see
:class:`luna_hub.settings.alerts.AlertSettings`), so every view of the hub says the same.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["AgentState", "agent_state"]

AgentState = Literal["online", "stale", "offline", "never"]


def agent_state(seconds_since: float | None, *, stale_after_s: float, offline_after_s: float) -> AgentState:
    """Online; stale once quiet for ``stale_after_s``; offline once quiet for ``offline_after_s``; or never seen."""
    if seconds_since is None:
        return "never"
    if seconds_since >= offline_after_s:
        return "offline"
    return "stale" if seconds_since >= stale_after_s else "online"
