"""The agent's settings: one frozen object per process, built once by the CLI and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from luna_shared.config import LoadedSettings, load_settings
from luna_shared.logs import LogSettings
from luna_shared.wire import AgentId, SiteId

__all__ = ["AgentSettings", "StatusApiSettings", "load"]


class StatusApiSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the local status API listens (``[status_api]``)."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8090


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the agent process is configured with."""

    agent_id: AgentId = "agent-1"
    site_id: SiteId = "site-1"
    data_dir: str = "var/agent"
    """Where the durable buffer and other local state live."""
    status_api: StatusApiSettings = msgspec.field(default_factory=StatusApiSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)


def load(path: Path | None) -> LoadedSettings[AgentSettings]:
    """Load the agent's settings from ``path`` (if any) and the ``LUNA_*`` environment."""
    return load_settings(AgentSettings, path=path)
