"""The agent's settings: one frozen object per process, built once by the CLI and passed down.

Each stage owns its part (``buffer.settings``, ``sources.modbus.settings``, ``sources.mqtt.settings``,
``validation.settings``, ``sync.settings``, ``simulators.settings``); this module only composes them.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from luna_agent.buffer.settings import BufferSettings
from luna_agent.simulators.settings import PlugSimulatorSettings, SimulatorSettings
from luna_agent.sources.modbus.settings import ModbusDeviceSettings
from luna_agent.sources.mqtt.settings import MqttSettings
from luna_agent.sync.settings import SyncSettings
from luna_agent.validation.settings import ValidationSettings
from luna_shared.config import LoadedSettings, Port, load_settings
from luna_shared.logs import LogSettings
from luna_shared.wire import AgentId, SiteId

__all__ = ["AgentSettings", "StatusApiSettings", "load"]


class StatusApiSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the local status API listens (``[status_api]``)."""

    host: str = "127.0.0.1"
    port: Port = 8090
    token_file: str | None = None
    """File holding the token (one line) other machines must send; required unless ``host`` is loopback."""


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the agent process is configured with."""

    agent_id: AgentId = "agent-1"
    site_id: SiteId = "site-1"
    data_dir: str = "var/agent"
    """Where the durable buffer and other local state live."""
    status_api: StatusApiSettings = msgspec.field(default_factory=StatusApiSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    devices: tuple[ModbusDeviceSettings, ...] = ()
    simulators: tuple[SimulatorSettings, ...] = ()
    plug_simulators: tuple[PlugSimulatorSettings, ...] = ()
    buffer: BufferSettings = msgspec.field(default_factory=BufferSettings)
    validation: ValidationSettings = msgspec.field(default_factory=ValidationSettings)
    mqtt: MqttSettings | None = None
    sync: SyncSettings | None = None
    """Forwarding to the hub; absent: readings stay in the buffer."""

    def __post_init__(self) -> None:
        ids = [device.id for device in self.devices]
        if len(ids) != len(set(ids)):
            msg = f"device ids must be unique, got {ids}"
            raise ValueError(msg)
        if self.plug_simulators and self.mqtt is None:
            msg = "[[plug_simulators]] publish to the [mqtt] broker: add an [mqtt] table"
            raise ValueError(msg)
        names = {sim.name for sim in self.simulators}
        for device in self.devices:
            if device.simulator is not None and device.simulator not in names:
                msg = f"device {device.id!r} names simulator {device.simulator!r}, which is not in [[simulators]]"
                raise ValueError(msg)

    @property
    def buffer_path(self) -> Path:
        """The buffer's database file."""
        return self.buffer.path(Path(self.data_dir))


def load(path: Path | None) -> LoadedSettings[AgentSettings]:
    """Load the agent's settings from ``path`` (if any) and the ``LUNA_*`` environment."""
    return load_settings(AgentSettings, path=path)
