"""Agents: their keys, status reports and what they delivered (``GET /agents``)."""

from luna_hub.agents.schemas import AgentCompleteness, AgentCreated, AgentIdentity, AgentView
from luna_hub.agents.services import create_agent, list_agents, verify_agent_key

__all__ = [
    "AgentCompleteness",
    "AgentCreated",
    "AgentIdentity",
    "AgentView",
    "create_agent",
    "list_agents",
    "verify_agent_key",
]
