"""The agent's local status API, for site operators."""

from luna_agent.api.app import create_app

__all__ = ["create_app"]
